"""
### kiim_monthly - the monthly integration-monitoring run

One run processes one reporting month (`period`, YYYY-MM):

1. **start_run** checks period, configs and the pseudonymisation key.
2. **process_agency** (mapped over agencies): read the extract from the inbox, pseudonymise it,
   validate it with Great Expectations; accept it into the pseudonymised zone or quarantine it.
3. **link_persons**: load the pseudonymised zone into the warehouse, link records to persons.
4. **build_marts**: `dbt build` (models and tests) on the warehouse.
5. **publish_marts**: disclosure-controlled marts into the analysts' database (atomic swap).
6. **finish_run**: quality report, run log, Art. 30 register; runs even when a step failed.

Each task only calls a plain function in `kiim.pipeline`; tests call the same functions.
"""

from __future__ import annotations

from typing import Any

from airflow.sdk import Asset, Param, dag, get_current_context, task

PUBLISHED = Asset("kiim://published/kiim.duckdb")
PSEUDONYMISED = Asset("kiim://pseudonymised")


@dag(
    dag_id="kiim_monthly",
    schedule=None,
    catchup=False,
    max_active_runs=1,
    doc_md=__doc__,
    tags=["kiim"],
    params={
        "period": Param(
            type="string",
            pattern=r"^\d{4}-(0[1-9]|1[0-2])$",
            title="Berichtsmonat",
            description="Berichtsmonat im Format JJJJ-MM, z. B. 2026-10",
        ),
        "agencies": Param(
            [],
            type="array",
            title="Stellen",
            description="Nur diese Stellen verarbeiten (leer = alle konfigurierten Stellen)",
        ),
    },
)
def kiim_monthly() -> None:
    @task
    def start_run() -> dict[str, Any]:
        from kiim import pipeline

        params = get_current_context()["params"]
        return pipeline.start_run(params["period"], "airflow", params.get("agencies") or None)

    @task
    def list_agencies(run: dict[str, Any]) -> list[str]:
        return list(run["agencies"])

    @task(outlets=[PSEUDONYMISED])
    def process_agency(run: dict[str, Any], agency: str) -> dict[str, Any]:
        from kiim import pipeline

        return pipeline.process_agency(run, agency)

    @task
    def link_persons(run: dict[str, Any], results: list[dict[str, Any]]) -> dict[str, Any]:
        from kiim import pipeline

        return pipeline.link(run, list(results))

    @task
    def build_marts(run: dict[str, Any], linked: dict[str, Any]) -> dict[str, Any]:
        from kiim import pipeline

        return pipeline.transform(run)

    @task(outlets=[PUBLISHED])
    def publish_marts(run: dict[str, Any], built: dict[str, Any]) -> dict[str, Any]:
        from kiim import pipeline

        return pipeline.publish(run, built)

    @task(trigger_rule="all_done")
    def finish_run(
        run: dict[str, Any] | None,
        results: list[dict[str, Any]] | None,
        linked: dict[str, Any] | None,
        built: dict[str, Any] | None,
        published: dict[str, Any] | None,
    ) -> dict[str, Any]:
        from kiim import pipeline

        return pipeline.finish_from_airflow(run, results, linked, built, published)

    run = start_run()
    results = process_agency.partial(run=run).expand(agency=list_agencies(run))
    linked = link_persons(run, results)
    built = build_marts(run, linked)
    published = publish_marts(run, built)
    finish_run(run, results, linked, built, published)


kiim_monthly()
