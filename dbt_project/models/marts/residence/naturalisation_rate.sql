with

residents as (
    select * from {{ ref('int_persons_monthly') }}
),

facts as (
    select
        period,
        ags,
        age_band,
        sex_label,
        'insgesamt' as category,
        case when is_naturalised_in_period then 1 else 0 end as numerator,
        -- foreigners at the start of the period with the minimum years of stay in Germany
        case
            when was_foreigner_at_period_start
                and arrival_date
                    <= cast(period_start - to_years({{ var('naturalisation_min_years') }}) as date)
                then 1
            else 0
        end as denominator
    from residents
    where is_naturalised_in_period or was_foreigner_at_period_start
),

{{ indicator_long('facts', dimensions=['altersgruppe', 'geschlecht'], sources=['ewo', 'abh']) }},

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
        {{ indicator_rate(per=100) }} as rate,
        source_complete
    from indicator_rows
)

select * from final
