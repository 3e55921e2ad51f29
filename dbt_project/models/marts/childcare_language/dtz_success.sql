with

participations as (
    select * from {{ ref('int_integrationskurs_records_monthly') }}
),

facts as (
    select
        period,
        ags,
        nationality_group,
        residence_status_group,
        age_band,
        sex_label,
        dtz_level as category,
        1 as numerator,
        1 as denominator
    from participations
    -- DTZ takers: participations with a test result in the period's report
    where dtz_result is not null
),

{{ indicator_long(
    'facts',
    dimensions=[
        'staatsangehoerigkeitsgruppe', 'aufenthaltsstatusgruppe', 'altersgruppe', 'geschlecht'
    ],
    sources=['integrationskurs'],
    categories=['B1', 'A2', 'unter A2', 'unbekannt'],
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
