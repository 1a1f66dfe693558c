#!/usr/bin/env bash
# Instruction counts per decoded instruction (callgrind), for the x86 bench corpus: ours
# decode+emulate and decode-only next to Zydis and Capstone decode-only. Timing on a shared
# machine is noisy; these counts are repeatable.
set -u
O=${O:-build}
bin="$O/bench/x86_bench"
command -v valgrind >/dev/null || { echo "x86_icount: valgrind missing, skipped"; exit 0; }
count() { # which rounds -> total instructions
  valgrind --tool=callgrind --callgrind-out-file=/dev/null "$bin" --count "$1" "$2" 2>&1 >/dev/null |
    sed -n 's/.*Collected : *\([0-9]*\).*/\1/p'
}
n=$("$bin" --count 0 0)
names=("ours: decode+emulate" "ours: decode only" "Zydis: decode only" "Capstone: detail off")
declare -a per
for w in 0 1 2 3; do
  a=$(count $w 0); b=$(count $w 200)
  per[$w]=$(( (b - a) / (200 * n) ))
done
echo "x86 instruction counts per decoded instruction (callgrind, $n-instruction corpus x 200):"
for w in 0 1 2 3; do
  printf '  %-24s %6d instructions  ratio vs Zydis decode %s\n' "${names[$w]}" "${per[$w]}" \
    "$(awk -v a="${per[$w]}" -v b="${per[2]}" 'BEGIN { printf "%.2f", a / b }')"
done
if [ "${per[0]}" -lt "${per[2]}" ]; then verdict=MET; else verdict="NOT MET"; fi
echo "  goal (decode+emulate below Zydis decode-only): $verdict"
