from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from kiim.config import ConfigError, Role, load_agencies, load_agency, load_organisation
from kiim.workspace import REPO_ROOT

CONFIG = REPO_ROOT / "config"


def test_all_eight_agencies_load() -> None:
    agencies = load_agencies(CONFIG)
    assert [a.agency for a in agencies] == [
        "abh",
        "beratung",
        "ewo",
        "integrationskurs",
        "jobcenter",
        "kita",
        "schulamt",
        "sozialamt",
    ]
    for a in agencies:
        assert a.column("record_id") is not None
        assert a.by_role(Role.direct_identifier)
    assert load_organisation(CONFIG).district_ags == "12061000"


def _broken(tmp_path: Path, mutate) -> Path:  # type: ignore[no-untyped-def]
    data = yaml.safe_load((CONFIG / "agencies" / "ewo.yaml").read_text(encoding="utf-8"))
    mutate(data)
    path = tmp_path / "ewo.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return path


@pytest.mark.parametrize(
    ("mutate", "needle"),
    [
        (lambda d: d["columns"][0].update(role="secret"), "columns.0.role"),
        (lambda d: d["columns"][4].pop("generalise"), "quasi_identifier needs 'generalise'"),
        (lambda d: d["columns"].append(dict(d["columns"][1])), "used twice"),
        (lambda d: d["extract"].update(format="json"), "extract.format"),
        (
            lambda d: d["columns"][1].update(field="surname"),
            "direct_identifier field must be one of",
        ),
        (lambda d: d.update(agency="other"), "must match the file name"),
    ],
)
def test_invalid_config_gives_clear_error(tmp_path: Path, mutate, needle: str) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ConfigError) as e:
        load_agency(_broken(tmp_path, mutate))
    assert "ewo.yaml" in str(e.value)
    assert needle in str(e.value)
