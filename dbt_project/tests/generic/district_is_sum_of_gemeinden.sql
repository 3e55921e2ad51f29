{#- The district row equals the sum of its Gemeinden, for numerator and denominator: the
    disclosure step's secondary suppression relies on this relation. -#}
{% test district_is_sum_of_gemeinden(model, district_ags=none) %}
{%- set district = district_ags or var('district_ags') %}

with

gemeinden as (
    select
        period, dimension, dimension_value, category,
        sum(numerator) as numerator,
        sum(denominator) as denominator
    from {{ model }}
    where ags <> '{{ district }}'
    group by all
),

district as (
    select period, dimension, dimension_value, category, numerator, denominator
    from {{ model }}
    where ags = '{{ district }}'
)

select
    coalesce(district.period, gemeinden.period) as period,
    coalesce(district.dimension, gemeinden.dimension) as dimension,
    coalesce(district.dimension_value, gemeinden.dimension_value) as dimension_value,
    coalesce(district.category, gemeinden.category) as category,
    district.numerator as district_numerator,
    gemeinden.numerator as gemeinden_numerator,
    district.denominator as district_denominator,
    gemeinden.denominator as gemeinden_denominator
from district
full outer join gemeinden
    on gemeinden.period = district.period
    and gemeinden.dimension = district.dimension
    and gemeinden.dimension_value = district.dimension_value
    and gemeinden.category = district.category
where district.numerator is distinct from gemeinden.numerator
    or district.denominator is distinct from gemeinden.denominator

{% endtest %}
