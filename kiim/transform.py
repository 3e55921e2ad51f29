"""Run the dbt project in-process against the warehouse DuckDB.

dbt is called through its programmatic entry point (`dbtRunner`) rather than a subprocess so
that the pipeline step is a plain function with a typed result, the DuckDB file lock stays
inside this process, and Airflow needs no dbt executable on PATH. dbt's target folder and
logs go to a folder outside the repository (given by the caller), and usage tracking is
switched off before dbt is imported: the machines are offline and the project sends nothing.

Privacy: dbt never reads the inbox; the messages collected here come from dbt's node results
(compilation errors, failing test counts, unit-test diffs of hand-made fixture rows) and never
contain warehouse values.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

# Offline and untracked: dbt reads these when it is imported and when a command starts.
OFFLINE_ENV = {
    "DO_NOT_TRACK": "1",
    "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
}
WAREHOUSE_ENV = "KIIM_WAREHOUSE_DB"

_PASS = {"success", "pass"}
_FAIL = {"error", "fail", "runtime error"}


@dataclass(frozen=True)
class NodeFailure:
    """A dbt node that did not pass: what it is and dbt's message about it."""

    name: str
    resource_type: str  # model, test, unit_test, seed
    status: str  # error, fail, warn, skipped
    message: str

    def __str__(self) -> str:
        return f"{self.resource_type} {self.name}: {self.status} - {self.message}"


@dataclass
class DbtOutcome:
    """Result of one dbt invocation, reduced to what the run log and the operator need."""

    command: str
    success: bool
    models_passed: int = 0
    models_failed: int = 0
    tests_passed: int = 0
    tests_failed: int = 0
    tests_warned: int = 0
    seeds_passed: int = 0
    seeds_failed: int = 0
    skipped: int = 0
    failures: list[NodeFailure] = field(default_factory=list)
    warnings: list[NodeFailure] = field(default_factory=list)
    manifest_path: Path | None = None
    target_dir: Path | None = None
    log_dir: Path | None = None
    elapsed_s: float = 0.0

    def summary_de(self) -> str:
        """One German line for the run summary."""
        state = "erfolgreich" if self.success else "fehlgeschlagen"
        return (
            f"dbt {self.command} {state}: Modelle {self.models_passed} ok / "
            f"{self.models_failed} Fehler, Tests {self.tests_passed} ok / {self.tests_failed} "
            f"Fehler / {self.tests_warned} Warnungen, übersprungen {self.skipped}"
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "command": self.command,
            "success": self.success,
            "models_passed": self.models_passed,
            "models_failed": self.models_failed,
            "tests_passed": self.tests_passed,
            "tests_failed": self.tests_failed,
            "tests_warned": self.tests_warned,
            "seeds_passed": self.seeds_passed,
            "seeds_failed": self.seeds_failed,
            "skipped": self.skipped,
            "failures": [vars(f) for f in self.failures],
            "warnings": [vars(f) for f in self.warnings],
            "manifest_path": str(self.manifest_path) if self.manifest_path else None,
            "elapsed_s": round(self.elapsed_s, 2),
        }


class DbtError(RuntimeError):
    """dbt could not run at all (bad project, missing profile): not a failing model or test."""


@contextmanager
def _dbt_environment(warehouse_db: Path | None) -> Iterator[None]:
    """Set tracking-off variables and the warehouse path for the profile, restore afterwards."""
    wanted = dict(OFFLINE_ENV)
    if warehouse_db is not None:
        wanted[WAREHOUSE_ENV] = str(Path(warehouse_db).resolve())
    saved = {k: os.environ.get(k) for k in wanted}
    os.environ.update(wanted)
    try:
        yield
    finally:
        for key, value in saved.items():
            if key in OFFLINE_ENV:
                continue  # tracking stays off for the rest of the process
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def _folders(target_dir: Path | None) -> tuple[Path, Path]:
    target = (
        Path(target_dir) if target_dir is not None else Path(tempfile.mkdtemp(prefix="kiim-dbt-"))
    )
    target = target.resolve()
    logs = target / "logs"
    target.mkdir(parents=True, exist_ok=True)
    logs.mkdir(parents=True, exist_ok=True)
    return target, logs


