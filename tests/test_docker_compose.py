"""Static checks of the production deployment files.

No Docker engine runs on the development machines (DESIGN §10), so docker-compose.yml, the
Dockerfile, .env.example and the ignore files are checked by reading them: the services a
district needs, least-privilege access to the data zones, the pseudonymisation key as a
Docker secret, no credential in the repository, and an image that matches the locked
Airflow version and runs offline as a non-root user. `docker compose config` is not needed.
"""

from __future__ import annotations

import re
import shlex
import shutil
import subprocess
import tomllib
from collections.abc import Iterator, Mapping
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
COMPOSE_FILE = ROOT / "docker-compose.yml"
ENV_EXAMPLE = ROOT / ".env.example"
DOCKERFILE = ROOT / "Dockerfile"

CORE_SERVICES = {
    "postgres",
    "airflow-init",
    "api-server",
    "scheduler",
    "dag-processor",
    "triggerer",
}
CELERY_SERVICES = {"redis", "airflow-worker"}
# Services that run kiim tasks: LocalExecutor runs them in the scheduler, Celery in the worker
TASK_RUNNERS = {"scheduler", "airflow-worker"}
ONE_SHOT = {"airflow-init", "analyst"}
ZONES = ("inbox", "quarantine", "pseudonymised", "warehouse", "published", "docs")
ZONE_ROOT = "/opt/kiim/data"
KEY_TARGET = "/run/secrets/kiim_key"
OFFLINE_ENV = {
    "DO_NOT_TRACK": "1",
    "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
    "AIRFLOW__COSMOS__ENABLE_TELEMETRY": "False",
    "TLDEXTRACT_PUBLIC_SUFFIX_LIST_URLS": "",
    "AIRFLOW__CORE__LOAD_EXAMPLES": "false",
}
# Variable names that carry a credential (KIIM_KEY_FILE is a path, not a secret)
SECRET_NAME = re.compile(r"PASSWORD|SECRET|FERNET|JWT|TOKEN|REDISCLI_AUTH|_KEY$")
REFERENCE = re.compile(r"\$\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?:(?P<op>:?[-?])(?P<arg>[^}]*))?\}")


class MissingVariable(Exception):
    """A `${VAR:?message}` reference met an unset or empty variable: compose would stop."""


def interpolate(text: str, env: Mapping[str, str]) -> str:
    """Resolve compose variable references the way `docker compose` does for this file.

    Supports `${VAR}`, `${VAR:-default}`, `${VAR-default}`, `${VAR:?err}`, `${VAR?err}`
    and the `$$` escape.
    """

    def resolve(match: re.Match[str]) -> str:
        name, op, arg = match["name"], match["op"], match["arg"] or ""
        value = env.get(name)
        present = bool(value) if op in (":-", ":?") else value is not None
        if op in (":?", "?") and not present:
            raise MissingVariable(f"{name}: {arg}")
        if op in (":-", "-") and not present:
            return arg
        return value or ""

    parts = text.split("$$")
    return "$".join(REFERENCE.sub(resolve, part) for part in parts)


def references(text: str) -> Iterator[re.Match[str]]:
    """All `${...}` references in a string, escaped `$$` excluded."""
    for part in text.split("$$"):
        yield from REFERENCE.finditer(part)


