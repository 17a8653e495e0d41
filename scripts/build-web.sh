#!/usr/bin/env bash
# Installs web/'s npm packages (from the lockfile) when the lockfile is newer
# than what is installed, and builds the admin UI (web/admin -> web/dist/admin)
# when a source is newer than the last build. Called by `make deps`; CMake
# embeds the results into the binary.
set -euo pipefail
cd "$(dirname "$0")/../web"
if [ ! node_modules/.package-lock.json -nt package-lock.json ]; then
  npm ci --no-audit --no-fund --loglevel=error
fi
if [ ! -f dist/admin/index.html ] || [ -n "$(find admin package-lock.json -newer dist/admin/index.html -print -quit)" ]; then
  npm run --silent build > /dev/null
fi
