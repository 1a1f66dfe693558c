#!/usr/bin/env bash
# ACPI tables of vtl2/acpi.c through ACPICA's iasl (Debian acpica-tools): every table written by
# `acpi_test --dump` (all but the RSDP, which iasl cannot take as a file; acpi_test checks it)
# must disassemble without errors or warnings, and the DSDT's disassembly
# must compile back to the same AML. Prints one "ok"/"not ok" line per check; skips (one "ok")
# when iasl is not installed. Environment: O (build dir, default build).
set -u
O=${O:-build}
bin="$O/tests/acpi_test"
if ! command -v iasl >/dev/null 2>&1; then
  echo "ok - iasl not installed (Debian acpica-tools): skipped"
  exit 0
fi
if [ ! -x "$bin" ]; then
  echo "not ok - $bin not built"
  exit 1
fi
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
if ! "$bin" --dump "$dir"; then
  echo "not ok - acpi_test --dump failed"
  exit 1
fi
fails=0
for f in "$dir"/*.dat; do
  name=$(basename "$f" .dat)
  out=$( cd "$dir" && iasl -d "$name.dat" 2>&1 )
  rc=$?
  # iasl reports problems as "Error", "Warning" or "Invalid" (bad checksums, lengths, fields).
  if [ $rc -ne 0 ] || [ ! -s "$dir/$name.dsl" ] || grep -Eiq 'error|warning|invalid|incorrect' <<<"$out" ||
     grep -Eiq 'invalid|incorrect|\*\*\*\*' "$dir/$name.dsl"; then
    echo "not ok - iasl -d $name"
    echo "$out" | tail -20
    grep -Ein 'invalid|incorrect|\*\*\*\*' "$dir/$name.dsl" | head -10
    fails=$((fails + 1))
  else
    echo "ok - iasl -d $name"
  fi
done
# Round trip: the disassembled DSDT compiles (optimisations off, which would drop the root
# prefix of \_SB) to the same AML (bytes after the 36-byte header).
for cfg in vp1 vp300; do
  if ( cd "$dir" && iasl -oa -p "$cfg-rt" "$cfg-dsdt.dsl" >/dev/null 2>&1 ) &&
     cmp -s <(tail -c +37 "$dir/$cfg-dsdt.dat") <(tail -c +37 "$dir/$cfg-rt.aml"); then
    echo "ok - DSDT $cfg round trip"
  else
    echo "not ok - DSDT $cfg round trip"
    fails=$((fails + 1))
  fi
done
[ $fails -eq 0 ]
