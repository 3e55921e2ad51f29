-- The person-month panel: one row per person and period for everyone registered as resident
-- (EWO) on the period's reference date, with the breakdown dimensions and one flag per field of
-- action from the linked records of the other agencies in the same period.
with

periods as (
    select * from {{ ref('int_periods') }}
),

residents as (
    select * from {{ ref('stg_ewo__residents') }}
    where is_resident
),

permits as (
    select * from {{ ref('stg_abh__residence_permits') }}
),

benefits as (
    select * from {{ ref('stg_jobcenter__benefit_records') }}
),

asylblg_cases as (
    select * from {{ ref('stg_sozialamt__asylblg_cases') }}
),

childcare_places as (
    select * from {{ ref('stg_kita__childcare_places') }}
),

course_participations as (
    select * from {{ ref('stg_integrationskurs__course_participations') }}
),

pupils as (
    select * from {{ ref('stg_schulamt__pupils') }}
),

counselling_cases as (
    select * from {{ ref('stg_beratung__counselling_cases') }}
),

nationalities as (
    select * from {{ ref('nationalities') }}
),

person_events as (
    select * from {{ ref('int_person_events') }}
),

-- a person registered twice in one period (duplicate registration) is counted once
resident_months as (
    select *
    from residents
    qualify row_number() over (
        partition by person_key, period
        order by move_in_date desc nulls last, record_key
    ) = 1
),

permit_months as (
    select person_key, period, residence_status, residence_status_group
    from permits
    qualify row_number() over (
        partition by person_key, period
        order by residence_status_group is null, record_key
    ) = 1
),

benefit_months as (
    select
        person_key,
        period,
        bool_or(receives_sgb2) as receives_sgb2,
        bool_or(is_elb) as is_elb,
        bool_or(coalesce(is_unemployed, false)) as is_unemployed
    from benefits
    group by person_key, period
),

asylblg_months as (
    select
        person_key,
        period,
        bool_or(accommodation = 'GU') as lives_in_shared_accommodation
    from asylblg_cases
    group by person_key, period
),

childcare_months as (
    select
        person_key,
        period,
        bool_or(coalesce(has_language_support_need, false)) as has_language_support_need
    from childcare_places
    group by person_key, period
),

course_months as (
    select
        person_key,
        period,
        bool_or(
            course_start_date <= {{ period_end('period') }}
            and (course_end_date is null or course_end_date >= {{ period_start('period') }})
        ) as in_course
    from course_participations
    group by person_key, period
),

school_months as (
    select
        person_key,
        period,
        bool_or(daz_phase in ('1', '2', '3')) as is_daz_pupil
    from pupils
    group by person_key, period
),

counselling_months as (
    select person_key, period, count(*) as counselling_cases
    from counselling_cases
    group by person_key, period
),

joined as (
    select
        resident_months.period,
        periods.period_start,
        periods.period_end,
        periods.period_index,
        resident_months.person_key,
        resident_months.ags,
        resident_months.sex,
        resident_months.sex_label,
        resident_months.nationality,
        coalesce(nationalities.group_de, 'unbekannt') as nationality_group,
        resident_months.is_foreigner,
        resident_months.birth_year,
        resident_months.birth_month,
        {{ age_at_period_end(
            'resident_months.birth_year', 'resident_months.birth_month', 'resident_months.period'
        ) }} as age,
        permit_months.residence_status,
        {{ person_status_group(
            'resident_months.is_foreigner', 'permit_months.residence_status_group'
        ) }} as residence_status_group,
        resident_months.move_in_date,
        person_events.arrival_date,
        person_events.arrival_cohort,
        person_events.naturalisation_date,
        coalesce(person_events.has_residence_record, false) as has_residence_record,
        coalesce(benefit_months.receives_sgb2, false) as receives_sgb2,
        coalesce(benefit_months.is_elb, false) as is_elb,
        coalesce(benefit_months.is_unemployed, false) as is_unemployed,
        asylblg_months.person_key is not null as receives_asylblg,
        coalesce(asylblg_months.lives_in_shared_accommodation, false)
            as lives_in_shared_accommodation,
        childcare_months.person_key is not null as in_childcare,
        coalesce(childcare_months.has_language_support_need, false) as has_language_support_need,
        coalesce(course_months.in_course, false) as in_course,
        school_months.person_key is not null as in_school,
        coalesce(school_months.is_daz_pupil, false) as is_daz_pupil,
        coalesce(counselling_months.counselling_cases, 0) as counselling_cases,
        person_events.first_course_start_date,
        person_events.first_b1_date,
        person_events.first_a2_date,
        person_events.first_take_up_date
    from resident_months
    inner join periods on periods.period = resident_months.period
    left join nationalities on nationalities.code = resident_months.nationality
    left join permit_months
        on permit_months.person_key = resident_months.person_key
        and permit_months.period = resident_months.period
    left join person_events on person_events.person_key = resident_months.person_key
    left join benefit_months
        on benefit_months.person_key = resident_months.person_key
        and benefit_months.period = resident_months.period
    left join asylblg_months
        on asylblg_months.person_key = resident_months.person_key
        and asylblg_months.period = resident_months.period
    left join childcare_months
        on childcare_months.person_key = resident_months.person_key
        and childcare_months.period = resident_months.period
    left join course_months
        on course_months.person_key = resident_months.person_key
        and course_months.period = resident_months.period
    left join school_months
        on school_months.person_key = resident_months.person_key
        and school_months.period = resident_months.period
    left join counselling_months
        on counselling_months.person_key = resident_months.person_key
        and counselling_months.period = resident_months.period
),

derived as (
    select
        *,
        {{ age_band('age') }} as age_band,
        coalesce(first_b1_date <= period_end, false) as has_b1,
        case
            when first_b1_date <= period_end then 'B1'
            when first_a2_date <= period_end then 'A2'
        end as dtz_level_reached,
        coalesce(naturalisation_date between period_start and period_end, false)
            as is_naturalised_in_period,
        -- foreign at the start of the period: still foreign, or naturalised during it
        (is_foreigner and (naturalisation_date is null or naturalisation_date >= period_start))
            or coalesce(naturalisation_date between period_start and period_end, false)
            as was_foreigner_at_period_start,
        case
            when arrival_date <= period_end
                then period_index - {{ month_index('arrival_date') }}
        end as months_since_arrival
    from joined
),

final as (
    select * from derived
)

select * from final