@cache
def compose() -> dict[str, Any]:
    data = yaml.safe_load(COMPOSE_FILE.read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    return data


def services() -> dict[str, dict[str, Any]]:
    return compose()["services"]


@cache
def env_example() -> dict[str, str]:
    values: dict[str, str] = {}
    for line in ENV_EXAMPLE.read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        key, sep, value = line.partition("=")
        assert sep, f".env.example line without '=': {line!r}"
        values[key.strip()] = value.strip()
    return values


def filled_env() -> dict[str, str]:
    """.env.example with a dummy value in each empty (required) entry, as an operator's .env."""
    return {key: value or f"dummy-{key.lower()}" for key, value in env_example().items()}


def environment(service: Mapping[str, Any]) -> dict[str, str]:
    env = service.get("environment") or {}
    if isinstance(env, list):
        pairs = (item.partition("=") for item in env)
        return {key: value for key, _, value in pairs}
    return {str(key): "" if value is None else str(value) for key, value in env.items()}


def profiles(service: Mapping[str, Any]) -> set[str]:
    return set(service.get("profiles") or [])


def mounts(service: Mapping[str, Any]) -> dict[str, tuple[str, bool]]:
    """Container path -> (source volume or path, read-only) for the short volume syntax."""
    result: dict[str, tuple[str, bool]] = {}
    for entry in service.get("volumes") or []:
        if isinstance(entry, dict):
            result[entry["target"]] = (entry["source"], bool(entry.get("read_only")))
            continue
        source, target, *options = entry.split(":")
        result[target] = (source, "ro" in options)
    return result


def secret_names(service: Mapping[str, Any]) -> set[str]:
    return {s if isinstance(s, str) else s["source"] for s in service.get("secrets") or []}


def all_strings(node: Any) -> Iterator[str]:
    if isinstance(node, str):
        yield node
    elif isinstance(node, dict):
        for key, value in node.items():
            yield str(key)
            yield from all_strings(value)
    elif isinstance(node, list):
        for item in node:
            yield from all_strings(item)


# --- docker-compose.yml ----------------------------------------------------------------------


def test_core_services_run_without_a_profile() -> None:
    for name in CORE_SERVICES:
        assert name in services(), f"missing service {name}"
        assert not profiles(services()[name]), f"{name} must start without a profile"


def test_redis_and_worker_belong_to_the_celery_profile() -> None:
    for name in CELERY_SERVICES:
        assert name in services(), f"missing service {name}"
        assert "celery" in profiles(services()[name])
    worker = services()["airflow-worker"]
    assert "redis" in worker["depends_on"]
    assert "celery worker" in str(worker["command"])


def test_no_always_on_service_depends_on_a_profiled_one() -> None:
    # compose refuses to start when an enabled service depends on a disabled one
    for name, service in services().items():
        if profiles(service):
            continue
        for dependency in service.get("depends_on") or {}:
            assert not profiles(services()[dependency]), f"{name} -> {dependency}"


def test_local_executor_is_the_default() -> None:
    airflow_services = {
        name: env
        for name, service in services().items()
        if "AIRFLOW__CORE__EXECUTOR" in (env := environment(service))
    }
    assert TASK_RUNNERS | {"api-server", "dag-processor", "triggerer"} <= set(airflow_services)
    for name, env in airflow_services.items():
        executor = env["AIRFLOW__CORE__EXECUTOR"]
        assert interpolate(executor, {}) == "LocalExecutor", name
        assert interpolate(executor, filled_env()) == "LocalExecutor", name
        switched = {**filled_env(), "AIRFLOW_EXECUTOR": "CeleryExecutor"}
        assert interpolate(executor, switched) == "CeleryExecutor", name


def test_components_reach_the_execution_api_of_the_api_server() -> None:
    for name in ("scheduler", "dag-processor", "triggerer", "airflow-worker"):
        url = environment(services()[name])["AIRFLOW__CORE__EXECUTION_API_SERVER_URL"]
        assert url == "http://api-server:8080/execution/", name


def test_metadata_database_is_postgres() -> None:
    assert services()["postgres"]["image"].startswith("postgres:")
    for name in ("scheduler", "api-server", "airflow-init"):
        conn = interpolate(
            environment(services()[name])["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"], filled_env()
        )
        assert conn.startswith("postgresql+psycopg2://") and "@postgres:5432/" in conn


def test_every_long_running_service_has_a_healthcheck() -> None:
    long_running = {name for name in services() if name not in ONE_SHOT}
    assert CORE_SERVICES - {"airflow-init"} <= long_running
    for name in long_running:
        service = services()[name]
        check = service.get("healthcheck")
        assert check and check.get("test") and not check.get("disable"), f"{name}: no healthcheck"
        assert service.get("restart") in ("always", "unless-stopped"), f"{name}: no restart"
    for name in ONE_SHOT:
        assert services()[name].get("restart") == "no", name


def test_long_running_services_wait_for_a_migrated_database() -> None:
    for name in ("api-server", "scheduler", "dag-processor", "triggerer", "airflow-worker"):
        depends = services()[name]["depends_on"]
        assert depends["postgres"]["condition"] == "service_healthy", name
        assert depends["airflow-init"]["condition"] == "service_completed_successfully", name


def test_api_server_publishes_port_8080() -> None:
    published = []
    for entry in services()["api-server"]["ports"]:
        *host, container = interpolate(str(entry), filled_env()).split(":")
        published.append((host[-1] if host else None, container))
    assert ("8080", "8080") in published


def test_each_zone_is_its_own_volume_mounted_in_the_task_runners() -> None:
    declared = set(compose()["volumes"])
    sources = set()
    for runner in TASK_RUNNERS:
        runner_mounts = mounts(services()[runner])
        for zone in ZONES:
            source, read_only = runner_mounts[f"{ZONE_ROOT}/{zone}"]
            assert source in declared, f"{runner}: {zone} is not a named volume"
            assert not read_only, f"{runner} must write the {zone} zone"
            sources.add((zone, source))
    # one volume per zone, the same in every task runner
    assert len({source for _, source in sources}) == len(ZONES) == len(sources)


def test_services_that_run_no_tasks_see_no_zone() -> None:
    for name in ("api-server", "triggerer", "postgres", "redis"):
        targets = mounts(services()[name])
        assert not [t for t in targets if t.startswith(ZONE_ROOT)], name
    # the dag-processor runs DAG failure callbacks, which append to the run log: docs zone only
    assert set(mounts(services()["dag-processor"])) == {f"{ZONE_ROOT}/docs"}


def test_readers_mount_zones_read_only() -> None:
    zone_targets = {f"{ZONE_ROOT}/{zone}" for zone in ZONES}
    readers = {
        name for name in services() if name not in TASK_RUNNERS | {"airflow-init", "dag-processor"}
    }
    seen = set()
    for name in readers:
        for target, (_, read_only) in mounts(services()[name]).items():
            if target in zone_targets:
                assert read_only, f"{name} mounts {target} writable"
                seen.add(target.rsplit("/", 1)[1])
    # auditors read docs, analysts read published
    assert {"docs", "published"} <= seen
    assert set(mounts(services()["analyst"])) == {f"{ZONE_ROOT}/published"}


def test_key_is_a_secret_given_only_to_task_runners() -> None:
    assert compose()["secrets"]["kiim_key"] == {"file": "./secrets/kiim.key"}
    holders = {name for name, service in services().items() if "kiim_key" in secret_names(service)}
    assert holders == TASK_RUNNERS
    for name, service in services().items():
        # the secret itself never travels through the environment
        assert "KIIM_SECRET_KEY" not in environment(service), name
        key_file = environment(service).get("KIIM_KEY_FILE")
        if name in TASK_RUNNERS:
            assert key_file == KEY_TARGET, name
        else:
            assert key_file is None, f"{name} must not be told where the key is"


def test_secret_file_placeholder_exists() -> None:
    assert (ROOT / "secrets" / ".gitkeep").is_file()


def test_no_credential_is_written_into_the_compose_file() -> None:
    env_credentials = {v for k, v in filled_env().items() if SECRET_NAME.search(k)}
    checked = 0
    for name, service in services().items():
        for key, value in environment(service).items():
            if SECRET_NAME.search(key) and not key.endswith("_FILE"):
                refs = list(references(value))
                assert refs and REFERENCE.sub("", value) == "", f"{name}.{key} is literal"
                assert all(ref["op"] == ":?" for ref in refs), f"{name}.{key} has a default"
                checked += 1
            if "://" in value:
                # a password inside a URL must be one of the credentials taken from .env
                password = urlsplit(interpolate(value, filled_env())).password
                if password is not None:
                    assert password in env_credentials, f"{name}.{key}: literal password"
                    checked += 1
    assert checked >= 10


def test_missing_credentials_stop_compose() -> None:
    secrets = [key for key in env_example() if SECRET_NAME.search(key)]
    assert {"POSTGRES_PASSWORD", "REDIS_PASSWORD", "AIRFLOW_FERNET_KEY"} <= set(secrets)
    text = COMPOSE_FILE.read_text(encoding="utf-8")
    for secret in secrets:
        env = {**filled_env(), secret: ""}
        with pytest.raises(MissingVariable, match=secret):
            interpolate(text, env)
    # and a complete .env resolves everything
    interpolate(text, filled_env())


def test_env_example_names_every_variable_the_compose_file_uses() -> None:
    used = {ref["name"] for text in all_strings(compose()) for ref in references(text)}
    assert used, "the compose file should be configured through variables"
    missing = used - set(env_example())
    assert not missing, f"add to .env.example: {sorted(missing)}"


def test_env_example_holds_no_credential() -> None:
    for key, value in env_example().items():
        if SECRET_NAME.search(key):
            assert value == "", f".env.example must leave {key} empty"


def test_compose_services_run_offline() -> None:
    for name in ("scheduler", "airflow-worker", "dag-processor", "api-server"):
        env = environment(services()[name])
        for key, value in OFFLINE_ENV.items():
            assert env.get(key) == value, f"{name}: {key}"


# --- Dockerfile ------------------------------------------------------------------------------


def instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with continuation lines joined and comments dropped."""
    result: list[tuple[str, str]] = []
    pending = ""
    for raw in DOCKERFILE.read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if line.startswith("#") or (not line and not pending):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        pending += line
        keyword, _, args = pending.partition(" ")
        result.append((keyword.upper(), args.strip()))
        pending = ""
    return result


def final_stage() -> list[tuple[str, str]]:
    steps = instructions()
    last_from = max(i for i, (keyword, _) in enumerate(steps) if keyword == "FROM")
    return steps[last_from:]


def dockerfile_env() -> dict[str, str]:
    env: dict[str, str] = {}
    for keyword, args in final_stage():
        if keyword == "ENV":
            for item in shlex.split(args):
                key, _, value = item.partition("=")
                env[key] = value
    return env


def pinned_airflow() -> str:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    for requirement in project["project"]["dependencies"]:
        if (match := re.fullmatch(r"apache-airflow==([\w.]+)", requirement.strip())) is not None:
            return match[1]
    raise AssertionError("pyproject.toml does not pin apache-airflow==X")


def test_base_image_is_the_official_airflow_image_of_the_pinned_version() -> None:
    image = final_stage()[0][1].split()[0]
    match = re.fullmatch(
        r"apache/airflow:(?:slim-)?(?P<version>[\w.]+)-python(?P<py>3\.\d+)", image
    )
    assert match, f"unexpected base image {image}"
    assert match["version"] == pinned_airflow()
    assert match["py"] == "3.11"


def test_image_runs_offline_and_finds_the_kiim_folders() -> None:
    env = dockerfile_env()
    for key, value in OFFLINE_ENV.items():
        assert env.get(key) == value, key
    assert env["KIIM_HOME"] == ZONE_ROOT
    assert env["KIIM_CONFIG_DIR"] == "/opt/kiim/config"
    assert env["AIRFLOW__CORE__DAGS_FOLDER"] == "/opt/kiim/dags"
    compose_env = environment(services()["scheduler"])
    for key in ("KIIM_HOME", "KIIM_CONFIG_DIR", "AIRFLOW__CORE__DAGS_FOLDER"):
        assert compose_env[key] == env[key], key


def test_image_does_not_run_as_root() -> None:
    users = [args.split()[0] for keyword, args in final_stage() if keyword == "USER"]
    assert users, "the final stage must set USER"
    assert users[-1].split(":")[0] not in ("root", "0")


def test_image_installs_the_locked_dependencies_without_replacing_airflow() -> None:
    text = " ".join(args for keyword, args in instructions() if keyword in ("RUN", "COPY"))
    assert "pyproject.toml uv.lock" in text
    assert "uv export --frozen --no-dev" in text
    assert "--no-emit-package" in text
    assert '"apache-airflow==${AIRFLOW_VERSION}"' in text


@pytest.mark.skipif(shutil.which("uv") is None, reason="uv not on PATH")
def test_locked_requirements_leave_airflow_to_the_base_image() -> None:
    lock = (ROOT / "uv.lock").read_text(encoding="utf-8")
    airflow = re.findall(r'^name = "(apache-airflow[^"]*)"$', lock, flags=re.MULTILINE)
    assert "apache-airflow" in airflow
    skip = [arg for name in airflow for arg in ("--no-emit-package", name)]
    command = ["uv", "export", "--frozen", "--no-dev", "--no-emit-project", "--no-hashes", *skip]
    exported = subprocess.run(
        command, cwd=ROOT, check=True, capture_output=True, text=True, timeout=120
    ).stdout
    pins = {
        line.split("==")[0].lower() for line in exported.splitlines() if "==" in line.split(";")[0]
    }
    assert not {pin for pin in pins if pin.startswith("apache-airflow")}
    assert {"duckdb", "dbt-core", "dbt-duckdb", "great-expectations", "presidio-analyzer"} <= pins
    assert not {"pytest", "ruff", "mypy"} & pins


# --- keeping secrets and data out of git and out of the image --------------------------------


@pytest.mark.skipif(not (ROOT / ".git").exists(), reason="not a git checkout")
def test_git_ignores_keys_and_env_but_keeps_the_templates() -> None:
    def ignored(path: str) -> bool:
        run = subprocess.run(["git", "check-ignore", "-q", path], cwd=ROOT, check=False)
        return run.returncode == 0

    assert ignored("secrets/kiim.key")
    assert ignored("secrets/kiim.key.bak")
    assert ignored(".env")
    assert not ignored(".env.example")
    assert not ignored("secrets/.gitkeep")


def test_build_context_is_a_whitelist() -> None:
    patterns = [
        line.strip()
        for line in (ROOT / ".dockerignore").read_text(encoding="utf-8").splitlines()
        if line.strip() and not line.startswith("#")
    ]
    assert patterns[0] == "*"
    included = {p[1:].rstrip("/") for p in patterns if p.startswith("!")}
    assert not included & {"data", ".kiim", "secrets", ".env", ".venv", "."}
    assert {"kiim", "pseudonymization", "pyproject.toml", "uv.lock", "README.md"} <= included
