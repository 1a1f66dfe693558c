#!/usr/bin/env bash
# The Mezzanine IGVM image end to end in hvsim (issue: boot shim and image): the host loads
# $O/mezzanine.igvm, the boot shim runs in VTL2 to the kernel entry, Debian's kernel (the
# stand-in VTL2 kernel, unmodified) prints its E820 map and command line, which must match
# what the shim handed over, the shim's device tree configures the paravisor and the demo
# guest runs in VTL0 on 2 VPs. Then a hostile host: each bad parameter gives the shim's named
# error and a clean halt (exit status 4, nothing run). The shim's device tree must decompile
# with dtc. Skips when Debian's archive cannot be reached (no kernel to build the image with).
set -u
cd "$(dirname "$0")/../.."
O=${O:-build}
SIM=$O/bin/mezz-sim
. tests/guests/fetch-linux.sh
fetch_linux_guest "igvm image" "the stand-in VTL2 kernel" quiet
if ! make --no-print-directory -s O="$O" igvm >"$O/igvm-build.log" 2>&1; then
  echo "not ok - make igvm ($(tail -3 "$O/igvm-build.log" | tr '\n' ' '))"
  exit 1
fi
IMG=$O/mezzanine.igvm
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fails=0
ok() { echo "ok - igvm: $1"; }
bad() { echo "not ok - igvm: $1"; fails=$((fails + 1)); }

"$SIM" run --igvm "$IMG" --guest "$O/guests/demo.elf" --vps 2 --host-cmdline "mezz.host=1" \
  --vtl2-dt-out "$tmp/vtl2.dtb" --timeout 120 >"$tmp/log" 2>&1
st=$?
[ $st -eq 0 ] && ok "the whole path ends with the demo guest's pass (exit 0)" \
  || bad "the whole path: exit $st ($(grep -m3 'mezz-sim:' "$tmp/log" | tr '\n' ' '))"
check() { # label regex
  if grep -Eq -- "$2" "$tmp/log"; then ok "$1"; else bad "$1 (no /$2/)"; fi
}
check "the host loads the image" 'mezz-sim: \[1/4\] IGVM image loaded'
check "the shim logs its stages on VTL2's COM1" '^vtl2: mezz-shim: '
check "the shim reaches the kernel entry" 'mezz-sim: \[2/4\] boot shim done: [0-9]+ instructions'
check "the host's command line is appended (policy append_host, not isolated)" \
  'command line "[^"]*mezz\.host=1"'
check "the kernel prints our E820 map and command line, and they match" \
  'mezz-sim: \[3/4\] the VTL2 kernel.s own printout matches the handover'
check "the paravisor is configured from the shim's device tree (2 VPs)" \
  'mezz-sim: \[4/4\] paravisor configured from the shim.s device tree: 2 VPs'
if command -v dtc >/dev/null; then
  if dtc -I dtb -O dts -o "$tmp/vtl2.dts" "$tmp/vtl2.dtb" 2>"$tmp/dtc.err" &&
     grep -q 'compatible = "mezzanine,paravisor"' "$tmp/vtl2.dts"; then
    ok "the shim's device tree decompiles with dtc"
  else
    bad "dtc: $(head -c 200 "$tmp/dtc.err")"
  fi
else
  echo "ok - igvm: dtc # SKIP dtc is not installed"
fi

# The image's VBS platform (VSM_ISOLATION: its pages and its VTL 2 register list): the shim
# sees isolation "vbs" and, the host being untrusted then, leaves the host's command line out.
"$SIM" run --igvm "$IMG" --igvm-platform vbs --guest "$O/guests/demo.elf" --vps 2 \
  --host-cmdline "mezz.host=1" --timeout 120 >"$tmp/vbs" 2>&1
st=$?
if [ $st -eq 0 ] && grep -q 'IGVM image loaded (VSM_ISOLATION platform)' "$tmp/vbs" &&
   grep -q 'params ok: isolation vbs' "$tmp/vbs" && grep -q '(static only)' "$tmp/vbs" &&
   ! grep -q 'mezz\.host=1' "$tmp/vbs" && grep -q 'matches the handover' "$tmp/vbs" &&
   grep -q 'isolation vbs' "$tmp/vbs"; then
  ok "the VBS platform boots too; its shim does not append the untrusted host's command line"
else
  bad "the VBS platform: exit $st ($(grep -m3 -E 'mezz-sim|mezz-shim: (error|command)' "$tmp/vbs" | tr '\n' ' '))"
fi

