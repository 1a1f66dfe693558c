# Sourced by the tests that boot Debian's kernel: fetch it (tools/linux-guest.sh) or end the
# calling script - a TAP skip when Debian's archive is not reachable, a failure otherwise.
# fetch_linux_guest LABEL WHAT [quiet]: LABEL names the skipped test, WHAT what was fetched;
# with "quiet", tools/linux-guest.sh's own output is dropped.
fetch_linux_guest() {
  local rc
  if [ "${3:-}" = quiet ]; then
    O="$O" tools/linux-guest.sh >/dev/null
  else
    O="$O" tools/linux-guest.sh
  fi
  rc=$?
  if [ $rc -eq 1 ]; then
    echo "ok - $1 # SKIP Debian's archive is not reachable"
    exit 0
  elif [ $rc -ne 0 ]; then
    echo "not ok - fetching $2 (tools/linux-guest.sh exit $rc)"
    exit 1
  fi
}
