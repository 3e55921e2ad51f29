with

source as (
    select * from {{ source('pseudo', 'schulamt') }}
),

renamed as (
    select
        cast(source.period as varchar) as period,
        source.record_key,
        {{ linked_person_key('schulamt') }} as person_key,
        {{ staged_quasi_identifiers() }},
        upper(trim(source.school_type)) as school_type,
        cast(source.grade as integer) as grade,
        nullif(trim(source.daz_phase), '') as daz_phase,
        coalesce(cast(source.left_school as boolean), false) as left_school,
        nullif(trim(source.leaving_qualification), '') as leaving_qualification
    from source
    {{ linked_records_join('schulamt') }}
),

categorised as (
    select
        *,
        case daz_phase
            when '1' then 'Phase 1'
            when '2' then 'Phase 2'
            when '3' then 'Phase 3'
            when 'keine' then 'keine DaZ-Förderung'
            else 'unbekannt'
        end as daz_phase_label,
        -- without the Berufsbildungsreife (BBR, Brandenburg's Hauptschulabschluss)
        leaving_qualification = 'ohne' as left_without_qualification
    from renamed
),

final as (
    select * from categorised
)

select * from final
