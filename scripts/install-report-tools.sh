#!/usr/bin/env bash
# The tools behind the browser checks of the reports and 'conformance report --html': headless Chromium
# (Debian's package) and the Allure command line (npm, into ./node_modules; it runs on Java).
# Idempotent, and quick when they are there. As root with apt-get (CI) a failed install fails this script;
# a machine that cannot install a tool (no root, no apt-get, no npm) is told so, and the tests that need
# the tool are skipped with that reason.
set -euo pipefail
cd "$(dirname "$0")/.."
ALLURE_VERSION=2.46.1

can_apt() { [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; }

apt_install() {
  export DEBIAN_FRONTEND=noninteractive
  # Try with the package lists the machine has; refresh them only when that fails.
  apt-get install -y -qq --no-install-recommends "$@" >/dev/null 2>&1 \
    || { apt-get update -qq >/dev/null && apt-get install -y -qq --no-install-recommends "$@" >/dev/null; }
}

if command -v chromium >/dev/null 2>&1; then
  :
elif can_apt; then
  echo "install-report-tools: installing chromium (apt)"
  apt_install chromium
else
  echo "install-report-tools: chromium is missing and cannot be installed here (needs root and apt-get)" >&2
fi

if ! command -v java >/dev/null 2>&1 && [ -z "${JAVA_HOME:-}" ]; then
  if can_apt; then
    echo "install-report-tools: installing Java for the Allure command line (apt)"
    apt_install default-jre-headless
  else
    echo "install-report-tools: java is missing and cannot be installed here (needs root and apt-get)" >&2
  fi
fi

if [ -x node_modules/.bin/allure ] || command -v allure >/dev/null 2>&1; then
  :
elif command -v npm >/dev/null 2>&1; then
  echo "install-report-tools: installing allure-commandline@$ALLURE_VERSION (npm, ./node_modules)"
  npm install --prefix "$PWD" --no-save --no-package-lock --no-audit --no-fund --loglevel=error \
    "allure-commandline@$ALLURE_VERSION" >/dev/null
else
  echo "install-report-tools: npm is missing: the Allure command line cannot be installed here" >&2
fi
