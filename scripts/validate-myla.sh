#!/usr/bin/env bash
# Validate myla (PyPI), a local implementation of the Assistants API: install it in its own venv
# (.tools/myla-venv; its dependencies pinned in scripts/mocks/myla.requirements.txt and installed without
# torch, which only its vector stores use), start it headless on a free loopback port with an empty SQLite
# database in a temporary directory, log in as the super admin it creates at start (admin/admin) to get a
# secret key, run the suite against http://127.0.0.1:PORT/api/v1 with that key, stop it, and write its
# compliance matrix to docs/mocks/myla/ (compliance.json, compliance.md). Extra arguments go to 'conformance run'.
# No model backend is configured: myla stores assistants without calling a model (only runs do), and
# nothing leaves the machine.
# Exit code: that of 'conformance run' (0 conforms, 1 a requirement failed, 2 no verdict, 3 incomplete run);
# 4 if myla cannot be installed; 5 if it does not start or the login fails.
set -euo pipefail
cd "$(dirname "$0")/.."
version=${MYLA_VERSION:-0.2.40}
venv=.tools/myla-venv
out=${OUT:-docs/mocks/myla}
bash scripts/bootstrap.sh --if-missing
if [ ! -x "$venv/bin/python" ]; then
  "${PYTHON:-python3}" -m venv "$venv"
fi
if [ ! -x "$venv/bin/myla" ] \
   || [ "$("$venv/bin/python" -c 'import importlib.metadata as m; print(m.version("myla"))' 2>/dev/null)" != "$version" ]; then
  if ! "$venv/bin/python" -m pip install --quiet --disable-pip-version-check --no-deps \
       "myla==$version" -r scripts/mocks/myla.requirements.txt >"$venv/install.log" 2>&1; then
    grep -v "^WARNING: Location" "$venv/install.log" >&2
    echo "validate-myla: could not install myla $version (see above)" >&2
    exit 4
  fi
fi
port=$(.venv/bin/python -c "from conformance.transport.server import free_port; print(free_port())")
home=$(mktemp -d)  # myla's working directory: its database and data directory
pid=
stop() {
  if [ -n "$pid" ]; then kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; fi
  rm -rf "$home"
}
trap stop EXIT
root=$PWD
# --env-file names a file that does not exist: myla would otherwise read ./.env of its working directory.
(cd "$home" && exec env -u OPENAI_API_KEY -u LLM_ENDPOINT -u LLM_API_KEY -u DEFAULT_LLM_MODEL_NAME -u DATABASE_URL \
  DATABASE_URL="sqlite:///$home/myla.db" "$root/$venv/bin/myla" --host 127.0.0.1 --port "$port" \
  --data "$home/data" --env-file "$home/no.env") >"$home/myla.log" 2>&1 &
pid=$!
if ! .venv/bin/python scripts/mocks/wait_for_http.py "http://127.0.0.1:$port/api/version" "$pid" 60; then
  cat "$home/myla.log" >&2; echo "validate-myla: myla did not start" >&2; exit 5
fi
# The super admin myla creates at its first start; the login answers a secret key, the API key.
if ! key=$(.venv/bin/python - "http://127.0.0.1:$port/api/v1/users/admin/login" <<'EOF'
import json, sys, urllib.request
body = json.dumps({"username": "admin", "password": "admin"}).encode()
request = urllib.request.Request(sys.argv[1], data=body, headers={"Content-Type": "application/json"})
with urllib.request.urlopen(request, timeout=10) as answer:
    print(json.load(answer)["secret_key"]["id"])
EOF
); then
  cat "$home/myla.log" >&2; echo "validate-myla: could not log in as admin" >&2; exit 5
fi
work=${REPORT_DIR:-reports/mocks/myla}  # the whole run's output; the matrix is copied to $out
mkdir -p "$out" "$work"
code=0
.venv/bin/conformance run --target "http://127.0.0.1:$port/api/v1" --target-name "myla $version" \
  --api-key "$key" --timeout 10 --max-target-errors 0 --report-dir "$work" "$@" || code=$?
cp "$home/myla.log" "$work/myla.log" 2>/dev/null || true
for f in compliance.json compliance.md; do
  if [ -f "$work/$f" ]; then cp "$work/$f" "$out/$f"; fi
done
echo "matrix: $out/compliance.json, $out/compliance.md"
exit "$code"
