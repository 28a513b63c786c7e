#!/usr/bin/env bash
# Airflow's UI in a real browser: headless Chromium adds a connection of each vendor's type (yandex_metrika,
# commercelayer, fleetio), saves it and tests it against the vendor's emulator, on Airflow 3.3 (api-server)
# and Airflow 2.11 (webserver); screenshots go to docs/_static/ui (see scripts/ui_check.py).
#   scripts/ui_check.sh            both lines       scripts/ui_check.sh af3    one line
#   UI_CHECK_OUT=/tmp/shots scripts/ui_check.sh     screenshots elsewhere
# Needs Debian's chromium and chromium-driver: installed with apt-get when missing and running as root.
set -uo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
if [ "$#" -gt 0 ]; then lines=("$@"); else lines=(af3 af2); fi
if ! command -v chromium >/dev/null || ! command -v chromedriver >/dev/null; then
  if [ "$(id -u)" = 0 ]; then
    echo "ui_check: installing chromium and chromium-driver (apt-get) ..."
    timeout 900 apt-get update -qq >/dev/null && \
      DEBIAN_FRONTEND=noninteractive timeout 900 apt-get install -y -qq chromium chromium-driver >/dev/null \
      || { echo "ui_check: FAIL: could not install chromium and chromium-driver" >&2; exit 1; }
  else
    echo "ui_check: FAIL: needs chromium and chromedriver: sudo apt-get install -y chromium chromium-driver" >&2
    exit 1
  fi
fi
ui_venv="$root/.venv/ui"
stamp="$ui_venv/.installed"
want="$(sha256sum constraints/ui.txt | cut -c1-16)"
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
  scripts/env.sh af3 >/dev/null || exit 1   # bootstraps uv into .venv/tools
  [ -x "$ui_venv/bin/python" ] || "$root/.venv/tools/bin/uv" venv -q -p "${PYTHON:-python3.11}" "$ui_venv" || exit 1
  VIRTUAL_ENV="$ui_venv" "$root/.venv/tools/bin/uv" pip install -q -r constraints/ui.txt || exit 1
  echo "$want" > "$stamp"
fi
status=0
for line in "${lines[@]}"; do
  venv="$(scripts/env.sh "$line")" || exit 1
  # a hard bound per line on top of the driver's bounded waits
  timeout --kill-after=20 900 "$ui_venv/bin/python" scripts/ui_check.py --line "$line" --venv "$venv" \
    --out "${UI_CHECK_OUT:-$root/docs/_static/ui}" || status=1
done
exit "$status"
