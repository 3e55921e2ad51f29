-- Median months from arrival to the first DTZ result at level B1, per arrival cohort
-- (quarter), among the cohort's members registered as resident in the period
-- (see censored_median_agg).
with

residents as (
    select * from {{ ref('int_persons_monthly') }}
    where arrival_cohort is not null
        and months_since_arrival between 0 and {{ var('trajectory_max_months') }}
),

facts as (
    select
        period,
        ags,
        nationality_group,
        residence_status_group,
        sex_label,
        arrival_cohort as category,
        case when first_b1_date <= period_end then 1 else 0 end as numerator,
        1 as denominator,
        case
            when first_b1_date <= period_end
                then greatest(
                    0,
                    {{ month_index('first_b1_date') }} - {{ month_index('arrival_date') }}
                )
        end as measure
    from residents
),

{{ indicator_long(
    'facts',
    dimensions=['staatsangehoerigkeitsgruppe', 'aufenthaltsstatusgruppe', 'geschlecht'],
    sources=['ewo', 'abh', 'integrationskurs'],
    categories=none,
    measure_agg=censored_median_agg(),
) }},

final as (
    select
        period,
        ags,
        gemeinde,
        dimension,
        dimension_value,
        category,
        numerator,
        denominator,
        {{ censored_median_rate() }} as rate,
        source_complete
    from indicator_rows
)

select * from final
