#!/usr/bin/env bash
# Runs each benchmark program or script given; each prints its own ratios against the peer or
# baseline it measures in the same run.
set -u
O=${O:-build}
rc=0
for b in "$@"; do
  echo "== $(basename "$b")"
  case "$b" in
    *.sh) O="$O" bash "$b" || rc=1 ;;
    *) "$b" || rc=1 ;;
  esac
done
exit $rc
