"""Key rotation with a bridge delivery keeps every person's key across the change of key.

Month M is processed under key A with the real pipeline functions (start, ingest,
pseudonymise, linkage, finish; GX validation is left out for speed); the extracts of month M+1 are the bridge: `rotate_key` moves the stored
pseudonyms to key B, then M+1 is processed under key B. Every record seen in both months must
keep its person key, and nothing the rotation writes may hold a key or a raw identifier.
"""

from __future__ import annotations

import json
import os
import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from kiim import pipeline
from kiim.config import Agency, load_agencies
from kiim.generate import ErrorModel, generate, read_truth
from kiim.ingest import find_extract, read_extract
from kiim.keylog import key_log_path, read_bridges, read_key_history
from kiim.register import write_workspace_register
from kiim.rotation import RotationError, RotationReport, record_keys, rotate_key
from kiim.runlog import RunStatus, read_runs
from kiim.workspace import REPO_ROOT, Workspace
from pseudonymization import key_id, load_key

M, BRIDGE = "2026-09", "2026-10"
PERSONS = 300
SEED = 5151
# a subset keeps the test fast; the rotation itself reads every extract of the bridge month
AGENCIES = ["abh", "ewo", "jobcenter"]


@dataclass
class Rotated:
    ws: Workspace
    key_a: bytes
    key_b: bytes
    before: dict[tuple[str, str], str]  # (agency, record key under A) -> person key in M
    report: RotationReport
    dry: RotationReport
    untouched_by_dry_run: bool


def _accept(run: dict[str, Any], agency: Agency) -> dict[str, Any]:
    """`pipeline.process_agency` without the GX validation (whose context costs half a
    minute and is tested in test_validate.py): read, pseudonymise, write the Parquet file."""
    ws = Workspace.from_env()
    path = find_extract(agency, ws.inbox_period(run["period"]), run["period"])
    assert path is not None
    parsed = read_extract(agency, path)
    table = pipeline._pseudonymise(parsed, run["period"], load_key())
    target = ws.pseudonymised_file(agency.agency, run["period"])
    target.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(table.drop_columns(["_source_row"]), target)
    return {
        "agency": agency.agency,
        "period": run["period"],
        "file": path.name,
        "sha256": parsed.sha256,
        "rows_read": parsed.rows,
        "rows_accepted": table.num_rows,
        "status": "accepted",
        "problems": [],
    }


def _process(period: str) -> dict[str, Any]:
    run = pipeline.start_run(period, "test", AGENCIES)
    agencies = {a.agency: a for a in load_agencies(REPO_ROOT / "config")}
    results = [_accept(run, agencies[a]) for a in run["agencies"]]
    linked = pipeline.link(run, results)
    pipeline.finish(run, results, linked, None, None)
    return {"run": run, "results": results, "linked": linked}


def _assignments(ws: Workspace, period: str) -> dict[tuple[str, str], str]:
    con = duckdb.connect(str(ws.warehouse_db), read_only=True)
    try:
        rows = con.execute(
            "select agency, record_key, person_key from linkage.record_person where period = ?",
            [period],
        ).fetchall()
    finally:
        con.close()
    return {(a, r): p for a, r, p in rows}


def _keyed(ws: Workspace, period: str, master: bytes) -> dict[tuple[str, str], str]:
    """(agency, record pseudonym under `master`) -> true person id, from the ground truth."""
    truth = read_truth(ws.groundtruth, period).records
    out: dict[tuple[str, str], str] = {}
    for agency, part in truth[truth["agency"].isin(AGENCIES)].groupby("agency"):
        keys = record_keys(str(agency), pa.array(part["record_id"].tolist()), master)
        out.update(
            {
                (str(agency), k): p
                for k, p in zip(keys.to_pylist(), part["person_id"].tolist(), strict=True)
            }
        )
    return out


