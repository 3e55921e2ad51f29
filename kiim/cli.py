"""`kiim` command line: what the data officer, the auditor and the analyst type."""

from __future__ import annotations

import contextlib
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path
from typing import Annotated

import typer

from kiim.fmt import de_int
from kiim.report import report_cli
from kiim.retention import retention_cli
from kiim.rotation import rotation_cli
from kiim.workspace import REPO_ROOT, Workspace

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    help="kiim: kommunales individuelles Integrationsmonitoring",
)

OFFLINE_ENV = {
    "DO_NOT_TRACK": "1",
    "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
    "AIRFLOW__COSMOS__ENABLE_TELEMETRY": "False",
    "TLDEXTRACT_PUBLIC_SUFFIX_LIST_URLS": "",
    "AIRFLOW__CORE__LOAD_EXAMPLES": "false",
    # disclosure audits solve many small linear systems: BLAS threads only add contention
    "OPENBLAS_NUM_THREADS": "1",
}
LOGGER_SUFFIX = re.compile(r"\s+\[[\w.]+\]\s+loc=\S+\s*$")
DEMO_KEY = Path.home() / ".config" / "kiim" / "demo.key"

Period = Annotated[str, typer.Option("--period", "-p", help="Berichtsmonat JJJJ-MM")]


def _fail(message: str) -> None:
    typer.secho(f"Fehler: {message}", fg=typer.colors.RED, err=True)
    raise typer.Exit(2)


def airflow_env(ws: Workspace) -> dict[str, str]:
    """Environment for the embedded Airflow: SQLite metadata DB in a project-local AIRFLOW_HOME."""
    home = ws.airflow_home
    home.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ)
    env.update(OFFLINE_ENV)
    env.update(
        {
            "AIRFLOW_HOME": str(home),
            "AIRFLOW__CORE__DAGS_FOLDER": str(REPO_ROOT / "dags"),
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home / 'airflow.db'}",
            "AIRFLOW__CORE__UNIT_TEST_MODE": "False",
            "KIIM_HOME": str(ws.root),
            "KIIM_CONFIG_DIR": str(ws.config_dir),
        }
    )
    return env


def ensure_airflow_db(env: dict[str, str]) -> None:
    db = Path(env["AIRFLOW_HOME"]) / "airflow.db"
    if db.exists():
        return
    typer.echo("Airflow-Metadatenbank wird angelegt (einmalig) ...", err=True)
    proc = subprocess.run(
        [sys.executable, "-m", "airflow", "db", "migrate"], env=env, capture_output=True, text=True
    )
    if proc.returncode != 0:
        db.unlink(missing_ok=True)
        _fail(f"airflow db migrate failed:\n{proc.stderr[-3000:]}")


def run_dag(period: str, ws: Workspace, agencies: list[str] | None = None) -> dict:
    """Run kiim_monthly through Airflow in-process (`airflow dags test`), return the summary."""
    env = airflow_env(ws)
    ensure_airflow_db(env)
    conf = {"period": period, "agencies": agencies or []}
    log_dir = ws.root / "airflow" / "runs"
    log_dir.mkdir(parents=True, exist_ok=True)
    log_file = log_dir / f"dags_test_{period}_{time.strftime('%Y%m%dT%H%M%S')}.log"
    summary_path = ws.runs_dir / "last_summary.json"
    summary_path.unlink(missing_ok=True)
    cmd = [sys.executable, "-m", "airflow", "dags", "test", "kiim_monthly", "-c", json.dumps(conf)]
    with log_file.open("w", encoding="utf-8") as out:
        proc = subprocess.Popen(
            cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
        )
        assert proc.stdout is not None
        for line in proc.stdout:
            out.write(line)
            if "[kiim]" in line:
                message = line.split("[kiim]", 1)[1]
                typer.echo("  " + LOGGER_SUFFIX.sub("", message).strip(), err=True)
        rc = proc.wait()
    if not summary_path.exists():
        _fail(f"the DAG run ended without a summary (exit {rc}); Airflow log: {log_file}")
    summary = json.loads(summary_path.read_text(encoding="utf-8"))
    summary["airflow_log"] = str(log_file)
    summary["airflow_exit"] = rc
    return summary


