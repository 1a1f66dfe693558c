#!/usr/bin/env bash
# Whole-system speed: Debian's unmodified cloud kernel and our initramfs (tools/linux-guest.sh)
# booting to the initramfs marker under the Mezzanine paravisor in hvsim (mezz-sim), against
# QEMU's TCG emulator (Debian 12's qemu-system-x86) on the same files, 1 CPU, 512 MiB.
#
# Method: wall time from starting the process to the marker line appearing in its console log,
# polled every 0.05 s (both flush the console per line). Runs alternate (mezz-sim, QEMU,
# mezz-sim, QEMU) so that other load on the machine hits both sides; the best run of each is
# compared. QEMU's time includes its firmware (SeaBIOS, the NIC's iPXE ROM) before the kernel
# starts; mezz-sim loads the kernel itself. After the marker each run may finish (the guest
# powers off about a second later), for at most 60 s more.
# Guest instructions: mezz-sim's count for its whole run (an upper bound), from one more run
# with --count-insns (untimed: counting makes every block call hvsim's hook). QEMU counts only
# with -icount, which changes its speed, so its count is not reported.
set -u
cd "$(dirname "$0")/../.."
O=${O:-build}
SIM=$O/bin/mezz-sim
QEMU=qemu-system-x86_64
RUNS=2
MARK='mezzanine-initramfs: /init is running'
command -v "$QEMU" >/dev/null || { echo "linux_boot: $QEMU missing (tools/install-deps.sh), skipped"; exit 0; }
O="$O" tools/linux-guest.sh
rc=$?
if [ $rc -eq 1 ]; then
  echo "linux_boot: Debian's archive is not reachable, skipped"
  exit 0
elif [ $rc -ne 0 ]; then
  echo "linux_boot: FAILED to fetch the Linux guest (tools/linux-guest.sh exit $rc)"
  exit 1
fi
K=$O/linux/vmlinuz
I=$O/linux/initrd.img
CMDLINE="console=ttyS0 panic=-1"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# to_marker LOG CMD... -> prints the seconds from start to the marker, nothing if it never came.
to_marker() {
  local log=$1 t0 t1= pid i=0
  shift
  : >"$log"  # exists before the first poll, even if the child has not opened it yet
  t0=$(date +%s.%N)
  "$@" </dev/null >"$log" 2>&1 &
  pid=$!
  while kill -0 "$pid" 2>/dev/null; do
    if grep -q "^$MARK" "$log"; then t1=$(date +%s.%N); break; fi
    sleep 0.05
  done
  # Exited between two polls: the marker, if printed, came no later than now.
  [ -z "$t1" ] && grep -q "^$MARK" "$log" && t1=$(date +%s.%N)
  while kill -0 "$pid" 2>/dev/null && [ $i -lt 600 ]; do sleep 0.1; i=$((i + 1)); done
  kill "$pid" 2>/dev/null
  wait "$pid" 2>/dev/null
  [ -n "$t1" ] && awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.2f\n", b - a }'
}

declare -A times best
fail=0
for r in $(seq 1 $RUNS); do
  for side in mezz qemu; do
    log=$tmp/$side.$r.log
    if [ $side = mezz ]; then
      t=$(to_marker "$log" "$SIM" run --kernel "$K" --initrd "$I" --cmdline "$CMDLINE" \
            --mem 512M --vtl2-mem 16M --timeout 300)
    else
      # QEMU has no timeout of its own; poweroff (-no-reboot) or panic=-1 ends it.
      t=$(to_marker "$log" timeout 300 "$QEMU" -accel tcg -m 512M -nographic -no-reboot \
            -kernel "$K" -initrd "$I" -append "$CMDLINE")
    fi
    if [ -z "$t" ]; then
      echo "linux_boot: $side run $r FAILED to reach the marker; last lines:"
      tail -15 "$log" | sed 's/^/#   /'
      fail=1
      t=-
    elif [ -z "${best[$side]:-}" ] || awk -v a="$t" -v b="${best[$side]}" 'BEGIN { exit !(a < b) }'; then
      best[$side]=$t
    fi
    times[$side]="${times[$side]:+${times[$side]}, }$t s"
  done
done
[ $fail -eq 0 ] || exit 1

# The timed runs skip hvsim's block hook where they can and count no instructions; one more
# run counts them (--count-insns: every block calls the hook), untimed.
last=$tmp/mezz.count.log
"$SIM" run --kernel "$K" --initrd "$I" --cmdline "$CMDLINE" --mem 512M --vtl2-mem 16M \
  --timeout 300 --count-insns >"$last" 2>&1 || true
insns=$(sed -n 's/^hvsim: guest instructions \([0-9]*\).*/\1/p' "$last")
result=$(sed -n 's/^result: //p' "$last")
echo "Linux boot to the initramfs marker ($(cat "$O/linux/VERSION"), 1 CPU, 512 MiB), wall time, $RUNS runs each, interleaved:"
printf '  %-44s runs %s; best %s s\n' "mezz-sim (paravisor on hvsim, no firmware)" "${times[mezz]}" "${best[mezz]}"
printf '  %-44s runs %s; best %s s\n' "QEMU $($QEMU --version | awk 'NR == 1 { print $4 }') TCG (includes SeaBIOS and iPXE)" \
  "${times[qemu]}" "${best[qemu]}"
echo "  guest instructions: mezz-sim ${insns:-n/a} (its whole run, upper bound, counted in a separate run; it ended: ${result:-?})"
echo "                      QEMU n/a (counted only with -icount, which changes its speed)"
awk -v m="${best[mezz]}" -v q="${best[qemu]}" 'BEGIN {
  r = m / q
  printf "  ratio mezz-sim/QEMU %.2fx (goal at most 1.0x QEMU'"'"'s wall time: %s)\n", r, (r <= 1.0 ? "MET" : "NOT MET")
}'
exit 0
