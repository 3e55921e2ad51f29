"""Synthetic monthly extracts of all agencies, with the ground truth behind them.

`generate("2026-10", 5000, inbox, truth)` draws a population of a district from the seed (the
same people for every month), takes the view of one month, and writes each agency's extract
into `inbox` exactly as its config describes (file name, CSV/XLSX, encoding, headers, date and
boolean formats). Names and birth dates are written with each office's typical errors
(`ErrorModel`). The ground truth — which record belongs to which person, which errors were
made — goes to `truth/<period>/` as Parquet. Both are identifying: keep them outside the zones.

Example:
    >>> result = generate("2026-10", 2000, ws.inbox_period("2026-10"), ws.groundtruth)
    >>> result.rows["ewo"]  # residents of the month
    >>> truth = read_truth(ws.groundtruth, "2026-10")
"""

from __future__ import annotations

import itertools
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from kiim import names
from kiim.catalogues import SEEDS
from kiim.config import load_agencies
from kiim.synthetic.agencies import (
    BUILDERS,
    ExtractContent,
    PeriodState,
    employable_mask,
    sgb2_mask,
)
from kiim.synthetic.errors import ERROR_TYPES, AgencyDraws, ErrorModel, ErrorRates
from kiim.synthetic.population import SEX_CODES, STATUS_CODES, Population, build_population
from kiim.synthetic.timeline import NEVER, parse_period
from kiim.synthetic.writers import write_extract
from kiim.workspace import REPO_ROOT

__all__ = [
    "ERROR_TYPES",
    "ErrorModel",
    "ErrorRates",
    "GenerationResult",
    "Truth",
    "generate",
    "read_truth",
]

_GLOB_CHARS = set("*?[]")


@dataclass
class GenerationResult:
    """What `generate` wrote. Its repr shows counts only, never a generated value."""

    period: str
    files: list[Path]
    rows: dict[str, int]
    truth_dir: Path
    residents: int
    _identifiers: frozenset[str] = field(default=frozenset(), repr=False)

    def raw_identifiers(self) -> set[str]:
        """Every identifying value written (names, birth dates as dd.mm.yyyy and ISO, record
        ids, AZR numbers, phones, e-mails, addresses, birth places, guardians; >= 4 chars).

        Canaries for privacy tests: none of them may appear outside the inbox.
        """
        return set(self._identifiers)


def generate(
    period: str,
    persons: int,
    inbox_dir: Path,
    truth_dir: Path,
    *,
    seed: int = 20261,
    config_dir: Path | None = None,
    errors: ErrorModel | None = None,
) -> GenerationResult:
    """Write one month's extracts of every configured agency and its ground truth.

    Args:
        period: reporting month, YYYY-MM.
        persons: size of the synthetic population (everyone living in the district at some
            time 2015-2027; about 90 % are resident in a month of 2025/2026).
        inbox_dir: folder the extracts go to (usually `Workspace.inbox_period(period)`).
        truth_dir: ground-truth root; files go to `truth_dir/<period>/`.
        seed: the population and every error depend on the seed only, not on the period.
        config_dir: folder with `agencies/*.yaml` (default: the repository's `config`).
        errors: per-agency error rates (default `ErrorModel.realistic()`).
    """
    p = parse_period(period)
    agencies = load_agencies(config_dir or REPO_ROOT / "config")
    model = errors if errors is not None else ErrorModel.realistic()
    pop = build_population(seed, persons, SEEDS)
    state = PeriodState.of(pop, p)

    files: list[Path] = []
    rows: dict[str, int] = {}
    identifiers: set[str] = set()
    contents: list[ExtractContent] = []
    inbox_dir.mkdir(parents=True, exist_ok=True)
    for agency in agencies:
        builder = BUILDERS.get(agency.agency)
        if builder is None:
            raise ValueError(
                f"no synthetic content for agency '{agency.agency}'; known: {sorted(BUILDERS)}"
            )
        name = agency.extract.file_pattern.format(period=period)
        if _GLOB_CHARS & set(name):
            raise ValueError(
                f"{agency.agency}: file_pattern '{agency.extract.file_pattern}' is a glob; "
                "the generator needs one concrete file name"
            )
        content = builder(
            state, model.for_agency(agency.agency), AgencyDraws(seed, agency.agency, pop.n)
        )
        path = inbox_dir / name
        identifiers |= write_extract(agency, content, path)
        files.append(path)
        rows[agency.agency] = len(content.persons)
        contents.append(content)

    _write_truth(truth_dir / period, pop, state, contents)
    return GenerationResult(
        period=period,
        files=files,
        rows=rows,
        truth_dir=truth_dir / period,
        residents=int(state.present.sum()),
        _identifiers=frozenset(identifiers),
    )


def _dates(days: np.ndarray) -> pa.Array:
    d = np.asarray(days, dtype=np.int64)
    mask = d == NEVER
    return pa.array(np.where(mask, 0, d).astype("int32"), pa.int32(), mask=mask).cast(pa.date32())


