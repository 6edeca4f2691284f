#!/usr/bin/env bash
# PostgreSQL for tests/postgres (a throwaway server on 127.0.0.1, started by the tests
# themselves): installs the Debian package when initdb is missing and we are root, quietly.
# Nothing else: no cluster is created or started here.
set -euo pipefail
if command -v initdb >/dev/null 2>&1 || compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null; then
  exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
  echo "scripts/postgres.sh: PostgreSQL is not installed and this is not root;" \
    "install it (apt-get install postgresql) or tests/postgres will fail" >&2
  exit 0
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq >/dev/null
apt-get install -y -qq --no-install-recommends postgresql >/dev/null