# A hostile host: one bad parameter each; the shim must name it and halt (exit 4). An all-zero
# parameter means "not given" (a VP count of 0: the device tree's cpus count).
printf 'not a device tree at all' >"$tmp/dt.bad"
python3 - "$tmp" <<'EOF'
import struct, sys
d = sys.argv[1]
ent = lambda gpn, n, t: struct.pack('<QQHHI', gpn, n, t, 0, 0)
# Overlapping entries.
open(d + '/mm.overlap', 'wb').write(ent(0, 0x10000, 0) + ent(0x8000, 0x10000, 3) + ent(0, 0, 0))
# A range past the end of the 64-bit address space.
open(d + '/mm.huge', 'wb').write(ent(0, 0x10000, 0) + ent(0xFFFFFFFFFFFFF, 0x1000, 3) + ent(0, 0, 0))
# No VTL2 memory where the image lives: everything claimed as VTL0 RAM.
open(d + '/mm.novtl2', 'wb').write(ent(0, 0x100000, 0) + ent(0, 0, 0))
open(d + '/vp.absurd', 'wb').write(struct.pack('<I', 100000))
open(d + '/vp.mismatch', 'wb').write(struct.pack('<I', 3))  # the device tree lists 2 cpus
open(d + '/cl.long', 'wb').write(b'a' * 4096)
# Terminated, but with the image's static part longer than the kernel's 2047 bytes.
open(d + '/cl.toolong', 'wb').write(b'b' * 3000 + b'\0')
EOF
hostile() { # label regex args...
  local label=$1 regex=$2
  shift 2
  "$SIM" run --igvm "$IMG" --guest "$O/guests/demo.elf" --vps 2 --no-kernel-check \
    --timeout 60 "$@" >"$tmp/out" 2>&1
  local s=$?
  if [ $s -eq 4 ] && grep -Eiq "$regex" "$tmp/out" && ! grep -q '\[2/4\]' "$tmp/out"; then
    ok "hostile host: $label"
  else
    bad "hostile host: $label (status $s: $(grep -m2 -E 'mezz-shim|mezz-sim' "$tmp/out" | tr '\n' ' ' | head -c 300))"
  fi
}
hostile "a malformed device tree" 'mezz-shim: .*device tree' --igvm-param "device_tree=$tmp/dt.bad"
hostile "overlapping memory map entries" 'mezz-shim: .*memory map.*overlap' \
  --igvm-param "memory_map=$tmp/mm.overlap"
hostile "a memory map entry past 2^64" 'mezz-shim: .*memory map' \
  --igvm-param "memory_map=$tmp/mm.huge"
hostile "a memory map without the image's VTL2 memory" 'mezz-shim: .*memory map' \
  --igvm-param "memory_map=$tmp/mm.novtl2"
hostile "an absurd VP count" 'mezz-shim: .*vp count' --igvm-param "vp_count=$tmp/vp.absurd"
hostile "a VP count that disagrees with the device tree's cpus" 'mezz-shim: .*vp count' \
  --igvm-param "vp_count=$tmp/vp.mismatch"
hostile "a command line without its terminator" 'mezz-shim: .*command line' \
  --igvm-param "command_line=$tmp/cl.long"
hostile "a terminated command line too long for the kernel" 'mezz-shim: .*command line' \
  --igvm-param "command_line=$tmp/cl.toolong"

# A parameter area overlapping the image. The host cannot place areas (the image does), so this
# is an image whose parameter page puts the device tree area on the shim's code: dumped,
# patched, rebuilt. The shim names the overlap and halts.
mkdir -p "$tmp/ov"
cat >"$tmp/ov/patch.py" <<'EOF'
import json, os, struct, sys
d = sys.argv[1]
m = json.load(open(d + '/m.json'))
done = 0
for x in m['directives']:
    if (x.get('type') == 'page_data' and int(x.get('gpa', '0'), 0) == 0x10000000 and
            int(x.get('compatibility_mask', '0'), 0) == 1 and 'data_file' in x):
        b = bytearray(open(os.path.join(d, x['data_file']), 'rb').read())
        b += bytes(4096 - len(b))
        struct.pack_into('<Q', b, 0xA0, 0x10100000)  # param_device_tree.gpa: the shim's code
        open(d + '/params.bin', 'wb').write(b)
        x['data_file'] = 'params.bin'
        done += 1
json.dump(m, open(d + '/m2.json', 'w'))
sys.exit(0 if done == 1 else 1)
EOF
if "$O/bin/mezz-igvm" dump "$IMG" --json --data-dir "$tmp/ov/data" -o "$tmp/ov/m.json" \
     >"$tmp/ov/log" 2>&1 &&
   python3 "$tmp/ov/patch.py" "$tmp/ov" >>"$tmp/ov/log" 2>&1 &&
   "$O/bin/mezz-igvm" build "$tmp/ov/m2.json" -o "$tmp/ov/overlap.igvm" >>"$tmp/ov/log" 2>&1; then
  "$SIM" run --igvm "$tmp/ov/overlap.igvm" --guest "$O/guests/demo.elf" --no-kernel-check \
    --timeout 60 >"$tmp/out" 2>&1
  s=$?
  if [ $s -eq 4 ] && grep -q 'mezz-shim: error: params: param_device_tree .* overlaps shim' "$tmp/out"; then
    ok "an image whose parameter area overlaps the shim: named, halted"
  else
    bad "parameter area overlapping the image (status $s: $(grep -m1 'mezz-shim: error' "$tmp/out"))"
  fi
else
  bad "could not make the overlapping image: $(tail -3 "$tmp/ov/log" | tr '\n' ' ')"
fi
exit $((fails > 0))