def print_summary(summary: dict) -> None:
    """The short end-of-run summary: read, rejected, linked, published, where to look."""
    status = summary["status"]
    colour = {"success": typer.colors.GREEN, "partial": typer.colors.YELLOW}.get(
        status, typer.colors.RED
    )
    typer.secho(f"\nLauf {summary['run_id']} ({summary['period']}): {status}", fg=colour, bold=True)
    typer.echo("Gelesen / angenommen je Stelle:")
    for agency, r in summary["agencies"].items():
        typer.echo(
            f"  {agency:<18} {r['status']:<9} {de_int(r['rows_read']):>9} gelesen "
            f"{de_int(r['rows_accepted']):>9} angenommen"
        )
    rejected = [a for a, r in summary["agencies"].items() if r["status"] in ("rejected", "missing")]
    typer.echo(f"Abgelehnt/fehlend: {', '.join(rejected) if rejected else 'keine'}")
    link = summary.get("linkage") or {}
    if link:
        typer.echo(
            f"Verknüpft: {de_int(link.get('records'))} Datensätze -> "
            f"{de_int(link.get('persons'))} Personen ({de_int(link.get('new_persons'))} neu, "
            f"{de_int(link.get('multi_agency_persons'))} in mehreren Stellen)"
        )
    sup = summary.get("suppression") or {}
    typer.echo(
        f"Veröffentlicht: {len(summary.get('marts', []))} Tabellen; geheimgehalten: "
        f"{de_int(sup.get('primary', 0))} primär, {de_int(sup.get('secondary', 0))} sekundär"
    )
    typer.echo(f"Analyse-Datenbank:        {summary['published_db']}")
    typer.echo(f"Verarbeitungsverzeichnis: {summary['register']}")
    typer.echo(f"Qualitätsbericht:         {summary['quality_report']}")
    typer.echo(f"Laufprotokoll:            {summary['run_log']}")
    if summary.get("error"):
        typer.secho(
            f"Fehler: {summary['error']} (Airflow-Log: {summary.get('airflow_log')})",
            fg=typer.colors.RED,
        )


@app.command()
def generate(
    period: Period,
    persons: Annotated[
        int, typer.Option(help="Anzahl Personen der synthetischen Bevölkerung")
    ] = 5000,
    out: Annotated[
        Path | None, typer.Option(help="Zielordner (Standard: Eingang/<Periode>)")
    ] = None,
    truth: Annotated[
        Path | None, typer.Option(help="Ordner für die Grundwahrheit (außerhalb des Eingangs)")
    ] = None,
    seed: int = 20261,
) -> None:
    """Synthetische Monatslieferungen aller Stellen erzeugen."""
    from kiim.generate import generate as gen
    from kiim.pipeline import RunError, check_period

    try:
        check_period(period)
    except RunError as e:
        _fail(str(e))
    ws = Workspace.from_env()
    target = out or ws.inbox_period(period)
    truth_dir = truth or ws.groundtruth
    t0 = time.time()
    result = gen(period, persons, target, truth_dir, seed=seed, config_dir=ws.config_dir)
    for agency, n in sorted(result.rows.items()):
        typer.echo(f"  {agency:<18} {de_int(n):>9} Zeilen")
    typer.echo(
        f"{len(result.files)} Dateien in {target} ({time.time() - t0:.1f} s); Grundwahrheit: {truth_dir}"
    )


@app.command()
def key(
    path: Annotated[
        Path, typer.Option(help="Schlüsseldatei (außerhalb des Repositorys)")
    ] = DEMO_KEY,
) -> None:
    """Neuen Pseudonymisierungsschlüssel anlegen (Datei mit Rechten 0600)."""
    from pseudonymization import create_key_file, key_id

    if path.exists():
        _fail(f"{path} exists; a key is never overwritten (rotate instead)")
    path.parent.mkdir(parents=True, exist_ok=True)
    k = create_key_file(path)
    typer.echo(
        f"Schlüssel angelegt: {path} (Schlüssel-ID {key_id(k)}). Setzen: export KIIM_KEY_FILE={path}"
    )


