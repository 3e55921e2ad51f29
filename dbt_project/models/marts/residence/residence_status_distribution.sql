with

residents as (
    select * from {{ ref('int_persons_monthly') }}
),

facts as (
    select
        period,
        ags,
        nationality_group,
        age_band,
        sex_label,
        -- foreigners without a linked record of the Ausländerbehörde are 'unbekannt'
        residence_status_group as category,
        1 as numerator,
        1 as denominator
    from residents
    where is_foreigner
),

{{ indicator_long(
    'facts',
    dimensions=['staatsangehoerigkeitsgruppe', 'altersgruppe', 'geschlecht'],
    sources=['ewo', 'abh'],
    categories=['dauerhaft', 'befristet', 'Duldung', 'Gestattung', 'unbekannt'],
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
        {{ indicator_rate() }} as rate,
        source_complete
    from indicator_rows
)

select * from final
