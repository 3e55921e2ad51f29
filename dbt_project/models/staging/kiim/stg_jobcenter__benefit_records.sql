with

source as (
    select * from {{ source('pseudo', 'jobcenter') }}
),

renamed as (
    select
        cast(source.period as varchar) as period,
        source.record_key,
        {{ linked_person_key('jobcenter') }} as person_key,
        {{ staged_quasi_identifiers() }},
        coalesce(cast(source.sgb2_benefit as boolean), false) as receives_sgb2,
        coalesce(cast(source.employable as boolean), false) as is_employable,
        cast(source.unemployed as boolean) as is_unemployed,
        cast(source.take_up_date as date) as take_up_date,
        source.take_up_kind
    from source
    {{ linked_records_join('jobcenter') }}
),

categorised as (
    select
        *,
        -- erwerbsfähige Leistungsberechtigte (ELB): employable and receiving SGB II
        receives_sgb2 and is_employable as is_elb
    from renamed
),

final as (
    select * from categorised
)

select * from final
