"""Encoding benchmark: `link_encodings` on a generated district month, on one core.

The issue's target is a rate per core for everything `link_encodings` builds per record (the
keyed blocking keys with their Kölner Phonetik codes, the salted, balanced, permuted CLK).
Measured on realistic identities: the generator's month of every agency (`kiim.generate`,
read back with `read_extract` exactly as a monthly run reads it), so names are as many and
as varied as in a district, with the realistic error model.

* `identities(persons)`: the parsed extracts of one generated month;
* `time_link_encodings(batches)`: pins the process to one core, clears the Bloom mask cache
  and times `link_encodings` over all batches (wall clock and CPU time), with the share of
  each part; then the same batches once more with the caches filled (a second month in
  the same process). `kiim.bench_linkage.bench_synthetic` can report its
  `encode_records_per_s` instead of timing `link_encodings` itself;
* `repeat_link_encodings(inbox, period, n)`: the same in n fresh processes, with the spread
  (what `kiim bench` reports as `link_encodings_one_core`).

`python -m kiim.bench_encode [persons] [--repeat N] [--profile]` generates the month once and
times it in N fresh processes (default 5), one after another (`repeat_link_encodings`), and
prints the median, minimum and maximum with every run as JSON (with `--profile` also the
functions with the most own time). Fresh processes, because a first month is what a monthly
run does and because a process that generated the month first measured slower: the
generator's memory state, not the encoder (docs/linkage.md, "Encoding speed"); several,
because one run on a shared machine says little. Nothing identifying is written or printed:
the extracts live in a temporary folder and the result holds counts and timings only.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import json
import os
import pstats
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pyarrow as pa

import kiim.pseudonymise as pseudonymise
from kiim.config import Agency, load_agencies
from kiim.pseudonymise import PurposeKeys, link_encodings
from kiim.workspace import REPO_ROOT
from pseudonymization import bloom

BENCH_KEY = b"kiim-linkage-benchmark-key-0123456789abcdef"  # synthetic data only

# What each timed function of `link_encodings` stands for. Patched on the module for the
# duration of a measurement only; the remainder (first words, dates, Arrow glue) is "other".
_PARTS: dict[str, str] = {
    "normalised_names": "names",
    "map_shared": "phonetic",
    "keyed_combos": "keys",
    "keyed_hash": "azr",
    "clk_encode": "clk",
    "to_binary_array": "clk",
    "address_encodings": "address",
}


def identities(
    persons: int = 200_000, period: str = "2026-10", seed: int = 20261
) -> list[tuple[Agency, pa.Table]]:
    """The parsed extracts (canonical columns) of every agency for one generated month."""
    from kiim.generate import generate

    with tempfile.TemporaryDirectory(prefix="kiim_encbench_") as tmp:
        inbox = Path(tmp) / "inbox"
        generate(period, persons, inbox, Path(tmp) / "truth", seed=seed)
        return read_identities(inbox, period)


def read_identities(inbox: Path, period: str) -> list[tuple[Agency, pa.Table]]:
    """The parsed extracts of every agency found in `inbox`, read as a monthly run reads them."""
    from kiim.ingest import find_extract, read_extract

    batches = []
    for agency in load_agencies(REPO_ROOT / "config"):
        path = find_extract(agency, inbox, period)
        if path is not None:
            batches.append((agency, read_extract(agency, path).table))
    return batches


@contextmanager
def _one_core() -> Iterator[None]:
    """Pin this process to one core (rates are per core), restore the old set afterwards."""
    if not hasattr(os, "sched_setaffinity"):  # pragma: no cover - not Linux
        yield
        return
    old = os.sched_getaffinity(0)
    os.sched_setaffinity(0, {min(old)})
    try:
        yield
    finally:
        os.sched_setaffinity(0, old)


@contextmanager
def _timed_parts(seconds: dict[str, float]) -> Iterator[None]:
    """Add the CPU seconds of each function in `_PARTS` to `seconds[part]` while active."""
    originals = {
        name: getattr(pseudonymise, name) for name in _PARTS if hasattr(pseudonymise, name)
    }

    def timed(name: str, func: Callable[..., Any]) -> Callable[..., Any]:
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            start = time.process_time()
            try:
                return func(*args, **kwargs)
            finally:
                part = _PARTS[name]
                seconds[part] = seconds.get(part, 0.0) + time.process_time() - start

        return wrapper

    try:
        for name, func in originals.items():
            setattr(pseudonymise, name, timed(name, func))
        yield
    finally:
        for name, func in originals.items():
            setattr(pseudonymise, name, func)


def _pass(batches: Sequence[tuple[Agency, pa.Table]], keys: PurposeKeys) -> dict[str, Any]:
    parts: dict[str, float] = {}
    per_agency = []
    wall = cpu = 0.0
    with _timed_parts(parts):
        for agency, table in batches:
            w0, c0 = time.perf_counter(), time.process_time()
            link_encodings(table, keys, agency)
            w, c = time.perf_counter() - w0, time.process_time() - c0
            wall, cpu = wall + w, cpu + c
            per_agency.append(
                {"agency": agency.agency, "records": table.num_rows, "seconds": w, "cpu": c}
            )
    records = sum(t.num_rows for _, t in batches)
    parts["other"] = max(0.0, cpu - sum(parts.values()))
    return {
        "records": records,
        "encode_seconds": wall,
        "encode_cpu_seconds": cpu,
        "encode_records_per_s": records / wall if wall else None,
        "encode_records_per_cpu_s": records / cpu if cpu else None,
        "parts_cpu_seconds": parts,
        "agencies": per_agency,
    }


def time_link_encodings(
    batches: Sequence[tuple[Agency, pa.Table]], master: bytes = BENCH_KEY, *, warm: bool = True
) -> dict[str, Any]:
    """Rates of `link_encodings` over `batches` on one core, first with empty caches.

    Keys: records, encode_seconds (wall), encode_cpu_seconds, encode_records_per_s (wall),
    encode_records_per_cpu_s, parts_cpu_seconds (names, phonetic, keys, azr, clk, address,
    other), agencies (per batch), and under `warm` the same for a second pass whose Bloom
    masks are already cached. Wall and CPU time agree on an idle core; on a shared machine
    the CPU time is the steadier figure. kernel_warm_up_seconds (wall) and
    kernel_warm_up_cpu_seconds: importing numba and compiling the kernels, or loading them
    from numba's on-disk cache (`pseudonymization._kernels`), before the first pass; it is
    not part of the rates.
    """
    keys = PurposeKeys(master)
    with _one_core():
        # numba import and the kernels' compilation (or loading from the on-disk cache):
        # paid once per process, reported apart from the encoding rates
        compile_start = time.perf_counter(), time.process_time()
        from pseudonymization import _kernels

        _kernels.warm_up()
        compile_wall = time.perf_counter() - compile_start[0]
        compile_cpu = time.process_time() - compile_start[1]
        bloom.clear_cache()
        result = _pass(batches, keys)
        if warm:
            result["warm"] = _pass(batches, keys)
        bloom.clear_cache()
    result["cores"] = 1
    result["kernel_warm_up_seconds"] = compile_wall
    result["kernel_warm_up_cpu_seconds"] = compile_cpu
    return result


def profile_link_encodings(
    batches: Sequence[tuple[Agency, pa.Table]], master: bytes = BENCH_KEY, top: int = 25
) -> str:
    """cProfile listing (own time) of one cold pass, for finding what bounds the rate."""
    keys = PurposeKeys(master)
    profiler = cProfile.Profile()
    with _one_core():
        bloom.clear_cache()
        profiler.enable()
        for agency, table in batches:
            link_encodings(table, keys, agency)
        profiler.disable()
        bloom.clear_cache()
    out = io.StringIO()
    pstats.Stats(profiler, stream=out).sort_stats("tottime").print_stats(top)
    return out.getvalue()


def _spread(values: Sequence[float]) -> dict[str, Any]:
    return {
        "median": statistics.median(values),
        "min": min(values),
        "max": max(values),
        "runs": list(values),
    }


def repeat_link_encodings(
    inbox: Path, period: str, repeat: int, persons: int | None = None
) -> dict[str, Any]:
    """`time_link_encodings` of the extracts in `inbox` in `repeat` fresh processes.

    Returns the spread (median, min, max, runs) of the first month's and the filled caches'
    rates and CPU seconds and of the Bloom filter's first-month CPU seconds, and each run's
    full result under "runs".
    """
    if not any(inbox.glob(f"*_{period}.*")):
        raise ValueError(f"no extracts of {period} in {inbox}")
    runs: list[dict[str, Any]] = []
    for _ in range(repeat):
        child = subprocess.run(
            [sys.executable, "-m", "kiim.bench_encode", "--inbox", str(inbox), period],
            capture_output=True,
            text=True,
            cwd=REPO_ROOT,
        )
        if child.returncode != 0:  # synthetic extracts only: the child's error may be shown
            tail = "\n".join(child.stderr.strip().splitlines()[-5:])
            raise RuntimeError(f"encoding run {len(runs) + 1} of {repeat} failed:\n{tail}")
        runs.append(json.loads(child.stdout))
    return {
        "persons": persons,
        "records": runs[0]["records"],
        "repeat": repeat,
        "first_month_records_per_cpu_s": _spread([r["encode_records_per_cpu_s"] for r in runs]),
        "first_month_cpu_seconds": _spread([r["encode_cpu_seconds"] for r in runs]),
        "first_month_bloom_cpu_seconds": _spread([r["parts_cpu_seconds"]["clk"] for r in runs]),
        "warm_records_per_cpu_s": _spread([r["warm"]["encode_records_per_cpu_s"] for r in runs]),
        "runs": runs,
    }


def main(argv: list[str] | None = None) -> int:  # pragma: no cover - manual benchmark
    parser = argparse.ArgumentParser(prog="python -m kiim.bench_encode")
    parser.add_argument("persons", nargs="?", type=int, default=200_000)
    parser.add_argument("--repeat", type=int, default=5, help="fresh processes, one after another")
    parser.add_argument("--profile", action="store_true", help="cProfile of one first month")
    # a child of the repeated measurement: times the extracts of PERIOD in INBOX
    parser.add_argument("--inbox", nargs=2, metavar=("INBOX", "PERIOD"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.inbox:
        inbox, period = args.inbox
        print(json.dumps(time_link_encodings(read_identities(Path(inbox), period)), default=float))
        return 0
    from kiim.generate import generate

    period = "2026-10"
    with tempfile.TemporaryDirectory(prefix="kiim_encbench_") as tmp:
        inbox = Path(tmp) / "inbox"
        generate(period, args.persons, inbox, Path(tmp) / "truth", seed=20261)
        result = repeat_link_encodings(inbox, period, max(args.repeat, 1), args.persons)
        print(json.dumps(result, indent=2, default=float))
        if args.profile:
            print(profile_link_encodings(read_identities(inbox, period)))
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
