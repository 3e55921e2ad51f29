-- One row per reporting period in scope, with the delivery status of every agency: marts mark
-- a period whose source deliveries were not accepted instead of silently publishing zeros.
with

deliveries as (
    select * from {{ ref('stg_ops__deliveries') }}
),

residents as (
    select distinct period from {{ ref('stg_ewo__residents') }}
),

periods as (
    select period from deliveries
    union
    select period from residents
),

in_scope as (
    select period
    from periods
    where period is not null
        and regexp_full_match(period, '[0-9]{4}-(0[1-9]|1[0-2])')
        and {{ up_to_run_period('period') }}
),

acceptance as (
    select
        period,
        {% for agency in kiim_agencies() -%}
        bool_or(agency = '{{ agency }}' and is_accepted) as {{ agency }}_accepted
        {%- if not loop.last %},{% endif %}
        {% endfor %}
    from deliveries
    group by period
),

final as (
    select
        in_scope.period,
        {{ period_start('in_scope.period') }} as period_start,
        {{ period_end('in_scope.period') }} as period_end,
        {{ period_index('in_scope.period') }} as period_index,
        {% for agency in kiim_agencies() -%}
        coalesce(acceptance.{{ agency }}_accepted, false) as {{ agency }}_accepted
        {%- if not loop.last %},{% endif %}
        {% endfor %}
    from in_scope
    left join acceptance
        on acceptance.period = in_scope.period
)

select * from final
