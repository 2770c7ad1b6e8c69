#!/usr/bin/env bash
# Install everything the test suite needs on a fresh Debian machine with Python 3.11,
# then run lint, type checks and the whole test suite. CI runs exactly this (.ci/run).
set -euo pipefail
cd "$(dirname "$0")/.."

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi

# redis-server (the side-by-side reference), redis-cli and redis-benchmark (real clients),
# openssl (the TLS tests make their certificates with it).
if ! command -v redis-server >/dev/null || ! command -v redis-cli >/dev/null \
   || ! command -v redis-benchmark >/dev/null || ! command -v openssl >/dev/null; then
  $SUDO apt-get update -qq
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server redis-tools \
    openssl >/dev/null
fi

VENV="${TENSORSERVE_VENV:-.venv}"
if [ ! -x "$VENV/bin/python" ]; then
  python3 -m venv "$VENV"
fi
"$VENV/bin/python" -m pip install -q --upgrade pip >/dev/null
# torch is pinned wherever it is installed (issue 3 onwards): an unpinned torch pulls a
# multi-GB CUDA build.
"$VENV/bin/python" -m pip install -q torch==2.13.0 -e ".[test]"

echo "== ruff"
"$VENV/bin/ruff" check tensorserve tests bench examples
echo "== mypy"
"$VENV/bin/mypy"
echo "== pytest"
set +e
"$VENV/bin/python" -m pytest -q -p no:cacheprovider "$@"
rc=$?
set -e
if [ "$rc" -eq 5 ]; then
  echo "pytest collected no tests"
  rc=0
fi
exit "$rc"
