#!/usr/bin/env bash
# The VMBus storage path's threaded tests under ThreadSanitizer: storvsc's asynchronous batches
# (answers from other threads, the timer thread, cancel), vmbus_scsi's batches ended on other
# threads (the lock-free list, destroy) and scsi_disk's submit. make check's ASan+UBSan flavour
# finds memory errors; this finds races. Built here from the sources (one small flavour, not
# worth a fourth object tree); gcc's libtsan comes with libgcc-12-dev.
set -u
cd "$(dirname "$0")/../.."
O=${O:-build}
out="$O/tsan"
mkdir -p "$out"
srcs=$(ls devices/vmbus/*.c vtl2/iobus.c vtl2/vclock.c vtl2/gmem.c vtl2/errbuf.c \
       arch/x86_64/*.c hvcall/*.c)
fail=0
for t in vmbus_storvsc_test vmbus_channel_scsi_test vmbus_scsi_test; do
  # shellcheck disable=SC2086
  if ! ${CC:-gcc} -std=c11 -g -O1 -D_GNU_SOURCE -I. -fsanitize=thread -Wno-tsan \
       -o "$out/$t" "tests/unit/$t.c" $srcs -lpthread -lcmocka >"$out/$t.build.log" 2>&1; then
    echo "not ok - tsan $t: does not build (log $out/$t.build.log)"
    fail=1
    continue
  fi
  if TSAN_OPTIONS="halt_on_error=1 exitcode=66" "$out/$t" >"$out/$t.log" 2>&1; then
    echo "ok - tsan $t: no data race"
  else
    echo "not ok - tsan $t (log $out/$t.log)"
    grep -E -A12 'WARNING: ThreadSanitizer|FAILED' "$out/$t.log" | head -40
    fail=1
  fi
done
exit $fail
