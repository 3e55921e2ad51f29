"""Findings about a delivery, shared by ingestion, validation, the quality report and the run log.

A problem names where it is (file, row, column) and what to do about it, but never the offending
value: values of an extract may be personal data, and problems end up in logs and reports.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from enum import StrEnum


class Severity(StrEnum):
    critical = "critical"  # the extract is rejected and quarantined
    warning = "warning"  # reported, the extract is processed


@dataclass(frozen=True)
class Problem:
    agency: str
    file: str  # file name only (no folders): the report may travel
    check: str  # short machine id, e.g. "encoding", "header", "expect_column_values_to_be_in_set"
    message_de: str  # what is wrong, in German, for the data officer
    fix_de: str  # what to do / what to ask the agency for
    severity: Severity = Severity.critical
    column: str | None = None
    rows: tuple[int, ...] = ()  # line numbers as a spreadsheet shows them (header = 1); a sample
    row_count: int | None = None  # how many rows are affected in total

    def location_de(self) -> str:
        parts = [f"Datei {self.file}"]
        if self.rows:
            shown = ", ".join(str(r) for r in self.rows[:10])
            more = (
                f" (und {self.row_count - len(self.rows[:10])} weitere)"
                if (self.row_count and self.row_count > len(self.rows[:10]))
                else ""
            )
            parts.append(f"Zeile {shown}{more}")
        if self.column:
            parts.append(f"Spalte {self.column}")
        return ", ".join(parts)

    def __str__(self) -> str:
        return f"{self.location_de()}: {self.message_de} – {self.fix_de}"

    def to_dict(self) -> dict:
        d = asdict(self)
        d["severity"] = self.severity.value
        d["rows"] = list(self.rows)
        return d


class ExtractError(Exception):
    """An extract cannot be processed; carries the problems (never raw values)."""

    def __init__(self, problems: list[Problem]):
        self.problems = problems
        super().__init__("; ".join(str(p) for p in problems))
