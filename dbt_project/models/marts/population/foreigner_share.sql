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
        case when is_foreigner then 1 else 0 end as numerator,
        1 as denominator
    from residents
),

{{ indicator_long('facts', dimensions=['altersgruppe', 'geschlecht'], sources=['ewo']) }},

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
