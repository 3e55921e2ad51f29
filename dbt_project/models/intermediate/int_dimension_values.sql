-- Every value of every breakdown dimension: the marts build their complete grid from this list,
-- so a group with no one in it still shows up (as zero) in the published tables.
with

nationalities as (
    select * from {{ ref('nationalities') }}
),

nationality_groups as (
    select distinct group_de as dimension_value from nationalities
    union
    select 'unbekannt'
),

static_values as (
    select * from (
        values
        ('insgesamt', 'insgesamt', 0)
        {%- for value in residence_status_group_values() %},
        ('aufenthaltsstatusgruppe', '{{ value }}', {{ loop.index }})
        {%- endfor %}
        {%- for value in age_band_values() %},
        ('altersgruppe', '{{ value }}', {{ loop.index }})
        {%- endfor %}
        {%- for value in sex_values() %},
        ('geschlecht', '{{ value }}', {{ loop.index }})
        {%- endfor %}
    ) as v (dimension, dimension_value, sort_order)
),

all_values as (
    select * from static_values
    union all
    select
        'staatsangehoerigkeitsgruppe' as dimension,
        dimension_value,
        -- 'Deutsch' first, 'unbekannt' last, the rest alphabetically
        case dimension_value when 'Deutsch' then 0 when 'unbekannt' then 999 else 1 end
            as sort_order
    from nationality_groups
),

final as (
    select
        cast(dimension as varchar) as dimension,
        cast(dimension_value as varchar) as dimension_value,
        cast(sort_order as integer) as sort_order
    from all_values
)

select * from final
