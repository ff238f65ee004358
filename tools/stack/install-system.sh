#!/usr/bin/env bash
# Installs what the local stack and the Parquet-reading tests need on a Debian 12
# machine, skipping anything already present (safe to run on every CI start):
#   - Debian packages: redis-server, openjdk-17-jre-headless (if no Java 17+), maven, openssl
#   - <repo>/.venv with tools/python-requirements.txt (pyarrow, duckdb)
#   - the docker compose v2 CLI plugin (built from the Go module proxy), so that
#     `docker compose -f docker-compose.kafka.yml config` works without an engine
set -euo pipefail

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
COMPOSE_VERSION="${FEATURELOG_COMPOSE_VERSION:-v2.40.3}"
CACHE_BIN="${HOME}/.cache/featurelog/bin"
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
java_ok || missing+=(openjdk-17-jre-headless)
command -v mvn >/dev/null 2>&1 || missing+=(maven)
# makes the stack's CA and server certificate at every up (the secured listeners)
command -v openssl >/dev/null 2>&1 || missing+=(openssl)
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
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  if [ "$policy_created" -eq 1 ]; then as_root rm -f /usr/sbin/policy-rc.d; fi
else
  step "Debian packages present (redis-server, java 17+, maven, python3-venv)"
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

# --- docker compose v2 plugin ------------------------------------------------
PLUGIN_DIR="${HOME}/.docker/cli-plugins"
if docker compose version >/dev/null 2>&1 || [ -x "${PLUGIN_DIR}/docker-compose" ]; then
  step "docker compose plugin present"
else
  mkdir -p "$CACHE_BIN" "$PLUGIN_DIR"
  if [ ! -x "${CACHE_BIN}/docker-compose" ] && command -v go >/dev/null 2>&1; then
    # `go install github.com/docker/compose/v2/cmd@VERSION` is refused because the
    # module's go.mod has exclude/replace directives, so fetch the module from the
    # Go proxy and build it inside its own module directory (~3 min on 2 cores).
    step "building docker compose ${COMPOSE_VERSION} from the Go module proxy"
    module_dir=$(go mod download -json "github.com/docker/compose/v2@${COMPOSE_VERSION}" |
      sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')
    (cd "$module_dir" && CGO_ENABLED=0 timeout 600 go build -trimpath \
      -ldflags "-s -w -X github.com/docker/compose/v2/internal.Version=${COMPOSE_VERSION}" \
      -o "${CACHE_BIN}/docker-compose" ./cmd) || rm -f "${CACHE_BIN}/docker-compose"
  fi
  if [ -x "${CACHE_BIN}/docker-compose" ]; then
    ln -sf "${CACHE_BIN}/docker-compose" "${PLUGIN_DIR}/docker-compose"
    step "docker compose plugin installed at ${PLUGIN_DIR}/docker-compose"
  else
    # Debian's package is compose v1 (`docker-compose config`, not `docker compose`).
    step "no Go toolchain or build failed: falling back to Debian's docker-compose (v1)"
    as_root apt-get update -qq
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends docker-compose >/dev/null
  fi
fi

step "done"
