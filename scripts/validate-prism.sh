#!/usr/bin/env bash
# Validate Stoplight Prism (npm: @stoplight/prism-cli) mocking the OpenAPI spec of 2024-05-13: install it in
# .tools/prism, start 'prism mock' on a free loopback port, run the suite against it, stop it, and write its
# compliance matrix to docs/mocks/prism/ (compliance.json, compliance.md). Extra arguments go to 'conformance run'.
# PRISM_PACKAGE=@stainless-api/prism-cli PRISM_VERSION=5.16.1 validates Stainless's fork (the mock server the
# OpenAI SDKs' own tests run) instead, into docs/mocks/prism-stainless/ (set OUT). Needs node and npm. Exit code: that of 'conformance run' (1 when Prism fails requirements, as expected);
# 3 if Prism cannot be installed.
set -euo pipefail
cd "$(dirname "$0")/.."
package=${PRISM_PACKAGE:-@stoplight/prism-cli}
version=${PRISM_VERSION:-5.16.0}
spec=${PRISM_SPEC:-../shared/reference/openai-openapi-2024-05-13.yaml}
out=${OUT:-docs/mocks/prism}
tools=.tools/prism/${package//[@\/]/_}
prism=$tools/node_modules/.bin/prism
bash scripts/bootstrap.sh --if-missing
if [ ! -x "$prism" ] || [ "$("$prism" --version 2>/dev/null)" != "$version" ]; then
  mkdir -p "$tools"
  if ! npm install --prefix "$tools" --no-audit --no-fund --loglevel=error "$package@$version" >"$tools/install.log" 2>&1; then
    cat "$tools/install.log" >&2
    echo "validate-prism: could not install $package@$version (see above)" >&2
    exit 3
  fi
fi
[ -f "$spec" ] || { echo "validate-prism: no spec at $spec (set PRISM_SPEC)" >&2; exit 2; }
# Prism reads the spec as it is (its YAML parser accepts the anchors defined twice, which PyYAML refuses).
port=$(.venv/bin/python -c "from conformance.transport.server import free_port; print(free_port())")
log=$(mktemp)
"$prism" mock "$spec" --host 127.0.0.1 --port "$port" >"$log" 2>&1 &
pid=$!
trap 'kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; rm -f "$log"' EXIT
for _ in $(seq 1 120); do
  grep -q "Prism is listening" "$log" && break
  kill -0 "$pid" 2>/dev/null || { cat "$log" >&2; echo "validate-prism: prism exited" >&2; exit 2; }
  sleep 0.5
done
grep -q "Prism is listening" "$log" || { echo "validate-prism: prism did not start in 60 s" >&2; exit 2; }
work=${REPORT_DIR:-reports/mocks/$(basename "$out")}  # the whole run's output; the matrix is copied to $out
mkdir -p "$out" "$work"
code=0
# The spec's paths start at /assistants: the base URL has no /v1. Prism never answers a body that is not JSON:
# a short timeout, and no stop after target errors in a row, let the run go through those probes.
.venv/bin/conformance run --target "http://127.0.0.1:$port" --target-name "Prism: $package $version, mocking the 2024-05-13 spec" \
  --api-key conformance-test-key --timeout 5 --max-target-errors 0 --report-dir "$work" "$@" || code=$?
for f in compliance.json compliance.md; do
  if [ -f "$work/$f" ]; then cp "$work/$f" "$out/$f"; fi
done
echo "matrix: $out/compliance.json, $out/compliance.md"
exit "$code"
