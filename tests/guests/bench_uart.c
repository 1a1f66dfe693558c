/* bench_uart: UART THR writes (PIO exits), see bench_kind.h. */
#include "tests/guests/bench_kind.h"

BENCH_KIND_GUEST(outb(0x3F8, (uint8_t)'x'))
