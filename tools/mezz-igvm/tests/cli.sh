#!/usr/bin/env bash
# mezz-igvm command line tests (SCRIPT_TESTS). Prints one `ok - ...` / `not ok - ...` line per
# check. Uses $O/bin/mezz-igvm and, for a few cases, $O/asan/bin/mezz-igvm.
# Reference files: ../shared/testdata/igvm (skipped with a message when absent).
set -u
cd "$(dirname "$0")/../../.." || exit 1
O=${O:-build}
B=$O/bin/mezz-igvm
A=$O/asan/bin/mezz-igvm
EX=tools/mezz-igvm/examples
T=../shared/testdata/igvm
W=$(mktemp -d)
trap 'chmod -R u+w "$W" 2>/dev/null; rm -rf "$W"' EXIT
fails=0

ok() { echo "ok - $*"; }
nok() { echo "not ok - $*"; fails=$((fails + 1)); }
check() { local d=$1; shift; if "$@"; then ok "$d"; else nok "$d"; fi; }
# check_py DESC ARGS...: a check written in Python (skipped when python3 is missing)
PY=$(command -v python3 || true)
check_py() {
	local d=$1; shift
	if [ -z "$PY" ]; then echo "ok - $d (# SKIP no python3)"; return; fi
	check "$d" "$PY" "$@"
}

if [ ! -x "$B" ]; then
	echo "not ok - $B not built"
	exit 1
fi

# run BIN ARGS...: stdout -> $W/out.txt, stderr -> $W/err.txt, status -> $rc
run() { "$@" >"$W/out.txt" 2>"$W/err.txt"; rc=$?; }
# expect STATUS DESC BIN ARGS...: status must match and a failure must say something on stderr
expect() {
	local want=$1 d=$2; shift 2
	run "$@"
	if [ "$rc" -ne "$want" ]; then
		nok "$d (exit $rc, want $want: $(head -c 300 "$W/err.txt"))"
	elif [ "$want" -ne 0 ] && [ ! -s "$W/err.txt" ]; then
		nok "$d (exit $rc but no message)"
	else
		ok "$d"
	fi
}
# no file matching the glob exists (output and temp files)
none_left() { ! compgen -G "$1" >/dev/null; }

# ---- help ----
expect 0 "--help" "$B" --help
grep -q "usage: mezz-igvm COMMAND" "$W/out.txt" || nok "--help text names the usage"
for c in build dump measure verify; do
	expect 0 "$c --help" "$B" "$c" --help
	grep -q "usage: mezz-igvm $c" "$W/out.txt" || nok "$c --help prints its usage"
done
expect 0 "help measure" "$B" help measure
expect 2 "no arguments" "$B"
expect 2 "unknown command" "$B" frobnicate
expect 2 "build without -o" "$B" build "$EX/multi.json"
expect 2 "build with unknown option" "$B" build "$EX/multi.json" -o "$W/x.bin" --frob
expect 2 "measure with unknown platform" "$B" measure "$W/x.bin" --platform sgx
expect 2 "measure with unknown convention" "$B" measure "$W/x.bin" --convention foo
expect 2 "verify of a missing file" "$B" verify "$W/does-not-exist.bin"

# ---- example manifest: build, verify, dump, round trip ----
expect 0 "build example manifest" "$B" build "$EX/multi.json" -o "$W/ex.bin"
check "no temp files left after build" none_left "$W/ex.bin.tmp.*"
expect 0 "verify built example" "$B" verify "$W/ex.bin"
grep -q "SEV_SNP(mask 0x1) TDX(mask 0x2) VSM_ISOLATION(mask 0x4)" "$W/out.txt" ||
	nok "verify lists the example's platforms"
