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

. tools/mezz-igvm/tests/lib.sh
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
# Numeric strings are digits only: no white space, sign or second 0x that strtoull would take.
badm "numeric string with leading tab and sign" "{$P,\"directives\":[{\"type\":\"page_data\",\"gpa\":\"\\t-4096\",\"compatibility_mask\":1,\"data_hex\":\"00\"}]}" "is not a number"
badm "numeric string with leading newline" "{$P,\"directives\":[{\"type\":\"page_data\",\"gpa\":\"\\n4096\",\"compatibility_mask\":1,\"data_hex\":\"00\"}]}" "is not a number"
badm "numeric string with two 0x prefixes" "{$P,\"directives\":[{\"type\":\"page_data\",\"gpa\":\"0x0x1000\",\"compatibility_mask\":1,\"data_hex\":\"00\"}]}" "is not a number"
badm "numeric string beyond 2^64" "{$P,\"directives\":[{\"type\":\"page_data\",\"gpa\":\"0x10000000000000000\",\"compatibility_mask\":1,\"data_hex\":\"00\"}]}" "is not a number"
# JSON strings may hold NUL characters; C string parsing must not stop at one and accept.
badm "numeric string with a NUL" "{$P,\"directives\":[{\"type\":\"page_data\",\"gpa\":\"0x1000\\u0000zz\",\"compatibility_mask\":1,\"data_hex\":\"00\"}]}" "is not a number"
badm "platform name with a NUL" '{"platforms":[{"type":"tdx\u0000zz","compatibility_mask":1}],"directives":[{"type":"page_data","gpa":0,"compatibility_mask":1,"data_hex":"00"}]}' "unknown value"
badm "flag name with a NUL" "{$P,\"directives\":[{\"type\":\"page_data\",\"gpa\":0,\"compatibility_mask\":1,\"flags\":[\"shared\\u0000zz\"],\"data_hex\":\"00\"}]}" "unknown flag"
badm "directive type with a NUL" "{$P,\"directives\":[{\"type\":\"page_data\\u0000zz\",\"gpa\":0,\"compatibility_mask\":1,\"data_hex\":\"00\"}]}" "unknown directive type"
# json-c saturates integers beyond 2^64 to UINT64_MAX: such a literal must not become a value.
badm "JSON integer beyond 2^64" "{$P,\"directives\":[{\"type\":\"page_data\",\"gpa\":18446744073709551616,\"compatibility_mask\":1,\"data_hex\":\"00\"}]}" "out of range"
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

# ---- 2 MiB pages: build, verify, measure == 512 4 KiB pages, dump round trip ----
head -c 2097152 /dev/urandom >"$W/p2m.bin"
head -c 2097153 /dev/zero >"$W/p2m1.bin"
head -c 4194304 /dev/urandom >"$W/p4m.bin"
M2P='"platforms": [{ "type": "sev_snp", "compatibility_mask": "0x1" }, { "type": "tdx", "compatibility_mask": "0x2" }, { "type": "vsm_isolation", "compatibility_mask": "0x4" }], "initialization": [{ "type": "guest_policy", "policy": "0x30000", "compatibility_mask": "0x1" }]'
cat >"$W/m2.json" <<EOF
{ "format_version": 1, $M2P, "directives": [
  { "type": "page_data", "gpa": "0x1000", "compatibility_mask": "0x7", "data_hex": "01" },
  { "type": "page_data", "gpa": "0x200000", "compatibility_mask": "0x7", "flags": ["2mb"], "data_file": "p2m.bin" },
  { "type": "page_data", "gpa": "0x400000", "compatibility_mask": "0x7", "flags": ["2mb"] },
  { "type": "page_data", "gpa": "0x600000", "compatibility_mask": "0x7", "flags": ["2mb", "unmeasured"], "data_hex": "0102" } ] }
