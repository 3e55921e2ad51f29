"""`kiim bench`: the whole monthly run at district or state scale, stage by stage.

Every stage is the same plain function the DAG task calls (`kiim.pipeline`), timed for wall
and CPU seconds with the peak resident memory sampled while it runs. Next to it, in the same
run: the encoders against their plain reference loops, and the month through Airflow against
the sum of its stages (orchestration overhead). Shared machines are noisy, so ratios measured
side by side are the figures to read; the absolute seconds say what this machine did today.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psutil

from kiim.fmt import de_int, de_num

# fresh processes timing the encoding of the last month (median reported)
ENCODING_RUNS = 3


@dataclass
class StageFigure:
    stage: str
    wall_s: float
    cpu_s: float
    rows: int
    peak_rss_mb: float

    @property
    def rows_per_s(self) -> float:
        return self.rows / self.wall_s if self.wall_s else 0.0


@dataclass
class BenchResult:
    persons: int
    months: int
    machine: dict[str, Any]
    stages: list[StageFigure] = field(default_factory=list)
    side_by_side: dict[str, Any] = field(default_factory=dict)
    totals: dict[str, Any] = field(default_factory=dict)


class _PeakRSS:
    """Samples this process's (and its children's) resident memory while a stage runs."""

    def __init__(self, interval: float = 0.05):
        self.interval = interval
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _rss(self) -> int:
        proc = psutil.Process()
        total = proc.memory_info().rss
        for child in proc.children(recursive=True):
            with suppress(psutil.Error):
                total += child.memory_info().rss
        return total

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, self._rss())
            time.sleep(self.interval)

    def __enter__(self) -> _PeakRSS:
        self.peak = self._rss()
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


@dataclass
class _Rows:
    n: int = 0


@contextmanager
def _measure(figures: list[StageFigure], stage: str) -> Iterator[_Rows]:
    """Time a stage; the caller sets `rows` on the yielded holder for the rows/s figure."""
    rows = _Rows()
    t0, c0 = time.perf_counter(), time.process_time()
    children0 = psutil.Process().cpu_times()
    with _PeakRSS() as peak:
        yield rows
    children1 = psutil.Process().cpu_times()
    cpu = time.process_time() - c0
    cpu += (children1.children_user - children0.children_user) + (
        children1.children_system - children0.children_system
    )
    figures.append(
        StageFigure(
            stage=stage,
            wall_s=round(time.perf_counter() - t0, 3),
            cpu_s=round(cpu, 3),
            rows=rows.n,
            peak_rss_mb=round(peak.peak / 2**20, 1),
        )
    )
    print(f"  {stage:<34} {figures[-1].wall_s:8.2f} s", file=sys.stderr, flush=True)


def _machine() -> dict[str, Any]:
    return {
        "cores": os.cpu_count(),
        "memory_gb": round(psutil.virtual_memory().total / 2**30, 1),
        "python": sys.version.split()[0],
        "date": datetime.now(UTC).date().isoformat(),
    }


def _periods(first: str, months: int) -> list[str]:
    y, m = int(first[:4]), int(first[5:])
    out = []
    for _ in range(months):
        out.append(f"{y:04d}-{m:02d}")
        m += 1
        if m > 12:
            y, m = y + 1, 1
    return out


def run_bench(
    persons: int,
    months: int = 1,
    *,
    root: Path,
    first_period: str = "2026-10",
    with_airflow: bool = True,
    encoder_sample: int = 200_000,
) -> BenchResult:
    """Generate and run `months` months of `persons` persons under `root` (a scratch KIIM_HOME)."""
    from kiim import pipeline
    from kiim.bench_encode import repeat_link_encodings
    from kiim.config import load_agencies
    from kiim.generate import generate
    from kiim.workspace import Workspace

    os.environ["KIIM_HOME"] = str(root)
    os.environ.setdefault("KIIM_SECRET_KEY", secrets.token_hex(32))
    os.environ.pop("KIIM_KEY_FILE", None)
    ws = Workspace.from_env()
    ws.ensure()
    result = BenchResult(persons=persons, months=months, machine=_machine())
    figures = result.stages
    periods = _periods(first_period, months)
    agencies = [a.agency for a in load_agencies(ws.config_dir)]
    extract_rows = 0
    encode_inbox: Path | None = None
    for period in periods:
        with _measure(figures, f"{period} generate") as m:
            generated = generate(period, persons, ws.inbox_period(period), ws.groundtruth)
            m.n = extract_rows = sum(generated.rows.values())
        if period == periods[-1] and persons <= encoder_sample:
            # the encoding timing below uses this month's extracts (the run deletes them)
            encode_inbox = root / "encoding_sample" / period
            shutil.copytree(ws.inbox_period(period), encode_inbox, dirs_exist_ok=True)
        run = pipeline.start_run(period, "bench")
        with _measure(figures, f"{period} ingest+pseudonymise+validate") as m:
            results = [pipeline.process_agency(run, agency) for agency in agencies]
            m.n = extract_rows
        with _measure(figures, f"{period} link") as m:
            linked = pipeline.link(run, results)
            m.n = extract_rows
        with _measure(figures, f"{period} dbt build") as m:
            built = pipeline.transform(run)
            m.n = extract_rows
        with _measure(figures, f"{period} publish") as m:
            published = pipeline.publish(run, built)
            m.n = sum(published["rows"].values())
        with _measure(figures, f"{period} finish (register, log)"):
            pipeline.finish(run, results, linked, built, published)
    stage_sum = sum(f.wall_s for f in figures if "generate" not in f.stage)
    result.totals = {
        "extract_rows_last_month": extract_rows,
        "pipeline_seconds_sum_of_stages": round(stage_sum, 2),
        "pipeline_seconds_per_month": round(stage_sum / months, 2),
        "peak_rss_mb": max(f.peak_rss_mb for f in figures),
    }
    from pseudonymization.bench import bench_pseudonymization

    result.side_by_side["encoders"] = bench_pseudonymization(
        min(encoder_sample, max(10_000, persons))
    )
    # everything linkage encodes per record (keys + CLK) on one core, on the last month (a
    # month of `encoder_sample` persons is generated only when the benchmark's is larger),
    # in fresh processes as `python -m kiim.bench_encode` does (kiim/bench_encode.py says why)
    if encode_inbox is None:
        encode_inbox = root / "encoding_sample" / periods[-1]
        generate(periods[-1], encoder_sample, encode_inbox, root / "encoding_sample_truth")
    encoding = repeat_link_encodings(encode_inbox, periods[-1], ENCODING_RUNS)
    result.side_by_side["link_encodings_one_core"] = {
        "records": encoding["records"],
        "runs": ENCODING_RUNS,
        "encode_records_per_cpu_s": encoding["first_month_records_per_cpu_s"]["median"],
        "encode_records_per_cpu_s_min": encoding["first_month_records_per_cpu_s"]["min"],
        "encode_records_per_cpu_s_max": encoding["first_month_records_per_cpu_s"]["max"],
        "warm_records_per_cpu_s": encoding["warm_records_per_cpu_s"]["median"],
    }
    if with_airflow:
        result.side_by_side["airflow"] = _airflow_month(ws, periods[-1], persons)
        dag_s = result.side_by_side["airflow"].get("dag_run_seconds")
        month_stages = sum(
            f.wall_s
            for f in figures
            if f.stage.startswith(periods[-1]) and "generate" not in f.stage
        )
        if dag_s:
            result.side_by_side["airflow"]["sum_of_stages_seconds"] = round(month_stages, 2)
            result.side_by_side["airflow"]["overhead_ratio"] = round(dag_s / month_stages, 2)
    return result


def _airflow_month(ws: Any, period: str, persons: int) -> dict[str, Any]:
    """The same month again through the DAG (`airflow dags test`); Airflow start-up excluded."""
    from kiim.cli import airflow_env, ensure_airflow_db
    from kiim.generate import generate

    generate(period, persons, ws.inbox_period(period), ws.groundtruth)
    env = airflow_env(ws)
    ensure_airflow_db(env)
    t0 = time.perf_counter()
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "airflow",
            "dags",
            "test",
            "kiim_monthly",
            "-c",
            json.dumps({"period": period}),
        ],
        env=env,
        capture_output=True,
        text=True,
    )
    wall = time.perf_counter() - t0
    match = re.search(r"run_duration=([\d.]+)", proc.stdout + proc.stderr)
    return {
        "exit_code": proc.returncode,
        "command_seconds": round(wall, 2),
        "dag_run_seconds": float(match.group(1)) if match else None,
    }


def to_markdown(result: BenchResult) -> str:
    m = result.machine
    lines = [
        f"# kiim bench: {de_int(result.persons)} persons, {result.months} month(s)",
        "",
        f"Machine: {m['cores']} cores, {de_num(m['memory_gb'])} GB memory, Python {m['python']}, {m['date']}.",
        "",
        "| stage | wall s | CPU s | rows | rows/s | peak RSS MB |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for f in result.stages:
        lines.append(
            f"| {f.stage} | {f.wall_s:.2f} | {f.cpu_s:.2f} | {f.rows:,} | {f.rows_per_s:,.0f} | {f.peak_rss_mb:,.0f} |"
        )
    t = result.totals
    lines += [
        "",
        f"Sum of pipeline stages per month (without generation): **{t['pipeline_seconds_per_month']} s**; "
        f"peak RSS {t['peak_rss_mb']:,.0f} MB; extract rows in the last month: {t['extract_rows_last_month']:,}.",
        "",
        "## Side by side",
        "",
        "```json",
        json.dumps(result.side_by_side, indent=2, default=str),
        "```",
    ]
    return "\n".join(lines) + "\n"


def write_bench(result: BenchResult, out_dir: Path) -> tuple[Path, Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    stem = f"bench_{result.persons}_{result.months}m"
    data = asdict(result)
    for f, raw in zip(result.stages, data["stages"], strict=True):
        raw["rows_per_s"] = round(f.rows_per_s, 1)
    json_path = out_dir / f"{stem}.json"
    json_path.write_text(json.dumps(data, indent=2, default=str), encoding="utf-8")
    md_path = out_dir / f"{stem}.md"
    md_path.write_text(to_markdown(result), encoding="utf-8")
    return json_path, md_path
