#!/usr/bin/env bash
# Create (once) the pinned virtualenv for one Airflow line and print its path.
#   scripts/env.sh af3   -> .venv/af3 with Airflow 3.3.2   (constraints/af3.txt)
#   scripts/env.sh af2   -> .venv/af2 with Airflow 2.11.2  (constraints/af2.txt)
# Needs only python3.11 and access to PyPI. uv is bootstrapped into .venv/tools.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
line="${1:-af3}"
[ -f "$root/constraints/$line.txt" ] || { echo "unknown environment '$line' (af3 or af2)" >&2; exit 2; }
venv="$root/.venv/$line"
python="${PYTHON:-python3.11}"
command -v "$python" >/dev/null 2>&1 || python=python3
if [ ! -x "$root/.venv/tools/bin/uv" ]; then
  "$python" -m venv "$root/.venv/tools" >&2
  "$root/.venv/tools/bin/pip" install -q --disable-pip-version-check uv >&2
fi
stamp="$venv/.installed"
want="$(cat "$root/constraints/$line.txt" "$root/pyproject.toml" | sha256sum | cut -c1-16)"
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
  echo "Setting up $venv (Airflow pinned by constraints/$line.txt) ..." >&2
  [ -x "$venv/bin/python" ] || "$root/.venv/tools/bin/uv" venv -q -p "$python" "$venv" >&2
  VIRTUAL_ENV="$venv" "$root/.venv/tools/bin/uv" pip install -q -c "$root/constraints/$line.txt" -e "$root[test]" >&2
  echo "$want" > "$stamp"
fi
echo "$venv"
