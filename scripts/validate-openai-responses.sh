#!/usr/bin/env bash
# Validate the openai-responses mock (PyPI), in-process: install it in its own venv (it needs openai<3, the
# project's dev tools use openai 3), run the suite through its RESPX router, and write its compliance
# matrix to docs/mocks/openai-responses/ (compliance.json, compliance.md). Extra arguments go to 'conformance run'.
# Exit code: that of 'conformance run' (1 when the mock fails requirements, as expected); 3 if it cannot be installed.
set -euo pipefail
cd "$(dirname "$0")/.."
version=${OPENAI_RESPONSES_VERSION:-0.13.1}
venv=.tools/openai-responses-venv
out=${OUT:-docs/mocks/openai-responses}
if [ ! -x "$venv/bin/python" ]; then
  "${PYTHON:-python3}" -m venv "$venv"
fi
# conformance as installed there must be this clone's, entry points included (a stale editable install names
# modules that moved)
if ! "$venv/bin/python" -c "import importlib, importlib.metadata as m, openai_responses, conformance.runner.plugin
[importlib.import_module(e.value.split(':')[0]) for e in m.entry_points(group='pytest11') if e.name == 'conformance']" \
     2>/dev/null \
   || [ "$("$venv/bin/python" -c 'import importlib.metadata as m; print(m.version("openai-responses"))')" != "$version" ]; then
  grep -v '^openai==' constraints.txt > "$venv/constraints.txt"
  if ! "$venv/bin/python" -m pip install --quiet --disable-pip-version-check -c "$venv/constraints.txt" \
       "openai-responses==$version" -e . >"$venv/install.log" 2>&1; then
    grep -v "^WARNING: Location" "$venv/install.log" >&2
    echo "validate-openai-responses: could not install openai-responses $version (see above)" >&2
    exit 3
  fi
fi
work=${REPORT_DIR:-reports/mocks/openai-responses}  # the whole run's output; the matrix is copied to $out
mkdir -p "$out" "$work"
code=0
"$venv/bin/python" -m conformance run --transport scripts/mocks/openai_responses_target.py:transport \
  --target http://openai-responses.invalid/v1 --target-name "openai-responses $version (in-process)" \
  --pools scripts/mocks/openai-responses.pools.json \
  --report-dir "$work" "$@" || code=$?
for f in compliance.json compliance.md; do
  if [ -f "$work/$f" ]; then cp "$work/$f" "$out/$f"; fi
done
echo "matrix: $out/compliance.json, $out/compliance.md"
exit "$code"
