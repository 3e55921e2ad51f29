"""The Art. 30 register and the run log, built from the real configs of the repository."""

from __future__ import annotations

import html
import json
import re
import shutil
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
import yaml

from kiim.config import Agency, Organisation, load_agencies, load_organisation
from kiim.register import (
    build_register,
    diff_registers,
    format_date_de,
    format_number_de,
    write_register,
)
from kiim.register_vocab import ROLE_DE
from kiim.runlog import FileRecord, RunRecord, RunStatus, append_run, read_runs
from kiim.workspace import REPO_ROOT

CONFIG = REPO_ROOT / "config"
VERSION_DATE = date(2026, 11, 21)


@pytest.fixture(scope="module")
def agencies() -> list[Agency]:
    return load_agencies(CONFIG)


@pytest.fixture(scope="module")
def organisation() -> Organisation:
    return load_organisation(CONFIG)


def _run(run_id: str = "r1", **kw: object) -> RunRecord:
    base: dict[str, object] = {
        "run_id": run_id,
        "period": "2026-10",
        "trigger": "cli",
        "started_at": datetime(2026, 12, 1, 8, 30, tzinfo=UTC),
        "finished_at": datetime(2026, 12, 1, 8, 31, tzinfo=UTC),
        "status": RunStatus.partial,
        "key_id": "kid-3f9a1c",
        "files": [
            FileRecord(
                agency="ewo",
                file="ewo_2026-10.csv",
                sha256="ab" * 32,
                rows_read=12345,
                rows_accepted=12345,
                status="accepted",
            ),
            FileRecord(
                agency="abh",
                file="abh_2026-10.xlsx",
                sha256="cd" * 32,
                rows_read=1000,
                rows_accepted=0,
                status="rejected",
                reason="Pflichtspalte fehlt",
            ),
        ],
        "linkage": {"records": 13345, "persons": 12000},
        "durations": {"ingest": 1.5},
    }
    base.update(kw)
    return RunRecord.model_validate(base)


def _manifest(tmp_path: Path) -> Path:
    """A minimal dbt manifest: one published indicator, one internal model."""
    manifest = {
        "metadata": {"dbt_version": "1.11.0"},
        "nodes": {
            "model.kiim.mart_auslaenderanteil": {
                "name": "mart_auslaenderanteil",
                "resource_type": "model",
                "config": {
                    "meta": {
                        "kiim": {
                            "published": True,
                            "indicator": "auslaenderanteil",
                            "label_de": "Ausländeranteil",
                            "field_of_action_de": "Bevölkerung",
                            "definition_de": "Anteil der Einwohner ohne deutsche Staatsangehörigkeit",
                            "numerator_de": "Einwohner ohne deutsche Staatsangehörigkeit",
                            "denominator_de": "alle Einwohner",
                            "unit": "Prozent",
                            "sources": ["ewo", "abh"],
                            "source_columns": [
                                "ewo.nationality",
                                "ewo.birth_year",
                                "abh.residence_status",
                                "ewo.no_such_column",
                            ],
                        }
                    }
                },
            },
            "model.kiim.int_person_month": {
                "name": "int_person_month",
                "resource_type": "model",
                "config": {"meta": {"kiim": {"published": False, "indicator": "intern"}}},
            },
        },
    }
    path = tmp_path / "manifest.json"
    path.write_text(json.dumps(manifest), encoding="utf-8")
    return path


def _section(text: str, start: str, end: str) -> str:
    i = text.index(start)
    j = text.find(end, i + len(start))
    return text[i : j if j >= 0 else None]


