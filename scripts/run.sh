#!/usr/bin/env bash
# The main job: install, then run the suite against the embedded reference server; reports go to reports/.
# Arguments are passed to 'conformance run' (e.g. --target URL --api-key KEY).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh
echo "run.sh: running the suite: conformance run --report-dir reports${*:+ $*}" >&2
exec .venv/bin/conformance run --report-dir reports "$@"
