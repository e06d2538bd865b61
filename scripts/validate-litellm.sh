#!/usr/bin/env bash
# Validate the LiteLLM proxy (PyPI: litellm[proxy]) as a gateway in front of the suite's reference server:
# install it in its own venv (.tools/litellm-venv), start 'conformance serve' (the upstream) and the proxy on
# free loopback ports, with scripts/mocks/litellm.config.yaml (assistant_settings pointing at the upstream),
# run the suite against the proxy, stop both, and write the proxy's compliance matrix to docs/mocks/litellm/
# (compliance.json, compliance.md). Extra arguments go to 'conformance run'.
# LITELLM_VERSION picks another release (1.108.7 is the one measured: later 1.108.x name litellm-enterprise
# and litellm-proxy-extras releases the registry does not have; never 1.107.0, a release reported compromised).
# Nothing leaves the machine: the proxy's cost map and other catalogs are the bundled copies, its telemetry
# is off, and its only upstream is on loopback.
# Exit code: that of 'conformance run' (0 conforms, 1 a requirement failed, 2 no verdict, 3 incomplete run);
# 4 if LiteLLM cannot be installed; 5 if the upstream or the proxy does not start.
set -euo pipefail
cd "$(dirname "$0")/.."
version=${LITELLM_VERSION:-1.108.7}
venv=.tools/litellm-venv
out=${OUT:-docs/mocks/litellm}
master_key=sk-conformance-test-key  # the proxy's master key, made up for the test; the suite sends it
bash scripts/bootstrap.sh --if-missing
if [ "$version" = "1.107.0" ]; then
  echo "validate-litellm: litellm 1.107.0 was reported compromised; pick another release" >&2
  exit 4
fi
if [ ! -x "$venv/bin/python" ]; then
  "${PYTHON:-python3}" -m venv "$venv"
fi
if [ ! -x "$venv/bin/litellm" ] \
   || [ "$("$venv/bin/python" -c 'import importlib.metadata as m; print(m.version("litellm"))' 2>/dev/null)" != "$version" ]; then
  if ! "$venv/bin/python" -m pip install --quiet --disable-pip-version-check "litellm[proxy]==$version" \
       >"$venv/install.log" 2>&1; then
    grep -v "^WARNING: Location" "$venv/install.log" >&2
    echo "validate-litellm: could not install litellm[proxy] $version (see above)" >&2
    exit 4
  fi
fi
free_port() { .venv/bin/python -c "from conformance.transport.server import free_port; print(free_port())"; }
wait_for() { .venv/bin/python scripts/mocks/wait_for_http.py "$@"; }  # URL PID SECONDS
upstream_port=$(free_port)
port=$(free_port)
logs=$(mktemp -d)
pids=()
stop() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  rm -rf "$logs"
}
trap stop EXIT
.venv/bin/conformance serve --host 127.0.0.1 --port "$upstream_port" >"$logs/upstream.log" 2>&1 &
pids+=($!)
if ! wait_for "http://127.0.0.1:$upstream_port/" "${pids[0]}" 30; then
  cat "$logs/upstream.log" >&2; echo "validate-litellm: the reference server did not start" >&2; exit 5
fi
# Keep the proxy off the internet: bundled catalogs instead of fetched ones, telemetry off, no provider keys.
env -u OPENAI_API_KEY -u OPENAI_BASE_URL -u OPENAI_API_BASE -u DATABASE_URL \
  LITELLM_MASTER_KEY="$master_key" \
  CONFORMANCE_UPSTREAM_BASE="http://127.0.0.1:$upstream_port/v1" CONFORMANCE_UPSTREAM_KEY=conformance-test-key \
  LITELLM_LOCAL_MODEL_COST_MAP=True LITELLM_LOCAL_ANTHROPIC_BETA_HEADERS=True LITELLM_LOCAL_BLOG_POSTS=True \
  LITELLM_LOCAL_AUTOROUTER_PRESETS=True LITELLM_LOCAL_POLICY_TEMPLATES=True LITELLM_TELEMETRY_DISABLED=true \
  NO_PROXY=127.0.0.1,localhost no_proxy=127.0.0.1,localhost \
  "$venv/bin/litellm" --config scripts/mocks/litellm.config.yaml --host 127.0.0.1 --port "$port" --num_workers 1 \
  >"$logs/litellm.log" 2>&1 &
pids+=($!)
if ! wait_for "http://127.0.0.1:$port/health/liveliness" "${pids[1]}" 180; then
  tail -50 "$logs/litellm.log" >&2; echo "validate-litellm: the proxy did not start" >&2; exit 5
fi
work=${REPORT_DIR:-reports/mocks/litellm}  # the whole run's output; the matrix is copied to $out
mkdir -p "$out" "$work"
code=0
# The proxy answers 500 to a body it cannot parse and then drops the connection: a short timeout, and no
# stop after target errors in a row, let the run go through those probes.
.venv/bin/conformance run --target "http://127.0.0.1:$port/v1" \
  --target-name "LiteLLM proxy $version, in front of the reference server" \
  --api-key "$master_key" --timeout 10 --max-target-errors 0 --report-dir "$work" "$@" || code=$?
cp "$logs/litellm.log" "$work/litellm.log" 2>/dev/null || true
for f in compliance.json compliance.md; do
  if [ -f "$work/$f" ]; then cp "$work/$f" "$out/$f"; fi
done
echo "matrix: $out/compliance.json, $out/compliance.md"
exit "$code"