def _common_args(
    project_dir: Path, target: Path, logs: Path, variables: dict[str, Any]
) -> list[str]:
    project = Path(project_dir).resolve()
    args = [
        "--project-dir",
        str(project),
        "--profiles-dir",
        str(project),
        "--target-path",
        str(target),
        "--log-path",
        str(logs),
    ]
    if variables:
        args += ["--vars", json.dumps(variables)]
    return args


def _status(result: Any) -> str:
    status = getattr(result, "status", "")
    return str(getattr(status, "value", status)).lower()


def _message(result: Any) -> str:
    message = getattr(result, "message", None) or ""
    failures = getattr(result, "failures", None)
    if failures and not message:
        message = f"{failures} failing rows"
    return str(message).strip()


def _outcome(command: str, res: Any, target: Path, logs: Path, started: float) -> DbtOutcome:
    manifest = target / "manifest.json"
    outcome = DbtOutcome(
        command=command,
        success=bool(res.success),
        manifest_path=manifest if manifest.exists() else None,
        target_dir=target,
        log_dir=logs,
    )
    if res.exception is not None:
        outcome.success = False
        outcome.failures.append(
            NodeFailure(
                "(project)", "project", "error", f"{type(res.exception).__name__}: {res.exception}"
            )
        )
    for result in getattr(res.result, "results", None) or []:
        node = result.node
        kind = str(getattr(node.resource_type, "value", node.resource_type))
        status = _status(result)
        entry = NodeFailure(node.name, kind, status, _message(result))
        is_test = kind in {"test", "unit_test"}
        if status == "skipped":
            outcome.skipped += 1
            outcome.failures.append(entry)
        elif status == "warn":
            outcome.tests_warned += 1
            outcome.warnings.append(entry)
        elif status in _PASS:
            if is_test:
                outcome.tests_passed += 1
            elif kind == "seed":
                outcome.seeds_passed += 1
            else:
                outcome.models_passed += 1
        else:
            if is_test:
                outcome.tests_failed += 1
            elif kind == "seed":
                outcome.seeds_failed += 1
            else:
                outcome.models_failed += 1
            outcome.failures.append(entry)
    outcome.elapsed_s = time.perf_counter() - started
    return outcome


def _release_duckdb() -> None:
    """Close the DuckDB instance dbt-duckdb keeps open after an in-process run.

    dbt-duckdb caches one database handle per process (class attribute of its connection
    manager). Left open, it holds the warehouse file so that the publish step in the same
    process cannot open it read-only, and a later run with another path would reuse it.
    """
    try:
        from dbt.adapters.duckdb.connections import DuckDBConnectionManager
    except ImportError:  # pragma: no cover - dbt-duckdb is a locked dependency
        return
    with DuckDBConnectionManager._LOCK:
        env = DuckDBConnectionManager._ENV
        if env is not None:
            close = getattr(env, "close", None)
            if callable(close):
                close()
            DuckDBConnectionManager._ENV = None


def _invoke(
    command: list[str],
    *,
    warehouse_db: Path | None,
    project_dir: Path,
    target_dir: Path | None,
    variables: dict[str, Any],
) -> DbtOutcome:
    target, logs = _folders(target_dir)
    started = time.perf_counter()
    with _dbt_environment(warehouse_db):
        from dbt.cli.main import dbtRunner  # imported late: after tracking is switched off

        args = [*command, *_common_args(project_dir, target, logs, variables)]
        try:
            res = dbtRunner().invoke(args)
        finally:
            _release_duckdb()
    return _outcome(
        command[0] if command[0] != "docs" else "docs generate", res, target, logs, started
    )


def write_run_context(warehouse_db: Path, period: str) -> None:
    """Write the build's period into `ops.run_context` (source of the `up_to_run_period` macro).

    Passing it as a dbt var would change dbt's vars every month, and changed vars make dbt
    re-parse the whole project (~10 s at district size); a table leaves the parse reusable
    (partial parsing against the manifest kept in `target_dir`).
    """
    import duckdb

    con = duckdb.connect(str(warehouse_db))
    try:
        con.execute("create schema if not exists ops")
        con.execute(
            "create or replace table ops.run_context as select ?::varchar as period", [period]
        )
    finally:
        con.close()


