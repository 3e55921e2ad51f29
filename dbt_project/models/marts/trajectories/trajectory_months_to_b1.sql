-- Median months from arrival to the first DTZ result at level B1, per arrival cohort.
{{ trajectory_median_months_mart('first_b1_date', ['ewo', 'abh', 'integrationskurs']) }}
