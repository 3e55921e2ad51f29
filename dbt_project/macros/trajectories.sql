{#- The trajectory marts differ only in the event they follow; these macros hold the query once.

    trajectory_share_mart: share of an arrival cohort meeting `condition` (a boolean SQL
        expression over int_trajectory_evaluations) in the month 12, 24 and 36 months after each
        person's arrival; a period shows every evaluation reached by then;
        category = '<cohort> | <months> Monate'.
    trajectory_median_months_mart: median months from arrival to `event_date` (a date column of
        int_persons_monthly) per arrival cohort (quarter), among the cohort's members resident in
        the period who have reached the event (see median_agg).
-#}
{% macro trajectory_share_mart(condition, sources) -%}
with

evaluations as (
    select * from {{ ref('int_trajectory_evaluations') }}
),

periods as (
    select * from {{ ref('int_periods') }}
),

facts as (
    select
        periods.period,
        evaluations.ags,
        evaluations.nationality_group,
        evaluations.residence_status_group,
        evaluations.sex_label,
        evaluations.arrival_cohort || ' | '
            || evaluations.months_after_arrival || ' Monate' as category,
        case when {{ condition }} then 1 else 0 end as numerator,
        1 as denominator
    from evaluations
    inner join periods
        on periods.period_index >= evaluations.evaluation_period_index
),

{{ indicator_long(
    'facts',
    dimensions=['staatsangehoerigkeitsgruppe', 'aufenthaltsstatusgruppe', 'geschlecht'],
    sources=sources,
    categories=none,
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
        {{ indicator_rate() }} as rate,
        source_complete
    from indicator_rows
)

select * from final
{%- endmacro %}

{% macro trajectory_median_months_mart(event_date, sources) -%}
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
        case when {{ event_date }} <= period_end then 1 else 0 end as numerator,
        1 as denominator,
        case
            when {{ event_date }} <= period_end
                then greatest(
                    0,
                    {{ month_index(event_date) }} - {{ month_index('arrival_date') }}
                )
        end as measure
    from residents
),

{{ indicator_long(
    'facts',
    dimensions=['staatsangehoerigkeitsgruppe', 'aufenthaltsstatusgruppe', 'geschlecht'],
    sources=sources,
    categories=none,
    measure_agg=median_agg(),
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
        {{ median_rate() }} as rate,
        source_complete
    from indicator_rows
)

select * from final
{%- endmacro %}
