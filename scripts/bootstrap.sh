#!/usr/bin/env bash
# Create .venv once and install the project, with the versions in constraints.txt. Safe to run again.
set -euo pipefail
cd "$(dirname "$0")/.."
python=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$python" -m venv .venv
fi
# The distribution was named 'conformance' before (on PyPI that name is another project's): drop such an install
# first, or its files would linger beside openai-assistants-conformance's.
if .venv/bin/python -m pip show --quiet conformance >/dev/null 2>&1; then
  .venv/bin/python -m pip uninstall --quiet --yes conformance
fi
.venv/bin/python -m pip install --quiet --disable-pip-version-check -c constraints.txt -e ".[dev]" 2>&1 \
  | grep -v "^WARNING: Location" || true
.venv/bin/python -c "import conformance" # fail here, clearly, if the install did not work
