#!/usr/bin/env bash
# Linux's own VMBus storage stack as VTL0's, under the Mezzanine paravisor in hvsim: Debian's
# cloud kernel (tools/linux-guest.sh) boots with initrd-vmbus.img, whose /init insmods
# hv_vmbus, hv_storvsc, scsi_mod, sd_mod and their dependencies from the same package (in
# modules.dep order), waits for /dev/sda, writes the 4 KiB of $O/linux/vmbus-pattern at
# sector 2048 and reads it back with O_DIRECT, prints the kernel's vmbus/hv_/storvsc/scsi/sd
# lines and powers off. One VP, like run-linux.sh. In `make check`.
# The disk: DISK if set, else a fresh 64 MiB sparse image in a temporary file; mezz-sim gets
# --vtl2-disk (the paravisor serves it to VTL0 itself as a storvsp SCSI disk). Every module must
# load, the pattern must round-trip in the guest and the image must hold it at byte
# 2048*512 afterwards (a regular-file image has those 4 KiB zeroed before the boot, so a
# previous run cannot pass for this one). NODISK=1: boot with --vmbus and no disk (hv_vmbus
# must connect; no /dev/sda expected).
# Then a second boot (unless NODISK=1 or HOSTDISK=0) with --disk instead of --vtl2-disk: the
# simulated host offers the image to VTL2, the paravisor's storvsc opens it and relays it to
# VTL0 through its own storvsp channel (the storage relay); the same checks, TAP labels
# "linux vmbus host disk: ...". HOSTDISK=1: only that boot.
# TAP lines on stdout, the /init's report and the boot time as "#" comments. Exit 0 when
# every check passed (or skipped: Debian's archive is not reachable), 1 otherwise.
set -u
cd "$(dirname "$0")/../.."
O=${O:-build}
SIM=$O/bin/mezz-sim
DISK=${DISK:-}
NODISK=${NODISK:-}
HOSTDISK=${HOSTDISK:-}
tmpdisk=
. tests/guests/fetch-linux.sh
fetch_linux_guest "linux vmbus boot" "the Linux guest"
if ! [ -s "$O/linux/initrd-vmbus.img" ]; then
  echo "ok - linux vmbus boot # SKIP the kernel modules could not be fetched (Debian's archive is not reachable)"
  exit 0
fi
[ -x "$SIM" ] || { echo "not ok - linux vmbus: no $SIM (make O=$O all)"; exit 1; }
pattern=$O/linux/vmbus-pattern
offset=$((2048 * 512))
if [ -z "$DISK" ] && [ -z "$NODISK" ]; then
  tmpdisk=$(mktemp) && truncate -s 64M "$tmpdisk" ||
    { echo "not ok - linux vmbus: cannot make a temporary disk image"; exit 1; }
  DISK=$tmpdisk
fi
if [ -n "$DISK" ]; then
  [ -e "$DISK" ] || { echo "not ok - linux vmbus: DISK=$DISK does not exist"; exit 1; }
