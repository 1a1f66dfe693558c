#!/usr/bin/env bash
# The proof nobody here wrote: Debian's own cloud kernel (unmodified bzImage from the archive)
# as VTL0 under the Mezzanine paravisor in hvsim, loaded by the paravisor itself (64-bit boot
# protocol, e820, ACPI tables). Checks what the kernel prints about what we gave it, in the
# order it prints it. Skips (with a message) when Debian's archive cannot be reached.
# The initramfs (tools/linux-guest.sh) prints a marker, the CPU count and the timer lines of
# /proc/interrupts a second apart, then powers off: the run must end by itself with exit
# status 0 (POWER-OFF), the marker printed and a timer count that moved.
set -u
cd "$(dirname "$0")/../.."
O=${O:-build}
SIM=$O/bin/mezz-sim
. tests/guests/fetch-linux.sh
fetch_linux_guest "linux boot" "the Linux guest"
log=$(mktemp)
trap 'rm -f "$log"' EXIT
boot() { # vps log -> exit status of mezz-sim
  "$SIM" run --kernel "$O/linux/vmlinuz" --initrd "$O/linux/initrd.img" --vps "$1" \
    --cmdline "console=ttyS0 panic=-1" --mem 512M --vtl2-mem 16M --timeout 300 >"$2" 2>&1
}
boot 1 "$log"
status=$?
# Hostile boot inputs: each a named error and exit status 2, nothing run.
bad=$(mktemp -d)
trap 'rm -f "$log"; rm -rf "$bad"' EXIT
head -c 200000 "$O/linux/vmlinuz" >"$bad/truncated"
cp "$O/linux/vmlinuz" "$bad/badhdr" && printf 'XXXX' | dd of="$bad/badhdr" bs=1 seek=$((0x202)) conv=notrunc 2>/dev/null
truncate -s 300M "$bad/big.initrd"
long=$(head -c 5000 /dev/zero | tr '\0' a)
hostile() { # label regex args...
  local label=$1 regex=$2
  shift 2
  "$SIM" run "$@" --mem 256M --vtl2-mem 16M --timeout 30 >"$bad/out" 2>&1
  local st=$?
  if [ $st -eq 2 ] && grep -Eq "$regex" "$bad/out"; then echo "ok - linux: hostile: $label"
  else echo "not ok - linux: hostile: $label (status $st: $(head -c 200 "$bad/out"))"; hostile_fails=$((hostile_fails + 1)); fi
}
hostile_fails=0
hostile "a truncated bzImage" 'cannot boot .*syssize' --kernel "$bad/truncated"
hostile "a bad setup header" 'cannot boot .*no boot protocol header' --kernel "$bad/badhdr"
hostile "an initrd larger than memory" 'cannot boot .*no free RAM for an initrd' \
  --kernel "$O/linux/vmlinuz" --initrd "$bad/big.initrd"
hostile "a command line longer than the kernel takes (no room for its terminator)" \
  'cannot boot .*command line longer than' --kernel "$O/linux/vmlinuz" --cmdline "$long"
fails=$hostile_fails
check() { # label regex
  if grep -Eq "$2" "$log"; then echo "ok - linux: $1"; else echo "not ok - linux: $1 (no /$2/)"; fails=$((fails + 1)); fi
}
check "the kernel runs and prints its banner" '^\[ *0\.0+\] Linux version 6\.'
check "it reads our command line" 'Command line: console=ttyS0 panic=-1'
check "our e820: RAM up to VTL2 memory" \
  'BIOS-e820: \[mem 0x0000000000100000-0x000000001effffff\] usable'
