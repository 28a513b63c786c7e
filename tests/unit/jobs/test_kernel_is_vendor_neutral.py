"""The import-job kernel (``airflow_provider_metrika.jobs``) imports no vendor module: vendors stand on it."""

from __future__ import annotations

import pkgutil
import subprocess
import sys

import airflow_provider_metrika.jobs as kernel

#: Modules that belong to one vendor (Metrika's formats, upload kinds and hooks; the other vendors' packages).
VENDOR_MODULES = (
    "airflow_provider_metrika.formats",
    "airflow_provider_metrika.uploads",
    "airflow_provider_metrika.assets",
    "airflow_provider_metrika.lineage",
    "airflow_provider_metrika.hooks.metrika",
    "airflow_provider_metrika.operators",
    "airflow_provider_metrika.sensors",
    "airflow_provider_metrika.triggers",
    "airflow_provider_metrika.commercelayer",
    "airflow_provider_metrika.fleetio",
)


def test_importing_every_kernel_module_loads_no_vendor_module():
    modules = [f"airflow_provider_metrika.jobs.{m.name}" for m in pkgutil.iter_modules(kernel.__path__)]
    code = (
        "import importlib, sys\n"
        f"for name in {modules!r}: importlib.import_module(name)\n"
        f"print('\\n'.join(m for m in sys.modules if m.startswith({VENDOR_MODULES!r})))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.split() == []
