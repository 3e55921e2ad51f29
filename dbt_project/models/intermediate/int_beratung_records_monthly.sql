-- beratung records per period with the marts' breakdown dimensions
-- (see macro records_with_dimensions).
{{ records_with_dimensions('stg_beratung__counselling_cases') }}
