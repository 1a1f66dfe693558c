#!/usr/bin/env bash
# The proof nobody here wrote: Debian's own cloud kernel (unmodified bzImage from the archive)
# as VTL0 under the Mezzanine paravisor in hvsim, loaded by the paravisor itself (64-bit boot
# protocol, e820, ACPI tables). Checks what the kernel prints about what we gave it.
# Skips (with a message) when Debian's archive cannot be reached.
# Today the kernel runs until it sets up its local APIC (hvsim has none yet: issue 9) and then
# reboots through our 0xCF9 reset: the checks below say exactly how far it gets.
set -u
cd "$(dirname "$0")/../.."
O=${O:-build}
SIM=$O/bin/mezz-sim
O="$O" tools/linux-guest.sh
rc=$?
if [ $rc -eq 1 ]; then
  echo "ok - linux boot # SKIP Debian's archive is not reachable"
  exit 0
elif [ $rc -ne 0 ]; then
  echo "not ok - fetching the Linux guest (tools/linux-guest.sh exit $rc)"
  exit 1
fi
log=$(mktemp)
trap 'rm -f "$log"' EXIT
timeout 120 "$SIM" run --kernel "$O/linux/vmlinuz" --initrd "$O/linux/initrd.img" \
  --cmdline "console=ttyS0 panic=-1" --mem 512M --vtl2-mem 16M --timeout 100 >"$log" 2>&1
status=$?
fails=0
check() { # label regex
  if grep -Eq "$2" "$log"; then echo "ok - linux: $1"; else echo "not ok - linux: $1 (no /$2/)"; fails=$((fails + 1)); fi
}
check "the kernel runs and prints its banner" '^\[ *0\.0+\] Linux version 6\.'
check "it reads our command line" 'Command line: console=ttyS0 panic=-1'
check "our e820: low RAM, legacy hole, RAM up to VTL2 memory, VTL2 memory reserved" \
  'BIOS-e820: \[mem 0x0000000000100000-0x000000001effffff\] usable'
check "VTL2 memory is reserved in e820" 'BIOS-e820: \[mem 0x000000001f000000-0x000000001fffffff\] reserved'
check "it detects Hyper-V from our CPUID policy" 'Hypervisor detected: Microsoft Hyper-V'
check "it finds our RSDP and MADT" 'ACPI: APIC 0x00000000000E'
check "it finds our FADT" 'ACPI: FACP 0x00000000000E'
check "the VM stops in order (no paravisor error)" '^result: (PASS|POWER-OFF|STOPPED)'
if [ $fails -ne 0 ]; then
  echo "# mezz-sim exit status $status; last lines:"
  tail -30 "$log" | sed 's/^/#   /'
fi
exit $((fails > 0))