@app.command()
def run(
    period: Period,
    inbox: Annotated[
        Path | None, typer.Option(help="Eingangsordner (Standard: data/inbox)")
    ] = None,
    agency: Annotated[list[str] | None, typer.Option(help="nur diese Stelle(n)")] = None,
) -> None:
    """Monatslauf über Airflow (eingebettet, SQLite) ausführen und Zusammenfassung zeigen."""
    from kiim.pipeline import RunError, check_period

    try:
        check_period(period)
    except RunError as e:
        _fail(str(e))
    if inbox is not None:
        os.environ["KIIM_INBOX"] = str(inbox.resolve())
    if not os.environ.get("KIIM_SECRET_KEY") and not os.environ.get("KIIM_KEY_FILE"):
        _fail(
            "kein Schlüssel: KIIM_SECRET_KEY oder KIIM_KEY_FILE setzen (neuer Schlüssel: kiim key)"
        )
    summary = run_dag(period, Workspace.from_env(), agency)
    print_summary(summary)
    if summary["status"] == "failed":
        raise typer.Exit(1)


@app.command()
def demo(
    period: Period = "2026-10",
    persons: int = 20_000,
) -> None:
    """Demo: Schlüssel anlegen (falls nötig), synthetischen Monat erzeugen und Monatslauf ausführen."""
    if not os.environ.get("KIIM_SECRET_KEY") and not os.environ.get("KIIM_KEY_FILE"):
        if not DEMO_KEY.exists():
            key(DEMO_KEY)
        os.environ["KIIM_KEY_FILE"] = str(DEMO_KEY)
    t0 = time.time()
    generate(period=period, persons=persons, out=None, truth=None, seed=20261)
    run(period=period, inbox=None, agency=None)
    report_cli(period=period, out=None)
    typer.echo(f"Demo fertig in {time.time() - t0:.0f} s. Abfragen: uv run kiim sql")


@app.command()
def sql(
    query: Annotated[
        str | None, typer.Argument(help="SQL-Abfrage; ohne: interaktive Eingabe")
    ] = None,
    db: Annotated[
        Path | None, typer.Option(help="Datenbank (Standard: veröffentlichte Analyse-DB)")
    ] = None,
) -> None:
    """Die veröffentlichte Analyse-Datenbank schreibgeschützt abfragen."""
    import duckdb

    path = db or Workspace.from_env().published_db
    if not path.exists():
        _fail(f"{path} gibt es noch nicht: zuerst einen Monatslauf ausführen (kiim run)")
    con = duckdb.connect(str(path), read_only=True)

    def show(q: str) -> None:
        try:
            con.sql(q).show(max_rows=200, max_width=200)
        except duckdb.Error as e:
            typer.secho(str(e), fg=typer.colors.RED, err=True)

    if query:
        show(query)
        return
    with contextlib.suppress(ImportError):
        import readline  # noqa: F401  (line editing and history)
    typer.echo(f"{path} (nur lesen). Tabellen: SHOW TABLES; Ende: .quit oder Strg-D")
    buf = ""
    while True:
        try:
            line = input("kiim> " if not buf else "  ..> ")
        except EOFError:
            break
        if line.strip() in (".quit", ".exit", "\\q"):
            break
        buf += line + "\n"
        if buf.strip().endswith(";"):
            show(buf)
            buf = ""


@app.command()
def register() -> None:
    """Verarbeitungsverzeichnis (Art. 30 DSGVO) neu erzeugen."""
    from kiim.register import write_workspace_register

    paths = write_workspace_register(Workspace.from_env())
    typer.echo(
        f"Verzeichnis: {paths.html}\n             {paths.markdown}\n             {paths.json}"
    )


