#!/usr/bin/env bash
# Installs what the local stack and the Parquet-reading tests need on a Debian 12
# machine, skipping anything already present (safe to run on every CI start):
#   - Debian packages: redis-server, postgresql, openjdk-17-jdk-headless (if no Java 17+ JDK), maven, openssl,
#     chromium, golang-go (only where no Go is installed)
#   - <repo>/.venv with tools/python-requirements.txt (pyarrow, duckdb, pandas, pytest, …) and the
#     Python SDK (sdk/python)
#   - Debian's docker-compose, whose `config` parses docker-compose.kafka.yml against the
#     Compose file schema without an engine (tools/stack/compose.unit.spec.ts)
set -euo pipefail

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
START=$(date +%s)

step() { printf '[%4ss] %s\n' "$(($(date +%s) - START))" "$*"; }

as_root() {
  if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

java_ok() {
  command -v java >/dev/null 2>&1 || return 1
  local major
  major=$(java -version 2>&1 | sed -n 's/.*version "\([0-9]*\)\(\.\([0-9]*\)\)\{0,1\}.*/\1/p' | head -n1)
  [ -n "$major" ] && [ "$major" -ge 17 ]
}

python_bin() {
  if [ -n "${PYTHON:-}" ]; then echo "$PYTHON"; elif command -v python3 >/dev/null 2>&1; then command -v python3; else echo /usr/bin/python3; fi
}

# --- Debian packages --------------------------------------------------------
missing=()
command -v redis-server >/dev/null 2>&1 || missing+=(redis-server)
# redis-cli creates the stack's Redis Cluster (Debian's redis-server depends on it).
command -v redis-cli >/dev/null 2>&1 || missing+=(redis-tools)
# The stack runs its own PostgreSQL cluster (wal_level=logical, for Debezium) from the server binaries,
# which Debian keeps off PATH under /usr/lib/postgresql/<major>/bin.
compgen -G '/usr/lib/postgresql/*/bin/postgres' >/dev/null || missing+=(postgresql)
# A JDK, not only a runtime: the Java client (clients/java) is compiled by its `mvn test`.
{ java_ok && command -v javac >/dev/null 2>&1; } || missing+=(openjdk-17-jdk-headless)
command -v mvn >/dev/null 2>&1 || missing+=(maven)
# makes the stack's CA and server certificate at every up (the secured listeners)
command -v openssl >/dev/null 2>&1 || missing+=(openssl)
# Compose v2 (a docker plugin) parses the file as well; Debian's v1 is the one a package gives.
docker compose version >/dev/null 2>&1 || command -v docker-compose >/dev/null 2>&1 || missing+=(docker-compose)
# The web UI's browser tests (apps/ui/src/ui.e2e.spec.ts) drive Debian's Chromium: no browser download.
command -v chromium >/dev/null 2>&1 || missing+=(chromium)
# The Go client's tests (clients/go, Go 1.24+): this machine kind has Go; Debian's is the fallback.
command -v go >/dev/null 2>&1 || missing+=(golang-go)
if ! command -v "$(python_bin)" >/dev/null 2>&1; then
  missing+=(python3 python3-venv)
elif ! "$(python_bin)" -c 'import ensurepip, venv' >/dev/null 2>&1; then
  missing+=(python3-venv)
fi

if [ "${#missing[@]}" -gt 0 ]; then
  step "apt-get install ${missing[*]}"
  as_root apt-get update -qq
  # Keep the packages' init scripts from starting a system redis on 6379: the
  # stack runs its own redis-server. policy-rc.d exit 101 = "action forbidden".
  policy_created=0
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' | as_root tee /usr/sbin/policy-rc.d >/dev/null
    as_root chmod +x /usr/sbin/policy-rc.d
    policy_created=1
  fi
  # Nor a packaged PostgreSQL cluster: no `main` cluster is created (it would claim port 5432 at the
  # next boot). A drop-in of postgresql-common's createcluster.d, so its own conffile stays untouched.
  if [[ " ${missing[*]} " == *" postgresql "* ]]; then
    as_root mkdir -p /etc/postgresql-common/createcluster.d
    printf 'create_main_cluster = false\n' | as_root tee /etc/postgresql-common/createcluster.d/featurelog.conf >/dev/null
  fi
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  if [ "$policy_created" -eq 1 ]; then as_root rm -f /usr/sbin/policy-rc.d; fi
else
  step "Debian packages present (redis-server, postgresql, java 17+, maven, openssl, docker-compose, chromium, python3-venv)"
fi

# --- Python venv for the Parquet readers ------------------------------------
VENV="${REPO_ROOT}/.venv"
REQUIREMENTS="${REPO_ROOT}/tools/python-requirements.txt"
want_hash=$(sha256sum "$REQUIREMENTS" | cut -d' ' -f1)
if [ -x "${VENV}/bin/python" ] && [ "$(cat "${VENV}/.requirements.sha256" 2>/dev/null)" = "$want_hash" ]; then
  step ".venv up to date with tools/python-requirements.txt"
else
  step "creating ${VENV} and installing tools/python-requirements.txt"
  [ -x "${VENV}/bin/python" ] || "$(python_bin)" -m venv "$VENV"
  "${VENV}/bin/python" -m pip install -q --disable-pip-version-check -r "$REQUIREMENTS"
  echo "$want_hash" >"${VENV}/.requirements.sha256"
fi

# The Python SDK installed the way its README tells users to (`pip install ./sdk/python`, a normal build of
# the package): proves on every fresh machine that it installs. Its tests import the source tree
# (PYTHONPATH=sdk/python/src), so an edit is tested without reinstalling.
step "pip install ./sdk/python into ${VENV}"
"${VENV}/bin/python" -m pip install -q --disable-pip-version-check "${REPO_ROOT}/sdk/python"

step "done"
