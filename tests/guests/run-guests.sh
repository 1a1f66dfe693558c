#!/usr/bin/env bash
# End-to-end: every test guest under mezz-sim (hvsim + the Mezzanine paravisor: vtl2 core and
# devices), a few also under the ASan+UBSan build, plus the command-line contracts of mezz-sim
# and mezzanine. One "ok - NAME" / "not ok - NAME" per check;
# a failing check prints the run's output. Each run is bounded by `timeout` so a hang fails.
# Environment: O (build directory, default build).
set -u
cd "$(dirname "$0")/../.."
O=${O:-build}
SIM=$O/bin/mezz-sim
ASAN_SIM=$O/asan/bin/mezz-sim
GUESTS=$O/guests
LIMIT=20s
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fails=0

# Run a command in a child shell, so that "Aborted"/"Segmentation fault" notices about it go
# to the redirected output (the log) instead of this script's stderr.
quiet() { bash -c '"$@"; exit $?' quiet "$@"; }

report() { # name status-ok(0/1) logfile
  if [ "$2" -eq 0 ]; then
    echo "ok - $1"
  else
    echo "not ok - $1"
    sed 's/^/#   /' "$3" | tail -40
    fails=$((fails + 1))
  fi
}

# run_guest LABEL BINARY GUEST VPS EXPECTED_STATUS REGEX [extra mezz-sim options...]
# REGEX (may be empty) must match the combined output.
run_guest() {
  local label=$1 bin=$2 guest=$3 vps=$4 want=$5 regex=${6:-}
  local log="$tmp/$(echo "$label" | tr '/ ' '__').log"
  if [ ! -x "$bin" ] || [ ! -f "$GUESTS/$guest.elf" ]; then
    echo "missing $bin or $GUESTS/$guest.elf (build them first)" >"$log"
    report "$label" 1 "$log"
    return
  fi
  shift 6 2>/dev/null || shift $#
  quiet timeout "$LIMIT" "$bin" run --guest "$GUESTS/$guest.elf" --vps "$vps" --timeout 15 \
    "$@" >"$log" 2>&1
  local rc=$?
  local bad=0
  if [ "$rc" -ne "$want" ]; then
    echo "exit status $rc, expected $want$([ "$rc" -eq 124 ] && echo ' (timed out)')" >>"$log"
    bad=1
  fi
  if [ -n "$regex" ] && ! grep -Eq "$regex" "$log"; then
    echo "output does not match /$regex/" >>"$log"
    bad=1
  fi
  report "$label" "$bad" "$log"
}

