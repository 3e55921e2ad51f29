{#- Records of one agency per period with the breakdown dimensions of the marts. Nationality,
    sex and age come from the record itself (so unlinked records still count); the residence
    status group comes from the linked resident (panel), else Germans form their own group and
    foreigners are 'unbekannt'. A record without Gemeinde takes the resident's. -#}
{% macro records_with_dimensions(staging_model) -%}
with

records as (
    select * from {{ ref(staging_model) }}
),

periods as (
    select * from {{ ref('int_periods') }}
),

panel as (
    select period, person_key, ags, residence_status_group
    from {{ ref('int_persons_monthly') }}
),

nationalities as (
    select * from {{ ref('nationalities') }}
),

enriched as (
    select
        records.* replace (coalesce(records.ags, panel.ags) as ags),
        periods.period_start,
        periods.period_end,
        periods.period_index,
        coalesce(nationalities.group_de, 'unbekannt') as nationality_group,
        {{ age_at_period_end(
            'records.birth_year', 'records.birth_month', 'records.period'
        ) }} as age,
        coalesce(
            panel.residence_status_group,
            {{ person_status_group('records.is_foreigner', 'null') }}
        ) as residence_status_group,
        panel.person_key is not null as is_resident
    from records
    inner join periods on periods.period = records.period
    left join nationalities on nationalities.code = records.nationality
    left join panel
        on panel.person_key = records.person_key
        and panel.period = records.period
),

final as (
    select
        *,
        {{ age_band('age') }} as age_band
    from enriched
)

select * from final
{%- endmacro %}
