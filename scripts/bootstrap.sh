#!/usr/bin/env bash
# Create .venv once and install the project, with the versions in constraints.txt. Safe to run again.
# Says what it does, a line a step, on stderr (the first install takes about a minute).
# --if-missing: only when there is no .venv/bin/conformance yet (the mock validations: pip reinstalls the project
# each time, and runs in progress beside them, the project's tests, would miss its entry points for a moment).
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "${1:-}" = "--if-missing" ] && [ -x .venv/bin/conformance ]; then
  exit 0
fi
python=${PYTHON:-python3}
say() { echo "bootstrap: $*" >&2; }
if [ ! -x .venv/bin/python ]; then
  say "creating .venv with $python"
  "$python" -m venv .venv
fi
# The distribution was named 'conformance' before (on PyPI that name is another project's): drop such an install
# first, or its files would linger beside openai-assistants-conformance's.
if .venv/bin/python -m pip show --quiet conformance >/dev/null 2>&1; then
  say "removing the old 'conformance' install from .venv"
  .venv/bin/python -m pip uninstall --quiet --yes conformance
fi
if .venv/bin/python -c "import conformance" 2>/dev/null; then
  say "checking .venv against constraints.txt (pip)"
else
  say "installing openai-assistants-conformance and its dependencies into .venv (pip; about a minute the first time)"
fi
.venv/bin/python -m pip install --quiet --disable-pip-version-check -c constraints.txt -e ".[dev]" 2>&1 \
  | grep -v "^WARNING: Location" || true
.venv/bin/python -c "import conformance" # fail here, clearly, if the install did not work
say "ready: .venv/bin/conformance"
