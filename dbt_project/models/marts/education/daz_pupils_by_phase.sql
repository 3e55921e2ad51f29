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
        age_band,
        sex_label,
        daz_phase_label as category,
        1 as numerator,
        1 as denominator
    from pupils
),

{{ indicator_long(
    'facts',
    dimensions=[
        'staatsangehoerigkeitsgruppe', 'aufenthaltsstatusgruppe', 'altersgruppe', 'geschlecht'
    ],
    sources=['schulamt'],
    categories=['Phase 1', 'Phase 2', 'Phase 3', 'keine DaZ-Förderung', 'unbekannt'],
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
