#!/usr/bin/env bash
# The example DAG in a real Airflow 3.3 deployment (api-server, scheduler with the LocalExecutor, dag-processor,
# triggerers as separate processes) against the Metrika emulator, with SIGKILLed triggerers, tasks and emulator:
# see scripts/deployment_test.py. Prints a PASS/FAIL table; exits non-zero if anything failed.
#   scripts/deployment_test.sh            KEEP=1 keeps the work directory (logs, databases)
set -uo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
venv="$(scripts/env.sh af3)" || exit 1
work="$(mktemp -d "${TMPDIR:-/tmp}/metrika-deployment-XXXXXX")"
cleanup() {
  # every component leads its own process group: kill the groups the driver recorded, even if it died
  if [ -f "$work/pids" ]; then
    while read -r pid; do
      [ -n "$pid" ] && kill -KILL -- "-$pid" 2>/dev/null
    done < "$work/pids"
  fi
  if [ -n "${KEEP:-}" ]; then echo "deployment test files kept in $work"; else rm -rf "$work"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM
# a hard bound on the whole test, on top of the driver's bounded waits
timeout --kill-after=20 900 "$venv/bin/python" scripts/deployment_test.py --workdir "$work"
