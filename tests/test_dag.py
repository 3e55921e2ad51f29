"""The DAG file imports cleanly, has the expected shape, and its trigger form validates input."""

from __future__ import annotations

import pytest

from kiim import orchestration as orc
from kiim.workspace import REPO_ROOT


@pytest.fixture(scope="module")
def dag():  # type: ignore[no-untyped-def]
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=str(REPO_ROOT / "dags"))
    assert bag.import_errors == {}
    return bag.dags["kiim_monthly"]


def test_dag_shape(dag) -> None:  # type: ignore[no-untyped-def]
    ids = set(dag.task_ids)
    assert {
        "start_run",
        "process_agency",
        "link_persons",
        "build_marts",
        "publish_marts",
        "finish_run",
    } <= ids
    assert dag.get_task("finish_run").trigger_rule == "all_done"
    assert dag.max_active_runs == 1


def test_period_param_rejects_malformed_values(dag) -> None:  # type: ignore[no-untyped-def]
    from airflow.sdk.definitions.param import ParamValidationError

    param = dag.params.get_param("period")
    assert param.resolve(value="2026-10") == "2026-10"
    for bad in ("2026-13", "10-2026", "2026-1", ""):
        with pytest.raises(ParamValidationError):
            param.resolve(value=bad)


def test_trigger_form_defaults_and_schedule(dag) -> None:  # type: ignore[no-untyped-def]
    """Empty period = previous month (resolved in start_run); allow_partial on by default."""
    assert dag.params.get_param("period").resolve(value=None) is None
    assert dag.params.get_param("allow_partial").resolve() is True
    assert {"wait_for_extracts", "check_deliveries"} <= set(dag.task_ids)
    assert dag.on_failure_callback is not None
    # scheduled by KIIM_SCHEDULE (default 06:00 on the 5th), in German local time
    assert dag.timetable.expression == orc.schedule()
    assert str(dag.timetable.timezone) == "Europe/Berlin"
    assert dag.get_task("build_marts").retries == dag.get_task("link_persons").retries
    assert dag.get_task("build_marts").retry_exponential_backoff == 2.0
