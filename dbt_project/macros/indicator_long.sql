{#-
    The long layout shared by every mart (one row per period x Gemeinde/district x dimension
    value x category). Emitted as a chain of CTEs ending in `indicator_rows`; the calling mart
    selects its contract columns from it.

    facts: name of a CTE with one row per counted unit and the columns
        period, ags, category (null on denominator-only rows), numerator, denominator,
        the dimension columns used (nationality_group, residence_status_group, age_band,
        sex_label) and, with measure_agg, a column `measure`.
    dimensions: dimension names (see dimension_column); 'insgesamt' is always added.
    sources: agencies whose accepted delivery makes a period complete (source_complete).
    categories: fixed category list; none = the categories present in the facts per period
        (arrival cohorts); 'insgesamt' for indicators without categories.
    shared_denominator: true = every category shares one denominator (a distribution: the
        denominator rows need no category); false = numerator and denominator per category.
    measure_agg: optional aggregate over `measure` (e.g. a median), computed per cell from the
        unit rows, exposed as `measure_value`.

    Additivity is built in: facts outside the Gemeinden of the district are dropped, and the
    district row is the union of its Gemeinden's rows, so district = sum of Gemeinden and the
    values of each dimension sum to its 'insgesamt' row, for numerators and denominators alike.
-#}
{% macro dimension_column(dimension) -%}
    {%- set columns = {
        'insgesamt': "'insgesamt'",
        'staatsangehoerigkeitsgruppe': 'nationality_group',
        'aufenthaltsstatusgruppe': 'residence_status_group',
        'altersgruppe': 'age_band',
        'geschlecht': 'sex_label',
    } -%}
    {%- if dimension not in columns -%}
        {{ exceptions.raise_compiler_error("unknown dimension '" ~ dimension ~ "'") }}
    {%- endif -%}
    {{ columns[dimension] }}
{%- endmacro %}

{% macro indicator_long(
    facts, dimensions, sources, categories=['insgesamt'], shared_denominator=false, measure_agg=none
) -%}
{%- set dims = ['insgesamt'] + (dimensions | reject('equalto', 'insgesamt') | list) -%}
{%- set dim_columns = [] -%}
{%- for dim in dims if dim != 'insgesamt' -%}
    {%- do dim_columns.append(dimension_column(dim)) -%}
{%- endfor -%}
indicator_periods as (
    select
        period,
        {% for agency in sources -%}
        coalesce({{ agency }}_accepted, false) {%- if not loop.last %} and {% endif %}
        {%- endfor %} as source_complete
    from {{ ref('int_periods') }}
),

indicator_geographies as (
    select ags, gemeinde, is_district from {{ ref('int_geographies') }}
),

indicator_dimension_values as (
    select dimension, dimension_value
    from {{ ref('int_dimension_values') }}
    where dimension in ('{{ dims | join("', '") }}')
),

indicator_fine as (
    select
        facts.period,
        facts.ags,
        facts.category,
        {% for column in dim_columns -%}
        coalesce(facts.{{ column }}, 'unbekannt') as {{ column }},
        {% endfor -%}
        {% if measure_agg -%}
        facts.measure,
        cast(facts.numerator as bigint) as numerator,
        cast(facts.denominator as bigint) as denominator
        {%- else -%}
        cast(sum(facts.numerator) as bigint) as numerator,
        cast(sum(facts.denominator) as bigint) as denominator
        {%- endif %}
    from {{ facts }} as facts
    inner join indicator_geographies as geographies
        on geographies.ags = facts.ags and not geographies.is_district
    inner join indicator_periods as periods
        on periods.period = facts.period
    {% if not measure_agg -%}
    group by all
    {%- endif %}
),

indicator_unpivoted as (
    {% for dim in dims -%}
    select
        period,
        ags,
        '{{ dim }}' as dimension,
        {{ dimension_column(dim) }} as dimension_value,
        category,
        numerator,
        denominator{% if measure_agg %},
        measure{% endif %}
    from indicator_fine
    {% if not loop.last %}union all
    {% endif -%}
    {%- endfor %}
),

indicator_scoped as (
    select * from indicator_unpivoted
    union all
    select
        period,
        '{{ var("district_ags") }}' as ags,
        dimension,
        dimension_value,
        category,
        numerator,
        denominator{% if measure_agg %},
        measure{% endif %}
    from indicator_unpivoted
),

indicator_numerators as (
    select period, ags, dimension, dimension_value, category, sum(numerator) as numerator
    from indicator_scoped
    where category is not null
    group by all
),

indicator_denominators as (
    select
        period,
        ags,
        dimension,
        dimension_value,
        {% if not shared_denominator -%} category, {%- endif %}
        sum(denominator) as denominator{% if measure_agg %},
        {{ measure_agg }} as measure_value{% endif %}
    from indicator_scoped
    {% if not shared_denominator -%} where category is not null {%- endif %}
    group by all
),

indicator_categories as (
    {% if categories is none -%}
    select distinct period, category from indicator_fine where category is not null
    {%- else -%}
    select periods.period, category_list.category
    from indicator_periods as periods
    cross join (
        select unnest(['{{ categories | join("', '") }}']) as category
    ) as category_list
    {%- endif %}
),

indicator_grid as (
    select
        periods.period,
        geographies.ags,
        geographies.gemeinde,
        dimension_values.dimension,
        dimension_values.dimension_value,
        categories.category,
        periods.source_complete
    from indicator_periods as periods
    cross join indicator_geographies as geographies
    cross join indicator_dimension_values as dimension_values
    inner join indicator_categories as categories
        on categories.period = periods.period
),

indicator_rows as (
    select
        grid.period,
        grid.ags,
        grid.gemeinde,
        grid.dimension,
        grid.dimension_value,
        grid.category,
        cast(coalesce(numerators.numerator, 0) as bigint) as numerator,
        cast(coalesce(denominators.denominator, 0) as bigint) as denominator,
        {% if measure_agg -%}
        denominators.measure_value,
        {% endif -%}
        grid.source_complete
    from indicator_grid as grid
    left join indicator_numerators as numerators
        on numerators.period = grid.period
        and numerators.ags = grid.ags
        and numerators.dimension = grid.dimension
        and numerators.dimension_value = grid.dimension_value
        and numerators.category = grid.category
    left join indicator_denominators as denominators
        on denominators.period = grid.period
        and denominators.ags = grid.ags
        and denominators.dimension = grid.dimension
        and denominators.dimension_value = grid.dimension_value
        {% if not shared_denominator -%}
        and denominators.category = grid.category
        {%- endif %}
)
{%- endmacro %}

{#- Rate of a long-layout row: numerator per `per` units of the denominator (100 = percent,
    1000 = 'je 1000'), one decimal as in official tables, null when the denominator is 0. -#}
{% macro indicator_rate(numerator='numerator', denominator='denominator', per=100) -%}
    case
        when {{ denominator }} = 0 then null
        else cast(round({{ per }}.0 * {{ numerator }} / {{ denominator }}, 1) as double)
    end
{%- endmacro %}

{#- Median months to an event among the cohort members who have reached it by the period's end
    (people without the event have no `measure` and are left out); no median while nobody has.
    Counting them as "not yet" instead would leave the median empty for good wherever fewer
    than half of a cohort ever reach the event (EU citizens attend no integration course). -#}
{% macro median_agg(measure='measure') -%}
    quantile_disc({{ measure }}, 0.5)
{%- endmacro %}

{% macro median_rate(measure_value='measure_value', numerator='numerator') -%}
    case
        when {{ numerator }} = 0 then null
        else cast({{ measure_value }} as double)
    end
{%- endmacro %}
