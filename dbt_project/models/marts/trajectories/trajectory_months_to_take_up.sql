-- Median months from arrival to the first take-up of employment, training or self-employment,
-- per arrival cohort.
{{ trajectory_median_months_mart('first_take_up_date', ['ewo', 'abh', 'jobcenter']) }}