def dbt_build(
    warehouse_db: Path,
    project_dir: Path,
    *,
    period: str,
    target_dir: Path | None = None,
    extra_vars: dict[str, Any] | None = None,
    select: str | None = None,
    exclude: str | None = None,
    unit_tests: bool = False,
) -> DbtOutcome:
    """Build seeds, models and data tests of the project into `warehouse_db`.

    No other connection may hold the DuckDB file open (one writer per file; in this process
    a read-only connection to the same file also blocks dbt).

    Args:
        warehouse_db: the restricted warehouse DuckDB with pseudo.*, linkage.*, ops.* loaded.
        project_dir: the dbt project (its profiles.yml is used).
        period: the run's period 'YYYY-MM'; marts cover loaded periods up to it (written to
            `ops.run_context`, see `write_run_context`).
        target_dir: where dbt writes manifest, run results and logs (a temporary folder if None).
        extra_vars: further dbt vars, e.g. {"naturalisation_min_years": 5}.
        select: optional dbt selector (e.g. "+foreigner_share").
        exclude: optional dbt exclusion, e.g. "test_type:data,tag:mart" skips the layout
            tests of the marts (about 210 of ~290 nodes) when run time matters more.
        unit_tests: also run the YAML unit tests. They check the SQL logic on hand-made rows,
            not the month's data, so the monthly run leaves them to CI (as dbt recommends)
            and saves their ~1 s each.

    Returns:
        DbtOutcome with counts, failing nodes and the manifest path.
    """
    command = ["build"]
    if select:
        command += ["--select", select]
    if exclude:
        command += ["--exclude", exclude]
    if not unit_tests:
        command += ["--exclude-resource-type", "unit_test"]
    write_run_context(warehouse_db, period)
    return _invoke(
        command,
        warehouse_db=warehouse_db,
        project_dir=project_dir,
        target_dir=target_dir,
        variables=dict(extra_vars or {}),
    )


def dbt_parse(
    project_dir: Path,
    *,
    target_dir: Path | None = None,
    extra_vars: dict[str, Any] | None = None,
    warehouse_db: Path | None = None,
) -> DbtOutcome:
    """Parse the project and write manifest.json without touching a database.

    The register reads mart metadata (config.meta.kiim) from the manifest, and Airflow can
    render the DAG from it, both without a warehouse. `warehouse_db` only goes into the
    profile (it is not opened): with the same path and target_dir a later build or
    docs run reuses the parse (dbt's partial parsing) instead of parsing again.
    """
    target, _ = _folders(target_dir)
    profile_path = warehouse_db if warehouse_db is not None else target / "parse-only.duckdb"
    return _invoke(
        ["parse"],
        warehouse_db=profile_path,
        project_dir=project_dir,
        target_dir=target,
        variables=dict(extra_vars or {}),
    )


def dbt_docs(
    warehouse_db: Path,
    project_dir: Path,
    out_dir: Path,
    *,
    target_dir: Path | None = None,
    extra_vars: dict[str, Any] | None = None,
) -> Path:
    """Generate dbt docs as one self-contained HTML file (`--static`, works offline).

    Returns the path of `out_dir/index.html`. Raises DbtError when dbt fails.
    """
    outcome = _invoke(
        ["docs", "generate", "--static"],
        warehouse_db=warehouse_db,
        project_dir=project_dir,
        target_dir=target_dir,
        variables=dict(extra_vars or {}),
    )
    assert outcome.target_dir is not None
    static = outcome.target_dir / "static_index.html"
    if not outcome.success or not static.exists():
        details = "; ".join(str(f) for f in outcome.failures) or "no static_index.html written"
        raise DbtError(f"dbt docs generate failed: {details}")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    index = out / "index.html"
    shutil.copyfile(static, index)
    return index


def mart_metadata(manifest_path: Path) -> dict[str, dict[str, Any]]:
    """`config.meta.kiim` of every mart in a manifest, keyed by model name (register facts)."""
    manifest = json.loads(Path(manifest_path).read_text(encoding="utf-8"))
    marts: dict[str, dict[str, Any]] = {}
    for node in manifest.get("nodes", {}).values():
        if node.get("resource_type") != "model":
            continue
        meta = (node.get("config") or {}).get("meta") or {}
        if "kiim" in meta:
            marts[node["name"]] = {
                **meta["kiim"],
                "schema": node.get("schema"),
                "relation": f"{node.get('schema')}.{node.get('alias') or node['name']}",
                "depends_on": list((node.get("depends_on") or {}).get("nodes", [])),
            }
    return marts
