with

cases as (
    select * from {{ ref('int_beratung_records_monthly') }}
),

residents as (
    select * from {{ ref('int_persons_monthly') }}
),

case_facts as (
    select
        period,
        ags,
        nationality_group,
        age_band,
        sex_label,
        topic_label as category,
        1 as numerator,
        0 as denominator
    from cases
),

foreigner_facts as (
    select
        period,
        ags,
        nationality_group,
        age_band,
        sex_label,
        null as category,
        0 as numerator,
        1 as denominator
    from residents
    where is_foreigner
),

facts as (
    select * from case_facts
    union all
    select * from foreigner_facts
),

{{ indicator_long(
    'facts',
    dimensions=['staatsangehoerigkeitsgruppe', 'altersgruppe', 'geschlecht'],
    sources=['ewo', 'beratung'],
    categories=[
        'Aufenthalt', 'Arbeit', 'Sprache', 'Wohnen', 'Gesundheit', 'Familie', 'Finanzen',
        'unbekannt'
    ],
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
        {{ indicator_rate(per=1000) }} as rate,
        source_complete
    from indicator_rows
)

select * from final
