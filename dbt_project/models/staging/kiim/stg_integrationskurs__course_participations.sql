with

source as (
    select * from {{ source('pseudo', 'integrationskurs') }}
),

renamed as (
    select
        cast(source.period as varchar) as period,
        source.record_key,
        {{ linked_person_key('integrationskurs') }} as person_key,
        {{ staged_quasi_identifiers() }},
        source.course_type,
        cast(source.course_start_date as date) as course_start_date,
        cast(source.course_end_date as date) as course_end_date,
        nullif(trim(source.dtz_result), '') as dtz_result,
        cast(source.orientation_passed as boolean) as orientation_passed
    from source
    {{ linked_records_join('integrationskurs') }}
),

categorised as (
    select
        *,
        case dtz_result
            when 'B1' then 'B1'
            when 'A2' then 'A2'
            when 'unter A2' then 'unter A2'
            else 'unbekannt'
        end as dtz_level
    from renamed
),

final as (
    select * from categorised
)

select * from final