EOF
# The same guest memory as 4 KiB pages ("pages" splits into 4 KiB page_data headers).
cat >"$W/m2split.json" <<EOF
{ "format_version": 1, $M2P, "directives": [
  { "type": "page_data", "gpa": "0x1000", "compatibility_mask": "0x7", "data_hex": "01" },
  { "type": "pages", "gpa": "0x200000", "compatibility_mask": "0x7", "data_file": "p2m.bin" },
  { "type": "pages", "gpa": "0x400000", "compatibility_mask": "0x7", "page_count": 512 },
  { "type": "pages", "gpa": "0x600000", "compatibility_mask": "0x7", "flags": ["unmeasured"], "page_count": 512, "data_hex": "0102" } ] }
EOF
expect 0 "2mb: build a manifest with 2 MiB pages" "$B" build "$W/m2.json" -o "$W/m2.bin"
check "2mb: the file holds both 2 MiB payloads in full" test "$(stat -c %s "$W/m2.bin")" -gt 4194304
expect 0 "2mb: verify" "$B" verify "$W/m2.bin"
expect 0 "2mb: text dump" "$B" dump "$W/m2.bin"
check "2mb: text dump shows three 2mb pages" test "$(grep -c 'flags 2mb' "$W/out.txt")" -eq 3
expect 0 "2mb: build the 4 KiB split" "$B" build "$W/m2split.json" -o "$W/m2split.bin"
for conv in crate kvm; do
	run "$B" measure "$W/m2.bin" --convention "$conv"
	cp "$W/out.txt" "$W/m2.meas"
	run "$B" measure "$W/m2split.bin" --convention "$conv"
	check "2mb: measure ($conv) of 2 MiB pages == 512 4 KiB pages, all 3 platforms" \
		test "$(wc -l <"$W/m2.meas")" -eq 3 -a "$(cat "$W/m2.meas")" = "$(cat "$W/out.txt")"
done
expect 0 "2mb: dump --json" "$B" dump --json "$W/m2.bin" -o "$W/m2d.json"
check "2mb: dump --json does not warn" test ! -s "$W/err.txt"
expect 0 "2mb: build from the dump" "$B" build "$W/m2d.json" -o "$W/m2d.bin"
check "2mb: round trip is byte-identical" cmp -s "$W/m2.bin" "$W/m2d.bin"
cat >"$W/m4.json" <<EOF
{ "format_version": 1, "platforms": [{ "type": "tdx", "compatibility_mask": 1 }], "directives": [
  { "type": "pages", "gpa": "0x200000", "compatibility_mask": 1, "flags": ["2mb"], "data_file": "p4m.bin", "page_count": 3 } ] }
EOF
expect 0 "2mb: \"pages\" with flags [2mb] splits into 2 MiB pages" "$B" build "$W/m4.json" -o "$W/m4.bin"
run "$B" dump "$W/m4.bin"
check "2mb: ... two data pages and one zero page of 2 MiB" test \
	"$(grep -c 'flags 2mb type normal data @' "$W/out.txt"),$(grep -c 'gpa 0x600000 .*flags 2mb.*zero page' "$W/out.txt")" = "2,1"
