#!/usr/bin/env bash
# Runs every libFuzzer target for a set time (make fuzz).
#   scripts/fuzz.sh BUILD_DIR SECONDS [TARGET...]
# Each target starts from its seed corpus in fuzz/corpus/TARGET (read only)
# plus a working corpus in BUILD_DIR/fuzz-corpus/TARGET that grows across runs.
# With FUZZ_RUNS=N set, each target runs N executions instead (no time limit).
# A crash, leak, timeout or sanitizer report fails the run and leaves the input
# in BUILD_DIR/fuzz-artifacts/. The last line of each target's output
# (executions, coverage) is printed, for docs/security.md.
set -euo pipefail
build=${1:?build dir}
seconds=${2:?seconds per target}
shift 2
targets=("$@")
[ ${#targets[@]} -eq 0 ] && targets=(http_reader json_validation list_query config_loader render)
root="$(cd "$(dirname "$0")/.." && pwd)"
mkdir -p "$build/fuzz-artifacts"
failed=0
export UBSAN_OPTIONS="suppressions=$root/fuzz/ubsan.supp:halt_on_error=1:print_stacktrace=1"
export ASAN_OPTIONS="detect_leaks=1:allocator_may_return_null=1"
for t in "${targets[@]}"; do
  work="$build/fuzz-corpus/$t"
  mkdir -p "$work"
  log="$build/fuzz-$t.log"
  # The reader's limits in its target are 1 KiB of header and 4 KiB of body:
  # longer inputs only repeat what those reach, and cost time.
  max_len=65536
  [ "$t" = http_reader ] && max_len=8192
  [ "$t" = list_query ] && max_len=8192   # a request target is at most 8 KiB
  echo "fuzz: $t for ${seconds}s" >&2
  budget=(-max_total_time="$seconds")
  [ -n "${FUZZ_RUNS:-}" ] && budget=(-runs="$FUZZ_RUNS")
  if ! "$build/fuzz_$t" "${budget[@]}" -timeout=10 -rss_limit_mb=2048 -max_len="$max_len" \
      -print_final_stats=1 -artifact_prefix="$build/fuzz-artifacts/$t-" "$work" "$root/fuzz/corpus/$t" >"$log" 2>&1; then
    echo "fuzz: $t FAILED; see $log" >&2
    tail -40 "$log" >&2
    failed=1
    continue
  fi
  runs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' || echo '?')
  cov=$(grep -o 'cov: [0-9]*' "$log" | tail -1 | grep -o '[0-9]*' || echo '?')
  echo "fuzz: $t ok: $runs executions, coverage $cov edges" >&2
done
exit $failed