expect 0 "dump example (text)" "$B" dump "$W/ex.bin"
grep -q "PARAMETER_INSERT" "$W/out.txt" || nok "text dump lists a PARAMETER_INSERT"
expect 0 "dump --json example" "$B" dump --json "$W/ex.bin" -o "$W/ex.json"
[ -s "$W/err.txt" ] && nok "dump --json of our own output warns: $(cat "$W/err.txt")"
expect 0 "build from dumped manifest" "$B" build "$W/ex.json" -o "$W/ex2.bin"
check "example round trip is byte-identical" cmp -s "$W/ex.bin" "$W/ex2.bin"
expect 0 "measure example (all platforms)" "$B" measure "$W/ex.bin"
check "measure prints three platforms" test "$(wc -l <"$W/out.txt")" -eq 3
run "$B" measure --json "$W/ex.bin"
check_py "measure --json is a JSON array of 3" -c \
	"import json,sys; d=json.load(open('$W/out.txt')); sys.exit(0 if len(d)==3 and all(len(x['digest']) in (64,96) for x in d) else 1)"
# The payload of the "pages" directive lands in the file, split into pages.
check_py "payload file bytes are in the image" -c "
import sys
img=open('$W/ex.bin','rb').read(); p=open('$EX/blob5000.bin','rb').read()
sys.exit(0 if p[:4096] in img and p[4096:]+bytes(4096-len(p[4096:])) in img else 1)"

# data_file slices and "pages" with extra zero pages
cat >"$W/slice.json" <<EOF
{ "platforms": [ { "type": "tdx", "compatibility_mask": 1 } ],
  "directives": [
    { "type": "page_data", "gpa": "0x1000", "compatibility_mask": 1,
      "data_file": "$(pwd)/$EX/blob5000.bin", "data_file_offset": 4000, "data_size": 16 },
    { "type": "pages", "gpa": "0x10000", "compatibility_mask": 1, "page_count": 4,
      "data_hex": "ee" } ] }
EOF
expect 0 "build with data_file slice and page_count" "$B" build "$W/slice.json" -o "$W/slice.bin"
check_py "slice bytes and zero pages are where the manifest says" -c "
import struct,sys
b=open('$W/slice.bin','rb').read(); p=open('$EX/blob5000.bin','rb').read()
vho,vhs=struct.unpack_from('<II',b,8); off=vho; pages=[]
while off<vho+vhs:
    t,l=struct.unpack_from('<II',b,off)
    if t==0x302: pages.append(struct.unpack_from('<QIII',b,off+8))
    off+=8+((l+7)&~7)
ok=len(pages)==5 and b[pages[0][2]:pages[0][2]+4096]==p[4000:4016]+bytes(4080)
ok=ok and [x[0] for x in pages[1:]]==[0x10000,0x11000,0x12000,0x13000]
ok=ok and b[pages[1][2]]==0xee and [x[2] for x in pages[2:]]==[0,0,0]
sys.exit(0 if ok else 1)"
badm_slice() {
	printf '%s' "$1" >"$W/bad.json"
	expect 2 "bad manifest: $2" "$B" build "$W/bad.json" -o "$W/bad.bin"
}
badm_slice "{\"platforms\":[{\"type\":\"tdx\",\"compatibility_mask\":1}],\"directives\":[{\"type\":\"page_data\",\"gpa\":0,\"compatibility_mask\":1,\"data_file\":\"$(pwd)/$EX/blob5000.bin\",\"data_file_offset\":4990,\"data_size\":11}]}" "data_size past the end of the payload"
badm_slice "{\"platforms\":[{\"type\":\"tdx\",\"compatibility_mask\":1}],\"directives\":[{\"type\":\"pages\",\"gpa\":0,\"compatibility_mask\":1,\"data_file\":\"$(pwd)/$EX/blob5000.bin\",\"page_count\":1}]}" "pages: page_count smaller than the data"

