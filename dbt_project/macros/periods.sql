{#- Period helpers. A period is the reporting month as text 'YYYY-MM'; the reference date
    (Stichtag) of a period is its last day. -#}

{% macro period_start(period) -%}
    make_date(cast(left({{ period }}, 4) as integer), cast(right({{ period }}, 2) as integer), 1)
{%- endmacro %}

{% macro period_end(period) -%}
    last_day({{ period_start(period) }})
{%- endmacro %}

{#- Months since year 0: makes month arithmetic on periods and dates a subtraction. -#}
{% macro period_index(period) -%}
    (cast(left({{ period }}, 4) as integer) * 12 + cast(right({{ period }}, 2) as integer) - 1)
{%- endmacro %}

{% macro month_index(date_expr) -%}
    (year({{ date_expr }}) * 12 + month({{ date_expr }}) - 1)
{%- endmacro %}

{#- Calendar quarter of a date as 'YYYY-Qn' (arrival cohorts). -#}
{% macro quarter_label(date_expr) -%}
    (cast(year({{ date_expr }}) as varchar) || '-Q' || cast(quarter({{ date_expr }}) as varchar))
{%- endmacro %}

{#- Restrict to periods up to the run's period (var 'period'); all periods when it is empty,
    so a re-run of an earlier month never shows later months. -#}
{% macro up_to_run_period(period) -%}
    {%- if var('period', '') -%}
        {{ period }} <= '{{ var("period") }}'
    {%- else -%}
        true
    {%- endif -%}
{%- endmacro %}
