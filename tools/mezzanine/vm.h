/*
 * vm: the one place a paravisor VM is assembled and run, shared by `mezzanine` (over the real
 * driver) and `mezz-sim` (over hvsim): partition_create, the PC chipset on its bus, COM1 to a
 * host stream, partition_run, and the summary printed at the end. The programs differ only in
 * their seam library and in who set VTL0 up before the run.
 */
#ifndef MEZZ_TOOLS_MEZZANINE_VM_H
#define MEZZ_TOOLS_MEZZANINE_VM_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "vtl2/bootcfg.h"
#include "vtl2/partition.h"

struct vm_config {
	struct partition_config partition;
	const char *disk;           /* raw image VTL2 itself offers to VTL0 as a VMBus SCSI disk
				       (needs vmbus) */
	bool host_vmbus;            /* connect to the host's VMBus */
	bool host_serial;           /* COM1 goes to the host's VMBus serial device (host_vmbus) */
	bool host_disk;             /* relay the host's SCSI disk to VTL0 (needs vmbus, host_vmbus) */
	bool test_devices;          /* the test guests' device (devices/testdev.h) */
	FILE *serial_out;           /* COM1 bytes; NULL = stdout */
};

struct vm_report {
	struct partition_result result;
	uint64_t serial_bytes;      /* COM1 bytes VTL0 sent */
	uint32_t vp_count;
	uint64_t heap_bytes;        /* malloc'd by partition + devices (mallinfo2 delta at set-up) */
	bool host_vmbus;            /* the host relay ran: host_* below are valid */
	int host_connect_err;       /* 0 connected, -errno, 1 never answered */
	uint32_t host_version;
	bool host_serial_open;
	uint64_t host_serial_bytes, host_serial_dropped;
	bool host_disk, host_disk_offered;
	uint64_t host_disk_bytes, host_disk_requests, host_disk_errors, host_disk_direct;
};

/* Exit statuses shared by the programs (README conventions). */
#define VM_EXIT_PASS 0      /* test exit 0, or an orderly power off */
#define VM_EXIT_FAIL 1      /* test exit with a failure code */
#define VM_EXIT_USAGE 2     /* bad arguments */
#define VM_EXIT_ERROR 3     /* could not run, paravisor error, timeout */
#define VM_EXIT_STOPPED 4   /* the guest stopped the VM otherwise: reset, triple fault, all
			       VPs halted for good */

/** Build and run the VM. 0 with *rep filled, or -errno with `err` (could not start). */
int vm_run(const struct vm_config *cfg, struct vm_report *rep, char *err, size_t errlen);
/** The end-of-run summary: result line, exits by kind, counters, wall time. */
void vm_print_summary(FILE *f, const struct vm_report *rep);
/** The exit status for a finished run. */
int vm_exit_status(const struct vm_report *rep);

/**
 * The partition's memory and VP count from the boot shim's device tree (vtl2/bootcfg.h): the
 * memory map (VTL0 RAM and VTL2's memory, joined), VTL2's own memory (withheld), the VPs. 0, or -E2BIG with a message when the tree has more ranges
 * than the partition takes.
 */
int vm_config_from_boot(const struct bootcfg *bc, struct partition_config *pc, char *err,
			size_t errlen);
/** Read and parse a boot device tree file (`prog`: for messages). 0, or -1 with a message. */
int vm_boot_dt_load(const char *prog, const char *path, struct bootcfg *bc);

/** Ask the running VM (if any) to stop; from any thread (not a signal handler). */
void vm_stop(void);

/* The VTL0 options both programs take (--kernel, --initrd, --cmdline, --vmbus, --vtl2-disk). */
struct vm_kernel_args {
	const char *kernel, *initrd, *cmdline;
	bool vmbus;                 /* --vmbus: VTL0 gets the paravisor's VMBus */
	const char *disk;           /* --vtl2-disk IMAGE: a SCSI disk VTL2 itself serves on it
				       (implies --vmbus) */
};
/**
 * Consume one of them at argv[*i]: 1 consumed, 0 not one of them, -1 its value is missing
 * (message printed).
 */
int vm_kernel_option(const char *prog, int argc, char **argv, int *i, struct vm_kernel_args *k);
/** --initrd/--cmdline without --kernel: -1 with a message, else 0. */
int vm_kernel_check(const char *prog, const struct vm_kernel_args *k);
/**
 * Read the kernel (and initrd) named in k into pc (malloc'd: vm_kernel_free). 0, or -1 with
 * a message. Nothing to do without --kernel.
 */
int vm_kernel_load(const char *prog, const struct vm_kernel_args *k, struct partition_config *pc);
void vm_kernel_free(struct partition_config *pc);

/* Command-line helpers shared by the programs. */
/**
 * Read a whole regular, non-empty file of at most `max` bytes the user named (`what`: "kernel",
 * ...). 0 with a malloc'd *out, or -1 after "PROG: cannot read WHAT PATH: why" on stderr.
 */
int vm_load_file(const char *prog, const char *what, const char *path, uint64_t max,
		 uint8_t **out, size_t *size);

/** A size with an optional K/M/G suffix (powers of 1024, "KiB"/"KB" accepted). */
int vm_parse_size(const char *s, uint64_t *out);
/** A decimal number <= max. */
int vm_parse_uint(const char *s, unsigned long max, unsigned long *out);
/**
 * A number option's value in [min, max]: 0, or -1 after "PROG: OPT: 'V' is not a number from
 * MIN to MAX" on stderr.
 */
int vm_opt_number(const char *prog, const char *opt, const char *v, unsigned long min,
		  unsigned long max, unsigned long *out);
/**
 * "--name VALUE" or "--name=VALUE" at argv[*i] (advancing *i past a separate value); NULL if
 * argv[*i] is not `name`; NULL with *missing when the value is absent.
 */
const char *vm_opt_value(int argc, char **argv, int *i, const char *name, bool *missing);

#endif