fi
log=$(mktemp)
trap 'rm -f "$log" ${tmpdisk:+"$tmpdisk"}' EXIT
fails=0
# One boot: $1 is the label's prefix, $2 the option giving VTL0 the disk (--vtl2-disk, --disk).
boot() {
local name=$1 disk_opt=$2
if [ -n "$DISK" ] && [ -f "$DISK" ]; then
  dd if=/dev/zero of="$DISK" bs=512 seek=2048 count=8 conv=notrunc 2>/dev/null ||
    { echo "not ok - $name: cannot clear the pattern's sectors in $DISK"; fails=$((fails + 1)); return; }
fi
disk_args=(--vmbus)
[ -n "$DISK" ] && disk_args=("$disk_opt" "$DISK")
start=$(date +%s.%N)
fails0=$fails
"$SIM" run --kernel "$O/linux/vmlinuz" --initrd "$O/linux/initrd-vmbus.img" --vps 1 \
  --cmdline "console=ttyS0 panic=-1" --mem 512M --vtl2-mem 16M --timeout 300 \
  "${disk_args[@]}" >"$log" 2>&1
status=$?
end=$(date +%s.%N)
echo "# $name: boot took $(awk -v a="$start" -v b="$end" 'BEGIN { printf "%.1f", b - a }') s wall${DISK:+ (DISK=$DISK)}"
grep -E '^mezzanine-vmbus: ' "$log" | sed 's/^/# /'
pass() { echo "ok - $name: $1"; }
fail() { echo "not ok - $name: $1"; fails=$((fails + 1)); }
check() { # label regex
  if grep -Eq "$2" "$log"; then pass "$1"; else fail "$1 (no /$2/)"; fi
}
check "the kernel runs /init" 'Run /init as init process'
check "/init runs in user mode and prints the marker" '^mezzanine-initramfs: /init is running'
# Each module of the load list: needs_vmbus when modules.dep says it depends on hv_vmbus.
while read -r m; do
  needs_vmbus=0
  case $m in hv_vmbus) needs_vmbus=1 ;; esac
  grep -Eq "/$m\\.ko(\\.[a-z]+)?:.*/hv_vmbus\\.ko" "$O/linux/modules/modules.dep" && needs_vmbus=1
  line=$(grep -E -m1 "^mezzanine-vmbus: insmod $m (ok|failed)" "$log")
  if [ -z "$line" ]; then
    fail "insmod $m: no report"
  elif [ "$line" = "mezzanine-vmbus: insmod $m ok" ]; then
    pass "insmod $m ok"
  else
    fail "insmod $m: ${line#mezzanine-vmbus: insmod $m }"
  fi
done <"$O/linux/modules/modules.load"
if [ -n "$DISK" ]; then
  check "/dev/sda appears and the pattern round-trips through it" '^mezzanine-vmbus: sda pattern ok$'
  sectors=$(sed -n 's/^mezzanine-vmbus: sda size \([0-9]*\) sectors.*/\1/p' "$log" | head -1)
  if [ -f "$DISK" ]; then
    want=$(($(stat -c %s "$DISK") / 512))
    if [ "$sectors" = "$want" ]; then pass "/sys/block/sda/size is the image's ($want sectors)"
    else fail "/sys/block/sda/size ${sectors:-not printed}, the image has $want sectors"; fi
  fi
  if dd if="$DISK" bs=512 skip=2048 count=8 2>/dev/null | cmp -s - "$pattern"; then
    pass "$DISK holds the pattern at byte $offset"
  else
    fail "$DISK does not hold the pattern at byte $offset"
  fi
else
  check "no disk offered: no /dev/sda" '^mezzanine-vmbus: no /dev/sda'
fi
check "hv_vmbus connects to the paravisor's VMBus" 'hv_vmbus: Vmbus version:[0-9]+\.[0-9]+'
check "the kernel log lines are reported" '^mezzanine-vmbus: dmesg: '
check "the guest powers off through our ACPI PM block" '^result: POWER-OFF'
if [ "$status" -eq 0 ]; then pass "mezz-sim exits 0"; else fail "mezz-sim exit status $status"; fi
if grep -q 'unchecked MSR access error' "$log"; then
  fail "an MSR the kernel uses is missing: $(grep -m1 'unchecked MSR' "$log")"
fi
if grep -Eq '^result: ERROR error|paravisor could not start|^mezzanine: AssertVirtualInterrupt' "$log"; then
  fail "the paravisor reported an error"
fi
if [ "$disk_opt" = --disk ]; then
  check "the paravisor relays the host's disk to VTL0" '^host disk relay: offered to VTL0, [0-9]+ bytes, [0-9]+ requests to the host, 0 failed'
  # No hardware isolation in hvsim's native image: Linux's buffers are named to the host.
  check "reads and writes name VTL0's pages to the host (no bounce)" "^host disk relay: .* 0 failed, [1-9][0-9]* over VTL0's own pages"
fi
if [ $fails -ne $fails0 ]; then
  echo "# last lines:"
  tail -30 "$log" | sed 's/^/#   /'
fi
}
if [ "$HOSTDISK" != 1 ] || [ -n "$NODISK" ]; then
  boot "linux vmbus" --vtl2-disk
fi
if [ -z "$NODISK" ] && [ "$HOSTDISK" != 0 ]; then
  boot "linux vmbus host disk" --disk
fi
exit $((fails > 0))