# guest vps
for spec in io:1 mmio:1 cpuid:1 cpuid:3 msr:1 hypercall:1 halt:1 pagefault:1 interrupt:1 \
            vtlprot:1 smp:2 smp:4 demo:1 demo:2 chipset:1 uart:1; do
  g=${spec%%:*} n=${spec#*:}
  run_guest "guest $g (vps $n)" "$SIM" "$g" "$n" 0 '^result: PASS'
done
# A failing guest must be reported as a failure, with its assertion on the serial output.
run_guest "guest fail is reported as failure" "$SIM" fail 1 1 'ASSERT FAILED .*fail\.c:[0-9]+'
# Hostile VTL0: each case answered architecturally, the VM goes on (tests/guests/hostile.c).
run_guest "hostile VTL0: MMIO fetch, LOCK, straddles, VTL2 memory, junk MSR/VMCALL/ports" \
  "$SIM" hostile 1 0 'every port at every width survived'
# A REP INSB of 2^40 elements keeps its VP responsive: the run ends when VP 0 exits.
run_guest "hostile VTL0: huge REP INS stays cancellable" "$SIM" hostile_rep 2 0 '^result: PASS'
# 200000 exits from one OUT in a loop: answered exits at one RIP are progress, not a storm.
run_guest "a tight loop of 200000 I/O exits runs to its end" "$SIM" bench_exits 1 0 '^result: PASS'
# The chipset's own ways of stopping the VM.
run_guest "reset through 0xCF9 stops the VM" "$SIM" stop_cf9 2 4 'result: STOPPED reset'
run_guest "reset through the i8042 stops the VM" "$SIM" stop_kbd 1 4 'result: STOPPED reset'
run_guest "ACPI S5 powers the VM off" "$SIM" stop_poweroff 2 0 'result: POWER-OFF'
# Interrupt-driven UART transmit reaches the host console.
run_guest "uart THRE interrupt transmit" "$SIM" uart 1 0 'this line was sent from the THRE interrupt handler'
# COM1 over VMBus: VTL0's 16550 bytes go through the paravisor's client of the host's VMBus
# (vmbus_host) to hvsim's host serial device, which prints them.
run_guest "COM1 reaches the host over VMBus (--host-serial)" "$SIM" demo 2 0 '^host-serial: PASS' \
  --host-serial
run_guest "the paravisor's host VMBus client connects and opens the serial channel" "$SIM" io 1 0 \
  '^host VMBus: connected \(version 6\.0\), COM1 relay open, [1-9][0-9]* bytes to the host, 0 dropped' \
  --host-serial
# Our own VMBus + storvsc client (tests/guests/vmbus.c) on a fresh 1 MiB disk: it writes
# sectors 100..107 with byte i = (i * 7 + 3) & 0xFF, reads them back, and the image must hold
# that pattern afterwards. Twice: the host's disk relayed by the paravisor (--disk: the
# simulated host's storvsp, VTL2's storvsc, VTL2's storvsp to VTL0) and a disk VTL2 serves
# itself (--vtl2-disk).
vmbus_pattern= vmbus_oct=
for ((i = 0; i < 4096; i++)); do
  printf -v vmbus_oct '\\%03o' $(((i * 7 + 3) & 255))
  vmbus_pattern+=$vmbus_oct
done
printf "$vmbus_pattern" >"$tmp/vmbus-pattern.bin"
for vmbus_opt in --disk --vtl2-disk; do
  vmbus_disk="$tmp/vmbus-disk.img"
  rm -f "$vmbus_disk"
  truncate -s 1M "$vmbus_disk"
  run_guest "guest vmbus: storvsc client writes and reads back its disk ($vmbus_opt)" "$SIM" \
    vmbus 1 0 '^vmbus: sectors 100\.\.107 written and read back equal' "$vmbus_opt" "$vmbus_disk"
  dd if="$vmbus_disk" bs=512 skip=100 count=8 status=none 2>"$tmp/vmbus-cmp.log" |
    cmp - "$tmp/vmbus-pattern.bin" >>"$tmp/vmbus-cmp.log" 2>&1
  report "guest vmbus: the image holds the pattern at byte 100*512 ($vmbus_opt)" $? \
    "$tmp/vmbus-cmp.log"
  rm -f "$vmbus_disk"
done
rm -f "$tmp/vmbus-pattern.bin"

# --trace shows the VTL2's view of each exit.
run_guest "trace shows the protection intercept" "$SIM" vtlprot 1 0 \
  'vtl protection intercept: write gpa 0x[0-9a-f]+' --trace
run_guest "trace shows MMIO device accesses" "$SIM" mmio 1 0 \
  'mmio read gpa 0xfe000000 size 1 value 0x5a -> testdev-mmio ok' --trace
run_guest "trace shows each port access and its device" "$SIM" io 1 0 \
  'io out port 0xf0 size 4 value 0x[0-9a-f]+ -> testdev ok' --trace

# The same binary built with ASan+UBSan, on guests that exercise the emulator and the VTL2.
if [ -x "$ASAN_SIM" ]; then
  for spec in io:1 mmio:1 vtlprot:1 smp:2 chipset:1 uart:1 hostile:1; do
    g=${spec%%:*} n=${spec#*:}
    run_guest "asan guest $g (vps $n)" "$ASAN_SIM" "$g" "$n" 0 '^result: PASS'
  done
else
  echo "ok - asan guests # SKIP $ASAN_SIM not built"
fi

# Command line: usage errors exit 2, unusable guests exit 3, --help exits 0.
cli() { # label expected-status args...
  local label=$1 want=$2
  shift 2
  local log="$tmp/cli.log"
  quiet timeout "$LIMIT" "$SIM" "$@" >"$log" 2>&1
  local rc=$?
  [ "$rc" -eq "$want" ] || echo "exit status $rc, expected $want" >>"$log"
  report "cli: $label" "$([ "$rc" -eq "$want" ] && echo 0 || echo 1)" "$log"
}
printf 'not an elf\n' >"$tmp/bad.elf"
cli "--help" 0 --help
cli "run --help" 0 run --help
cli "no command" 2
cli "unknown command" 2 frobnicate
cli "missing --guest" 2 run
cli "--vps 0" 2 run --guest "$GUESTS/io.elf" --vps 0
cli "--vps junk" 2 run --guest "$GUESTS/io.elf" --vps 2x
cli "--mem not 4K aligned" 2 run --guest "$GUESTS/io.elf" --mem 3000001
cli "--mem too small" 2 run --guest "$GUESTS/io.elf" --mem 1M
cli "--mem bad suffix" 2 run --guest "$GUESTS/io.elf" --mem 64Q
cli "--guest without value" 2 run --guest
cli "unknown option" 2 run --guest "$GUESTS/io.elf" --bogus
cli "guest is not an ELF" 3 run --guest "$tmp/bad.elf"
cli "guest does not exist" 3 run --guest "$tmp/nonexistent.elf"
cli "--mem=16M with K/M/G suffix" 0 run --guest="$GUESTS/io.elf" --mem=16M
cli "--mem 16384K" 0 run --guest "$GUESTS/io.elf" --mem 16384K
cli "--vtl2-mem not 4K aligned" 2 run --guest "$GUESTS/io.elf" --vtl2-mem 1000
cli "--vtl2-mem too large" 2 run --guest "$GUESTS/io.elf" --mem 16M --vtl2-mem 8M
cli "--vtl2-mem 0" 0 run --guest "$GUESTS/io.elf" --vtl2-mem 0
cli "--disk that does not exist" 2 run --guest "$GUESTS/io.elf" --disk /nonexistent/disk.img
cli "--disk that is a directory" 2 run --guest "$GUESTS/io.elf" --disk /
cli "--disk without a value" 2 run --guest "$GUESTS/io.elf" --disk
cli "--vtl2-disk that does not exist" 2 run --guest "$GUESTS/io.elf" --vtl2-disk /nonexistent/disk.img
cli "--vtl2-disk that is a directory" 2 run --guest "$GUESTS/io.elf" --vtl2-disk /
cli "--guest and --kernel together" 2 run --guest "$GUESTS/io.elf" --kernel "$GUESTS/io.elf"
cli "--initrd without --kernel" 2 run --guest "$GUESTS/io.elf" --initrd "$GUESTS/io.elf"
cli "--kernel that is not a bzImage" 2 run --kernel "$GUESTS/io.elf"
cli "--kernel that does not exist" 3 run --kernel "$tmp/nonexistent"

# mezzanine: the same paravisor over the real driver; this machine has no /dev/mshv.
PV=$O/bin/mezzanine
pv() { # label expected-status regex args...
  local label=$1 want=$2 regex=$3
  shift 3
  local log="$tmp/pv.log"
  quiet timeout "$LIMIT" "$PV" "$@" >"$log" 2>&1
  local rc=$? bad=0
  [ "$rc" -eq "$want" ] || { echo "exit status $rc, expected $want" >>"$log"; bad=1; }
  if [ -n "$regex" ] && ! grep -Eq "$regex" "$log"; then
    echo "output does not match /$regex/" >>"$log"
    bad=1
  fi
  report "mezzanine: $label" "$bad" "$log"
}
pv "--help" 0 'mshv_vtl' --help
pv "no --mem-map" 2 'mem-map or --boot-dt is required'
printf 'junk' >"$tmp/junk.dtb"
pv "--boot-dt: not a device tree" 2 'boot device tree .*junk.dtb: device tree of 4 bytes' --boot-dt "$tmp/junk.dtb"
pv "--boot-dt with --mem-map" 2 'replaces --mem-map' --boot-dt "$tmp/junk.dtb" --mem-map 0:64M
if command -v dtc >/dev/null; then
  # A boot shim's tree (the nodes of boot/shim_params.h): accepted, then no driver here.
  dtc -I dts -O dtb -o "$tmp/boot.dtb" - 2>/dev/null <<'DTS'
/dts-v1/;
/ { compatible = "mezzanine,vtl2"; #address-cells = <2>; #size-cells = <2>;
  cpus { #address-cells = <1>; #size-cells = <0>; cpu@0 { device_type = "cpu"; reg = <0>; }; };
  mezzanine { compatible = "mezzanine,paravisor"; isolation = "none"; vp-count = <1>;
    vtl0-memory = <0 0 0 0x4000000>; vtl2-memory = <0 0x4000000 0 0x1000000>; };
};
DTS
  pv "--boot-dt: a shim's tree is taken (then no driver)" 3 'cannot open the mshv_vtl driver' \
    --boot-dt "$tmp/boot.dtb" --dev-dir "$tmp"
fi
pv "bad --mem-map" 2 'not a list' --mem-map 0:3000
pv "overlapping --mem-map" 3 'ranges 0 and 1 overlap' --mem-map 0:64M,0x100000:1M --dev-dir "$tmp"
pv "--vps 0" 2 '' --mem-map 0:64M --vps 0
pv "--run-layout junk" 2 'upstream or openhcl' --mem-map 0:64M --run-layout junk
pv "no driver: a clear message and status 3" 3 'cannot open the mshv_vtl driver' \
  --mem-map 0:64M --dev-dir "$tmp"

# The image's init is the static paravisor itself (tools/mkinitrd.sh): as process 1 it mounts
# /proc, /sys and /dev, takes the kernel's arguments (none: the boot shim's tree at
# /sys/firmware/fdt) and powers off at the end. Run as PID 1 of a new PID and mount namespace
# (its mounts stay there; its power-off ends that namespace: the kernel stops its init with
# SIGINT, status 130, and nothing else). Skipped where namespaces are not allowed.
PVS=$O/bin/mezzanine-static
if [ -x "$PVS" ] && unshare --pid --fork --mount --propagation private true 2>/dev/null; then
  init_run() { # label regex args...
    local label=$1 regex=$2
    shift 2
    timeout "$LIMIT" unshare --pid --fork --mount --propagation private "$PVS" "$@" \
      >"$tmp/init.log" 2>&1
    local rc=$? bad=0
    [ "$rc" -eq 130 ] || { echo "exit status $rc, expected 130 (init stopped by the power off)" >>"$tmp/init.log"; bad=1; }
    grep -Eq "$regex" "$tmp/init.log" || { echo "output does not match /$regex/" >>"$tmp/init.log"; bad=1; }
    report "mezzanine as init: $label" "$bad" "$tmp/init.log"
  }
  if [ -e /sys/firmware/fdt ]; then
    echo "ok - mezzanine as init: default --boot-dt # SKIP this machine has a /sys/firmware/fdt"
  else
    init_run "no arguments: it reads the shim's tree at /sys/firmware/fdt (absent here)" \
      'boot device tree /sys/firmware/fdt'
    grep -q 'exited with status 2; powering off' "$tmp/init.log"
    report "mezzanine as init: a usage error (2) is reported, then power off" $? "$tmp/init.log"
  fi
  if [ -f "$tmp/boot.dtb" ]; then
    init_run "the kernel's arguments, a shim's tree, no driver, then power off" \
      'cannot open the mshv_vtl driver' --boot-dt "$tmp/boot.dtb" --dev-dir "$tmp"
    grep -q 'exited with status 3; powering off' "$tmp/init.log"
    report "mezzanine as init: it reports the paravisor's status before powering off" $? "$tmp/init.log"
  fi
else
  echo "ok - mezzanine as init # SKIP no static binary or no PID/mount namespaces here"
fi

exit $((fails > 0))