TD='"platforms":[{"type":"tdx","compatibility_mask":1}]'
badm "2mb page with more than 2 MiB of data" "{$TD,\"directives\":[{\"type\":\"page_data\",\"gpa\":\"0x200000\",\"compatibility_mask\":1,\"flags\":[\"2mb\"],\"data_file\":\"$W/p2m1.bin\"}]}" "at most 2 MiB"
badm "2mb page at a 4 KiB aligned gpa" "{$TD,\"directives\":[{\"type\":\"page_data\",\"gpa\":\"0x201000\",\"compatibility_mask\":1,\"flags\":[\"2mb\"],\"data_hex\":\"01\"}]}" "2 MiB aligned"
badm "4 KiB page inside a 2mb page" "{$TD,\"directives\":[{\"type\":\"page_data\",\"gpa\":\"0x200000\",\"compatibility_mask\":1,\"flags\":[\"2mb\"],\"data_hex\":\"01\"},{\"type\":\"page_data\",\"gpa\":\"0x3ff000\",\"compatibility_mask\":1,\"data_hex\":\"01\"}]}" "GpaOverlap"
# A 2 MiB page whose data is only 4 KiB (the reference crate accepts it, reading 4 KiB).
check_py "2mb: write a file whose 2 MiB page has 4 KiB of data" -c "
import struct, zlib, sys
plat = struct.pack('<IIIBBHQ', 1, 16, 1, 0, 3, 1, 0)
pd = struct.pack('<IIQIIIHH', 0x302, 24, 0x200000, 1, 0, 1, 0, 0)
sec = plat + pd
fds = 24 + len(sec)
pd = struct.pack('<IIQIIIHH', 0x302, 24, 0x200000, 1, fds, 1, 0, 0)
sec = plat + pd
total = fds + 4096
fixed = struct.pack('<IIIIII', 0x4D564749, 1, 24, len(sec), total, 0)
crc = zlib.crc32(sec, zlib.crc32(fixed)) & 0xffffffff
fixed = fixed[:20] + struct.pack('<I', crc)
open(sys.argv[1], 'wb').write(fixed + sec + b'\x5a' * 4096)
" "$W/short2m.bin"
expect 2 "2mb: verify rejects a 2 MiB page with 4 KiB of data" "$B" verify "$W/short2m.bin"
grep -q "2 MiB page needs 2 MiB of data" "$W/err.txt" || nok "2mb: the reason names the missing data: $(cat "$W/err.txt")"

# ---- dump --json --data-dir: payloads as files, round trip byte-identical ----
expect 2 "data-dir: needs --json" "$B" dump "$W/m2.bin" --data-dir "$W/dd"
check "data-dir: nothing created without --json" none_left "$W/dd"
expect 0 "data-dir: dump the 2 MiB file" "$B" dump --json --data-dir "$W/dd" "$W/m2.bin" -o "$W/dd.json"
check "data-dir: no warning" test ! -s "$W/err.txt"
check "data-dir: no inline hex payloads" test "$(grep -c data_hex "$W/dd.json")" -eq 0
check "data-dir: three payload files named by SHA-256" test \
	"$(ls "$W/dd" | grep -cE '^[0-9a-f]{64}\.bin$'),$(ls "$W/dd" | wc -l)" = "3,3"
