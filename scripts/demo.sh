#!/usr/bin/env bash
# The demo: CRM database -> Metrika offline conversions, end to end, against the bundled
# Metrika emulator (no token needed). Creates the Airflow 3.3 environment on first use.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
venv="$("$root/scripts/env.sh" af3)"
exec "$venv/bin/python" "$root/scripts/demo.py" "$@"