def test_every_agency_and_column_with_role_in_html_md_json(
    tmp_path: Path, agencies: list[Agency], organisation: Organisation
) -> None:
    register = build_register(agencies, organisation, None, [_run()], "kid-3f9a1c", VERSION_DATE)
    paths = write_register(register, tmp_path / "register")
    page = paths.html.read_text(encoding="utf-8")
    md = paths.markdown.read_text(encoding="utf-8")
    data = json.loads(paths.json.read_text(encoding="utf-8"))

    transfers = {a["agency"]: a for a in data["activities"] if a["kind"] == "transfer"}
    assert set(transfers) == {a.agency for a in agencies} and len(agencies) == 8
    shared = [a["name_de"] for a in data["activities"] if a["kind"] == "shared"]
    assert [s.split()[0] for s in shared] == [
        "Pseudonymisierung",
        "Personenbezogene",
        "Erstellung",
        "Veröffentlichung",
    ]
    for agency in agencies:
        activity = transfers[agency.agency]
        assert activity["legal_basis_de"] == agency.gdpr.legal_basis_de
        assert [
            (c["source"], c["role"], c["role_de"], c["fate_de"]) for c in activity["columns"]
        ] == [(c.source, c.role.value, ROLE_DE[c.role], c.fate_de) for c in agency.columns]
        assert activity["fideslang"]["legal_basis_for_processing"] == "Public interest"
        assert activity["fideslang"]["data_categories"]

        html_part = _section(page, f'<section id="t-{activity["key"]}">', "</section>")
        md_part = _section(md, f"### {_md_heading(data, activity)}", "\n### ")
        assert html.escape(agency.name_de) in html_part
        assert agency.name_de in md_part
        for col in agency.columns:
            row = re.search(
                rf"<code>{re.escape(html.escape(col.source))}</code></td>"
                rf"<td>{re.escape(html.escape(col.label_de))}</td>\s*"
                rf'<td class="role-{col.role.value}">{re.escape(ROLE_DE[col.role])}</td>'
                rf"<td>{re.escape(html.escape(col.fate_de))}</td>",
                html_part,
            )
            assert row, f"{agency.agency}.{col.source} missing in HTML"
            label = col.label_de.replace("|", "\\|")
            md_row = f"| `{col.source}` | {label} | {ROLE_DE[col.role]} |"
            assert md_row in md_part, f"{agency.agency}.{col.source} missing in Markdown"
    for name in ("Verantwortlicher", "Datenschutzbeauftragte", "Löschfristen", "Laufhistorie"):
        assert name in page and name in md
    assert organisation.dpo.email in page
    for tom in organisation.tom_de:
        assert html.escape(tom) in page


def _md_heading(data: dict, activity: dict) -> str:
    number = data["activities"].index(activity) + 1
    return f"3.{number} {activity['name_de']}"


def test_lineage_lists_source_columns_from_manifest(
    tmp_path: Path, agencies: list[Agency], organisation: Organisation
) -> None:
    register = build_register(agencies, organisation, _manifest(tmp_path), [], None, VERSION_DATE)
    paths = write_register(register, tmp_path / "register")
    data = json.loads(paths.json.read_text(encoding="utf-8"))
    lineage = data["lineage"]
    assert lineage["manifest_status"] == "present"
    assert [i["indicator"] for i in lineage["indicators"]] == ["auslaenderanteil"]
    cols = {c["ref"]: c for c in lineage["indicators"][0]["source_columns"]}
    assert cols["ewo.nationality"]["source"] == "Staatsangehoerigkeit"
    assert cols["ewo.nationality"]["label_de"] == "Staatsangehörigkeit (ISO 3166 Alpha-3)"
    assert cols["ewo.nationality"]["agency_name_de"] == "Einwohnermeldeamt"
    assert cols["ewo.birth_year"]["source"] == "Geburtsdatum"  # generalised from the date
    assert cols["ewo.birth_year"]["fate_de"] == "vergröbert auf Geburtsjahr und -monat"
    assert lineage["indicators"][0]["sources_de"] == ["Einwohnermeldeamt", "Ausländerbehörde"]
    assert cols["abh.residence_status"]["agency_name_de"] == "Ausländerbehörde"
    assert cols["abh.residence_status"]["resolved"] is True
    assert cols["ewo.no_such_column"]["resolved"] is False

    page = paths.html.read_text(encoding="utf-8")
    part = _section(page, 'id="herkunft"', 'id="tom"')
    assert "Ausländeranteil" in part and "alle Einwohner" in part
    assert "<td>Einwohnermeldeamt</td><td><code>Staatsangehoerigkeit</code></td>" in part
    assert "<td>Ausländerbehörde</td>" in part
    assert "nicht in der Konfiguration der Stelle gefunden" in part
    assert "intern" not in part  # unpublished models stay out
    md = paths.markdown.read_text(encoding="utf-8")
    assert "| Einwohnermeldeamt | `Staatsangehoerigkeit` |" in md


