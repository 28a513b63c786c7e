#!/usr/bin/env bash
# A wait that never touches a worker (start_from_trigger + end_from_trigger) in a real Airflow 3.3 deployment:
# see scripts/trigger_wait_test.py. Prints a PASS/FAIL table; exits non-zero if anything failed.
#   scripts/trigger_wait_test.sh            KEEP=1 keeps the work directory (logs, databases)
set -uo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
venv="$(scripts/env.sh af3)" || exit 1
work="$(mktemp -d "${TMPDIR:-/tmp}/metrika-trigger-wait-XXXXXX")"
cleanup() {
  # every component leads its own process group: kill the groups the driver recorded, even if it died
  if [ -f "$work/pids" ]; then
    while read -r pid; do
      [ -n "$pid" ] && kill -KILL -- "-$pid" 2>/dev/null
    done < "$work/pids"
  fi
  if [ -n "${KEEP:-}" ]; then echo "trigger wait test files kept in $work"; else rm -rf "$work"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM
timeout --kill-after=20 600 "$venv/bin/python" scripts/trigger_wait_test.py --workdir "$work"
