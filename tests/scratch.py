"""A throw-away KIIM_HOME for tests that run whole months through the pipeline."""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from kiim.workspace import Workspace


@contextmanager
def scratch_kiim_home(root: Path) -> Iterator[Workspace]:
    """KIIM_HOME, AIRFLOW_HOME and a fresh random key under `root`; the environment is
    restored afterwards, so a module's month cannot leak into the next module."""
    saved = dict(os.environ)
    os.environ.update(
        {
            "KIIM_HOME": str(root / "data"),
            "KIIM_SECRET_KEY": secrets.token_hex(32),
            "AIRFLOW_HOME": str(root / "data" / "airflow"),
        }
    )
    for name in ("KIIM_KEY_FILE", "KIIM_INBOX"):
        os.environ.pop(name, None)
    try:
        yield Workspace.from_env()
    finally:
        os.environ.clear()
        os.environ.update(saved)
