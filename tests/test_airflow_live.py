"""A real Airflow (scheduler, DAG processor, API server, triggerer via `airflow standalone`,
LocalExecutor, SQLite) runs `kiim_monthly` triggered through the REST API v2, as the data
officer's trigger form does.

Everything runs on 127.0.0.1 with a free port and a temporary AIRFLOW_HOME; the whole process
group is stopped at the end. Waiting is bounded everywhere. The measured duration of the run
is written to `<tmp>/live_run.json` and printed (pytest -s shows it).
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from typing import Any

import duckdb
import pytest

from kiim.config import load_agencies
from kiim.generate import generate
from kiim.suites import write_suites
from kiim.workspace import REPO_ROOT, Workspace

pytestmark = pytest.mark.e2e

PERIOD = "2026-10"
PERSONS = 800
STARTUP_TIMEOUT_S = 300
PARSE_TIMEOUT_S = 240
RUN_TIMEOUT_S = 900


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Api:
    """Minimal REST API v2 client (urllib: no extra dependency)."""

    def __init__(self, base: str) -> None:
        self.base = base
        self.token: str | None = None

    def call(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(self.base + path, data=data, method=method)
        req.add_header("Content-Type", "application/json")
        if self.token:
            req.add_header("Authorization", f"Bearer {self.token}")
        try:
            with urllib.request.urlopen(req, timeout=30) as resp:
                raw = resp.read()
                return resp.status, json.loads(raw) if raw else None
        except urllib.error.HTTPError as e:
            raw = e.read()
            try:
                return e.code, json.loads(raw)
            except ValueError:
                return e.code, raw.decode(errors="replace")


def _wait(what: str, check: Any, timeout_s: float, proc: subprocess.Popen[bytes]) -> Any:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"airflow standalone exited ({proc.returncode}) while {what}")
        try:
            result = check()
        except (OSError, urllib.error.URLError):
            result = None
        if result:
            return result
        time.sleep(2)
    raise AssertionError(f"timed out after {timeout_s} s while {what}")


@pytest.fixture(scope="module")
def airflow(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    root = tmp_path_factory.mktemp("kiim_live")
    home, kiim_home = root / "airflow", root / "data"
    home.mkdir()
    expectations = root / "expectations"
    shutil.copytree(REPO_ROOT / "expectations", expectations)
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "KIIM_"))}
    env.update(
        {
            "DO_NOT_TRACK": "1",
            "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
            "TLDEXTRACT_PUBLIC_SUFFIX_LIST_URLS": "",
            "AIRFLOW__COSMOS__ENABLE_TELEMETRY": "False",
            "AIRFLOW__CORE__LOAD_EXAMPLES": "false",
            "AIRFLOW_HOME": str(home),
            "AIRFLOW__CORE__DAGS_FOLDER": str(REPO_ROOT / "dags"),
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home / 'airflow.db'}",
            "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
            "AIRFLOW__CORE__PARALLELISM": "2",
            "AIRFLOW__CORE__UNIT_TEST_MODE": "False",
            "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "False",
            "AIRFLOW__API__HOST": "127.0.0.1",
            "AIRFLOW__API__PORT": str(port),
            "AIRFLOW__API__BASE_URL": base,
            "AIRFLOW__API__WORKERS": "1",
            "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"{base}/execution/",
            "AIRFLOW__SCHEDULER__SCHEDULER_HEARTBEAT_SEC": "2",
            "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "10",
            "KIIM_HOME": str(kiim_home),
            "KIIM_SECRET_KEY": secrets.token_hex(32),
            "KIIM_EXPECTATIONS_DIR": str(expectations),
            "KIIM_SCHEDULE": "none",  # only the API trigger below; no scheduled run sneaks in
            "KIIM_READINESS_TIMEOUT": "0",
            "KIIM_RETRY_DELAY": "5",
        }
    )
    ws = Workspace(root=kiim_home, config_dir=REPO_ROOT / "config")
    write_suites(load_agencies(ws.config_dir), expectations)
    generate(PERIOD, PERSONS, ws.inbox_period(PERIOD), ws.groundtruth, seed=8080)
    log_path = root / "standalone.log"
    t0 = time.monotonic()
    with log_path.open("wb") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "airflow", "standalone"],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # own process group: stopped as a whole below
        )
    api = Api(base)
    try:

        def healthy() -> bool:
            status, body = api.call("GET", "/api/v2/monitor/health")
            return status == 200 and all(
                (body.get(c) or {}).get("status") == "healthy"
                for c in ("metadatabase", "scheduler", "dag_processor")
            )

        _wait("waiting for a healthy Airflow", healthy, STARTUP_TIMEOUT_S, proc)
        startup_s = time.monotonic() - t0
        password_file = home / "simple_auth_manager_passwords.json.generated"
        _wait("waiting for the admin password", password_file.exists, 60, proc)
        password = json.loads(password_file.read_text())["admin"]
        status, body = api.call("POST", "/auth/token", {"username": "admin", "password": password})
        assert status == 201, body
        api.token = body["access_token"]
        _wait(
            "waiting for kiim_monthly to be parsed",
            lambda: api.call("GET", "/api/v2/dags/kiim_monthly")[0] == 200,
            PARSE_TIMEOUT_S,
            proc,
        )
        yield {
            "api": api,
            "proc": proc,
            "ws": ws,
            "root": root,
            "log": log_path,
            "startup_s": startup_s,
        }
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=30)


def test_malformed_period_is_rejected_by_the_api(airflow: dict[str, Any]) -> None:
    status, body = airflow["api"].call(
        "POST",
        "/api/v2/dags/kiim_monthly/dagRuns",
        {"logical_date": None, "conf": {"period": "2026-13"}},
    )
    assert status in (400, 422), body
    assert "2026-13" in json.dumps(body) and "does not match" in json.dumps(body)


def test_triggered_run_publishes_the_month(airflow: dict[str, Any]) -> None:
    api, ws = airflow["api"], airflow["ws"]
    t0 = time.monotonic()
    status, run = api.call(
        "POST",
        "/api/v2/dags/kiim_monthly/dagRuns",
        {"logical_date": None, "conf": {"period": PERIOD}},
    )
    assert status == 200, run
    run_id = run["dag_run_id"]
    path = f"/api/v2/dags/kiim_monthly/dagRuns/{urllib.parse.quote(run_id, safe='')}"

    def finished() -> dict[str, Any] | None:
        _, body = api.call("GET", path)
        return body if body and body.get("state") in ("success", "failed") else None

    final = _wait("waiting for the DAG run", finished, RUN_TIMEOUT_S, airflow["proc"])
    wall_s = time.monotonic() - t0
    _, tis = api.call("GET", f"{path}/taskInstances")
    durations: dict[str, float] = {}
    for ti in tis["task_instances"]:
        durations[ti["task_id"]] = round(durations.get(ti["task_id"], 0) + (ti["duration"] or 0), 1)
    figures = {
        "persons": PERSONS,
        "startup_s": round(airflow["startup_s"], 1),
        "trigger_to_end_s": round(wall_s, 1),
        "state": final["state"],
        "start_date": final.get("start_date"),
        "end_date": final.get("end_date"),
        "task_seconds": durations,
    }
    (airflow["root"] / "live_run.json").write_text(json.dumps(figures, indent=2))
    print("\nkiim_monthly under the real scheduler:", json.dumps(figures, indent=2))
    assert final["state"] == "success", airflow["log"]

    con = duckdb.connect(str(ws.published_db), read_only=True)
    try:
        tables = [r[0] for r in con.execute("show tables").fetchall()]
        assert "indikatoren_katalog" in tables and len(tables) > 5
        periods = con.execute('select distinct period from "foreigner_share"').fetchall()
        assert (PERIOD,) in periods
    finally:
        con.close()
    runs = [json.loads(line) for line in ws.run_log.read_text().splitlines()]
    assert runs[-1]["status"] in ("success", "partial")
    assert runs[-1]["trigger"] == "airflow:manual"
    assert not list(ws.inbox_period(PERIOD).glob("*.csv"))  # accepted raw extracts deleted
