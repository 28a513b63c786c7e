#!/usr/bin/env bash
# Build the docs site (Sphinx, docs/) into docs/_build/html with warnings as errors: the API reference
# comes from the docstrings, the how-to snippets from the example DAGs' [START]/[END] markers, so a
# broken docstring or a renamed marker fails the build. Runs on the Airflow 3.3 line (.venv/af3).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
venv="$(scripts/env.sh af3)"
VIRTUAL_ENV="$venv" "$root/.venv/tools/bin/uv" pip install -q -c constraints/af3.txt -e ".[docs]"
"$venv/bin/python" -m sphinx -W --keep-going -q -b html docs docs/_build/html
echo "docs: built docs/_build/html (warnings as errors)"
