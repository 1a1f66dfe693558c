/* bench_ioapic: IOAPIC IOWIN reads (MMIO exits, decoded), see bench_kind.h. */
#include "tests/guests/bench_kind.h"

BENCH_KIND_GUEST((void)*(volatile uint32_t *)(RT_IOAPIC_BASE + 0x10))
