"""The run log: one JSON line per pipeline run, appended and never rewritten.

The log is the controller's evidence of what was processed when (accountability, Art. 5(2)
GDPR) and feeds the run history of the processing register. It is append-only so that an
earlier entry cannot be altered by a later run: a run that is recorded twice (for example once
when it starts and once when it ends) is appended again, and the later line supersedes the
earlier one only when the log is read.

Records are pydantic models that keep unknown keys, so fields added by later versions of the
pipeline survive a read by an older one and old lines stay readable by newer ones.

Nothing in a record may be a raw identifier: file names, checksums, counts, durations, the key
fingerprint and error messages that name a location (never a value) are all it holds.
"""

from __future__ import annotations

import json
import logging
from datetime import datetime
from enum import StrEnum
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from kiim.jsonlog import append_line

log = logging.getLogger(__name__)


class RunStatus(StrEnum):
    success = "success"
    failed = "failed"
    partial = "partial"  # some deliveries rejected, the others processed


class FileRecord(BaseModel):
    """One delivered extract as seen by a run (name and checksum, never content)."""

    model_config = ConfigDict(extra="allow")

    agency: str
    file: str | None = Field(default=None, description="file name only; None if missing")
    sha256: str | None = None
    rows_read: int | None = None
    rows_accepted: int | None = None
    status: str = Field(description="e.g. accepted, rejected, missing")
    reason: str | None = Field(default=None, description="why rejected; never a raw value")


class RunRecord(BaseModel):
    """What one run did. Unknown keys are kept so later fields do not break old readers."""

    model_config = ConfigDict(extra="allow")

    run_id: str
    period: str = Field(pattern=r"^\d{4}-(0[1-9]|1[0-2])$")
    trigger: str = Field(description='"cli", "airflow:manual", "airflow:scheduled", plus user')
    started_at: datetime
    finished_at: datetime | None = None
    status: RunStatus
    key_id: str | None = Field(default=None, description="fingerprint of the key, never the key")
    files: list[FileRecord] = []
    linkage: dict[str, int | float | None] = Field(
        default={}, description="records, persons, new persons, merged, ..."
    )
    marts: list[str] = Field(default=[], description="marts published by the run")
    suppression: dict[str, int] = Field(default={}, description="suppressed cells per mart")
    durations: dict[str, float | None] = Field(
        default={}, description="seconds per stage; None for a stage that did not run"
    )
    quality_report: str | None = None
    errors: list[str] = Field(default=[], description="messages naming locations, never values")

    @property
    def rows_read(self) -> int:
        return sum(f.rows_read or 0 for f in self.files)

    @property
    def rows_accepted(self) -> int:
        return sum(f.rows_accepted or 0 for f in self.files)

    @property
    def rows_rejected(self) -> int:
        """Rows read but not taken over (rejected files count with all their rows)."""
        return sum(
            (f.rows_read or 0) - (f.rows_accepted or 0)
            for f in self.files
            if f.rows_read is not None
        )

    @property
    def files_rejected(self) -> int:
        return sum(1 for f in self.files if f.status == "rejected")


def append_run(run_log: Path, record: RunRecord) -> None:
    """Append `record` as one JSON line and force it to disk (`kiim.jsonlog.append_line`)."""
    append_line(run_log, record.model_dump(mode="json"))


def read_runs(run_log: Path) -> list[RunRecord]:
    """All runs in the log, in order of first appearance; a later line with the same run_id
    replaces the earlier one. A missing log means no runs. Unreadable lines are skipped with a
    warning that names only the line number (a line could hold anything)."""
    if not run_log.exists():
        return []
    runs: dict[str, RunRecord] = {}
    with run_log.open(encoding="utf-8") as f:
        for number, line in enumerate(f, start=1):
            if not line.strip():
                continue
            try:
                record = RunRecord.model_validate(json.loads(line))
            except (json.JSONDecodeError, ValidationError):
                log.warning(
                    "run log %s: line %d is not a valid run record, skipped", run_log, number
                )
                continue
            runs[record.run_id] = record  # dict keeps the position of the first insertion
    return list(runs.values())