# VP contexts from named fields (native x64 and SNP VMSA offsets, igvm-facts §6.11/§13)
cat >"$W/fields.json" <<'EOF'
{ "format_version": 2, "architecture": "x64",
  "platforms": [ { "type": "native", "compatibility_mask": 1 } ],
  "directives": [
    { "type": "page_data", "gpa": "0x1000", "compatibility_mask": 1, "data_hex": "f4" },
    { "type": "vp_context", "kind": "native_x64", "compatibility_mask": 1,
      "fields": { "rip": "0x1000", "cr3": "0x2000", "efer": "0x500", "code_selector": 8,
                  "gdtr_limit": 23 } } ] }
EOF
cat >"$W/vmsa.json" <<'EOF'
{ "platforms": [ { "type": "sev_snp", "compatibility_mask": 1 } ],
  "directives": [
    { "type": "page_data", "gpa": "0x1000", "compatibility_mask": 1, "data_hex": "f4" },
    { "type": "vp_context", "kind": "snp", "gpa": "0xfffffffff000", "compatibility_mask": 1,
      "data_hex": "01",
      "fields": { "rip": "0xfff0", "cs.selector": "0xf000", "cs.base": "0xffff0000",
                  "cs.limit": "0xffff", "cs.attrib": "0x9b", "cr0": "0x10", "efer": "0x1000",
                  "sev_features": "0x1", "g_pat": "0x7040600070406", "r15": 15, "vmpl": 0 } } ] }
EOF
expect 0 "build native context from fields" "$B" build "$W/fields.json" -o "$W/fields.bin"
expect 0 "build SNP VMSA from fields" "$B" build "$W/vmsa.json" -o "$W/vmsa.bin"
check_py "context fields land at their offsets" -c "
import struct,sys
def ctx(path):
    b=open(path,'rb').read(); vho,vhs=struct.unpack_from('<II',b,8); off=vho
    while off<vho+vhs:
        t,l=struct.unpack_from('<II',b,off)
        if t==0x304: fo=struct.unpack_from('<I',b,off+8+12)[0]; return b[fo:fo+4096]
        off+=8+((l+7)&~7)
n=ctx('$W/fields.bin'); v=ctx('$W/vmsa.bin')
q=lambda d,o: struct.unpack_from('<Q',d,o)[0]
ok = q(n,0x80)==0x1000 and q(n,0xD0)==0x2000 and q(n,0xE0)==0x500
ok = ok and struct.unpack_from('<H',n,0xA8)[0]==8 and struct.unpack_from('<H',n,0x9E)[0]==23
ok = ok and q(v,0x178)==0xfff0 and struct.unpack_from('<HHIQ',v,0x10)==(0xf000,0x9b,0xffff,0xffff0000)
ok = ok and q(v,0x158)==0x10 and q(v,0xD0)==0x1000 and q(v,0x3B0)==1 and q(v,0x268)==0x7040600070406
ok = ok and q(v,0x378)==15 and v[0]==1 and len(v)==4096
sys.exit(0 if ok else 1)"
badm_slice '{"platforms":[{"type":"sev_snp","compatibility_mask":1}],"directives":[{"type":"vp_context","kind":"snp","gpa":0,"compatibility_mask":1,"fields":{"rip2":1}}]}' "unknown context field"
badm_slice '{"platforms":[{"type":"sev_snp","compatibility_mask":1}],"directives":[{"type":"vp_context","kind":"snp","gpa":0,"compatibility_mask":1,"fields":{"cs.selector":65536}}]}' "context field value too large"

# A valid file that is not in the reference writer's layout (identical data stored twice):
# dump --json warns, the rebuilt file is smaller but measures the same.
if [ -n "$PY" ]; then
"$PY" - "$W/dup.bin" <<'PY'
import struct, sys, zlib
page = bytes(range(256)) * 16
plat = struct.pack('<IIIBBHQ', 0x001, 16, 1, 0, 2, 1, 0)
sec_len = len(plat) + 2 * 32
data0 = 24 + sec_len
def pd(gpa, fo):
    return struct.pack('<IIQIIIHH', 0x302, 24, gpa, 1, fo, 0, 0, 0)
