{#- Rates stay within a range (0..100 for shares whose numerator is part of the denominator). -#}
{% test rate_between(model, min_value=0, max_value=100) %}

select rate
from {{ model }}
where rate < {{ min_value }} or rate > {{ max_value }}

{% endtest %}
