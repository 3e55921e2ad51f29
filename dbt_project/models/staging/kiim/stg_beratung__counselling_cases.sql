-- The free-text note is deliberately not staged: no indicator needs it.
with

source as (
    select * from {{ source('pseudo', 'beratung') }}
),

renamed as (
    select
        cast(source.period as varchar) as period,
        source.record_key,
        {{ linked_person_key('beratung') }} as person_key,
        {{ staged_quasi_identifiers() }},
        upper(trim(source.service)) as service,
        cast(source.case_start_date as date) as case_start_date,
        source.topic
    from source
    {{ linked_records_join('beratung') }}
),

categorised as (
    select
        *,
        case
            when topic in (
                'Aufenthalt', 'Arbeit', 'Sprache', 'Wohnen', 'Gesundheit', 'Familie', 'Finanzen'
            ) then topic
            else 'unbekannt'
        end as topic_label
    from renamed
),

final as (
    select * from categorised
)

select * from final
