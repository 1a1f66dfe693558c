#!/usr/bin/env bash
# mezz-igvm "paravisor" section tests (SCRIPT_TESTS): an image from a synthetic bzImage, a
# stand-in shim ELF (one instruction linked at 0x10100000) and a small initrd; then hostile
# inputs, each of which must exit 2 with a message naming the problem and leave no output.
# Uses $O/bin/mezz-igvm (and $O/asan/bin/mezz-igvm when built). Needs gcc and python3.
set -u
cd "$(dirname "$0")/../../.." || exit 1
O=${O:-build}
B=$O/bin/mezz-igvm
A=$O/asan/bin/mezz-igvm
W=$(mktemp -d)
trap 'rm -rf "$W"' EXIT
fails=0

. tools/mezz-igvm/tests/lib.sh

if [ ! -x "$B" ]; then
	echo "not ok - $B not built"
	exit 1
fi
if ! command -v python3 >/dev/null || ! command -v gcc >/dev/null; then
	echo "ok - paravisor tests (# SKIP need python3 and gcc)"
	exit 0
fi

# ---- inputs ----
# Stand-in shim: one hlt at 0x10100000 (text) plus a page of bss.
printf '.globl _start\n.text\n_start: hlt\n.bss\n.space 8192\n' >"$W/shim.S"
gcc -nostdlib -static -no-pie -Wl,-Ttext=0x10100000 -Wl,--build-id=none \
	-o "$W/shim.elf" "$W/shim.S" || { echo "not ok - cannot link the stand-in shim"; exit 1; }
# A shim linked below the region, and one that overlaps the loader block.
gcc -nostdlib -static -no-pie -Wl,-Ttext=0x08000000 -Wl,--build-id=none \
	-o "$W/shim-low.elf" "$W/shim.S" || exit 1
gcc -nostdlib -static -no-pie -Wl,-Ttext=0x10004000 -Wl,--build-id=none \
	-o "$W/shim-loader.elf" "$W/shim.S" || exit 1
# TDX reset page: 4 KiB of 0xf4 (hlt) so the patched fields stand out.
python3 -c 'import sys; sys.stdout.buffer.write(b"\xf4" * 4096)' >"$W/reset.bin"
# mkbz FILE [field=value ...]: a bzImage with a valid setup header (version 2.15, 64-bit
# entry, relocatable, 2 MiB alignment, init_size 3 MiB, setup_sects 3) and 600 KiB of
# protected-mode bytes; fields override (magic=0 drops HdrS, version=, xlf=, init=, sects=,
# size= the whole file length).
cat >"$W/mkbz.py" <<'PY'
import struct, sys
out = sys.argv[1]
o = dict(a.split("=") for a in sys.argv[2:])
sects = int(o.get("sects", "3"))
setup = (sects + 1) * 512
pm = 600 * 1024
img = bytearray(setup + pm)
img[0x1F1] = sects
struct.pack_into("<H", img, 0x1FE, 0xAA55)
if o.get("magic", "1") != "0":
    img[0x202:0x206] = b"HdrS"
