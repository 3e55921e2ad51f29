with

residents as (
    select * from {{ ref('int_persons_monthly') }}
),

facts as (
    select
        period,
        ags,
        nationality_group,
        residence_status_group,
        sex_label,
        case when age < 3 then 'unter 3' else '3 bis unter 6' end as category,
        case when in_childcare then 1 else 0 end as numerator,
        1 as denominator
    from residents
    where age >= 0 and age < 6
),

{{ indicator_long(
    'facts',
    dimensions=['staatsangehoerigkeitsgruppe', 'aufenthaltsstatusgruppe', 'geschlecht'],
    sources=['ewo', 'kita'],
    categories=['unter 3', '3 bis unter 6'],
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
        {{ indicator_rate(per=100) }} as rate,
        source_complete
    from indicator_rows
)

select * from final
