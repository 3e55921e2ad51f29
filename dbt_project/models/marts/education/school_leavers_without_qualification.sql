with

pupils as (
    select * from {{ ref('int_schulamt_records_monthly') }}
),

facts as (
    select
        period,
        ags,
        nationality_group,
        residence_status_group,
        sex_label,
        'insgesamt' as category,
        case when left_without_qualification then 1 else 0 end as numerator,
        1 as denominator
    from pupils
    where left_school
),

{{ indicator_long(
    'facts',
    dimensions=['staatsangehoerigkeitsgruppe', 'aufenthaltsstatusgruppe', 'geschlecht'],
    sources=['schulamt'],
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
