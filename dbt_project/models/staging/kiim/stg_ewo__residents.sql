with

source as (
    select * from {{ source('pseudo', 'ewo') }}
),

renamed as (
    select
        cast(source.period as varchar) as period,
        source.record_key,
        {{ linked_person_key('ewo') }} as person_key,
        {{ staged_quasi_identifiers() }},
        cast(source.move_in_date as date) as move_in_date,
        cast(source.move_out_date as date) as move_out_date
    from source
    {{ linked_records_join('ewo') }}
),

categorised as (
    select
        *,
        -- resident on the reference date (last day of the period)
        (move_in_date is null or move_in_date <= {{ period_end('period') }})
            and (move_out_date is null or move_out_date > {{ period_end('period') }})
            as is_resident
    from renamed
),

final as (
    select * from categorised
)

select * from final
