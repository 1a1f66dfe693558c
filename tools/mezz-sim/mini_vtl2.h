/*
 * mini_vtl2: the minimal built-in VTL2 of mezz-sim. It drives VTL0 only through the kif seam
 * (vtl2/kif.h) and hypercalls over kif_hvcall - the same API the real paravisor uses on
 * hardware - and implements the test devices of tests/guests/guest_abi.h: COM1, the exit and
 * echo ports, interrupt requests, VTL write protection on request, the MMIO test page, the test
 * MSR range, a CPUID leaf and the unknown-hypercall answer.
 *
 * One thread per VP: kif_vp_bind, then loop { kif_vp_run; decode the exit message; handle it
 * through a const dispatch table; write results back into the run page / VP registers }.
 * The run ends when a guest writes the exit port (the other VPs are cancelled), on a fatal
 * exit (triple fault, an exit it cannot handle), or on timeout.
 */
#ifndef MEZZ_TOOLS_MEZZ_SIM_MINI_VTL2_H
#define MEZZ_TOOLS_MEZZ_SIM_MINI_VTL2_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

/** What the mini VTL2 counts, one bucket per handled exit flavour. */
enum mini_vtl2_kind {
	MINI_VTL2_IO = 0,       /* port I/O, plain IN/OUT */
	MINI_VTL2_STRING_IO,    /* INS/OUTS (REP or not), emulated */
	MINI_VTL2_MMIO,         /* UnmappedGpa: emulated against the test device */
	MINI_VTL2_VTLPROT,      /* GpaIntercept: write to a VTL2-protected page, skipped */
	MINI_VTL2_CPUID,
	MINI_VTL2_MSR,
	MINI_VTL2_HYPERCALL,
	MINI_VTL2_HALT,
	MINI_VTL2_EXCEPTION,
	MINI_VTL2_OTHER,        /* decoded but unexpected: fatal */
	MINI_VTL2_CANCEL,       /* kif_vp_run returned -EINTR */
	MINI_VTL2_KIND_COUNT
};

struct mini_vtl2_config {
	uint64_t mem_size;      /* bytes of VTL0 RAM at GPA 0 (mapped with kif_vtl0_map) */
	bool trace;             /* one line per exit on trace_out */
	FILE *serial_out;       /* guest COM1 output; NULL = stdout */
	FILE *trace_out;        /* NULL = stderr */
	unsigned timeout_ms;    /* 0 = no limit */
};

enum mini_vtl2_outcome {
	MINI_VTL2_PASS = 0,     /* guest wrote 0 to the exit port */
	MINI_VTL2_FAIL,         /* guest wrote a failure code */
	MINI_VTL2_ERROR,        /* run aborted: see error[] */
};

struct mini_vtl2_result {
	enum mini_vtl2_outcome outcome;
	uint32_t exit_code;     /* value written to the exit port (PASS/FAIL) */
	uint32_t exit_vp;       /* VP that wrote it */
	char error[192];        /* MINI_VTL2_ERROR: what went wrong */
	uint64_t exits[MINI_VTL2_KIND_COUNT];
	uint64_t serial_bytes;
	uint64_t vtlprot_hits;
	double wall_seconds;
};

/**
 * kif_open the current VTL (for hvsim: hvsim_set_current first), install the intercepts, run
 * every VP until the guest ends the run, kif_close. Returns 0 with *res filled (also for a
 * failing guest), or -errno when the run could not be set up (res->error says why).
 */
int mini_vtl2_run(const struct mini_vtl2_config *cfg, struct mini_vtl2_result *res);

/** Short name of an enum mini_vtl2_kind ("io", "mmio", ...), "?" when out of range. */
const char *mini_vtl2_kind_name(unsigned kind);

#endif
