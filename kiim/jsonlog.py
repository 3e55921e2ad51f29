"""Append-only JSON-lines files of the docs zone (deletion log, key history).

Same discipline as the run log (`kiim.runlog`): a line is written with O_APPEND in a single
write and forced to disk, earlier lines are never touched, a torn last line is skipped when
reading. These files are evidence for auditors; a tool that could rewrite them would make
them worthless.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)


def append_line(path: Path, record: dict[str, Any]) -> None:
    """Append one JSON object as a line (creating the file and its folder if needed).

    The file is opened with O_APPEND and the line goes out in a single write, so earlier lines
    are never touched and two writers cannot interleave within a line. If the last line was
    torn by a crash (no final newline), a newline is written first so the new record starts
    on its own line; readers skip the torn line.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    line = json.dumps(record, ensure_ascii=False, separators=(",", ":"), default=str)
    data = (line + "\n").encode("utf-8")
    created = not path.exists()
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o640)
    try:
        if os.fstat(fd).st_size > 0:
            with path.open("rb") as f:
                f.seek(-1, os.SEEK_END)
                if f.read(1) != b"\n":
                    data = b"\n" + data
        written = 0
        while written < len(data):
            written += os.write(fd, data[written:])
        os.fsync(fd)
    finally:
        os.close(fd)
    if created:
        _fsync_dir(path.parent)


def _fsync_dir(directory: Path) -> None:
    """Make a newly created file's directory entry durable (POSIX only)."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def read_lines(path: Path) -> list[dict[str, Any]]:
    """Every readable object of the file in order; a missing file is empty."""
    if not path.exists():
        return []
    out: list[dict[str, Any]] = []
    with path.open(encoding="utf-8") as f:
        for number, line in enumerate(f, start=1):
            if not line.strip():
                continue
            try:
                value = json.loads(line)
            except json.JSONDecodeError:
                log.warning("%s: line %d is not valid JSON, skipped", path, number)
                continue
            if isinstance(value, dict):
                out.append(value)
    return out
