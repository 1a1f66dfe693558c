#!/usr/bin/env bash
# The Mezzanine IGVM image in hvsim (make igvm; mezz-sim run --igvm, 2 VPs, the demo guest):
#
# Shim instructions: guest instructions hvsim executed from the shim's entry to the
# breakpoint at the kernel's 64-bit entry (counted per translation block: an upper bound,
# exact for blocks that run to their end; the shim takes no exceptions), median of 3 runs
# (deterministic: the runs agree).
#
# VTL2 memory with 2 VPs and COM1 relayed to the host over VMBus (--host-serial: the
# paravisor's VMBus client and its rings count), by use (the stand-in kernel reported apart):
#   shim + tables   the shim's ELF segments, its parameter page, GDT + page tables, the
#                   parameter areas, the log and the heap pages it used (its own log line)
#   paravisor       the initramfs (one static binary: it lives in tmpfs), the heap that
#                   partition and devices malloc (mallinfo2 delta), the reserved stacks of 2
#                   VP threads and the clock thread (an upper bound), the shared pool pages
#                   it took (VMBus rings toward the host)
#   kernel          the kernel's span (init_size, 2 MiB aligned) - Debian's stand-in, not a
#                   VTL2 kernel configuration
# Compared with OpenHCL's smallest x64 image, which asks for 70 MiB of VTL2 memory
# (openhcl-x64-release manifest, a fixed reference, not measured here); goal: shim +
# paravisor under 4 MiB.
set -u
O=${O:-build}
SIM=$O/bin/mezz-sim
IMG=$O/mezzanine.igvm
if ! make --no-print-directory -s O="$O" igvm >/dev/null 2>&1; then
  echo "igvm_boot: make igvm failed (no kernel?), skipped"
  exit 0
fi
log=$(mktemp)
trap 'rm -f "$log"' EXIT
runs=()
for i in 1 2 3; do
  "$SIM" run --igvm "$IMG" --guest "$O/guests/demo.elf" --vps 2 --host-serial >"$log" 2>&1 ||
    { echo "igvm_boot: the run failed: $(grep -m2 'mezz-sim:' "$log")"; exit 1; }
  runs+=("$(sed -n 's/.*\[2\/4\] boot shim done: \([0-9]*\) instructions.*/\1/p' "$log")")
done
shim_insns=$(printf '%s\n' "${runs[@]}" | sort -n | sed -n 2p)
echo "boot shim, entry to the kernel jump: $shim_insns guest instructions (upper bound; runs: ${runs[*]})"

# The shim's parameter page gives the pieces (mezz-sim's "VTL2 memory" line) and its log the
# heap it used ("heap used 0xN of 0xM").
read -r region shim_kib loader_kib kernel_kib initrd_kib < <(sed -n \
  's/^mezz-sim: VTL2 memory: region \([0-9]*\) KiB; shim \([0-9]*\) KiB, parameters + tables + areas + log \([0-9]*\) KiB, heap region [0-9]* KiB; the VTL2 kernel.s span \([0-9]*\) KiB and initrd \([0-9]*\) KiB/\1 \2 \3 \4 \5/p' "$log")
hu=$(sed -n 's/.*heap used \(0x[0-9a-f]*\) of 0x[0-9a-f]*.*/\1/p' "$log")
pv_heap=$(sed -n 's/^paravisor heap \([0-9.]*\) KiB.*/\1/p' "$log")
pool=$(sed -n 's/^mezz-sim: VTL2 shared pool used \([0-9]*\) KiB/\1/p' "$log")
if [ -z "$region" ] || [ -z "$hu" ] || [ -z "$pv_heap" ]; then
  echo "igvm_boot: could not read the numbers from mezz-sim's output"; exit 1
fi
stacks=$(( (2 * 256 + 128) ))
awk -v shim="$shim_kib" -v loader="$loader_kib" -v hu="$((hu))" \
    -v initrd="$initrd_kib" -v heap="$pv_heap" -v st="$stacks" -v pool="${pool:-0}" \
    -v kern="$kernel_kib" -v region="$region" 'BEGIN {
  # The heap region is the gap up to the kernel in the layout; the shim used hu bytes of it.
  s = shim + loader + int((hu + 4095) / 4096) * 4
  p = initrd + heap + st + pool
  printf "VTL2 memory, 2 VPs:\n"
  printf "  shim + tables + parameters + log + used heap  %8.0f KiB\n", s
  printf "  paravisor: initramfs %d KiB + heap %.1f KiB + stacks %d KiB + shared pool %d KiB = %.0f KiB\n", initrd, heap, st, pool, p
  printf "  shim + paravisor                              %8.0f KiB = %.3f of OpenHCL x64 release (70 MiB)  (goal < 4096 KiB: %s)\n", s + p, (s + p) / (70 * 1024), (s + p < 4096) ? "MET" : "NOT MET"
  printf "  apart: the stand-in kernel span %d KiB (Debian cloud kernel, init_size); the image region %d KiB\n", kern, region
}'
