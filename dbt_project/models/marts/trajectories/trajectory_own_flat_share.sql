-- Share of an arrival cohort not living in shared accommodation (own flat) 12, 24 and 36
-- months after arrival.
{{ trajectory_share_mart('not evaluations.lives_in_shared_accommodation', ['ewo', 'abh', 'sozialamt']) }}
