"""The key history: which pseudonymisation key was in use when, and every rotation.

`docs/keys.jsonl` in the docs zone, append-only (`kiim.jsonlog`). It holds key ids
(fingerprints, `pseudonymization.key_id`), dates and counts, never a key. Each line is an event:

* `activated` - a key came into use (the first run with it, or a rotation);
* `retired` - a key was replaced; `keep_sealed_until` says how long it must stay in the key
  safe (data pseudonymised under it remains until its retention ends);
* `bridge` - one bridge delivery moved stored pseudonyms from the old to the new key
  (`kiim.rotation`), with its counts.

The register renders the merged view (`read_key_history`); the pipeline refuses to run with a
retired key (`check_key_usable`), because records pseudonymised under it would not find
their persons any more.
"""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from kiim.jsonlog import append_line, read_lines
from kiim.workspace import Workspace


class KeyRetiredError(RuntimeError):
    """The key given to a run has been replaced by a rotation."""


class KeyPeriod(BaseModel):
    """One key's life as recorded in the key history (no key material)."""

    key_id: str
    activated_at: datetime | None = None
    retired_at: datetime | None = None
    predecessor: str | None = None
    successor: str | None = None
    bridge_periods: list[str] = []
    keep_sealed_until: date | None = None


class BridgeEvent(BaseModel):
    """One bridge delivery of a rotation: counts only."""

    at: datetime
    old_key_id: str
    new_key_id: str
    bridge_period: str
    first: bool = True
    records_translated: int = 0
    registry_rewritten: int = 0
    persons_carried: int = 0
    records_left_on_old_key: int = 0
    persons_left_on_old_key: int = 0
    parquet_files_rewritten: int = 0


def key_log_path(ws: Workspace) -> Path:
    return ws.docs / "keys.jsonl"


def record_event(path: Path, event: str, **fields: Any) -> None:
    append_line(path, {"event": event, **fields})


def _events(path: Path) -> list[dict[str, Any]]:
    return [e for e in read_lines(path) if isinstance(e.get("event"), str)]


def read_key_history(path: Path) -> list[KeyPeriod]:
    """Keys in order of first mention; later events add to (never erase) earlier facts."""
    keys: dict[str, dict[str, Any]] = {}
    for e in _events(path):
        kind = e["event"]
        if kind == "bridge":
            new = keys.setdefault(str(e.get("new_key_id")), {"key_id": e.get("new_key_id")})
            new.setdefault("bridge_periods", []).append(e.get("bridge_period"))
            continue
        if not e.get("key_id"):
            continue
        entry = keys.setdefault(str(e["key_id"]), {"key_id": e["key_id"]})
        if kind == "activated":
            entry.setdefault("activated_at", e.get("at"))
            if e.get("predecessor"):
                entry["predecessor"] = e["predecessor"]
        elif kind == "retired":
            entry.setdefault("retired_at", e.get("at"))
            for name in ("successor", "keep_sealed_until"):
                if e.get(name):
                    entry[name] = e[name]
    return [KeyPeriod.model_validate(v) for v in keys.values()]


def read_bridges(path: Path) -> list[BridgeEvent]:
    return [BridgeEvent.model_validate(e) for e in _events(path) if e["event"] == "bridge"]


def active_key_id(path: Path) -> str | None:
    """The key id activated last and not retired, or None if the history is empty."""
    active = [k for k in read_key_history(path) if k.retired_at is None]
    return active[-1].key_id if active else None


def check_key_usable(path: Path, key_id: str) -> None:
    """Refuse a retired key: its record pseudonyms no longer match the stored ones."""
    for k in read_key_history(path):
        if k.key_id == key_id and k.retired_at is not None:
            raise KeyRetiredError(
                f"key {key_id} was retired on {k.retired_at:%Y-%m-%d} (successor "
                f"{k.successor or 'unknown'}); point KIIM_KEY_FILE or KIIM_SECRET_KEY at the "
                "current key"
            )


def ensure_recorded(path: Path, key_id: str, at: datetime) -> bool:
    """Record the first use of a key that the history does not know yet (True if added)."""
    if any(k.key_id == key_id for k in read_key_history(path)):
        return False
    record_event(path, "activated", key_id=key_id, at=at.isoformat(timespec="seconds"))
    return True
