{#- Shared staging pieces for the agency tables of the pseudonymised zone. -#}

{#- The person a record belongs to. A record the linkage stage has not (yet) assigned counts as
    its own person (keyed by its record pseudonym, stable across periods) rather than vanishing
    from the counts. -#}
{% macro linked_person_key(agency) -%}
    coalesce(record_persons.person_key, '{{ agency }}:' || source.record_key)
{%- endmacro %}

{#- Generalised quasi-identifiers every agency delivers (DESIGN §5): the linkage encodings
    (lk_*, clk) are deliberately not carried beyond the sources. -#}
{% macro staged_quasi_identifiers() -%}
        cast(source.birth_year as integer) as birth_year,
        cast(source.birth_month as integer) as birth_month,
        lower(trim(source.sex)) as sex,
        {{ sex_label('source.sex') }} as sex_label,
        upper(trim(source.nationality)) as nationality,
        {{ is_foreigner('source.nationality') }} as is_foreigner,
        cast(trim(source.ags) as varchar) as ags
{%- endmacro %}

{% macro linked_records_join(agency) -%}
    left join {{ ref('stg_linkage__record_persons') }} as record_persons
        on record_persons.agency = '{{ agency }}'
        and record_persons.period = source.period
        and record_persons.record_key = source.record_key
{%- endmacro %}

{#- The agencies of the district's configuration (config/agencies/*.yaml); one staging model
    per agency reads its table. -#}
{% macro kiim_agencies() -%}
    {{ return([
        'ewo', 'abh', 'jobcenter', 'sozialamt', 'integrationskurs', 'schulamt', 'kita', 'beratung'
    ]) }}
{%- endmacro %}
