/* bench_cpuid: CPUID 0x40000000 (CPUID exits), see bench_kind.h. */
#include "tests/guests/bench_kind.h"

BENCH_KIND_GUEST((void)cpuid(0x40000000, 0))
