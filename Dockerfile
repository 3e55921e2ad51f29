# syntax=docker/dockerfile:1
#
# kiim production image: the official Apache Airflow image plus kiim and its locked
# dependencies. Built by `docker compose build` (see docs/deployment.md).
#
# The Airflow version in the FROM line must equal the apache-airflow pin in pyproject.toml;
# tests/test_docker_compose.py checks that. The "slim" variant carries core Airflow only, so
# the image holds exactly: Airflow (from the base image), every runtime package from uv.lock,
# and the three providers the deployment needs (PostgreSQL, Celery, FAB auth manager).

###############################################################################################
# Stage 1: turn uv.lock into pinned requirement files. Airflow's own distributions are left
# out: the base image already has them and they must not be replaced by another build.
###############################################################################################
FROM python:3.11-slim-bookworm AS requirements

# Same uv as the one that wrote uv.lock (lock format revision 5)
RUN pip install --no-cache-dir "uv==0.13.9"

WORKDIR /src
COPY pyproject.toml uv.lock ./

# requirements.txt (with hashes) is what gets installed; constraints.txt holds the same pins
# without hashes and keeps the provider install below from moving any of them.
# $skip is split into separate arguments on purpose.
# hadolint ignore=SC2086
RUN set -eu; \
    mkdir /export; \
    skip=""; \
    for package in $(sed -n 's/^name = "\(apache-airflow[^"]*\)"$/\1/p' uv.lock); do \
        skip="$skip --no-emit-package $package"; \
    done; \
    uv export --frozen --no-dev --no-emit-project $skip -o /export/requirements.txt; \
    uv export --frozen --no-dev --no-emit-project --no-hashes --no-annotate --no-header $skip \
        -o /export/constraints.txt; \
    if grep -qi '^apache-airflow' /export/requirements.txt; then \
        echo "uv export still lists an Airflow distribution" >&2; exit 1; \
    fi

###############################################################################################
# Stage 2: the runtime image
###############################################################################################
FROM apache/airflow:slim-3.3.2-python3.11

# Offline operation: no usage tracking, no telemetry, no downloads at run time (DESIGN §10)
ENV DO_NOT_TRACK=1 \
    DBT_SEND_ANONYMOUS_USAGE_STATS=false \
    AIRFLOW__COSMOS__ENABLE_TELEMETRY=False \
    TLDEXTRACT_PUBLIC_SUFFIX_LIST_URLS="" \
    AIRFLOW__CORE__LOAD_EXAMPLES=false \
    PYTHONUNBUFFERED=1

# Where kiim finds its zones, configuration, DAGs and dbt project inside the container
ENV KIIM_HOME=/opt/kiim/data \
    KIIM_CONFIG_DIR=/opt/kiim/config \
    KIIM_DBT_PROJECT_DIR=/opt/kiim/dbt_project \
    KIIM_EXPECTATIONS_DIR=/opt/kiim/expectations \
    AIRFLOW__CORE__DAGS_FOLDER=/opt/kiim/dags

# Providers needed by docker-compose.yml but not by kiim itself (hence not in uv.lock).
# Versions resolved against uv.lock's pins for Airflow 3.3.2; change together with the FROM line.
ARG PROVIDER_POSTGRES=7.1.1
ARG PROVIDER_CELERY=3.26.0
ARG PROVIDER_FAB=3.10.2

# Root only for copying files and setting owners; the runtime user is set again below
USER 0

COPY --from=requirements /usr/local/bin/uv /usr/local/bin/uv
COPY --from=requirements /export/ /opt/kiim-requirements/

# Project code: owned by root, read-only for the runtime user. The whitelist in .dockerignore
# keeps data, keys and credentials out of the build context.
COPY . /opt/kiim/

# Zone folders exist in the image so that fresh named volumes start with the right owner and
# mode (Docker copies both into an empty volume). dbt writes target/ and logs/ into its
# project folder, so that one folder belongs to the runtime user.
RUN set -eu; \
    chmod -R a+rX,go-w /opt/kiim /opt/kiim-requirements; \
    for zone in inbox quarantine pseudonymised warehouse published docs .staging; do \
        mkdir -p "/opt/kiim/data/${zone}"; \
    done; \
    mkdir -p /opt/kiim/dbt_project; \
    chown -R airflow:0 /opt/kiim/data /opt/kiim/dbt_project; \
    chmod -R u=rwX,g=rwX,o= /opt/kiim/data; \
    chmod -R g+rwX /opt/kiim/dbt_project

# The official image's airflow user (UID 50000, group 0)
USER 50000

# numba keeps the compiled encoding kernels here (the project folder is read-only at run time);
# the build below fills it, so tasks load them instead of compiling (~20 s) on first use
ENV NUMBA_CACHE_DIR=/home/airflow/.cache/numba

# Install into the image's Airflow environment (VIRTUAL_ENV=/home/airflow/.local):
# 1. every runtime dependency at its uv.lock version, hashes verified;
# 2. the deployment providers, constrained to the same pins and to the image's Airflow;
# 3. kiim itself, editable, so that its repository root resolves to /opt/kiim;
# then fail the build if Airflow changed version or any installed requirement conflicts, and
# compile kiim's encoding kernels into NUMBA_CACHE_DIR.
RUN set -eu; \
    /usr/local/bin/uv pip install --no-cache -r /opt/kiim-requirements/requirements.txt; \
    /usr/local/bin/uv pip install --no-cache -c /opt/kiim-requirements/constraints.txt \
        "apache-airflow==${AIRFLOW_VERSION}" \
        "apache-airflow-providers-postgres==${PROVIDER_POSTGRES}" \
        "apache-airflow-providers-celery==${PROVIDER_CELERY}" \
        "apache-airflow-providers-fab==${PROVIDER_FAB}"; \
    /usr/local/bin/uv pip install --no-cache --no-deps -e /opt/kiim; \
    python -c "import importlib.metadata as m, os, sys; v = m.version('apache-airflow'); sys.exit(0 if v == os.environ['AIRFLOW_VERSION'] else f'Airflow changed to {v}')"; \
    /usr/local/bin/uv pip check; \
    python -c "from pseudonymization import _kernels; _kernels.warm_up()"

WORKDIR /opt/airflow

# Never run as root. Numeric, so that runtimes enforcing a non-root user can check it;
# docker-compose.yml may replace the UID (AIRFLOW_UID) but always keeps group 0.
USER 50000
