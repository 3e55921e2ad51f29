-- The reporting areas of every mart: each Gemeinde of the district and the district itself.
with

gemeinden as (
    select * from {{ ref('gemeinden') }}
),

municipalities as (
    select
        cast(ags as varchar) as ags,
        name as gemeinde,
        kind,
        false as is_district
    from gemeinden
),

district as (
    select
        '{{ var("district_ags") }}' as ags,
        '{{ var("district_name") }}' as gemeinde,
        'Landkreis' as kind,
        true as is_district
),

final as (
    select * from municipalities
    union all
    select * from district
)

select * from final