def _write_parquet(table: pa.Table, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.part")
    pq.write_table(table, tmp)
    os.replace(tmp, path)


# persons.parquet's `lookalike_kind` per Population.lookalike_kind code
LOOKALIKE_KINDS = (None, "twin", "junior")


def _lookalike_ids(pop: Population, idx: np.ndarray) -> list[str | None]:
    """Person id of each person's look-alike (the first twin, a junior's father), else None."""
    other = pop.lookalike[idx]
    out = np.full(len(idx), None, dtype=object)
    has = other >= 0
    out[has] = pop.person_ids(other[has])
    return out.tolist()


def _write_truth(
    out: Path, pop: Population, state: PeriodState, contents: list[ExtractContent]
) -> None:
    n_rows = [len(c.record_ids) for c in contents]
    errors = [e for c in contents for e in c.errors]
    offsets = np.zeros(len(errors) + 1, dtype=np.int32)
    np.cumsum([len(e) for e in errors], out=offsets[1:])
    flat = pa.array(list(itertools.chain.from_iterable(errors)), pa.string())
    persons_all = (
        np.concatenate([c.persons for c in contents]) if contents else np.zeros(0, np.int64)
    )
    records = pa.table(
        {
            "agency": pa.array(np.repeat([c.agency for c in contents], n_rows), pa.string()),
            "record_id": pa.array([r for c in contents for r in c.record_ids], pa.string()),
            "person_id": pa.array(pop.person_ids(persons_all), pa.string()),
            "error_types": pa.ListArray.from_arrays(pa.array(offsets), flat),
        }
    )
    _write_parquet(records, out / "records.parquet")

    idx = np.flatnonzero(state.present)
    p = state.period
    status = np.array(STATUS_CODES, dtype=object)[state.status[idx]]
    status[status == ""] = None
    cols: dict[str, pa.Array] = {
        "person_id": pa.array(pop.person_ids(idx), pa.string()),
        "household_id": pa.array(pop.hh[idx].astype(np.int64)),
        "sex": pa.array(np.array(SEX_CODES, dtype=object)[pop.sex[idx]].tolist(), pa.string()),
        "birth_date": _dates(pop.birth[idx]),
        "age": pa.array(state.age[idx].astype(np.int64)),
        "origin": pa.array(
            np.array(names.ORIGINS, dtype=object)[pop.origin[idx]].tolist(), pa.string()
        ),
        "nationality": pa.array(state.nationality[idx].tolist(), pa.string()),
        "ags": pa.array([pop.gemeinden[g].ags for g in pop.ags[idx].tolist()], pa.string()),
        "arrival_date": _dates(pop.arrival[idx]),
        "departure_date": _dates(pop.departure[idx]),
        "moved_out_in_period": pa.array(
            (pop.departure[idx] >= p.start) & (pop.departure[idx] <= p.end)
        ),
        "entry_date": _dates(np.where(pop.origin[idx] != 0, pop.entry[idx], NEVER)),
        "naturalisation_date": _dates(pop.naturalised[idx]),
        "naturalised_in_period": pa.array(
            (pop.naturalised[idx] >= p.start) & (pop.naturalised[idx] <= p.end)
        ),
        "residence_status": pa.array(status.tolist(), pa.string()),
        "family_name": pa.array(pop.family_names(idx).tolist(), pa.string()),
        "given_names": pa.array(pop.given_names(idx).tolist(), pa.string()),
        "birth_name": pa.array(pop.birth_names(idx).tolist(), pa.string()),
        "lookalike_of": pa.array(_lookalike_ids(pop, idx), pa.string()),
        "lookalike_kind": pa.array(
            np.array(LOOKALIKE_KINDS, dtype=object)[pop.lookalike_kind[idx]].tolist(), pa.string()
        ),
        "sgb2": pa.array(sgb2_mask(state)[idx]),
        "employable": pa.array((sgb2_mask(state) & employable_mask(state))[idx]),
    }
    for c in contents:
        flag = np.zeros(pop.n, dtype=bool)
        flag[c.persons] = True
        cols[f"in_{c.agency}"] = pa.array(flag[idx])
    _write_parquet(pa.table(cols), out / "persons.parquet")


@dataclass
class Truth:
    """Ground truth of one generated month."""

    records: pd.DataFrame  # agency, record_id, person_id, error_types (list of str)
    persons: pd.DataFrame  # one row per resident person of the month

    def records_of(self, agency: str) -> pd.DataFrame:
        return self.records[self.records["agency"] == agency].reset_index(drop=True)

    def person_of(self, agency: str) -> dict[str, str]:
        """record_id -> person_id for one agency."""
        r = self.records_of(agency)
        return dict(zip(r["record_id"], r["person_id"], strict=True))


def read_truth(truth_dir: Path, period: str) -> Truth:
    """Load `truth_dir/<period>/records.parquet` and `persons.parquet`."""
    folder = truth_dir / period
    records = pd.read_parquet(folder / "records.parquet")
    records["error_types"] = records["error_types"].map(list)  # plain lists, not numpy arrays
    return Truth(records=records, persons=pd.read_parquet(folder / "persons.parquet"))
