"""
### kiim_retention - delete what has passed its erasure period

Monthly. Applies the retention policy of `config/organisation.yaml` (`retention_policy`, months
after the end of the reporting month, per zone) to inbox leftovers, quarantine, the
pseudonymised zone, the warehouse and the quality reports. Every deletion is appended to the
deletion log `docs/retention/deletions.jsonl` (names and counts, no personal data), and the
processing register is re-rendered with the deletion evidence.

The task calls `kiim.retention.apply_retention`, the same function as `kiim retention`.
It writes to the warehouse DuckDB, which allows one writer at a time: if the monthly run holds
the file, the task fails with a lock error and deletes nothing (one transaction); re-run it.
"""

from __future__ import annotations

from typing import Any

from airflow.sdk import dag, task


@dag(
    dag_id="kiim_retention",
    schedule="@monthly",
    catchup=False,
    max_active_runs=1,
    doc_md=__doc__,
    tags=["kiim"],
)
def kiim_retention() -> None:
    @task
    def apply_retention() -> dict[str, Any]:
        from kiim.register import write_workspace_register
        from kiim.retention import apply_retention as apply
        from kiim.workspace import Workspace

        ws = Workspace.from_env()
        report = apply(ws)
        register = write_workspace_register(ws)
        return {**report.to_dict(), "register": str(register.html)}

    apply_retention()


kiim_retention()
