#!/usr/bin/env bash
# The project's tests: install, lint, type-check, then pytest. Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh
bash scripts/install-report-tools.sh # chromium and the Allure CLI, for tests/test_reports.py
.venv/bin/ruff check .
.venv/bin/mypy
exec .venv/bin/pytest "$@"
