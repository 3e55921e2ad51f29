{#-
    Use custom schemas verbatim (staging, intermediate, marts, reference) instead of dbt's
    default "<target schema>_<custom schema>": the publish step and the register name the
    schemas directly.
-#}
{% macro generate_schema_name(custom_schema_name, node) -%}
    {%- if custom_schema_name is none -%}
        {{ target.schema }}
    {%- else -%}
        {{ custom_schema_name | trim }}
    {%- endif -%}
{%- endmacro %}
