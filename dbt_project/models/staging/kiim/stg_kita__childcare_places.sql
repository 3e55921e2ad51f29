with

source as (
    select * from {{ source('pseudo', 'kita') }}
),

renamed as (
    select
        cast(source.period as varchar) as period,
        source.record_key,
        {{ linked_person_key('kita') }} as person_key,
        {{ staged_quasi_identifiers() }},
        source.care_type,
        cast(source.care_start_date as date) as care_start_date,
        cast(source.language_support_need as boolean) as has_language_support_need
    from source
    {{ linked_records_join('kita') }}
),

final as (
    select * from renamed
)

select * from final
