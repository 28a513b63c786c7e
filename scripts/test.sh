#!/usr/bin/env bash
# Run the whole test suite (unit, integration against the emulator, example DAGs with
# `airflow dags test`) on Airflow 3.3 and then on Airflow 2.11.
#   scripts/test.sh            both lines
#   scripts/test.sh af3 -k hook   one line, extra pytest arguments (-n 0: no parallel workers)
# pytest runs on TEST_WORKERS pytest-xdist workers (default 2, the CI machine's cores); tests/README.md says
# how a test that cannot run beside others is marked.
set -uo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
lines=(af3 af2)
if [ "${1:-}" = af3 ] || [ "${1:-}" = af2 ]; then lines=("$1"); shift; fi
status=0
for line in "${lines[@]}"; do
  venv="$(scripts/env.sh "$line")" || exit 1
  echo "=== Airflow $("$venv/bin/python" -c 'import airflow; print(airflow.__version__)' 2>/dev/null) ($line) ==="
  "$venv/bin/ruff" check airflow_provider_metrika tests example_dags benchmarks scripts || status=1
  "$venv/bin/ruff" format --check airflow_provider_metrika tests example_dags benchmarks scripts || status=1
  "$venv/bin/python" -m pytest -q -p no:cacheprovider -n "${TEST_WORKERS:-2}" --dist loadgroup "$@" || status=1
done
exit $status
