"""Shared fixtures. Offline switches are set before anything imports presidio, dbt or airflow."""

from __future__ import annotations

import os

for _k, _v in {
    "DO_NOT_TRACK": "1",
    "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
    "AIRFLOW__COSMOS__ENABLE_TELEMETRY": "False",
    "TLDEXTRACT_PUBLIC_SUFFIX_LIST_URLS": "",
    "AIRFLOW__CORE__LOAD_EXAMPLES": "false",
    "OPENBLAS_NUM_THREADS": "1",
}.items():
    os.environ.setdefault(_k, _v)

if "AIRFLOW_HOME" not in os.environ:
    import tempfile

    # Importing airflow creates AIRFLOW_HOME; never let tests write into the user's ~/airflow.
    os.environ["AIRFLOW_HOME"] = tempfile.mkdtemp(prefix="kiim_airflow_")
