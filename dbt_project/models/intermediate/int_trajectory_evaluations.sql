-- Each person of an arrival cohort in the month exactly 12, 24 or 36 months after arrival
-- (var trajectory_horizons), if registered as resident then: people who moved away are no
-- longer in the panel and so leave the denominator.
with

residents as (
    select * from {{ ref('int_persons_monthly') }}
    where arrival_cohort is not null
),

horizons as (
    select unnest([{{ var('trajectory_horizons') | join(', ') }}]) as months_after_arrival
),

final as (
    select
        residents.period as evaluation_period,
        residents.period_index as evaluation_period_index,
        horizons.months_after_arrival,
        residents.person_key,
        residents.arrival_cohort,
        residents.ags,
        residents.nationality_group,
        residents.residence_status_group,
        residents.age_band,
        residents.sex_label,
        residents.has_b1,
        residents.receives_sgb2,
        residents.lives_in_shared_accommodation
    from residents
    inner join horizons
        on horizons.months_after_arrival = residents.months_since_arrival
)

select * from final
