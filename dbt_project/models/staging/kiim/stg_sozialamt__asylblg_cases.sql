with

source as (
    select * from {{ source('pseudo', 'sozialamt') }}
),

renamed as (
    select
        cast(source.period as varchar) as period,
        source.record_key,
        {{ linked_person_key('sozialamt') }} as person_key,
        {{ staged_quasi_identifiers() }},
        cast(source.benefit_start_date as date) as benefit_start_date,
        upper(trim(source.accommodation)) as accommodation
    from source
    {{ linked_records_join('sozialamt') }}
),

categorised as (
    select
        *,
        case accommodation
            when 'GU' then 'Gemeinschaftsunterkunft'
            when 'WO' then 'eigene Wohnung'
            else 'unbekannt'
        end as accommodation_label
    from renamed
),

final as (
    select * from categorised
)

select * from final
