#!/usr/bin/env bash
# Enforces the layer rule: a directory includes only project headers from layers below it
# (or its own). Layers, bottom to top:
#   arch, hvcall            depend on nothing else (hvcall may use arch/addr.h typed addresses)
#   vtl2                    arch, hvcall
#   devices                 arch, hvcall, vtl2 (never the seam vtl2/kif.h)
#   igvm, boot              arch, hvcall only
#   tools, tests            anything
set -u
cd "$(dirname "$0")/.."
allowed() {
  case "$1" in
    arch) echo "arch" ;;
    hvcall) echo "hvcall arch/addr.h" ;;
    vtl2) echo "vtl2 arch hvcall" ;;
    devices) echo "devices arch hvcall vtl2" ;;
    igvm) echo "igvm arch hvcall" ;;
    boot) echo "boot arch hvcall" ;;
    *) echo "*" ;;
  esac
}
bad=0
while IFS= read -r f; do
  top=${f%%/*}
  ok=$(allowed "$top")
  [ "$ok" = "*" ] && continue
  while IFS= read -r inc; do
    inc_top=${inc%%/*}
    good=0
    for a in $ok; do
      case "$inc" in "$a"|"$a"/*) good=1 ;; esac
    done
    if [ "$top" = devices ] && [ "$inc" = vtl2/kif.h ]; then good=0; fi
    if [ $good -eq 0 ]; then
      echo "not ok - $f includes \"$inc\" (layer $top may include only: $ok)"
      bad=1
    fi
  done < <(sed -n 's/^[[:space:]]*#[[:space:]]*include[[:space:]]*"\([^"]*\/[^"]*\)".*/\1/p' "$f")
done < <(git ls-files '*.c' '*.h' 2>/dev/null; git ls-files --others --exclude-standard '*.c' '*.h' 2>/dev/null)
[ $bad -eq 0 ] && echo "ok - layering"
exit $bad
