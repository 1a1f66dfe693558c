#!/usr/bin/env bash
# Runs Mezzanine's tests and prints one closing line "N passed, M failed".
#   --unit "a b"      cmocka programs: $O/tests/a, then $O/asan/tests/a (ASan+UBSan)
#   --scripts "x.sh"  shell tests; each "ok"/"not ok" line counts, else the exit status counts once
#   --fuzz "t:seed1,seed2 u:"  libFuzzer targets in $O/fuzz/bin, FUZZ_SECONDS each
# Environment: O (build dir), FUZZ_SECONDS.
set -u
O=${O:-build}
FUZZ_SECONDS=${FUZZ_SECONDS:-10}
unit="" scripts="" fuzz=""
while [ $# -gt 0 ]; do
  case "$1" in
    --unit) unit=$2; shift 2 ;;
    --scripts) scripts=$2; shift 2 ;;
    --fuzz) fuzz=$2; shift 2 ;;
    *) echo "run-tests: unknown argument $1" >&2; exit 2 ;;
  esac
done

passed=0 failed=0
failures=()
logdir="$O/test-logs"
mkdir -p "$logdir"
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}

# A cmocka program: count its "[  PASSED  ] N test(s)" and "[  FAILED  ] N test(s)" lines; a
# crash or a non-zero exit without a FAILED line counts as one failure.
run_cmocka() {
  local label=$1 bin=$2 log="$logdir/$(echo "$1" | tr '/ ' '__').log"
  "$bin" >"$log" 2>&1
  local rc=$?
  local p f
  p=$(sed -n 's/^\[  PASSED  \] \([0-9][0-9]*\) test.*/\1/p' "$log" | awk '{s+=$1} END {print s+0}')
  f=$(sed -n 's/^\[  FAILED  \] \([0-9][0-9]*\) test.*/\1/p' "$log" | awk '{s+=$1} END {print s+0}')
  if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then f=1; fi
  passed=$((passed + p)); failed=$((failed + f))
  if [ "$f" -ne 0 ]; then
    failures+=("$label")
    echo "FAIL $label ($p passed, $f failed; log $log)"
    grep -E '^\[  (FAILED|  ERROR)|ERROR|Sanitizer|runtime error' "$log" | head -20
  else
    echo "ok   $label ($p passed)"
  fi
}

for t in $unit; do run_cmocka "unit/$t" "$O/tests/$t"; done
for t in $unit; do run_cmocka "asan/$t" "$O/asan/tests/$t"; done

for s in $scripts; do
  log="$logdir/$(echo "$s" | tr '/' '_').log"
  O="$O" bash "$s" >"$log" 2>&1
  rc=$?
  p=$(grep -c '^ok ' "$log"); f=$(grep -c '^not ok ' "$log")
  if [ "$p" -eq 0 ] && [ "$f" -eq 0 ]; then
    if [ "$rc" -eq 0 ]; then p=1; else f=1; fi
  elif [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then
    f=1
  fi
  passed=$((passed + p)); failed=$((failed + f))
  if [ "$f" -ne 0 ]; then
    failures+=("$s"); echo "FAIL $s ($p passed, $f failed; log $log)"
    grep -E '^not ok|error|Error' "$log" | head -20
  else
    echo "ok   $s ($p passed)"
  fi
done

for spec in $fuzz; do
  name=${spec%%:*}; seeds=${spec#*:}
  bin="$O/fuzz/bin/$name"
  corpus="$O/fuzz/corpus/$name"
  mkdir -p "$corpus"
  dirs=("$corpus")
  IFS=, read -r -a extra <<<"$seeds"
  for d in "${extra[@]}"; do
    if [ -n "$d" ] && [ -d "$d" ]; then dirs+=("$d"); fi
  done
  log="$logdir/fuzz_$name.log"
  # Seed directories are read-only inputs; new units go to the build-tree corpus.
  "$bin" -max_total_time="$FUZZ_SECONDS" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
      "${dirs[@]}" >"$log" 2>&1
  rc=$?
  if [ "$rc" -eq 0 ]; then
    passed=$((passed + 1))
    echo "ok   fuzz/$name ($(grep -m1 -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$') runs in ${FUZZ_SECONDS}s)"
  else
    failed=$((failed + 1)); failures+=("fuzz/$name")
    echo "FAIL fuzz/$name (log $log)"
    grep -E 'ERROR|SUMMARY|runtime error' "$log" | head -10
  fi
done

if [ ${#failures[@]} -gt 0 ]; then
  echo "failed: ${failures[*]}"
fi
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
