"""
### kiim_monthly - the monthly integration-monitoring run

One run processes one reporting month (`period`, YYYY-MM). Scheduled runs (cron from
`KIIM_SCHEDULE`, default 06:00 on the 5th, Europe/Berlin) process the previous month; a manual
run takes the month from the trigger form (empty = previous month).

1. **start_run** checks period, configs and the pseudonymisation key; removes leftovers of a
   crashed run.
2. **wait_for_extracts** waits for the expected extracts until the deadline
   (`KIIM_READINESS_TIMEOUT`), then lets the run go on; what has not arrived is recorded as
   missing.
3. **process_agency** (mapped over agencies): read the extract from the inbox, pseudonymise it,
   validate it with Great Expectations; accept it into the pseudonymised zone or quarantine it.
4. **check_deliveries**: with *allow_partial* off, a rejected or missing extract ends the run
   here, before anything is published.
5. **link_persons**: load the pseudonymised zone into the warehouse, link records to persons.
6. **build_marts**: one `dbt build` (models and tests) on the warehouse (see docs/airflow.md).
7. **publish_marts**: disclosure-controlled marts into the analysts' database (atomic swap).
8. **finish_run**: quality report, run log, Art. 30 register; runs even when a step failed.
   If even this task cannot run, the DAG's failure callback writes the run-log entry.

Transient errors (a locked file, a full disk) are retried with exponential backoff
(`KIIM_TASK_RETRIES`, `KIIM_RETRY_DELAY`); data errors (a rejected extract with allow_partial
off, a failing dbt test, a disclosure-control guard) fail at once: retrying cannot fix them.
Each task only calls a plain function in `kiim.pipeline` / `kiim.orchestration`; tests call the
same functions. Every task can be re-run: files are written under a temporary name and renamed.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

from airflow.sdk import (
    Asset,
    CronTriggerTimetable,
    Param,
    PokeReturnValue,
    dag,
    get_current_context,
    task,
)
from airflow.sdk.exceptions import AirflowFailException

from kiim import orchestration

PUBLISHED = Asset("kiim://published/kiim.duckdb")
PSEUDONYMISED = Asset("kiim://pseudonymised")
PERIOD_PATTERN = r"^\d{4}-(0[1-9]|1[0-2])$"

_cron = orchestration.schedule()
_poke = orchestration.readiness_poke_s()
_deadline = orchestration.readiness_timeout_s()


def _step(fn: Callable[..., Any], *args: Any) -> Any:
    """Call a pipeline function; turn data errors into a failure Airflow does not retry."""
    try:
        return fn(*args)
    except Exception as exc:
        if orchestration.is_data_error(exc):
            raise AirflowFailException(f"{type(exc).__name__}: {exc}") from exc
        raise  # transient: retried with backoff


def _trigger(dag_run: Any) -> str:
    run_type = getattr(dag_run, "run_type", None)
    return f"airflow:{getattr(run_type, 'value', run_type) or 'manual'}"


def record_failure(context: Any) -> None:
    """DAG failure callback: make sure the run log has an entry even if finish_run never ran."""
    dag_run = context.get("dag_run")
    conf = getattr(dag_run, "conf", None) or {}
    params = context.get("params") or {}
    period = conf.get("period") or params.get("period")
    run_after = getattr(dag_run, "run_after", None)
    if not period and run_after is not None:
        period = orchestration.previous_month(run_after)
    orchestration.record_failed_run(
        str(context.get("run_id") or getattr(dag_run, "run_id", "unknown")),
        period,
        _trigger(dag_run),
        str(context.get("reason") or "DAG-Lauf fehlgeschlagen"),
    )


@dag(
    dag_id="kiim_monthly",
    schedule=CronTriggerTimetable(_cron, timezone="Europe/Berlin") if _cron else None,
    catchup=False,
    max_active_runs=1,
    dagrun_timeout=timedelta(seconds=_deadline) + timedelta(hours=6),
    doc_md=__doc__,
    tags=["kiim"],
    on_failure_callback=record_failure,
    default_args={
        "retries": orchestration.task_retries(),
        "retry_delay": timedelta(seconds=orchestration.retry_delay_s()),
        "retry_exponential_backoff": 2.0,
        "max_retry_delay": timedelta(minutes=30),
    },
    params={
        "period": Param(
            None,
            type=["null", "string"],
            pattern=PERIOD_PATTERN,
            title="Berichtsmonat",
            description=(
                "Berichtsmonat im Format JJJJ-MM, z. B. 2026-10; leer = Vormonat des Laufdatums"
            ),
        ),
        "agencies": Param(
            [],
            type="array",
            title="Stellen",
            description="Nur diese Stellen verarbeiten (leer = alle konfigurierten Stellen)",
        ),
        "allow_partial": Param(
            True,
            type="boolean",
            title="Teillieferung erlauben",
            description=(
                "Aus: eine abgelehnte oder fehlende Lieferung beendet den Lauf vor der "
                "Veröffentlichung"
            ),
        ),
    },
)
def kiim_monthly() -> None:
    @task
    def start_run() -> dict[str, Any]:
        from kiim import pipeline

        context = get_current_context()
        params, dag_run = context["params"], context["dag_run"]
        when = context.get("logical_date") or getattr(dag_run, "run_after", None)
        period = orchestration.resolve_period(params.get("period"), when)
        run = _step(pipeline.start_run, period, _trigger(dag_run), params.get("agencies") or None)
        run["allow_partial"] = bool(params.get("allow_partial", True))
        orchestration.remember_run(context["run_id"], run)
        return dict(run)

    @task.sensor(
        poke_interval=_poke,
        timeout=_deadline + 3600,
        mode="reschedule" if _poke >= 60 else "poke",
    )
    def wait_for_extracts(run: dict[str, Any]) -> PokeReturnValue:
        state = orchestration.readiness(run)
        return PokeReturnValue(is_done=state["done"], xcom_value=state)

    @task
    def list_agencies(run: dict[str, Any], readiness: dict[str, Any]) -> list[str]:
        return list(run["agencies"])

    @task(outlets=[PSEUDONYMISED])
    def process_agency(run: dict[str, Any], agency: str) -> dict[str, Any]:
        from kiim import pipeline

        return dict(_step(pipeline.process_agency, run, agency))

    @task
    def check_deliveries(
        run: dict[str, Any], results: list[dict[str, Any]]
    ) -> list[dict[str, Any]]:
        checked = list(results)
        _step(orchestration.check_completeness, checked, run.get("allow_partial", True))
        return checked

    @task
    def link_persons(run: dict[str, Any], results: list[dict[str, Any]]) -> dict[str, Any]:
        from kiim import pipeline

        return dict(_step(pipeline.link, run, list(results)))

    @task
    def build_marts(run: dict[str, Any], linked: dict[str, Any]) -> dict[str, Any]:
        from kiim import pipeline

        return dict(_step(pipeline.transform, run))

    @task(outlets=[PUBLISHED])
    def publish_marts(run: dict[str, Any], built: dict[str, Any]) -> dict[str, Any]:
        from kiim import pipeline

        return dict(_step(pipeline.publish, run, built))

    @task(trigger_rule="all_done")
    def finish_run(
        run: dict[str, Any] | None,
        results: list[dict[str, Any]] | None,
        linked: dict[str, Any] | None,
        built: dict[str, Any] | None,
        published: dict[str, Any] | None,
    ) -> dict[str, Any]:
        from kiim import pipeline

        return dict(_step(pipeline.finish_from_airflow, run, results, linked, built, published))

    run = start_run()
    ready = wait_for_extracts(run)
    results = process_agency.partial(run=run).expand(agency=list_agencies(run, ready))
    checked = check_deliveries(run, results)
    linked = link_persons(run, checked)
    built = build_marts(run, linked)
    published = publish_marts(run, built)
    finish_run(run, results, linked, built, published)


kiim_monthly()
