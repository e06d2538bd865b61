#!/usr/bin/env bash
# The project's tests: install, lint, type-check, then pytest. Extra arguments go to pytest (they come last:
# '-n 0' runs the tests in this one process, '-n 4' on four workers).
# pytest runs on PYTEST_WORKERS pytest-xdist workers (default 3): on two cores a third worker uses the time the
# others spend waiting on their servers. The self-test catalog prints a line as each entry finishes.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh
bash scripts/install-report-tools.sh # chromium and the Allure CLI, for tests/test_reports.py
.venv/bin/ruff check .
.venv/bin/mypy
exec .venv/bin/pytest -n "${PYTEST_WORKERS:-3}" --durations=25 "$@"
