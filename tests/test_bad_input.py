"""Every case of the bad-input corpus (tests/badinput.py) through `pipeline.process_agency`.

Real components throughout: the generator, the ingest and pre-checks, Presidio, the keyed
pseudonymisation and Great Expectations. Each case runs in its own workspace.
"""

from __future__ import annotations

import json
import secrets
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from kiim import pipeline, warehouse
from kiim.ingest import sha256_file
from kiim.suites import write_suites
from kiim.workspace import REPO_ROOT, Workspace
from tests.badinput import (
    AGENCIES,
    CASES,
    PERIOD,
    PREVIOUS,
    Base,
    Case,
    make_base,
    set_cell,
    target_name,
)


@pytest.fixture(scope="session")
def base(tmp_path_factory: pytest.TempPathFactory) -> Base:
    return make_base(tmp_path_factory.mktemp("badinput_base"))


@pytest.fixture(scope="session")
def expectations(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The repository's suites (hand refinements included), regenerated for the current config.

    Regenerating keeps this test about bad input, not about a suite JSON that lags a config
    or contract change in the working tree (that drift is tests/test_validate.py's job).
    """
    target = tmp_path_factory.mktemp("expectations")
    for f in (REPO_ROOT / "expectations").glob("*.json"):
        shutil.copy(f, target / f.name)
    write_suites(AGENCIES.values(), target)
    return target


@pytest.fixture
def ws(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, expectations: Path) -> Iterator[Workspace]:
    monkeypatch.setenv("KIIM_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("KIIM_SECRET_KEY", secrets.token_hex(32))
    monkeypatch.setenv("KIIM_EXPECTATIONS_DIR", str(expectations))
    for var in ("KIIM_KEY_FILE", "KIIM_INBOX", "KIIM_CONFIG_DIR"):
        monkeypatch.delenv(var, raising=False)
    workspace = Workspace.from_env()
    workspace.ensure()
    yield workspace


def _run(ws: Workspace, agency: str, period: str) -> dict[str, Any]:
    run = pipeline.start_run(period, trigger="test", agencies=[agency])
    return pipeline.process_agency(run, agency)


def _record(ws: Workspace, agency: str, period: str, sha: str) -> None:
    con = warehouse.connect(ws)
    try:
        warehouse.record_delivery(
            con,
            period=period,
            agency=agency,
            status="accepted",
            rows_read=1,
            rows_accepted=1,
            file_sha256=sha,
            reason=None,
            run_id="earlier",
        )
    finally:
        con.close()


def _prepare(case: Case, ws: Workspace, base: Base) -> None:
    if "accept_previous" in case.setup:
        inbox = ws.inbox_period(PREVIOUS)
        inbox.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(
            base.file(case.agency, PREVIOUS), inbox / target_name(case.agency, PREVIOUS)
        )
        assert _run(ws, case.agency, PREVIOUS)["status"] == "accepted"
    if "delivered_previous" in case.setup:
        _record(ws, case.agency, PREVIOUS, sha256_file(base.file(case.agency, case.source_period)))
    if "delivered_same" in case.setup:
        _record(ws, case.agency, case.period, sha256_file(base.file(case.agency, case.period)))


def _problem_text(result: dict[str, Any]) -> str:
    return json.dumps(result["problems"], ensure_ascii=False)


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_corpus_case(case: Case, ws: Workspace, base: Base) -> None:
    _prepare(case, ws, base)
    inbox = ws.inbox_period(case.period)
    inbox.mkdir(parents=True, exist_ok=True)
    planted = case.mutate(base, inbox)
    delivered = sorted(p.name for p in inbox.iterdir())
    assert delivered, "the mutation wrote no file"

    result = _run(ws, case.agency, case.period)  # must not raise

    problems = result["problems"]
    assert result["status"] == case.status, _problem_text(result)
    if case.check is None:
        assert not [p for p in problems if p["severity"] == "critical"], _problem_text(result)
    else:
        matching = [p for p in problems if p["check"] == case.check]
        assert matching, f"expected check {case.check}: {_problem_text(result)}"
        p = matching[0]
        assert p["severity"] == case.severity
        assert p["file"] in delivered  # names the file as delivered, without folders
        assert p["message_de"].strip() and p["fix_de"].strip()
        if case.column:
            assert p["column"] == case.column
        assert set(case.rows) <= set(p["rows"]), p
        for word in case.mentions:
            assert word in p["message_de"] + p["fix_de"], p

    text = _problem_text(result)
    assert "Traceback" not in text and "internal_error" not in text
    for value in planted:
        assert value not in text, "a planted value leaked into a problem text"

    final = ws.pseudonymised_file(case.agency, case.period)
    if case.status == "rejected":
        assert not final.exists(), "nothing of a rejected extract may reach the zone"
        assert not list((ws.pseudonymised / case.agency).glob(f"period={case.period}/*"))
        # the raw extract is kept: moved to the quarantine (with its findings), never deleted
        quarantined = sorted(p.name for p in (ws.quarantine / case.period).glob("*"))
        for name in delivered:
            assert name in quarantined or (inbox / name).exists()
        assert any(n.endswith(".befunde.json") for n in quarantined)
    else:
        assert final.exists()
        assert pq.ParquetFile(final).metadata.num_rows == result["rows_accepted"] > 0
        assert (inbox / delivered[0]).exists()  # deleted only by `finish` after publishing


def test_corpus_is_large_and_ids_unique() -> None:
    assert len(CASES) >= 30
    assert len({c.id for c in CASES}) == len(CASES)


def test_free_text_phone_never_reaches_the_zone(ws: Workspace, base: Base) -> None:
    inbox = ws.inbox_period(PERIOD)
    inbox.mkdir(parents=True)
    planted = set_cell("beratung", "Notiz", 2, "Bitte anrufen: 0176 2345678")(base, inbox)
    assert _run(ws, "beratung", PERIOD)["status"] == "accepted"
    table = pq.read_table(ws.pseudonymised_file("beratung", PERIOD))
    notes = table.column("note").to_pylist()
    # the planted note itself, scrubbed (other generated notes hold phone numbers too)
    assert [n for n in notes if n and n.startswith("Bitte anrufen")] == ["Bitte anrufen: <TELEFON>"]
    # the file is compressed: search the decoded values, not its bytes
    text = "\n".join(
        str(v)
        for col in table.columns
        if pa.types.is_string(col.type)
        for v in col.to_pylist()
        if v is not None
    )
    assert planted and not [v for v in planted if v in text] and "2345678" not in text


def test_one_rejected_agency_does_not_stop_the_others(ws: Workspace, base: Base) -> None:
    inbox = ws.inbox_period(PERIOD)
    inbox.mkdir(parents=True)
    set_cell("ewo", "Gemeindeschluessel", 5, "12061999")(base, inbox)
    shutil.copyfile(base.file("sozialamt"), inbox / target_name("sozialamt"))
    run = pipeline.start_run(PERIOD, trigger="test")
    results = {a: pipeline.process_agency(run, a) for a in ("ewo", "sozialamt")}
    assert results["ewo"]["status"] == "rejected"
    assert results["sozialamt"]["status"] == "accepted"
    assert not ws.pseudonymised_file("ewo", PERIOD).exists()
    assert ws.pseudonymised_file("sozialamt", PERIOD).exists()


def test_corrected_redelivery_replaces_the_rejection(ws: Workspace, base: Base) -> None:
    inbox = ws.inbox_period(PERIOD)
    inbox.mkdir(parents=True)
    name = target_name("ewo")
    set_cell("ewo", "Geburtsdatum", 4, "31.02.1990")(base, inbox)
    first = _run(ws, "ewo", PERIOD)
    assert first["status"] == "rejected" and not (inbox / name).exists()
    assert (ws.quarantine / PERIOD / name).exists()
    con = warehouse.connect(ws)
    try:
        warehouse.record_delivery(
            con,
            period=PERIOD,
            agency="ewo",
            status="rejected",
            rows_read=first["rows_read"],
            rows_accepted=0,
            file_sha256=first["sha256"],
            reason="x",
            run_id="first",
        )
    finally:
        con.close()

    # the agency sends the corrected file; the month is re-run (twice: idempotent)
    shutil.copyfile(base.file("ewo"), inbox / name)
    second = _run(ws, "ewo", PERIOD)
    assert second["status"] == "accepted", _problem_text(second)
    again = _run(ws, "ewo", PERIOD)
    assert again["status"] == "accepted"
    files = list((ws.pseudonymised / "ewo").rglob("*.parquet"))
    assert files == [ws.pseudonymised_file("ewo", PERIOD)]
    assert not list((ws.pseudonymised / "ewo").rglob("*.tmp"))

    con = warehouse.connect(ws)
    try:
        warehouse.load_pseudonymised(con, ws, [AGENCIES["ewo"]])
        warehouse.record_delivery(
            con,
            period=PERIOD,
            agency="ewo",
            status="accepted",
            rows_read=again["rows_read"],
            rows_accepted=again["rows_accepted"],
            file_sha256=again["sha256"],
            reason=None,
            run_id="second",
        )
        rows = con.execute("select count(*) from pseudo.ewo").fetchone()
        deliveries = con.execute(
            "select status from ops.deliveries where agency = 'ewo' and period = ?", [PERIOD]
        ).fetchall()
    finally:
        con.close()
    assert rows == (again["rows_accepted"],)
    assert deliveries == [("accepted",)]
    # the rejected version stays in the quarantine, next to its findings
    assert (ws.quarantine / PERIOD / f"{name}.befunde.json").exists()


def test_dbt_never_reads_quarantine_or_inbox() -> None:
    """dbt sees only warehouse tables: no file reads, no zone folders in any model or macro."""
    project = REPO_ROOT / "dbt_project"
    for f in [*project.rglob("*.sql"), *project.rglob("*.yml")]:
        text = f.read_text(encoding="utf-8").lower()
        for forbidden in ("quarantine", "inbox", "read_csv", "read_xlsx", "st_read("):
            assert forbidden not in text, f"{f.relative_to(project)} mentions {forbidden}"
