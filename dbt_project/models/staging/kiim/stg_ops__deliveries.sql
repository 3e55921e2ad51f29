with

source as (
    select * from {{ source('ops', 'deliveries') }}
),

renamed as (
    select
        cast(period as varchar) as period,
        lower(cast(agency as varchar)) as agency,
        lower(cast(status as varchar)) as status,
        lower(cast(status as varchar)) = 'accepted' as is_accepted,
        cast(rows_read as bigint) as rows_read,
        cast(rows_accepted as bigint) as rows_accepted,
        cast(reason as varchar) as reason
    from source
),

final as (
    select * from renamed
)

select * from final
