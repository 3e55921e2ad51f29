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

{#- Restrict to periods up to the run's period, so a re-run of an earlier month never shows later
    months. The period comes from the one-row table ops.run_context that kiim.transform writes
    before each build, not from a dbt var: a var that changes every month would force dbt to
    re-parse the whole project every month (~10 s), a table does not. The var 'period' still
    wins when given (ad-hoc `dbt build --vars`); no row and no var means all periods. -#}
{% macro up_to_run_period(period) -%}
    {%- if var('period', '') -%}
        {{ period }} <= '{{ var("period") }}'
    {%- else -%}
        {{ period }} <= coalesce(
            (select max(period) from {{ source('ops', 'run_context') }}), '9999-12'
        )
    {%- endif -%}
{%- endmacro %}
