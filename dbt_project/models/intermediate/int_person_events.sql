-- One row per person with the dates of first events across all periods up to the run's period:
-- arrival, first course start, first B1 certificate, first take-up of work. Trajectories measure
-- months between these dates, so they must not depend on which month a record was delivered in.
with

residents as (
    select * from {{ ref('stg_ewo__residents') }}
    where {{ up_to_run_period('period') }}
),

permits as (
    select * from {{ ref('stg_abh__residence_permits') }}
    where {{ up_to_run_period('period') }}
),

courses as (
    select * from {{ ref('stg_integrationskurs__course_participations') }}
    where {{ up_to_run_period('period') }}
),

benefits as (
    select * from {{ ref('stg_jobcenter__benefit_records') }}
    where {{ up_to_run_period('period') }}
),

registrations as (
    select
        person_key,
        min(move_in_date) as first_move_in_date,
        bool_or(is_foreigner) as was_ever_foreigner
    from residents
    group by person_key
),

entries as (
    select
        person_key,
        min(entry_date) as first_entry_date,
        min(naturalisation_date) as naturalisation_date
    from permits
    group by person_key
),

course_events as (
    select
        person_key,
        min(course_start_date) as first_course_start_date,
        -- a result without course end date counts at the end of the period that first reports it
        min(case when dtz_result = 'B1'
            then coalesce(course_end_date, {{ period_end('period') }}) end) as first_b1_date,
        min(case when dtz_result in ('B1', 'A2')
            then coalesce(course_end_date, {{ period_end('period') }}) end) as first_a2_date
    from courses
    group by person_key
),

take_ups as (
    select
        person_key,
        min(take_up_date) as first_take_up_date
    from benefits
    where take_up_date is not null
    group by person_key
),

persons as (
    select person_key from registrations
    union
    select person_key from entries
    union
    select person_key from course_events
    union
    select person_key from take_ups
),

joined as (
    select
        persons.person_key,
        registrations.first_move_in_date,
        entries.first_entry_date,
        entries.naturalisation_date,
        entries.person_key is not null as has_residence_record,
        coalesce(registrations.was_ever_foreigner, false) as was_ever_foreigner,
        course_events.first_course_start_date,
        course_events.first_b1_date,
        course_events.first_a2_date,
        take_ups.first_take_up_date
    from persons
    left join registrations on registrations.person_key = persons.person_key
    left join entries on entries.person_key = persons.person_key
    left join course_events on course_events.person_key = persons.person_key
    left join take_ups on take_ups.person_key = persons.person_key
),

arrivals as (
    select
        *,
        -- arrival in the integration sense: entry to Germany (ABH), else the move into the
        -- district; only for people with a foreign nationality or a foreigners' authority record
        case
            when has_residence_record or was_ever_foreigner
                then coalesce(first_entry_date, first_move_in_date)
        end as arrival_date
    from joined
),

final as (
    select
        *,
        {{ quarter_label('arrival_date') }} as arrival_cohort
    from arrivals
)

select * from final
