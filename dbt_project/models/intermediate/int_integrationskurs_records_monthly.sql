-- integrationskurs records per period with the marts' breakdown dimensions
-- (see macro records_with_dimensions).
{{ records_with_dimensions('stg_integrationskurs__course_participations') }}
