#!/usr/bin/env bash
# The paravisor's own cost per exit and its memory, measured with callgrind on mezz-sim.
#
# Instructions per exit: each bench guest makes GUEST_BENCH_KIND_LOOPS exits of one kind and
# nothing else (no serial output). callgrind collects only inside vp_handle_exit (decode,
# dispatch, device, completion: everything the paravisor does for one exit) and toggles
# collection off inside hvsim_hvcall (the hypervisor's side of a hypercall). hvsim's VTL0
# execution never runs inside vp_handle_exit. Counts are repeatable; wall time is not used.
#
# Memory at 2 VPs: code and data = text+data+bss of the `mezzanine` program (the paravisor
# over the real driver, dynamically linked: libc not counted); heap = what partition and
# devices malloc at set-up (mallinfo2 delta, printed by mezz-sim); stacks = the reserved size
# of 2 VP threads and the clock thread (an upper bound: untouched pages cost nothing).
set -u
O=${O:-build}
SIM=$O/bin/mezz-sim
command -v valgrind >/dev/null || { echo "vtl2_icount: valgrind missing, skipped"; exit 0; }
loops=$(sed -n 's/^#define GUEST_BENCH_KIND_LOOPS \([0-9]*\)u.*/\1/p' tests/guests/guest_abi.h)
count() { # guest -> collected instructions
  valgrind --tool=callgrind --callgrind-out-file=/dev/null --toggle-collect=vp_handle_exit \
    --toggle-collect=hvsim_hvcall "$SIM" run --guest "$O/guests/$1.elf" 2>&1 >/dev/null |
    sed -n 's/.*Collected : *\([0-9]*\).*/\1/p'
}
echo "paravisor instructions per exit (callgrind, $loops exits each, hypervisor side excluded):"
fail=0
for spec in "bench_uart:UART THR write (PIO):300" "bench_ioapic:IOAPIC register read (MMIO, decoded):1500" \
            "bench_cpuid:CPUID 0x40000000:200"; do
  IFS=: read -r guest what goal <<<"$spec"
  n=$(count "$guest")
  if [ -z "$n" ]; then echo "  $what: FAILED to measure"; fail=1; continue; fi
  per=$(( n / (loops + 2) ))  # + the IOREGSEL write and the exit-port OUT
  if [ "$per" -le "$goal" ]; then v=MET; else v="NOT MET"; fi
  printf '  %-38s %6d instructions  (goal %d: %s)\n' "$what" "$per" "$goal" "$v"
done
code=$(size "$O/bin/mezzanine" | awk 'NR == 2 { print $1 + $2 + $3 }')
heap=$("$SIM" run --guest "$O/guests/demo.elf" --vps 2 2>/dev/null |
       sed -n 's/^paravisor heap \([0-9.]*\) KiB.*/\1/p')
stacks=$(( (2 * 256 + 128) * 1024 ))
awk -v c="$code" -v h="$heap" -v s="$stacks" 'BEGIN {
  t = c + h * 1024 + s
  printf "paravisor memory at 2 VPs: code+data %.0f KiB, heap %.0f KiB, stacks %.0f KiB (reserved)\n", c / 1024, h, s / 1024
  printf "  total %.2f MiB (goal under 4 MiB: %s; OpenHCL user mode ~21 MB PSS at 2 VPs: ratio %.3f)\n", t / 1048576, (t < 4 * 1048576 ? "MET" : "NOT MET"), t / (21 * 1e6)
}'
exit $fail