@pytest.fixture(scope="module")
def rotated(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Rotated]:
    root = tmp_path_factory.mktemp("kiim_rotation")
    saved = dict(os.environ)
    key_a, key_b = secrets.token_hex(32), secrets.token_hex(32)
    os.environ.update({"KIIM_HOME": str(root / "data"), "KIIM_SECRET_KEY": key_a})
    for name in ("KIIM_KEY_FILE", "KIIM_INBOX", "KIIM_CONFIG_DIR"):
        os.environ.pop(name, None)
    try:
        ws = Workspace.from_env()
        for period in (M, BRIDGE):
            generate(
                period,
                PERSONS,
                ws.inbox_period(period),
                ws.groundtruth,
                seed=SEED,
                errors=ErrorModel.none(),
            )
        _process(M)
        before = _assignments(ws, M)
        files = [*sorted(ws.pseudonymised.rglob("*.parquet")), ws.warehouse_db]
        stamp = {f: f.read_bytes() for f in files}
        dry = rotate_key(ws, key_a.encode(), key_b.encode(), BRIDGE, dry_run=True)
        untouched = stamp == {f: f.read_bytes() for f in files} and not key_log_path(ws).read_text(
            encoding="utf-8"
        ).count('"retired"')
        report = rotate_key(ws, key_a.encode(), key_b.encode(), BRIDGE)
        os.environ["KIIM_SECRET_KEY"] = key_b
        done = _process(BRIDGE)
        # a run whose later steps failed still leaves its record in the run log
        run = pipeline.start_run(BRIDGE, "test:failed", AGENCIES)
        with pytest.raises(pipeline.RunError):
            pipeline.finish_from_airflow(run, done["results"], None, None, None)
        yield Rotated(ws, key_a.encode(), key_b.encode(), before, report, dry, untouched)
    finally:
        os.environ.clear()
        os.environ.update(saved)


def test_every_record_in_both_months_keeps_its_person_key(rotated: Rotated) -> None:
    ws = rotated.ws
    old = _keyed(ws, M, rotated.key_a)
    new = _keyed(ws, BRIDGE, rotated.key_b)
    after = _assignments(ws, BRIDGE)
    assert set(rotated.before) == set(old), "month M was pseudonymised under key A"
    assert set(after) == set(new), "the bridge month was pseudonymised under key B"

    by_record_old = {(a, p_id): k for (a, k), p_id in old.items()}
    both = 0
    for (agency, new_key), person in new.items():
        # same agency record in both months: find its key under A through the ground truth
        matches = [
            rotated.before[(agency, k)] for (a, k), p in old.items() if a == agency and p == person
        ]
        if not matches:
            continue
        both += 1
        assert after[(agency, new_key)] in matches
    assert both > 0.8 * len(new)
    assert by_record_old  # the truth mapping is not empty

    # per true person: no new person key for anyone already known in month M
    keys_m: dict[str, set[str]] = {}
    for rec, person in old.items():
        keys_m.setdefault(person, set()).add(rotated.before[rec])
    lost = [
        person
        for rec, person in new.items()
        if person in keys_m and after[rec] not in keys_m[person]
    ]
    assert lost == []


def test_stored_pseudonyms_moved_to_the_new_key(rotated: Rotated) -> None:
    ws, report = rotated.ws, rotated.report
    old = _keyed(ws, M, rotated.key_a)
    new_by_person = {(a, p): k for (a, k), p in _keyed(ws, BRIDGE, rotated.key_b).items()}
    translated = {k for (a, k), p in old.items() if (a, p) in new_by_person}
    stale = {k for (a, k), p in old.items() if (a, p) not in new_by_person}
    assert report.first and report.records_translated >= len(translated)
    assert report.records_left_on_old_key == len(stale) > 0  # people moved away in between
    assert report.persons_carried > 0 and report.parquet_files_rewritten == len(AGENCIES)

    stored = set()
    for f in ws.pseudonymised.glob(f"*/period={M}/data.parquet"):
        stored |= set(pq.read_table(f, columns=["record_key"]).column(0).to_pylist())
    assert not stored & translated, "no translated record keeps its old pseudonym"
    assert stale <= stored, "records absent from the bridge keep theirs"

    con = duckdb.connect(str(ws.warehouse_db), read_only=True)
    try:
        registry = {
            r[0] for r in con.execute("select record_key from linkage.record_registry").fetchall()
        }
        marked = con.execute("select record_key, key_id from linkage.key_stale_records").fetchall()
    finally:
        con.close()
    assert not registry & translated
    assert {k for k, _ in marked} == stale
    assert {kid for _, kid in marked} == {key_id(rotated.key_a)}