@app.command()
def bench(
    persons: Annotated[int, typer.Option(help="Personen der synthetischen Bevölkerung")] = 200_000,
    months: Annotated[int, typer.Option(help="Anzahl aufeinanderfolgender Monate")] = 1,
    out: Annotated[
        Path | None, typer.Option(help="Ergebnisordner (Standard: <KIIM_HOME>/docs/bench)")
    ] = None,
    scratch: Annotated[
        Path | None, typer.Option(help="Arbeitsordner (Standard: <KIIM_HOME>/bench_run)")
    ] = None,
    airflow: Annotated[
        bool, typer.Option(help="den letzten Monat auch über Airflow laufen lassen")
    ] = True,
) -> None:
    """Benchmark: alle Stufen eines Monats messen (Zeit, CPU, Speicher) und vergleichen."""
    import shutil

    from kiim.bench import run_bench, to_markdown, write_bench

    ws = Workspace.from_env()
    root = (scratch or ws.root / "bench_run").resolve()
    out_dir = (out or ws.docs / "bench").resolve()
    shutil.rmtree(root, ignore_errors=True)
    typer.echo(
        f"Benchmark {de_int(persons)} Personen, {months} Monat(e), Arbeitsordner {root}", err=True
    )
    result = run_bench(persons, months, root=root, with_airflow=airflow)
    json_path, md_path = write_bench(result, out_dir)
    typer.echo(to_markdown(result))
    typer.echo(f"Ergebnisse: {json_path}\n            {md_path}")
    shutil.rmtree(root, ignore_errors=True)


app.command("report")(report_cli)
app.command("retention")(retention_cli)
app.command("rotate-key")(rotation_cli)


@app.command("eval-linkage")
def eval_linkage(
    period: Period,
    truth: Annotated[
        Path | None,
        typer.Option(help="Ordner der Grundwahrheit (Standard: <KIIM_HOME>/groundtruth)"),
    ] = None,
) -> None:
    """Verknüpfungsgüte eines Monats gegen die Grundwahrheit (nur synthetische Daten)."""
    from kiim.fmt import de_num
    from kiim.linkage_eval import ERROR_TYPES_DE, LOOKALIKES_DE, evaluate_linkage
    from kiim.pipeline import RunError, check_period
    from pseudonymization import MissingKeyError, load_key

    try:
        check_period(period)
    except RunError as e:
        _fail(str(e))
    ws = Workspace.from_env()
    truth_dir = truth or ws.groundtruth
    if not (truth_dir / period / "records.parquet").exists():
        _fail(f"keine Grundwahrheit für {period} in {truth_dir} (nur für erzeugte Daten vorhanden)")
    if not ws.warehouse_db.exists():
        _fail(f"kein Warehouse unter {ws.warehouse_db}; zuerst den Monatslauf ausführen")
    try:
        master = load_key()
    except MissingKeyError as e:
        _fail(str(e))
    r = evaluate_linkage(ws.warehouse_db, truth_dir, period, master)

    def pct(x: float) -> str:
        return "–" if x != x else f"{de_num(100 * x, 2)} %"

    typer.echo(f"Verknüpfungsgüte {period} (paarweise gegen die Grundwahrheit)")
    typer.echo(f"  Datensätze:                {de_int(r['records']):>12}")
    typer.echo(f"  Präzision:                 {pct(r['precision']):>12}")
    typer.echo(f"  Trefferquote (Recall):     {pct(r['recall']):>12}")
    typer.echo(f"  F1:                        {de_num(r['f1'], 4):>12}")
    typer.echo(
        f"  Falsche Zusammenführungen: {de_int(r['false_merges']):>12} Paare "
        f"({de_int(r['keys_merging_persons'])} Personenschlüssel mit mehreren Personen)"
    )
    typer.echo(
        f"  Verpasste Verknüpfungen:   {de_int(r['missed_links']):>12} Paare "
        f"({de_int(r['persons_split'])} Personen mit mehreren Schlüsseln)"
    )
    if r["unmatched_truth_records"]:
        typer.echo(
            f"  Nicht im Warehouse:        {de_int(r['unmatched_truth_records']):>12} Datensätze "
            "(abgelehnte oder fehlende Lieferungen)"
        )
    typer.echo("Doppelgänger, die getrennt bleiben müssen (Paare im Monat / verknüpft):")
    for kind, v in r["lookalikes"].items():
        typer.echo(f"  {LOOKALIKES_DE[kind]:<34} {de_int(v['pairs']):>9}  {de_int(v['merged']):>9}")
    typer.echo("Recall je Fehlerart (Datensätze mit diesem Fehler):")
    for kind, v in r["recall_by_error_type"].items():
        if v["records"]:
            typer.echo(
                f"  {ERROR_TYPES_DE.get(kind, kind):<34} {de_int(int(v['records'])):>9}  "
                f"{pct(float(v['recall'])):>9}"
            )


def main() -> None:  # pragma: no cover
    app()


if __name__ == "__main__":  # pragma: no cover
    main()