check "VTL2 memory is reserved in e820" 'BIOS-e820: \[mem 0x000000001f000000-0x000000001fffffff\] reserved'
check "it detects Hyper-V from our CPUID policy" 'Hypervisor detected: Microsoft Hyper-V'
check "it uses the reference TSC page" 'clocksource: hyperv_clocksource_tsc_page'
check "it finds our RSDP, FADT and MADT" 'ACPI: APIC 0x00000000000E'
check "it finds our IOAPIC through the MADT" 'IOAPIC\[0\]: apic_id 0, version 32, address 0xfec00000'
check "its local APIC timer runs (BogoMIPS from the timer)" 'Calibrating delay loop \(skipped\), value calculated using timer frequency'
check "ACPICA loads our DSDT" 'ACPI: 1 ACPI AML tables successfully acquired and loaded'
check "it finds S5 (power off) in our DSDT" 'ACPI: PM: \(supports S0 S5\)'
check "it routes interrupts through our IOAPIC" 'ACPI: Using IOAPIC for interrupt routing'
check "it switches to the Hyper-V reference TSC clocksource" 'clocksource: Switched to clocksource hyperv_clocksource_tsc_page'
check "its own 8250 driver finds our UART (via our DSDT's COM1) and calls it a 16550A" \
  'ttyS0 at I/O 0x3f8 \(irq = 4, base_baud = 115200\) is a 16550A'
check "it unpacks our initramfs" 'Trying to unpack rootfs image as initramfs'
check "it runs /init" 'Run /init as init process'
check "/init runs in user mode and prints the marker" '^mezzanine-initramfs: /init is running'
check "/proc/cpuinfo shows one CPU" '^mezzanine-initramfs: cpus 1$'
# A timer line (Hyper-V stimer0 or the local APIC timer) whose count grew over the second.
moved=$(awk '$1 == "mezzanine-initramfs:" && ($2 == "timer-a" || $2 == "timer-b") {
  n = $4 + 0; if ($2 == "timer-a") a[$3] = n; else if (n > a[$3]) { print $3, a[$3], n; exit } }' "$log")
if [ -n "$moved" ]; then echo "ok - linux: timer interrupts count in user mode ($moved)"
else echo "not ok - linux: no timer line of /proc/interrupts moved"; fails=$((fails + 1)); fi
check "the guest powers off through our ACPI PM block" '^result: POWER-OFF'
if [ "$status" -eq 0 ]; then echo "ok - linux: mezz-sim exits 0"
else echo "not ok - linux: mezz-sim exit status $status"; fails=$((fails + 1)); fi
# Every MSR the kernel touches at boot exists (it reports the ones that #GP).
if grep -q 'unchecked MSR access error' "$log"; then
  echo "not ok - linux: an MSR the kernel uses is missing: $(grep -m1 'unchecked MSR' "$log")"
  fails=$((fails + 1))
else
  echo "ok - linux: every MSR the kernel uses at boot answers"
fi
if grep -Eq '^result: ERROR error|paravisor could not start|^mezzanine: AssertVirtualInterrupt' "$log"; then
  echo "not ok - linux: the paravisor reported an error"
  fails=$((fails + 1))
fi
if [ $fails -ne 0 ]; then
  echo "# last lines:"
  tail -30 "$log" | sed 's/^/#   /'
fi
# Two VPs: the AP starts from our SIPI in real mode, both CPUs run /init's world, and kernel
# text patched on one CPU (static keys, text_poke_bp) is what the other runs (hvsim_xmod.c).
log2=$(mktemp)
trap 'rm -f "$log" "$log2"; rm -rf "$bad"' EXIT
boot 2 "$log2"
status2=$?
smp_fails=0
check2() { # label regex
  if grep -Eq "$2" "$log2"; then echo "ok - linux 2 VPs: $1"
  else echo "not ok - linux 2 VPs: $1 (no /$2/)"; smp_fails=$((smp_fails + 1)); fi
}
check2 "the kernel brings up the second CPU" 'smp: Brought up 1 node, 2 CPUs'
check2 "/init runs and /proc/cpuinfo shows two CPUs" '^mezzanine-initramfs: cpus 2$'
check2 "the guest powers off" '^result: POWER-OFF'
if [ "$status2" -eq 0 ]; then echo "ok - linux 2 VPs: mezz-sim exits 0"
else echo "not ok - linux 2 VPs: mezz-sim exit status $status2"; smp_fails=$((smp_fails + 1)); fi
if [ $smp_fails -ne 0 ]; then
  echo "# last lines (2 VPs):"
  tail -30 "$log2" | sed 's/^/#   /'
fi
fails=$((fails + smp_fails))
exit $((fails > 0))
