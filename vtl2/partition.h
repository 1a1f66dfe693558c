/*
 * partition: the paravisor core. Start-up from a configuration (VP count, VTL0 memory map,
 * VTL2's own memory), the I/O bus devices register on, one thread per VP running the
 * return-to-lower-VTL loop, exit dispatch, interrupt delivery to VTL0 and an orderly stop.
 * The same code runs over the real driver (kif_mshv) and over hvsim (kif_sim).
 *
 * Life cycle (one thread):
 *   partition_create     kif_open, map VTL0 RAM, withhold VTL2 memory, bus + clock
 *   (register devices on partition_bus() with partition_devctx() services)
 *   partition_run        install intercepts from what is on the bus, freeze it, run every VP
 *                        until a stop (reset, power off, triple fault, test exit, all VPs
 *                        halted for good, timeout, fatal error, partition_stop)
 *   partition_destroy
 */
#ifndef MEZZ_VTL2_PARTITION_H
#define MEZZ_VTL2_PARTITION_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "arch/addr.h"
#include "vtl2/devctx.h"
#include "vtl2/iobus.h"
#include "vtl2/irq.h"
#include "vtl2/kif.h"

#define PARTITION_MAX_VPS 256
#define PARTITION_MAX_RAM 16
#define PARTITION_MAX_VTL2_MEM 4
#define PARTITION_VP_STACK (256u << 10) /* bytes of stack per VP thread */

struct partition_mem {
	gpa_t base;
	uint64_t size;
};

struct partition_config {
	uint32_t vp_count;                 /* 0: every VP the kernel offers */
	struct partition_mem ram[PARTITION_MAX_RAM]; /* VTL0 memory map (page aligned) */
	unsigned ram_count;
	/* VTL2's own memory inside the map: VTL0 loses write access (ModifyVtlProtectionMask)
	   and the paravisor never writes it on VTL0's behalf. */
	struct partition_mem vtl2_mem[PARTITION_MAX_VTL2_MEM];
	unsigned vtl2_mem_count;
	enum kif_run_layout run_layout;
	const char *dev_dir;               /* kif_mshv device directory; NULL = /dev */
	bool trace;                        /* one line per exit and its handler */
	FILE *trace_out;                   /* NULL = stderr */
	FILE *log;                         /* warnings (rate-limited); NULL = stderr */
	unsigned timeout_ms;               /* 0 = none */
	/* VTL0 direct boot (optional): the paravisor loads a Linux bzImage, an initrd and the
	   command line into VTL0 RAM with ACPI tables, and starts VP 0 at the kernel's 64-bit
	   entry (vtl2/vtl0boot.h). NULL kernel: VTL0 was set up by someone else. */
	const uint8_t *kernel;
	size_t kernel_size;
	const uint8_t *initrd;
	size_t initrd_size;
	const char *cmdline;
	bool vmbus;                        /* VTL0 gets a VMBus (the ACPI device for it) */
	/* No hardware isolation: the host reaches VTL0's memory anyway, so devices may name
	   VTL0 pages to it (devctx.host_gpa). False for SNP/TDX/VBS partitions. */
	bool host_reaches_vtl0;
};

/** Exit counters, one per kind of exit as dispatched. */
enum partition_exit {
	PARTITION_EXIT_IO = 0,       /* IN/OUT */
	PARTITION_EXIT_STRING_IO,    /* INS/OUTS (REP), emulated */
	PARTITION_EXIT_MMIO,         /* UnmappedGpa, emulated against the bus */
	PARTITION_EXIT_GPA,          /* GpaIntercept: VTL0 touched a withheld page */
	PARTITION_EXIT_CPUID,
	PARTITION_EXIT_MSR,
	PARTITION_EXIT_HYPERCALL,
	PARTITION_EXIT_HALT,
	PARTITION_EXIT_EXCEPTION,
	PARTITION_EXIT_APIC_EOI,
	PARTITION_EXIT_TRIPLE_FAULT,
	PARTITION_EXIT_OTHER,        /* decoded but not expected, or undecodable */
	PARTITION_EXIT_CANCEL,       /* the run loop was kicked */
	PARTITION_EXIT_KIND_COUNT
};

/** Why the run ended. */
enum partition_outcome {
	PARTITION_TEST_EXIT = 0,     /* test device exit port: `code` */
	PARTITION_RESET,
	PARTITION_POWER_OFF,
	PARTITION_TRIPLE_FAULT,
	PARTITION_ALL_HALTED,        /* every VP halted with interrupts off: nothing can wake it */
	PARTITION_TIMEOUT,
	PARTITION_STOPPED,           /* partition_stop() */
	PARTITION_ERROR,             /* the paravisor could not go on: see message */
};

struct partition_result {
	enum partition_outcome outcome;
	uint32_t code;               /* TEST_EXIT: the guest's code */
	uint32_t vp;                 /* the VP that caused the stop */
	char message[256];
	uint64_t exits[PARTITION_EXIT_KIND_COUNT];
	uint64_t bad_accesses;       /* device BAD_REGISTER answers */
	uint64_t unclaimed;          /* intercepted accesses no device claimed */
	uint64_t injected;           /* exceptions injected into VTL0 */
	uint64_t gpa_hits;           /* GPA intercepts (withheld pages) */
	double wall_seconds;
};

struct partition;

/** 0 or -errno with `err` saying what failed; -ENOEXEC: the VTL0 kernel, initrd or command line
 * given in `cfg` cannot be booted (bad input, not a paravisor failure). */
int partition_create(const struct partition_config *cfg, struct partition **out, char *err,
		     size_t errlen);
/**
 * After partition_run: stop the device clock, so that no device timer runs any more. Destroy
 * the devices after this and before partition_destroy (their destroy cancels timers on it).
 */
void partition_quiesce(struct partition *p);
void partition_destroy(struct partition *p);

struct iobus *partition_bus(struct partition *p);
/** Services for device models (stop, interrupts, clock, test-only protection). */
const struct devctx *partition_devctx(struct partition *p);
uint32_t partition_vp_count(const struct partition *p);
/** Where VTL0's EOIs for level-triggered vectors go (the IOAPIC). */
void partition_set_eoi(struct partition *p, struct irq_eoi eoi);

/** Run until a stop; 0 with *res filled (whatever the outcome), -errno if it could not start. */
int partition_run(struct partition *p, struct partition_result *res);
/** Ask a running partition to stop (any thread, async-signal-safe). */
void partition_stop(struct partition *p);

const char *partition_exit_name(unsigned kind);
const char *partition_outcome_name(enum partition_outcome o);

#endif
