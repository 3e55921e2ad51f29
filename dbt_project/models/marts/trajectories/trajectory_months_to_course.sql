-- Median months from arrival to the first start of an integration course, per arrival cohort.
{{ trajectory_median_months_mart('first_course_start_date', ['ewo', 'abh', 'integrationskurs']) }}
