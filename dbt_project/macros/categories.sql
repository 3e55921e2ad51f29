{#- Categorisations shared by all models. Every mapping is total (falls back to 'unbekannt'),
    so the values of a dimension always partition its total: the disclosure step relies on it. -#}

{#- Completed years at the end of the period, from generalised birth year and month. A person
    born in the period's month has had the birthday by its last day. Unknown month: mid-year. -#}
{% macro age_at_period_end(birth_year, birth_month, period) -%}
    (cast(left({{ period }}, 4) as integer) - {{ birth_year }}
        - case when coalesce({{ birth_month }}, 7) > cast(right({{ period }}, 2) as integer)
               then 1 else 0 end)
{%- endmacro %}

{% macro age_band_values() -%}
    {{ return(['unter 3', '3 bis unter 6', '6 bis unter 15', '15 bis unter 18', '18 bis unter 25',
               '25 bis unter 45', '45 bis unter 67', '67 und älter', 'unbekannt']) }}
{%- endmacro %}

{% macro age_band(age) -%}
    case
        when {{ age }} is null or {{ age }} < 0 then 'unbekannt'
        when {{ age }} < 3 then 'unter 3'
        when {{ age }} < 6 then '3 bis unter 6'
        when {{ age }} < 15 then '6 bis unter 15'
        when {{ age }} < 18 then '15 bis unter 18'
        when {{ age }} < 25 then '18 bis unter 25'
        when {{ age }} < 45 then '25 bis unter 45'
        when {{ age }} < 67 then '45 bis unter 67'
        else '67 und älter'
    end
{%- endmacro %}

{% macro sex_values() -%}
    {{ return(['männlich', 'weiblich', 'divers', 'ohne Angabe', 'unbekannt']) }}
{%- endmacro %}

{% macro sex_label(sex) -%}
    case lower({{ sex }})
        when 'm' then 'männlich'
        when 'w' then 'weiblich'
        when 'd' then 'divers'
        when 'x' then 'ohne Angabe'
        else 'unbekannt'
    end
{%- endmacro %}

{#- Residence status groups of the Länder monitoring (DESIGN §6). 'DEU' (naturalised) has no
    foreigner status group. -#}
{% macro residence_status_group_values() -%}
    {{ return(['dauerhaft', 'befristet', 'Duldung', 'Gestattung', 'Deutsche', 'unbekannt']) }}
{%- endmacro %}

{% macro residence_status_group(code) -%}
    case upper({{ code }})
        when 'NE' then 'dauerhaft'
        when 'DA-EU' then 'dauerhaft'
        when 'FZ-EU' then 'dauerhaft'
        when 'AE' then 'befristet'
        when 'AE-24' then 'befristet'
        when 'DUL' then 'Duldung'
        when 'GEST' then 'Gestattung'
    end
{%- endmacro %}

{#- Status group of a person: Germans form their own group; a foreigner without a (linked)
    record of the Ausländerbehörde is 'unbekannt'. -#}
{% macro person_status_group(is_foreigner, status_group) -%}
    case
        when not {{ is_foreigner }} then 'Deutsche'
        else coalesce({{ status_group }}, 'unbekannt')
    end
{%- endmacro %}

{% macro is_foreigner(nationality) -%}
    coalesce(upper({{ nationality }}) <> 'DEU', false)
{%- endmacro %}
