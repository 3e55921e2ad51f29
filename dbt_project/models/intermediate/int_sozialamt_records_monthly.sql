-- sozialamt records per period with the marts' breakdown dimensions
-- (see macro records_with_dimensions).
{{ records_with_dimensions('stg_sozialamt__asylblg_cases') }}
