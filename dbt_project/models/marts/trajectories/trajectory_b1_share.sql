-- Share of an arrival cohort with a B1 certificate (DTZ) 12, 24 and 36 months after arrival.
{{ trajectory_share_mart('evaluations.has_b1', ['ewo', 'abh', 'integrationskurs']) }}