sec = plat + pd(0x1000, data0) + pd(0x2000, data0 + 4096)
total = 24 + sec_len + 2 * 4096
fixed = struct.pack('<6I', 0x4D564749, 1, 24, sec_len, total, 0)
crc = zlib.crc32(fixed + sec) & 0xffffffff
fixed = struct.pack('<6I', 0x4D564749, 1, 24, sec_len, total, crc)
open(sys.argv[1], 'wb').write(fixed + sec + page + page)
PY
expect 0 "verify a valid non-reference-layout file" "$B" verify "$W/dup.bin"
run "$B" dump --json "$W/dup.bin" -o "$W/dup.json"
check "dump --json warns about a non-reference layout (exit $rc)" grep -q "not byte-identical" "$W/err.txt"
expect 0 "build the dumped non-reference layout" "$B" build "$W/dup.json" -o "$W/dup2.bin"
check "rebuilt file shares the duplicate page" test "$(stat -c %s "$W/dup2.bin")" -eq $(($(stat -c %s "$W/dup.bin") - 4096))
"$B" measure "$W/dup.bin" >"$W/m1.txt" 2>&1
"$B" measure "$W/dup2.bin" >"$W/m2.txt" 2>&1
check "rebuilt file has the same SNP launch digest" cmp -s "$W/m1.txt" "$W/m2.txt"
else
	echo "ok - non-reference layout checks (# SKIP no python3)"
fi

