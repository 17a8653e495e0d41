#!/usr/bin/env bash
# Installs every build and test dependency of restd from Debian's packages.
# Idempotent and quick: when everything is present it only runs dpkg-query.
set -euo pipefail

PACKAGES=(
  build-essential cmake ninja-build ccache pkg-config
  libboost1.81-dev          # Beast + Asio (header-only)
  rapidjson-dev             # JSON parse/render
  libtomlplusplus-dev       # config
  libcli11-dev              # command line
  libsqlite3-dev sqlite3    # embedded storage
  libpq-dev                 # PostgreSQL client
  postgresql-15             # the tests' private cluster (initdb, pg_ctl), make cluster
  libsodium-dev             # argon2id, random, constant-time compare
  libpugixml-dev            # XML output
  libpcre2-dev              # field `pattern` rules (bounded backtracking, no recursion)
  zlib1g-dev                # gzip
  libfmt-dev
  libgtest-dev libgmock-dev libbenchmark-dev
  python3 curl              # end-to-end tests and the README's examples
)

# `--bench` adds what `make bench` needs: the load generator, a reference
# server, the chart tool, the counters of bench/per_request.py (and Node.js's
# npm, which the machine already has).
if [ "${1:-}" = "--bench" ]; then
  PACKAGES+=(wrk nginx-light gnuplot-nox util-linux valgrind strace)
fi

# `--test` adds what the tests need beyond the build: a browser for the
# CORS tests (driven by playwright-core from npm, see tests/browser) and
# promtool (Debian's prometheus) to check /metrics.
if [ "${1:-}" = "--test" ]; then
  PACKAGES+=(chromium prometheus)
fi

# `--cluster` adds the load balancer of `make cluster`.
if [ "${1:-}" = "--cluster" ]; then
  PACKAGES+=(nginx-light)
fi

# `--fuzz` adds clang and libFuzzer for `make fuzz`.
if [ "${1:-}" = "--fuzz" ]; then
  PACKAGES+=(clang-14 libfuzzer-14-dev libclang-rt-14-dev)
fi

missing=()
for p in "${PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed'; then
    missing+=("$p")
  fi
done
[ ${#missing[@]} -eq 0 ] && exit 0

echo "restd: installing missing packages: ${missing[*]}" >&2
SUDO=""
[ "$(id -u)" -ne 0 ] && SUDO="sudo"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
