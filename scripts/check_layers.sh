#!/usr/bin/env bash
# Proves that the build enforces the layers (CMakeLists.txt, restd_layer):
# each layer compiles against build/layers/<layer>/, which holds only what
# it may include. For every layer, one header it may include must be found
# and one it may not must be missing; and no source reaches around the rule
# with a relative "../" include.
# Usage: check_layers.sh <c++ compiler> <build dir> <source dir>
set -euo pipefail
cxx=$1 build=$2 src=$3
failed=0

# layer | a header it may include | a header of a layer above it
checks=(
  "common|common/error.h|config/config.h"
  "config|common/error.h|store/store.h"
  "store|config/config.h|auth/authenticator.h"
  "store|store/sql/sql_builder.h|api/service.h"
  "auth|store/store.h|api/service.h"
  "render|common/json.h|store/store.h"
  "render|render/reply.h|config/config.h"
  "api|store/store.h|http/server.h"
  "api|render/reply.h|http/message.h"
  "http|api/handler.h|api/service.h"
  "http|http/message.h|store/store.h"
)

preprocess() {  # layer header
  printf '#include "%s"\n' "$2" | "$cxx" -std=c++20 -E -x c++ -I "$build/layers/$1" - -o /dev/null 2>&1
}

for c in "${checks[@]}"; do
  IFS='|' read -r layer allowed refused <<<"$c"
  if [ ! -d "$build/layers/$layer" ]; then
    echo "FAIL: $build/layers/$layer does not exist"; failed=1; continue
  fi
  if ! out=$(preprocess "$layer" "$allowed"); then
    echo "FAIL: $layer cannot include $allowed, which it may:"; echo "$out" | head -5; failed=1
  fi
  if out=$(preprocess "$layer" "$refused"); then
    echo "FAIL: $layer can include $refused, which is above it"; failed=1
  elif ! grep -q 'No such file' <<<"$out"; then
    echo "FAIL: $layer including $refused failed for another reason:"; echo "$out" | head -5; failed=1
  else
    echo "ok: $layer includes $allowed, not $refused"
  fi
done

if grep -rnE '#include "\.\./' "$src/src"; then
  echo "FAIL: a relative include reaches out of its folder (the lines above)"; failed=1
fi
exit $failed