struct.pack_into("<H", img, 0x206, int(o.get("version", "0x020F"), 0))
img[0x211] = 0x01                                             # LOADED_HIGH
struct.pack_into("<I", img, 0x230, 0x200000)                  # kernel_alignment
img[0x234] = 1                                                # relocatable_kernel
struct.pack_into("<H", img, 0x236, int(o.get("xlf", "0x7f"), 0))
struct.pack_into("<I", img, 0x260, int(o.get("init", str(3 << 20)), 0))
for i in range(setup, len(img), 4096):                        # recognisable kernel pages
    img[i:i + 8] = struct.pack("<Q", 0x4B45524E454C0000 | ((i - setup) // 4096 + 1))
if "size" in o:
    img = img[:int(o["size"], 0)]
open(out, "wb").write(img)
PY
python3 "$W/mkbz.py" "$W/bzImage" || exit 1
python3 "$W/mkbz.py" "$W/notbz" magic=0
python3 "$W/mkbz.py" "$W/oldbz" version=0x020A
python3 "$W/mkbz.py" "$W/bz32" xlf=0
python3 "$W/mkbz.py" "$W/bzshort" size=0x400
python3 -c 'import sys; sys.stdout.buffer.write(bytes(range(256)) * 40 + b"tail")' >"$W/initrd.cpio"

# manifest FILE [paravisor-json-members]: all four platforms, the paravisor section with the
# files above plus the extra members.
manifest() {
	local f=$1 extra=${2:-}
	cat >"$f" <<EOF
{
  "format_version": 2,
  "platforms": [
    { "type": "native", "compatibility_mask": "0x1", "highest_vtl": 2 },
    { "type": "vsm_isolation", "compatibility_mask": "0x2", "highest_vtl": 2 },
    { "type": "sev_snp", "compatibility_mask": "0x4", "highest_vtl": 2,
      "shared_gpa_boundary": "0x400000000000" },
    { "type": "tdx", "compatibility_mask": "0x8", "highest_vtl": 2 }
  ],
  "initialization": [
    { "type": "guest_policy", "policy": "0x30000", "compatibility_mask": "0x4" }
  ],
  "paravisor": {
    "shim": "shim.elf", "tdx_reset": "reset.bin", "kernel": "bzImage",
    "initrd": "initrd.cpio",
    "command_line": "console=ttyS0 rdinit=/mezzanine-init",
    "command_line_policy": "append_host"$extra
  }
}
EOF
}

# ---- a good image ----
manifest "$W/pv.json"
expect 0 "build a paravisor image" "$B" build "$W/pv.json" -o "$W/pv.igvm"
expect 0 "verify it" "$B" verify "$W/pv.igvm"
grep -q "NATIVE(mask 0x1) VSM_ISOLATION(mask 0x2) SEV_SNP(mask 0x4) TDX(mask 0x8)" "$W/out.txt" ||
	nok "verify lists the four platforms ($(cat "$W/out.txt"))"
expect 0 "measure it" "$B" measure "$W/pv.igvm"
# native has no launch measurement: SNP, TDX and VBS each print one line.
check "measure prints the three measurable platforms" test "$(wc -l <"$W/out.txt")" -eq 3
for p in SEV_SNP TDX VSM_ISOLATION; do
	grep -q "^$p	mask=0x[0-9a-f]*	[0-9a-f]\{64,96\}$" "$W/out.txt" || nok "measure prints $p"
done
cp "$W/out.txt" "$W/measure1.txt"
expect 0 "build again" "$B" build "$W/pv.json" -o "$W/pv2.igvm"
check "the build is reproducible" cmp -s "$W/pv.igvm" "$W/pv2.igvm"
expect 0 "dump --json it" "$B" dump --json "$W/pv.igvm" -o "$W/pv-dump.json"
check_image() {
	python3 - "$W/pv-dump.json" "$@" <<'PY'
import json, struct, sys
m = json.load(open(sys.argv[1]))
d = m["directives"]
def num(v): return int(v, 0) if isinstance(v, str) else v
def data(x): return bytes.fromhex(x.get("data_hex", "").replace(" ", ""))
B = 0x10000000
errs = []
pages = {}
for x in d:
    if x["type"] == "page_data":
        pages.setdefault(num(x["gpa"]), []).append(x)
params = pages.get(B, [])
if len(params) != 4:
    errs.append("want 4 params pages at 0x10000000, got %d" % len(params))
iso = {}
for p in params:
    b = data(p).ljust(4096, b"\0")
    magic, ver, size, isol, pol = struct.unpack_from("<QIIII", b, 0)
    if magic != 0x4D4948535A5A454D: errs.append("params magic %#x" % magic)
    if ver != 1 or size != 0x900: errs.append("params version/size %d/%#x" % (ver, size))
    if pol != 1: errs.append("cmdline policy %d" % pol)
    iso[num(p["compatibility_mask"])] = isol
    vtl2 = struct.unpack_from("<QQ", b, 0x18)
    kgpa, kbytes, span = struct.unpack_from("<QQQ", b, 0x58)
    igpa, isize = struct.unpack_from("<QQ", b, 0x70)
    hgpa, hsize = struct.unpack_from("<QQ", b, 0x90)
    com = struct.unpack_from("<H", b, 0xE0)[0]
    cmd = b[0x100:0x900].split(b"\0")[0]
    if kgpa % 0x200000 or kgpa < B + 0x200000: errs.append("kernel gpa %#x" % kgpa)
    if kbytes != 600 * 1024 or span != 4 << 20: errs.append("kernel %#x span %#x" % (kbytes, span))
    if igpa != kgpa + span or isize != 10244: errs.append("initrd %#x+%#x" % (igpa, isize))
    if hsize < 1 << 20: errs.append("heap %#x" % hsize)
    if com != 0x3F8: errs.append("com %#x" % com)
    if cmd != b"console=ttyS0 rdinit=/mezzanine-init": errs.append("cmdline %r" % cmd)
    if vtl2[0] != B or vtl2[1] % 0x200000: errs.append("vtl2 %r" % (vtl2,))
    kfirst = pages.get(kgpa, [None])[0]
    if not kfirst or data(kfirst)[:8] != struct.pack("<Q", 0x4B45524E454C0000 | 1):
        errs.append("no kernel page at %#x" % kgpa)
if iso != {1: 0, 2: 1, 4: 2, 8: 3}: errs.append("isolation per mask %r" % iso)
gdt = data(pages[B + 0x1000][0]).ljust(40, b"\0")
if struct.unpack_from("<5Q", gdt) != (0, 0, 0x00AF9A000000FFFF, 0x00CF92000000FFFF, 0x00CF9A000000FFFF):
    errs.append("GDT")
pd3 = data(pages[B + 0x7000][0]).ljust(4096, b"\0")
if struct.unpack_from("<Q", pd3, 511 * 8)[0] != 0xFFE00000 | 0xE3: errs.append("last PDE")
tdx = pages.get(0xFFFFF000, [])
if len(tdx) != 1 or num(tdx[0]["compatibility_mask"]) != 8: errs.append("TDX reset page")
else:
    t = data(tdx[0]).ljust(4096, b"\0")
    if struct.unpack_from("<I", t, 0xFC0)[0] != B + 0x2000: errs.append("reset CR3")
    if struct.unpack_from("<HI", t, 0xFC8) != (0x27, B + 0x1000): errs.append("reset GDTR")
    if struct.unpack_from("<QQ", t, 0xFD0) != (B, 0x10100000): errs.append("reset params/entry")
kinds = sorted(x.get("kind") for x in d if x["type"] == "vp_context")
if kinds != ["native_x64", "snp", "vbs"]: errs.append("VP contexts %r" % kinds)
for x in d:
    if x["type"] == "vp_context" and x["kind"] == "snp":
        v = data(x).ljust(4096, b"\0")
        if num(x["gpa"]) != B + 0x8000: errs.append("VMSA gpa")
        if struct.unpack_from("<Q", v, 0x178)[0] != 0x10100000: errs.append("VMSA rip")
        if struct.unpack_from("<Q", v, 0x330)[0] != B: errs.append("VMSA rsi")
        if struct.unpack_from("<HHI", v, 0x10) != (0x10, 0xA9B, 0xFFFFFFFF): errs.append("VMSA cs")
        if struct.unpack_from("<Q", v, 0xD0)[0] != 0x1D01: errs.append("VMSA efer")
        if struct.unpack_from("<Q", v, 0x3B0)[0] != 3: errs.append("VMSA sev_features")
    if x["type"] == "vp_context" and x["kind"] == "native_x64":
        v = data(x).ljust(232, b"\0")
        if struct.unpack_from("<Q", v, 0x80)[0] != 0x10100000: errs.append("native rip")
        if struct.unpack_from("<Q", v, 0xD0)[0] != B + 0x2000: errs.append("native cr3")
    if x["type"] == "vp_context" and x["kind"] == "vbs":
        regs = {r["name"]: r for r in x["registers"]}
        if x.get("vtl") != 2: errs.append("vbs vtl")
        if num(regs["rip"]["value"]) != 0x10100000 or num(regs["rsi"]["value"]) != B:
            errs.append("vbs rip/rsi")
for x in d:
    if x["type"] == "page_data" and ("flags" in x and x["flags"]):
        errs.append("page with flags %r" % x["flags"])
areas = [(x["index"], num(x["number_of_bytes"])) for x in d if x["type"] == "parameter_area"]
if areas != [(0, 0x10000), (1, 0x4000), (2, 0x1000), (3, 0x1000)]: errs.append("areas %r" % areas)
ins = [(num(x["gpa"]), num(x["compatibility_mask"])) for x in d if x["type"] == "parameter_insert"]
if ins != [(B + 0x10000, 15), (B + 0x20000, 15), (B + 0x24000, 15), (B + 0x25000, 15)]:
    errs.append("inserts %r" % ins)
if not any(x["type"] == "required_memory" for x in d): errs.append("no required_memory")
if errs:
    print("; ".join(errs))
    sys.exit(1)
PY
}
check "dump: params pages, GDT, page tables, kernel, initrd, reset page, VP contexts" check_image
expect 0 "dump (text) it" "$B" dump "$W/pv.igvm"
grep -q "gpa=0x10000000" "$W/out.txt" || grep -qi "0x10000000" "$W/out.txt" ||
	nok "text dump shows the params page at 0x10000000"
if [ -x "$A" ]; then
	expect 0 "asan build of the same image" "$A" build "$W/pv.json" -o "$W/pv-asan.igvm"
	check "asan build is identical" cmp -s "$W/pv.igvm" "$W/pv-asan.igvm"
fi

# --set overrides, relative to the current directory
mkdir -p "$W/other"
cp "$W/bzImage" "$W/other/vmlinuz"
python3 -c 'import sys; sys.stdout.buffer.write(b"other initrd")' >"$W/other/initrd"
(cd "$W" && "$OLDPWD/$B" build pv.json -o pv-set.igvm --set kernel=other/vmlinuz \
	--set initrd=other/initrd) >"$W/out.txt" 2>"$W/err.txt"
check "build with --set" test $? -eq 0 -a -s "$W/pv-set.igvm"
run "$B" measure "$W/pv-set.igvm"
check "--set initrd changes the measurements" test "$rc" -eq 0 -a -n "$(diff "$W/out.txt" "$W/measure1.txt")"
expect 2 "--set of an unknown name" "$B" build "$W/pv.json" -o "$W/bad.igvm" --set kernal=x
grep -q "kernal" "$W/err.txt" || nok "the message names the unknown --set name"
expect 2 "--set without NAME=PATH" "$B" build "$W/pv.json" -o "$W/bad.igvm" --set kernel
expect 2 "--set of a missing file" "$B" build "$W/pv.json" -o "$W/bad.igvm" --set kernel="$W/nope"
grep -q "paravisor.kernel: cannot read" "$W/err.txt" || nok "missing --set file is named"

# ---- hostile inputs: exit 2, the named problem, no output file ----
# bad NAME MESSAGE-REGEX MANIFEST-EXTRA [--set ...]: build must fail as described
bad() {
	local name=$1 re=$2 extra=$3
	shift 3
	manifest "$W/bad.json" "$extra"
	rm -f "$W/bad.igvm"
	expect 2 "$name" "$B" build "$W/bad.json" -o "$W/bad.igvm" "$@"
	grep -Eq "$re" "$W/err.txt" || nok "$name: message matches /$re/ ($(cat "$W/err.txt"))"
	if compgen -G "$W/bad.igvm*" >/dev/null; then nok "$name: output left behind"; fi
}
bad "kernel without HdrS" 'paravisor\.kernel: not a bzImage \(no HdrS at 0x202\)' '' --set kernel="$W/notbz"
bad "boot protocol 2.10" 'paravisor\.kernel: boot protocol 2\.10 is older than 2\.12' '' --set kernel="$W/oldbz"
bad "kernel without 64-bit entry" 'paravisor\.kernel: .*XLF_KERNEL_64' '' --set kernel="$W/bz32"
bad "truncated kernel" 'paravisor\.kernel: setup_sects 3: the setup part' '' --set kernel="$W/bzshort"
bad "shim that is not an ELF" 'paravisor\.shim: not an ELF file' '' --set shim="$W/bzImage"
bad "shim below the region" 'paravisor\.shim: segments start at 0x[0-9a-f]+, below the VTL2 region' '' --set shim="$W/shim-low.elf"
bad "shim inside the loader block" 'paravisor\.shim: segments start at 0x1000[0-9a-f]{4}, inside the loader block' '' --set shim="$W/shim-loader.elf"
# Overlapping segments: the second program header copied over the first's range.
python3 - "$W/shim.elf" "$W/shim-overlap.elf" "$W/shim-wrap.elf" "$W/shim-dyn.elf" <<'PY'
import struct, sys
src = bytearray(open(sys.argv[1], "rb").read())
phoff, = struct.unpack_from("<Q", src, 0x20)
phnum, = struct.unpack_from("<H", src, 0x38)
loads = [i for i in range(phnum) if struct.unpack_from("<I", src, phoff + 56 * i)[0] == 1]
assert len(loads) >= 2, loads
a, b = (phoff + 56 * i for i in loads[:2])
ov = bytearray(src)
pa, = struct.unpack_from("<Q", ov, a + 0x18)
struct.pack_into("<QQ", ov, b + 0x10, pa, pa)           # second segment at the first's address
open(sys.argv[2], "wb").write(ov)
wr = bytearray(src)
struct.pack_into("<Q", wr, a + 0x28, 0xFFFFFFFFFFFFF000)  # memsz wraps around
open(sys.argv[3], "wb").write(wr)
dy = bytearray(src)
struct.pack_into("<I", dy, phoff + 56 * (phnum - 1), 2)  # a PT_DYNAMIC header
open(sys.argv[4], "wb").write(dy)
PY
bad "shim with overlapping segments" 'paravisor\.shim: segment [0-9]+ .* overlaps another PT_LOAD segment' '' --set shim="$W/shim-overlap.elf"
bad "shim segment wrapping around" 'paravisor\.shim: segment [0-9]+: .* not below 4 GiB' '' --set shim="$W/shim-wrap.elf"
bad "shim with PT_DYNAMIC" 'paravisor\.shim: program header [0-9]+ is PT_DYNAMIC' '' --set shim="$W/shim-dyn.elf"
bad "vtl2_size too small" 'paravisor\.vtl2_size: 0x400000 is too small: the layout needs 0x[0-9a-f]+ bytes' ', "vtl2_size": "0x400000"'
bad "vtl2_size not 2 MiB aligned" 'paravisor\.vtl2_size: 0x[0-9a-f]+ is not a multiple of 2 MiB' ', "vtl2_size": "0x4001000"'
bad "vtl2_base not 2 MiB aligned" 'paravisor\.vtl2_base: 0x10100000 is not 2 MiB aligned' ', "vtl2_base": "0x10100000"'
bad "region over the TDX reset page" 'paravisor\.vtl2_size: the region .* covers the TDX reset page' ', "vtl2_size": "0xF0000000"'
long=$(python3 -c 'print("x" * 2048)')
bad "command line too long" 'paravisor\.command_line: 2085 characters, more than 2047' ", \"command_line\": \"console=ttyS0 rdinit=/mezzanine-init $long\""
bad "command line with a tab" 'paravisor\.command_line: byte 0x09 at 3 is not printable ASCII' ', "command_line": "abc\tdef"'
bad "unknown paravisor key" 'paravisor: unknown key "kernal"' ', "kernal": "x"'
bad "bad command_line_policy" 'command_line_policy' ', "command_line_policy": "prepend"'
bad "tdx reset page of the wrong size" 'paravisor\.tdx_reset: [0-9]+ bytes, not one 4096-byte page' '' --set tdx_reset="$W/initrd.cpio"
bad "missing initrd file" 'paravisor\.initrd: cannot read' '' --set initrd="$W/nope.cpio"
# Platform rules, each with its own small manifest.
cat >"$W/bad.json" <<EOF
{ "platforms": [ { "type": "sev_snp", "compatibility_mask": 1, "highest_vtl": 2 } ],
  "paravisor": { "shim": "shim.elf", "kernel": "bzImage" } }
EOF
expect 2 "sev_snp without a vTOM" "$B" build "$W/bad.json" -o "$W/bad.igvm"
grep -q "shared_gpa_boundary" "$W/err.txt" || nok "the vTOM message names shared_gpa_boundary"
cat >"$W/bad.json" <<EOF
{ "platforms": [ { "type": "native", "compatibility_mask": 1, "highest_vtl": 0 } ],
  "paravisor": { "shim": "shim.elf", "kernel": "bzImage" } }
EOF
expect 2 "highest_vtl 0" "$B" build "$W/bad.json" -o "$W/bad.igvm"
grep -q "highest_vtl must be 2" "$W/err.txt" || nok "highest_vtl message"
cat >"$W/bad.json" <<EOF
{ "platforms": [ { "type": "tdx", "compatibility_mask": 1, "highest_vtl": 2 } ],
  "paravisor": { "shim": "shim.elf", "kernel": "bzImage" } }
EOF
expect 2 "tdx without tdx_reset" "$B" build "$W/bad.json" -o "$W/bad.igvm"
grep -q "paravisor.tdx_reset: missing" "$W/err.txt" || nok "tdx_reset message"
cat >"$W/bad.json" <<EOF
{ "platforms": [ { "type": "native", "compatibility_mask": 1, "highest_vtl": 2 } ],
  "directives": [], "paravisor": { "shim": "shim.elf", "kernel": "bzImage" } }
EOF
expect 2 "paravisor with directives" "$B" build "$W/bad.json" -o "$W/bad.igvm"
grep -q "mutually exclusive" "$W/err.txt" || nok "directives message"
cat >"$W/bad.json" <<EOF
{ "platforms": [ { "type": "native", "compatibility_mask": 1, "highest_vtl": 2 } ],
  "paravisor": { "kernel": "bzImage" } }
EOF
expect 2 "paravisor without a shim" "$B" build "$W/bad.json" -o "$W/bad.igvm"
grep -q 'missing "shim"' "$W/err.txt" || nok "missing shim message"
# A minimal native-only image works without tdx_reset or initrd.
cat >"$W/min.json" <<EOF
{ "format_version": 2,
  "platforms": [ { "type": "native", "compatibility_mask": 1, "highest_vtl": 2 } ],
  "paravisor": { "shim": "shim.elf", "kernel": "bzImage", "vtl2_size": "0x1000000",
                 "com_port": 0 } }
EOF
expect 0 "native-only image without initrd" "$B" build "$W/min.json" -o "$W/min.igvm"
expect 0 "verify it" "$B" verify "$W/min.igvm"
expect 2 "--set on a manifest without a paravisor section" "$B" build \
	tools/mezz-igvm/examples/multi.json -o "$W/bad.igvm" --set kernel="$W/bzImage"

# The repository's manifest parses (its files are build outputs: give stand-ins).
expect 0 "tools/mezz-igvm/mezzanine.json with stand-in files" "$B" build \
	tools/mezz-igvm/mezzanine.json -o "$W/mezz.igvm" --set shim="$W/shim.elf" \
	--set tdx_reset="$W/reset.bin" --set kernel="$W/bzImage" --set initrd="$W/initrd.cpio"
run "$B" measure "$W/mezz.igvm"
check "measure of the repository manifest prints 3 lines" test "$rc" -eq 0 -a "$(wc -l <"$W/out.txt")" -eq 3

if [ $fails -ne 0 ]; then
	echo "# $fails failed"
	exit 1
fi
exit 0
