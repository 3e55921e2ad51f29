"""Where each data zone lives (DESIGN §3).

Zones are separate folders (and separate DuckDB files) so that access rights can be set per
zone in production; the code never writes one zone's content into another's folder.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Workspace:
    """All paths of one kiim installation, derived from a root folder and a config folder."""

    root: Path
    config_dir: Path

    @classmethod
    def from_env(cls) -> Workspace:
        root = Path(os.environ.get("KIIM_HOME", REPO_ROOT / "data")).resolve()
        config = Path(os.environ.get("KIIM_CONFIG_DIR", REPO_ROOT / "config")).resolve()
        return cls(root=root, config_dir=config)

    # zone 1: raw extracts as delivered (identifying)
    @property
    def inbox(self) -> Path:
        override = os.environ.get("KIIM_INBOX")
        return Path(override).resolve() if override else self.root / "inbox"

    def inbox_period(self, period: str) -> Path:
        return self.inbox / period

    @property
    def quarantine(self) -> Path:
        """Rejected raw extracts: identifying, same protection as the inbox."""
        return self.root / "quarantine"

    # zone 2: pseudonymised Parquet, one set per agency and period
    @property
    def pseudonymised(self) -> Path:
        return self.root / "pseudonymised"

    def pseudonymised_file(self, agency: str, period: str) -> Path:
        return self.pseudonymised / agency / f"period={period}" / "data.parquet"

    # zone 3: restricted warehouse
    @property
    def warehouse_db(self) -> Path:
        return self.root / "warehouse" / "warehouse.duckdb"

    # zone 4: published, aggregated only
    @property
    def published_db(self) -> Path:
        return self.root / "published" / "kiim.duckdb"

    # zone 5: docs (no personal data)
    @property
    def docs(self) -> Path:
        return self.root / "docs"

    @property
    def register_dir(self) -> Path:
        return self.docs / "register"

    @property
    def quality_dir(self) -> Path:
        return self.docs / "quality"

    @property
    def runs_dir(self) -> Path:
        return self.docs / "runs"

    @property
    def run_log(self) -> Path:
        """Append-only JSON-lines log of every run (accountability, Art. 5(2) GDPR)."""
        return self.runs_dir / "runs.jsonl"

    # outside the zones
    @property
    def groundtruth(self) -> Path:
        """Synthetic data only: record -> true person. Identifying like the inbox."""
        return self.root / "groundtruth"

    @property
    def staging(self) -> Path:
        """Scratch space for atomic writes (write here, then rename into a zone)."""
        return self.root / ".staging"

    @property
    def airflow_home(self) -> Path:
        return Path(os.environ.get("AIRFLOW_HOME", self.root / "airflow")).resolve()

    @property
    def dbt_project_dir(self) -> Path:
        return Path(os.environ.get("KIIM_DBT_PROJECT_DIR", REPO_ROOT / "dbt_project")).resolve()

    @property
    def expectations_dir(self) -> Path:
        return Path(os.environ.get("KIIM_EXPECTATIONS_DIR", REPO_ROOT / "expectations")).resolve()

    def ensure(self) -> None:
        for d in (
            self.inbox,
            self.quarantine,
            self.pseudonymised,
            self.warehouse_db.parent,
            self.published_db.parent,
            self.register_dir,
            self.quality_dir,
            self.runs_dir,
            self.staging,
        ):
            d.mkdir(parents=True, exist_ok=True)