def test_missing_or_broken_manifest_is_stated_not_raised(
    tmp_path: Path, agencies: list[Agency], organisation: Organisation
) -> None:
    missing = build_register(agencies, organisation, tmp_path / "nope.json", [], None, VERSION_DATE)
    assert missing.lineage.manifest_status == "missing"
    page = write_register(missing, tmp_path / "a").html.read_text(encoding="utf-8")
    assert "noch kein dbt-Manifest" in page

    broken = tmp_path / "manifest.json"
    broken.write_text("{not json", encoding="utf-8")
    unreadable = build_register(agencies, organisation, broken, [], None, VERSION_DATE)
    assert unreadable.lineage.manifest_status == "unreadable"
    assert "nicht lesbar" in unreadable.lineage.note_de


def test_role_change_in_copied_config_shows_in_diff(
    tmp_path: Path, agencies: list[Agency], organisation: Organisation
) -> None:
    out = tmp_path / "register"
    first = write_register(
        build_register(agencies, organisation, None, [], "kid-1", VERSION_DATE), out
    )
    first_bytes = first.json.read_bytes()
    assert first.previous_json is None
    assert "Erste Fassung" in first.changes.read_text(encoding="utf-8")

    config = tmp_path / "config"
    shutil.copytree(CONFIG, config)
    ewo_file = config / "agencies" / "ewo.yaml"
    ewo = yaml.safe_load(ewo_file.read_text(encoding="utf-8"))
    for col in ewo["columns"]:
        if col["source"] == "Zuzugsdatum":
            col["role"] = "drop"
    ewo_file.write_text(yaml.safe_dump(ewo, allow_unicode=True), encoding="utf-8")
    changed = load_agencies(config)
    later = date(2027, 1, 15)
    second = write_register(
        build_register(changed, load_organisation(config), None, [], "kid-1", later), out
    )

    assert second.previous_json is not None
    assert second.previous_json.read_bytes() == first_bytes
    changes = second.changes.read_text(encoding="utf-8")
    expected = (
        "Spalte Zuzugsdatum der Stelle Einwohnermeldeamt: Rolle geändert von "
        "„Merkmal“ zu „verworfen“"
    )
    assert expected in changes
    assert "Spalte Zuzugsdatum der Stelle Einwohnermeldeamt: Verbleib geändert" in changes
    assert expected in second.html.read_text(encoding="utf-8")

    new = json.loads(second.json.read_text(encoding="utf-8"))
    assert new["version"] == 2 and new["changed"] == "2027-01-15"
    assert new["created"] == "2026-11-21"
    by_key = {a["key"]: a for a in new["activities"]}
    assert by_key["uebermittlung_ewo"]["changed"] == "2027-01-15"
    assert by_key["uebermittlung_abh"]["changed"] == "2026-11-21"  # untouched activity

    # the same content again: no new version, no changes listed
    third = write_register(
        build_register(changed, load_organisation(config), None, [_run()], "kid-1", later), out
    )
    assert json.loads(third.json.read_text(encoding="utf-8"))["version"] == 2
    assert "Keine inhaltlichen Änderungen" in third.changes.read_text(encoding="utf-8")