# ---- reference files: dump --json | build must reproduce them byte for byte ----
if [ -d "$T" ]; then
	for f in "$T"/*.bin; do
		n=$(basename "$f")
		run "$B" verify "$f"
		check "verify $n" test "$rc" -eq 0
		run "$B" dump --json "$f"
		if [ "$rc" -ne 0 ] || [ -s "$W/err.txt" ]; then
			nok "dump --json $n (exit $rc: $(head -c 200 "$W/err.txt"))"
			continue
		fi
		cp "$W/out.txt" "$W/$n.json"
		run "$B" build "$W/$n.json" -o "$W/$n"
		check "build from dump of $n" test "$rc" -eq 0
		check "round trip of $n is byte-identical" cmp -s "$f" "$W/$n"
	done
	# Measurements against the reference values (crate convention, and the QEMU/KVM
	# native-zero variant listed in py_measurements.tsv).
	while IFS=$'\t' read -r file plat mask digest; do
		case "$plat" in
		SEV_SNP) p=snp ;;
		TDX) p=tdx ;;
		VSM_ISOLATION) p=vbs ;;
		*) continue ;;
		esac
		run "$B" measure "$T/$file" --platform "$p"
		check "measure $file $plat" grep -q "^$plat	$mask	$digest\$" "$W/out.txt"
	done <"$T/expected_measurements.tsv"
	if [ -f "$T/py_measurements.tsv" ]; then
		while IFS=$'\t' read -r file plat mask digest; do
			case "$plat" in SEV_SNP\(native-zero*) ;; *) continue ;; esac
			run "$B" measure "$T/$file" --platform snp --convention kvm
			check "measure --convention kvm $file" grep -q "$digest" "$W/out.txt"
		done <"$T/py_measurements.tsv"
	fi
	# Every probe file the reference crate rejects must be rejected by verify with exit 2.
	if [ -f "$T/probe/verdicts.txt" ]; then
		bad=""
		while read -r name verdict _; do
			[ "$verdict" = OK ] && continue
			[ -f "$T/probe/$name.bin" ] || continue
			"$B" verify "$T/probe/$name.bin" >/dev/null 2>"$W/err.txt"
			r=$?
			if [ $r -ne 2 ] || [ ! -s "$W/err.txt" ]; then bad="$bad $name($r)"; fi
		done <"$T/probe/verdicts.txt"
		check "verify rejects every probe file the crate rejects${bad:+:$bad}" test -z "$bad"
	fi
	expect 2 "measure --platform tdx on an SNP-only file" "$B" measure "$T/snp_v1.bin" --platform tdx
	expect 2 "measure of a file without measurable platforms" "$B" measure "$T/native_v2_x64.bin"
else
	echo "ok - reference files in $T absent: skipped (# SKIP)"
fi

# ---- bad manifests: exit 2, a message, no output file ----
badm() { # desc json [expected message fragment]
	local d=$1 j=$2 frag=${3:-}
	printf '%s' "$j" >"$W/bad.json"
	expect 2 "bad manifest: $d" "$B" build "$W/bad.json" -o "$W/bad.bin"
	if [ -n "$frag" ] && ! grep -q -- "$frag" "$W/err.txt"; then
		nok "bad manifest: $d: message lacks \"$frag\": $(cat "$W/err.txt")"
	fi
	check "bad manifest: $d: no output or temp file" none_left "$W/bad.bin*"
}
P='"platforms":[{"type":"sev_snp","compatibility_mask":1}]'
badm "JSON syntax" '{"format_version":1,' "JSON syntax"
badm "trailing garbage" '{"format_version":1} x' "trailing"
badm "not an object" '[1,2]' "JSON object"
badm "unknown top-level key" "{\"formt_version\":1,$P}" 'unknown key "formt_version"'
badm "unknown directive key" "{$P,\"directives\":[{\"type\":\"page_data\",\"gpa\":0,\"compatibility_mask\":1,\"dat_hex\":\"00\"}]}" 'directives\[0\]: unknown key'
badm "unknown directive type" "{$P,\"directives\":[{\"type\":\"page_dta\"}]}" "unknown directive type"
badm "unaligned page gpa" "{$P,\"directives\":[{\"type\":\"page_data\",\"gpa\":\"0x1001\",\"compatibility_mask\":1,\"data_hex\":\"00\"}]}" "not 4 KiB aligned"
badm "negative number" "{$P,\"directives\":[{\"type\":\"page_data\",\"gpa\":-4096,\"compatibility_mask\":1}]}" "negative"
badm "number too large" "{$P,\"directives\":[{\"type\":\"page_data\",\"gpa\":0,\"compatibility_mask\":\"0x100000000\"}]}" "larger than"
badm "bad hex" "{$P,\"directives\":[{\"type\":\"page_data\",\"gpa\":0,\"compatibility_mask\":1,\"data_hex\":\"0g\"}]}" "bad hex"
badm "page data over 4 KiB" "{$P,\"directives\":[{\"type\":\"page_data\",\"gpa\":0,\"compatibility_mask\":1,\"data_file\":\"$(pwd)/$EX/blob5000.bin\"}]}" "at most 4096"
badm "missing payload file" "{$P,\"directives\":[{\"type\":\"page_data\",\"gpa\":0,\"compatibility_mask\":1,\"data_file\":\"nope.bin\"}]}" "nope.bin"
badm "platform mask with two bits" '{"platforms":[{"type":"sev_snp","compatibility_mask":3}]}' "exactly one"
badm "duplicate platform type" '{"platforms":[{"type":"tdx","compatibility_mask":1},{"type":"tdx","compatibility_mask":2}]}' "already declared"
badm "no platform" '{"directives":[]}' "platform"
badm "parameter of undeclared area" "{$P,\"directives\":[{\"type\":\"vp_count\",\"index\":3}]}" "not declared"
badm "insert twice" "{$P,\"directives\":[{\"type\":\"parameter_area\",\"index\":0,\"number_of_bytes\":4096},{\"type\":\"parameter_insert\",\"gpa\":0,\"compatibility_mask\":1,\"index\":0},{\"type\":\"parameter_insert\",\"gpa\":4096,\"compatibility_mask\":1,\"index\":0}]}" "already inserted"
badm "vp context for a TDX mask" '{"platforms":[{"type":"tdx","compatibility_mask":1}],"directives":[{"type":"page_data","gpa":0,"compatibility_mask":1,"data_hex":"01"},{"type":"vp_context","kind":"snp","gpa":0,"compatibility_mask":1,"data_hex":"01"}]}' "another kind"
badm "file without file data (the crate's reader rejects it)" "{$P,\"directives\":[{\"type\":\"page_data\",\"gpa\":0,\"compatibility_mask\":1}]}" "invalid"
badm "v1 aarch64" '{"format_version":1,"architecture":"aarch64"}' "x64 only"

# A failed build leaves an existing output file untouched.
printf 'old contents' >"$W/keep.bin"
printf '{"format_version":9}' >"$W/bad.json"
run "$B" build "$W/bad.json" -o "$W/keep.bin"
check "failed build keeps the previous output (exit $rc)" test "$rc" -eq 2 -a "$(cat "$W/keep.bin")" = "old contents"

# ---- bad IGVM files ----
head -c 100 "$W/ex.bin" >"$W/trunc.bin"
expect 2 "verify of a truncated file" "$B" verify "$W/trunc.bin"
grep -q "invalid IGVM file" "$W/err.txt" || nok "verify names the problem: $(cat "$W/err.txt")"
cp "$W/ex.bin" "$W/flip.bin"
printf '\x55' | dd of="$W/flip.bin" bs=1 seek=40 conv=notrunc status=none
expect 2 "verify of a file with a flipped header byte" "$B" verify "$W/flip.bin"
grep -qi "checksum" "$W/err.txt" || nok "flipped byte reported as checksum error: $(cat "$W/err.txt")"
expect 2 "dump of a bad file" "$B" dump --json "$W/trunc.bin" -o "$W/trunc.json"
check "dump of a bad file leaves no output" none_left "$W/trunc.json*"
expect 2 "measure of a bad file" "$B" measure "$W/trunc.bin"

# ---- output I/O failures: exit 1, nothing left behind ----
mkdir -p "$W/ro"
chmod 555 "$W/ro"
if [ "$(id -u)" -eq 0 ]; then
	# root ignores directory permissions: use a directory that cannot hold files.
	expect 1 "build into an unwritable directory" "$B" build "$EX/multi.json" -o /proc/mezz-igvm-test.bin
else
	expect 1 "build into an unwritable directory" "$B" build "$EX/multi.json" -o "$W/ro/x.bin"
	check "unwritable directory stays empty" none_left "$W/ro/*"
fi
expect 1 "build into a missing directory" "$B" build "$EX/multi.json" -o "$W/nodir/x.bin"
expect 1 "dump -o into a missing directory" "$B" dump "$W/ex.bin" -o "$W/nodir/x.txt"

# ---- a few cases under ASan+UBSan ----
if [ -x "$A" ]; then
	expect 0 "asan: build example" "$A" build "$EX/multi.json" -o "$W/asan.bin"
	check "asan: same bytes as the normal build" cmp -s "$W/ex.bin" "$W/asan.bin"
	expect 0 "asan: dump --json" "$A" dump --json "$W/asan.bin" -o "$W/asan.json"
	expect 0 "asan: measure" "$A" measure "$W/asan.bin"
	expect 2 "asan: bad manifest" "$A" build "$W/bad.json" -o "$W/asan-bad.bin"
	expect 2 "asan: truncated file" "$A" verify "$W/trunc.bin"
	if [ -d "$T" ]; then
		expect 0 "asan: dump --json snp_v1" "$A" dump --json "$T/snp_v1.bin" -o "$W/asan-snp.json"
		expect 0 "asan: rebuild snp_v1" "$A" build "$W/asan-snp.json" -o "$W/asan-snp.bin"
		check "asan: snp_v1 round trip" cmp -s "$T/snp_v1.bin" "$W/asan-snp.bin"
	fi
else
	echo "ok - $A not built: asan cases skipped (# SKIP)"
fi

[ "$fails" -eq 0 ]
