#!/usr/bin/env bash
# Release hygiene: build the sdist and wheel, check their metadata (twine check --strict: the README
# must render on PyPI), then install the wheel alone into a clean virtualenv per Airflow line (pinned by
# constraints/<line>.txt, from the shared uv cache) and check that `airflow providers list` shows the
# provider and that the example DAGs parse there.
#   scripts/package_check.sh          both lines
#   scripts/package_check.sh af3      one line
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
lines=("${@:-af3 af2}")
read -r -a lines <<< "${lines[*]}"
scripts/env.sh af3 >/dev/null  # bootstraps .venv/tools/bin/uv
uv="$root/.venv/tools/bin/uv"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
"$uv" build -q --sdist --wheel -o "$work/dist" . >/dev/null
"$uv" tool run -q twine check --strict "$work"/dist/*
wheel="$(ls "$work"/dist/*.whl)"
for line in "${lines[@]}"; do
  venv="$work/$line"
  "$uv" venv -q -p "${PYTHON:-python3.11}" "$venv"
  VIRTUAL_ENV="$venv" "$uv" pip install -q -c "constraints/$line.txt" "$wheel" apache-airflow-providers-sqlite
  # The examples import their helper modules from their own folder, as Airflow's dags folder allows.
  export AIRFLOW_HOME="$work/home-$line" AIRFLOW__CORE__LOAD_EXAMPLES=False \
    AIRFLOW__CORE__DAGS_FOLDER="$root/example_dags" PYTHONPATH="$root/example_dags"
  listed="$("$venv/bin/airflow" providers list 2>/dev/null | grep '^airflow-provider-metrika ' || true)"
  [ -n "$listed" ] || { echo "package check ($line): airflow providers list does not show the provider" >&2; exit 1; }
  echo "package check ($line): $listed"
  (cd "$work" && "$venv/bin/python" - "$root/example_dags" <<'PY'
import sys
try:
    from airflow.dag_processing.dagbag import DagBag
except ImportError:  # Airflow 2
    from airflow.models import DagBag
try:
    bag = DagBag(dag_folder=sys.argv[1], include_examples=False)
except TypeError:  # Airflow 3.3 dropped the argument
    bag = DagBag(dag_folder=sys.argv[1])
if bag.import_errors or not bag.dag_ids:
    sys.exit(f"example DAGs do not parse with the installed wheel: {bag.import_errors}")
print(f"package check: {len(bag.dag_ids)} example DAGs parse with the installed wheel")
PY
  )
done
