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
        age_band,
        sex_label,
        'insgesamt' as category,
        case when is_elb then 1 else 0 end as numerator,
        1 as denominator
    from residents
    where age >= 15 and age < 67
),

{{ indicator_long(
    'facts',
    dimensions=[
        'staatsangehoerigkeitsgruppe', 'aufenthaltsstatusgruppe', 'altersgruppe', 'geschlecht'
    ],
    sources=['ewo', 'jobcenter'],
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
