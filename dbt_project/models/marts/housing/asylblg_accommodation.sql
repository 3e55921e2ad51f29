with

cases as (
    select * from {{ ref('int_sozialamt_records_monthly') }}
),

facts as (
    select
        period,
        ags,
        nationality_group,
        residence_status_group,
        age_band,
        sex_label,
        accommodation_label as category,
        1 as numerator,
        1 as denominator
    from cases
),

{{ indicator_long(
    'facts',
    dimensions=[
        'staatsangehoerigkeitsgruppe', 'aufenthaltsstatusgruppe', 'altersgruppe', 'geschlecht'
    ],
    sources=['sozialamt'],
    categories=['Gemeinschaftsunterkunft', 'eigene Wohnung', 'unbekannt'],
    shared_denominator=true,
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
