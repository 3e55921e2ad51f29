-- Integrationsquote (§ 48a SGB II): take-ups of employment, training or self-employment in
-- the 12 months up to the period per average monthly stock of ELB in those months. The
-- denominator is kept as the sum of the monthly stocks (ELB person-months) so that it stays
-- additive across Gemeinden and groups; the rate divides it by the months with data.
with

records as (
    select * from {{ ref('int_jobcenter_records_monthly') }}
),

periods as (
    select * from {{ ref('int_periods') }}
),

stock_person_months as (
    select
        periods.period,
        records.ags,
        records.nationality_group,
        records.residence_status_group,
        records.age_band,
        records.sex_label,
        'insgesamt' as category,
        0 as numerator,
        1 as denominator
    from periods
    inner join records
        on records.period_index between periods.period_index - 11 and periods.period_index
    where records.is_elb
),

-- a take-up is reported in every extract after it happened: count it once, with the
-- dimensions of the record that first reported it
take_up_events as (
    select *
    from records
    where take_up_date is not null
    qualify row_number() over (
        partition by person_key, take_up_date
        order by period_index, record_key
    ) = 1
),

take_ups_in_window as (
    select
        periods.period,
        take_up_events.ags,
        take_up_events.nationality_group,
        take_up_events.residence_status_group,
        take_up_events.age_band,
        take_up_events.sex_label,
        'insgesamt' as category,
        1 as numerator,
        0 as denominator
    from periods
    inner join take_up_events
        on take_up_events.period_index <= periods.period_index
        and take_up_events.take_up_date
            between cast(periods.period_start - to_months(11) as date) and periods.period_end
),

months_with_data as (
    select
        periods.period,
        count(distinct records.period) as months_observed
    from periods
    inner join records
        on records.period_index between periods.period_index - 11 and periods.period_index
    group by periods.period
),

facts as (
    select * from stock_person_months
    union all
    select * from take_ups_in_window
),

{{ indicator_long(
    'facts',
    dimensions=[
        'staatsangehoerigkeitsgruppe', 'aufenthaltsstatusgruppe', 'altersgruppe', 'geschlecht'
    ],
    sources=['jobcenter'],
) }},

final as (
    select
        indicator_rows.period,
        indicator_rows.ags,
        indicator_rows.gemeinde,
        indicator_rows.dimension,
        indicator_rows.dimension_value,
        indicator_rows.category,
        indicator_rows.numerator,
        indicator_rows.denominator,
        case
            when indicator_rows.denominator = 0 or months_with_data.months_observed is null
                then null
            else cast(round(
                100.0 * indicator_rows.numerator * months_with_data.months_observed
                    / indicator_rows.denominator,
                1
            ) as double)
        end as rate,
        indicator_rows.source_complete
    from indicator_rows
    left join months_with_data
        on months_with_data.period = indicator_rows.period
)

select * from final