def test_key_history_register_and_refusals(rotated: Rotated) -> None:
    ws = rotated.ws
    a, b = key_id(rotated.key_a), key_id(rotated.key_b)
    history = {k.key_id: k for k in read_key_history(key_log_path(ws))}
    assert history[a].retired_at is not None and history[a].successor == b
    assert history[a].activated_at is not None  # taken from month M's run
    assert history[a].keep_sealed_until == date(2031, 10, 1)  # last month under A + 60 + 1
    assert history[b].predecessor == a and history[b].retired_at is None
    assert [x.bridge_period for x in read_bridges(key_log_path(ws))] == [BRIDGE]

    text = key_log_path(ws).read_text(encoding="utf-8")
    for secret in (rotated.key_a, rotated.key_b):
        assert secret.decode() not in text

    paths = write_workspace_register(ws)
    page = paths.html.read_text(encoding="utf-8")
    data = json.loads(paths.json.read_text(encoding="utf-8"))
    assert data["key_id"] == b
    assert a in page and b in page and "Schlüsselwechsel" in page
    assert "01.10.2031" in page  # the old key's sealed-until date, German format
    assert [r["bridge_period"] for r in data["rotations"]] == [BRIDGE]
    for secret in (rotated.key_a, rotated.key_b):
        for p in (paths.html, paths.markdown, paths.json):
            assert secret.decode() not in p.read_text(encoding="utf-8")

    # the retired key is refused by the pipeline, and the bridge cannot be applied twice
    os.environ["KIIM_HOME"] = str(ws.root)
    os.environ["KIIM_SECRET_KEY"] = rotated.key_a.decode()
    try:
        with pytest.raises(pipeline.RunError, match="retired"):
            pipeline.start_run(BRIDGE, "test")
    finally:
        os.environ.pop("KIIM_SECRET_KEY")
        os.environ.pop("KIIM_HOME")
    with pytest.raises(RotationError, match="already"):
        rotate_key(ws, rotated.key_a, rotated.key_b, BRIDGE)
    with pytest.raises(RotationError, match="not the key in use"):
        rotate_key(ws, rotated.key_a, secrets.token_hex(32).encode(), "2026-11")


def test_failed_run_is_in_the_run_log_and_register(rotated: Rotated) -> None:
    runs = read_runs(rotated.ws.run_log)
    assert [r.status for r in runs] == [RunStatus.success, RunStatus.success, RunStatus.failed]
    failed = runs[-1]
    assert failed.trigger == "test:failed" and failed.errors
    assert failed.key_id == key_id(rotated.key_b)
    assert all(f.sha256 and f.rows_read for f in runs[0].files)
    assert runs[0].linkage["persons"]
    page = (rotated.ws.register_dir / "verzeichnis.html").read_text(encoding="utf-8")
    assert "fehlgeschlagen" in page


def test_dry_run_counts_and_changes_nothing(rotated: Rotated) -> None:
    assert rotated.untouched_by_dry_run
    dry, real = rotated.dry.to_dict(), rotated.report.to_dict()
    assert dry.pop("dry_run") and not real.pop("dry_run")
    assert dry == real
    ws = rotated.ws
    before = key_log_path(ws).read_bytes()
    # the bridge month is processed now: refused
    with pytest.raises(RotationError, match=r"already (holds|links) .* or later"):
        rotate_key(ws, rotated.key_a, rotated.key_b, BRIDGE, dry_run=True)
    assert key_log_path(ws).read_bytes() == before