def test_diff_registers_on_json_dicts(agencies: list[Agency], organisation: Organisation) -> None:
    old = build_register(agencies, organisation, None, [], "kid-1", VERSION_DATE).to_json()
    new = json.loads(json.dumps(old))
    new["key_id"] = "kid-2"
    new["tom_de"].append("Vier-Augen-Prinzip bei Schlüsselwechsel")
    ewo = next(a for a in new["activities"] if a["agency"] == "ewo")
    ewo["columns"] = [c for c in ewo["columns"] if c["source"] != "Religion"]
    lines = diff_registers(old, new)
    assert "Schlüssel-ID geändert von kid-1 zu kid-2" in lines
    assert any("Vier-Augen-Prinzip" in line and "neu" in line for line in lines)
    assert "Spalte Religion der Stelle Einwohnermeldeamt: entfallen (zuvor verworfen)" in lines
    assert diff_registers(old, old) == []


def test_run_log_is_append_only_and_later_lines_supersede(tmp_path: Path) -> None:
    log_file = tmp_path / "runs" / "runs.jsonl"
    append_run(log_file, _run("r1", status=RunStatus.failed))
    first_line = log_file.read_bytes()
    append_run(log_file, _run("r2", period="2026-11"))
    content = log_file.read_bytes()
    assert content.startswith(first_line)
    assert content.count(b"\n") == 2

    append_run(log_file, _run("r1", status=RunStatus.success))  # re-run of r1 recorded later
    assert log_file.read_bytes().startswith(content)
    runs = read_runs(log_file)
    assert [(r.run_id, r.status) for r in runs] == [
        ("r1", RunStatus.success),
        ("r2", RunStatus.partial),
    ]
    assert runs[0].files[1].reason == "Pflichtspalte fehlt"
    assert runs[0].rows_read == 13345 and runs[0].rows_rejected == 1000


def test_run_log_keeps_unknown_fields_and_survives_a_torn_line(tmp_path: Path) -> None:
    log_file = tmp_path / "runs.jsonl"
    line = _run("r1").model_dump(mode="json")
    line["added_later"] = {"anything": 1}
    line["files"][0]["rows_quarantined"] = 3
    log_file.write_text(json.dumps(line) + "\n" + '{"run_id": "torn', encoding="utf-8")
    append_run(log_file, _run("r2"))
    runs = read_runs(log_file)
    assert [r.run_id for r in runs] == ["r1", "r2"]
    dumped = runs[0].model_dump(mode="json")
    assert dumped["added_later"] == {"anything": 1}
    assert dumped["files"][0]["rows_quarantined"] == 3
    assert read_runs(tmp_path / "absent.jsonl") == []


def test_html_is_german_self_contained_and_free_of_run_details(
    tmp_path: Path, agencies: list[Agency], organisation: Organisation
) -> None:
    run = _run("r1", errors=["Datei abh_2026-10.xlsx: Wert Mustermann ungültig"])
    org = organisation.model_copy(update={"tom_de": ["Zugriff <nur> für A & B"]})
    register = build_register(agencies, org, None, [run], None, VERSION_DATE)
    assert register.key_id == "kid-3f9a1c"  # taken from the latest run
    paths = write_register(register, tmp_path / "register")
    page = paths.html.read_text(encoding="utf-8")

    assert 'lang="de"' in page
    assert "Stand 21.11.2026" in page
    assert "01.12.2026 09:30" in page  # 08:30 UTC shown in German local time
    assert "2026-11-21" not in page  # no ISO dates for readers
    assert '<td class="num">13.345</td>' in page  # German thousands separator
    assert "teilweise erfolgreich" in page
    assert "@media print" in page and 'href="#laeufe"' in page
    assert not re.search(r"(https?:)?//[a-z]", page)  # no external resources
    assert "<script" not in page and "<link" not in page
    assert "Zugriff &lt;nur&gt; für A &amp; B" in page  # autoescaped
    for path in (paths.html, paths.markdown, paths.json, paths.changes):
        assert "Mustermann" not in path.read_text(encoding="utf-8")


def test_german_formats() -> None:
    assert format_date_de(date(2026, 11, 21)) == "21.11.2026"
    assert format_date_de("2026-03-05") == "05.03.2026"
    assert format_date_de(None) == "–"
    assert format_number_de(1234567) == "1.234.567"
    assert format_number_de(1234.5, 1) == "1.234,5"
    assert format_number_de(None) == "–"
