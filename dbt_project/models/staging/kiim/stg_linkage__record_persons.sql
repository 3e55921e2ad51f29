with

source as (
    select * from {{ source('linkage', 'record_person') }}
),

renamed as (
    select
        cast(period as varchar) as period,
        lower(cast(agency as varchar)) as agency,
        cast(record_key as varchar) as record_key,
        cast(person_key as varchar) as person_key
    from source
),

final as (
    select * from renamed
)

select * from final