check "data-dir: the 2 MiB payload is a file" cmp -s "$W/p2m.bin" "$W/dd/$(sha256sum "$W/p2m.bin" | cut -c1-64).bin"
check "data-dir: data_file paths are relative to the manifest" grep -q '"data_file": "dd/' "$W/dd.json"
expect 0 "data-dir: build from it" "$B" build "$W/dd.json" -o "$W/dd.bin"
check "data-dir: round trip byte-identical" cmp -s "$W/m2.bin" "$W/dd.bin"
ls -li --time-style=+%s.%N "$W/dd" >"$W/dd.before"
expect 0 "data-dir: dump again into the same directory" "$B" dump --json --data-dir "$W/dd" "$W/m2.bin" -o "$W/dd2.json"
check "data-dir: second dump gives the same manifest" cmp -s "$W/dd.json" "$W/dd2.json"
ls -li --time-style=+%s.%N "$W/dd" >"$W/dd.after"
check "data-dir: ... and reuses the files untouched" cmp -s "$W/dd.before" "$W/dd.after"
mkdir -p "$W/sub"
expect 0 "data-dir: manifest in another directory" "$B" dump --json --data-dir "$W/pl" "$W/ex.bin" -o "$W/sub/ex.json"
check "data-dir: paths climb out of the manifest's directory" grep -q '"data_file": "../pl/' "$W/sub/ex.json"
expect 0 "data-dir: build the example from it" "$B" build "$W/sub/ex.json" -o "$W/sub/ex.bin"
check "data-dir: example round trip" cmp -s "$W/ex.bin" "$W/sub/ex.bin"
(cd "$W" && "$OLDPWD/$B" dump --json --data-dir rel m2.bin >"$W/rel.json" 2>"$W/err.txt")
check "data-dir: to stdout, paths relative to the current directory" grep -q '"data_file": "rel/' "$W/rel.json"
expect 0 "data-dir: build the stdout manifest" "$B" build "$W/rel.json" -o "$W/rel.bin"
check "data-dir: stdout round trip" cmp -s "$W/m2.bin" "$W/rel.bin"
if [ -d "$T" ]; then
	bad=""
	for f in "$T"/*.bin; do
		n=$(basename "$f")
		"$B" dump --json --data-dir "$W/refdata" "$f" -o "$W/ref-$n.json" 2>"$W/err.txt" &&
			[ ! -s "$W/err.txt" ] &&
			"$B" build "$W/ref-$n.json" -o "$W/ref-$n" 2>/dev/null &&
			cmp -s "$f" "$W/ref-$n" || bad="$bad $n"
	done
	check "data-dir: every reference file round trips byte-identically${bad:+:$bad}" test -z "$bad"
fi
# Failures leave nothing behind.
expect 1 "data-dir: output into a missing directory" "$B" dump --json --data-dir "$W/dfail" "$W/m2.bin" -o "$W/nodir/x.json"
check "data-dir: ... leaves no data directory" none_left "$W/dfail"
expect 1 "data-dir: output that cannot be written (after the payloads)" "$B" dump --json --data-dir "$W/dfail2" "$W/m2.bin" -o /proc/mezz-igvm-dd.json
check "data-dir: ... removes the payloads and the directory it made" none_left "$W/dfail2"
mkdir -p "$W/dfail3"
printf 'mine' >"$W/dfail3/keep.txt"
# the name of the LAST payload (data_hex 0102), so that two others are written first
printf 'not the payload' >"$W/dfail3/$(printf '\001\002' | sha256sum | cut -c1-64).bin"
expect 1 "data-dir: a payload name taken by other content" "$B" dump --json --data-dir "$W/dfail3" "$W/m2.bin" -o "$W/dfail3.json"
grep -q "exists with other content" "$W/err.txt" || nok "data-dir: says which file clashes: $(cat "$W/err.txt")"
check "data-dir: ... keeps files it did not write, removes those it did" test \
	"$(ls "$W/dfail3" | wc -l),$(cat "$W/dfail3/keep.txt")" = "2,mine"
check "data-dir: ... and writes no manifest" none_left "$W/dfail3.json*"
printf 'x' >"$W/notadir"
expect 1 "data-dir: DIR is a regular file" "$B" dump --json --data-dir "$W/notadir" "$W/m2.bin" -o "$W/na.json"

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
	expect 0 "asan: measure 2 MiB pages" "$A" measure "$W/m2.bin" --convention kvm
	check "asan: same digests as the normal build" cmp -s "$W/out.txt" "$W/m2.meas"
	expect 0 "asan: dump --json --data-dir" "$A" dump --json --data-dir "$W/asan-dd" "$W/m2.bin" -o "$W/asan-dd.json"
	expect 0 "asan: build from the data-dir manifest" "$A" build "$W/asan-dd.json" -o "$W/asan-dd.bin"
	check "asan: data-dir round trip" cmp -s "$W/m2.bin" "$W/asan-dd.bin"
	expect 1 "asan: data-dir clash" "$A" dump --json --data-dir "$W/dfail3" "$W/m2.bin" -o "$W/dfail3.json"
	expect 2 "asan: short 2 MiB page" "$A" verify "$W/short2m.bin"
	if [ -d "$T" ]; then
		expect 0 "asan: dump --json snp_v1" "$A" dump --json "$T/snp_v1.bin" -o "$W/asan-snp.json"
		expect 0 "asan: rebuild snp_v1" "$A" build "$W/asan-snp.json" -o "$W/asan-snp.bin"
		check "asan: snp_v1 round trip" cmp -s "$T/snp_v1.bin" "$W/asan-snp.bin"
	fi
else
	echo "ok - $A not built: asan cases skipped (# SKIP)"
fi

[ "$fails" -eq 0 ]
