{#- Within each period, area and category, the values of every dimension add up to the
    'insgesamt' row (numerator and denominator): values partition the total. -#}
{% test dimension_values_sum_to_total(model) %}

with

totals as (
    select period, ags, category, numerator, denominator
    from {{ model }}
    where dimension = 'insgesamt'
),

breakdowns as (
    select
        period, ags, category, dimension,
        sum(numerator) as numerator,
        sum(denominator) as denominator
    from {{ model }}
    where dimension <> 'insgesamt'
    group by all
)

select
    breakdowns.period,
    breakdowns.ags,
    breakdowns.category,
    breakdowns.dimension,
    breakdowns.numerator as values_numerator,
    totals.numerator as total_numerator,
    breakdowns.denominator as values_denominator,
    totals.denominator as total_denominator
from breakdowns
left join totals
    on totals.period = breakdowns.period
    and totals.ags = breakdowns.ags
    and totals.category = breakdowns.category
where totals.numerator is distinct from breakdowns.numerator
    or totals.denominator is distinct from breakdowns.denominator

{% endtest %}
