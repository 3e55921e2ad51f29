-- Share of an arrival cohort not living in shared accommodation (own flat), measured in the
-- month 12, 24 and 36 months after each person's arrival (int_trajectory_evaluations). A
-- period shows every evaluation reached by then; category = '<cohort> | <months> Monate'.
with

evaluations as (
    select * from {{ ref('int_trajectory_evaluations') }}
),

periods as (
    select * from {{ ref('int_periods') }}
),

facts as (
    select
        periods.period,
        evaluations.ags,
        evaluations.nationality_group,
        evaluations.residence_status_group,
        evaluations.sex_label,
        evaluations.arrival_cohort || ' | '
            || evaluations.months_after_arrival || ' Monate' as category,
        case when not evaluations.lives_in_shared_accommodation then 1 else 0 end as numerator,
        1 as denominator
    from evaluations
    inner join periods
        on periods.period_index >= evaluations.evaluation_period_index
),

{{ indicator_long(
    'facts',
    dimensions=['staatsangehoerigkeitsgruppe', 'aufenthaltsstatusgruppe', 'geschlecht'],
    sources=['ewo', 'abh', 'sozialamt'],
    categories=none,
) }},

final as (
    select
        period,
        ags,
        gemeinde,
        dimension,
        dimension_value,
        category,
        numerator,
        denominator,
        {{ indicator_rate() }} as rate,
        source_complete
    from indicator_rows
)

select * from final
