-- Share of an arrival cohort not receiving SGB II 12, 24 and 36 months after arrival.
{{ trajectory_share_mart('not evaluations.receives_sgb2', ['ewo', 'abh', 'jobcenter']) }}
