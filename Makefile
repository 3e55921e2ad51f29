# The two commands of the README: `make demo` and `make test`. Both install what they need.
SHELL := /bin/bash
export DO_NOT_TRACK := 1
export DBT_SEND_ANONYMOUS_USAGE_STATS := false
export AIRFLOW__COSMOS__ENABLE_TELEMETRY := False
export TLDEXTRACT_PUBLIC_SUFFIX_LIST_URLS :=
export AIRFLOW__CORE__LOAD_EXAMPLES := false
export OPENBLAS_NUM_THREADS := 1

PERIOD ?= 2026-10
# 20 000 persons: in much smaller synthetic districts the joint disclosure control withholds
# even district totals of the headline indicators (docs/indicators.md, "Known limits")
PERSONS ?= 20000
BENCH_PERSONS ?= 200000
UV := $(shell command -v uv 2>/dev/null || echo "python3 -m uv")

.PHONY: setup demo test lint bench clean

setup:
	@$(UV) --version >/dev/null 2>&1 || python3 -m pip install --quiet "uv>=0.9"
	@$(UV) sync --frozen --quiet --compile-bytecode

demo: setup
	$(UV) run kiim demo --period $(PERIOD) --persons $(PERSONS)

lint: setup
	$(UV) run ruff check .
	$(UV) run ruff format --check .
	$(UV) run mypy

test: lint
	$(UV) run pytest

bench: setup
	$(UV) run kiim bench --persons $(BENCH_PERSONS)

clean:
	rm -rf data .pytest_cache .mypy_cache .ruff_cache dbt_project/target dbt_project/logs
