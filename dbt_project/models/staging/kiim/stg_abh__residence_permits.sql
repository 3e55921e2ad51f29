with

source as (
    select * from {{ source('pseudo', 'abh') }}
),

renamed as (
    select
        cast(source.period as varchar) as period,
        source.record_key,
        {{ linked_person_key('abh') }} as person_key,
        {{ staged_quasi_identifiers() }},
        upper(trim(source.residence_status)) as residence_status,
        {{ residence_status_group('source.residence_status') }} as residence_status_group,
        source.legal_ground,
        cast(source.entry_date as date) as entry_date,
        cast(source.naturalisation_date as date) as naturalisation_date
    from source
    {{ linked_records_join('abh') }}
),

final as (
    select * from renamed
)

select * from final
