#!/usr/bin/env bash
# The example DAG in real Airflow deployments against the Metrika emulator, with SIGKILLed triggerers, tasks
# and emulator: Airflow 3.3 with the LocalExecutor (and triggerer queues), Airflow 3.3 with the CeleryExecutor
# (two workers, Redis), Airflow 2.11 with the SequentialExecutor. See scripts/deployment_test.py.
# Prints a PASS/FAIL table per deployment and one summary line; exits non-zero if anything failed.
#   scripts/deployment_test.sh [local] [celery] [airflow2]   (default: all three; KEEP=1 keeps logs and databases)
set -uo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
modes="$(IFS=,; echo "${*:-local,celery,airflow2}")"
af3="$(scripts/env.sh af3)" || exit 1
af2_args=()
if [[ ",$modes," == *,airflow2,* ]]; then
  af2="$(scripts/env.sh af2)" || exit 1
  af2_args=(--af2 "$af2")
fi
if [[ ",$modes," == *,celery,* ]]; then
  # the Celery provider, pinned like everything else
  VIRTUAL_ENV="$af3" "$root/.venv/tools/bin/uv" pip install -q -c constraints/af3.txt -e ".[celery]" || exit 1
  if ! command -v redis-server >/dev/null 2>&1; then
    sudo=""; [ "$(id -u)" -eq 0 ] || sudo="sudo"
    { $sudo apt-get update -qq && $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server; } \
      >/dev/null || { echo "deployment test: could not install redis-server" >&2; exit 1; }
  fi
fi
work="$(mktemp -d "${TMPDIR:-/tmp}/metrika-deployment-XXXXXX")"
cleanup() {
  # every component leads its own process group: kill the groups the driver recorded, even if it died
  for pids in "$work"/*/pids; do
    [ -f "$pids" ] || continue
    while read -r pid; do
      [ -n "$pid" ] && kill -KILL -- "-$pid" 2>/dev/null
    done < "$pids"
  done
  if [ -n "${KEEP:-}" ]; then echo "deployment test files kept in $work"; else rm -rf "$work"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM
# a hard bound on the whole test, on top of the driver's bounded waits (the three deployments took about 25 min
# together on a 2-core machine loaded by other jobs)
timeout --kill-after=20 2700 "$af3/bin/python" scripts/deployment_test.py \
  --workdir "$work" --af3 "$af3" "${af2_args[@]}" --modes "$modes"
