/*
 * hvsim_igvm: what the Hyper-V host's loader does with an IGVM file, for hvsim partitions.
 *
 *   hvsim_igvm_scan   which memory the image claims for VTL2 (imported pages, inserted
 *                     parameter areas, required memory) - the host lays out the partition
 *                     around it before creating it
 *   hvsim_igvm_load   import the NATIVE platform's pages into partition RAM, fill the
 *                     parameter areas as the host would (VP count, memory map, command line,
 *                     a device tree with cpus, memory, chosen and VMBus; zeros for tables
 *                     hvsim does not model: SRAT, MADT, SLIT, PPTT, MMIO ranges left empty),
 *                     insert them, and load VP 0's context
 *
 * The file is hostile: it goes through the igvm library's validator first, and every GPA it
 * names must lie in partition RAM. The NATIVE platform is loaded, or VSM_ISOLATION (VBS) on
 * request: its pages and its VTL 2 register list (hvsim does not model VBS's VTL protections
 * or its measured launch, only what the image asks of the loader); SNP and TDX are refused.
 * Contexts for VPs other than 0 are refused.
 */
#ifndef MEZZ_TOOLS_HVSIM_IGVM_H
#define MEZZ_TOOLS_HVSIM_IGVM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct hvsim;

#define HVSIM_IGVM_MAX_RANGES 64
#define HVSIM_IGVM_MAX_OVERRIDES 8

struct hvsim_igvm_range {
	uint64_t gpa, size;
};

/** Which of the file's platforms to load. */
enum hvsim_igvm_platform {
	HVSIM_IGVM_NATIVE = 0,
	HVSIM_IGVM_VBS = 1,
};

struct hvsim_igvm_layout {
	uint32_t mask;                  /* the loaded platform's compatibility mask */
	uint8_t highest_vtl;
	/* VTL2 memory the image claims, sorted and merged, page granular. */
	struct hvsim_igvm_range vtl2[HVSIM_IGVM_MAX_RANGES];
	unsigned vtl2_count;
	uint64_t vtl2_end;              /* end of the highest range */
};

/** The host's side of the parameters. */
struct hvsim_igvm_host {
	enum hvsim_igvm_platform platform;
	const char *command_line;       /* COMMAND_LINE and /chosen/bootargs; NULL: empty */
	bool vmbus;                     /* a VMBus node in the device tree */
	uint32_t vmbus_connection_id;
	uint32_t vmbus_vtl;
	/* A hostile host, for tests: these bytes replace the payload of parameter `type`
	   (IGVM_VHT_VP_COUNT_PARAMETER, ..._MEMORY_MAP, ..._COMMAND_LINE, ..._DEVICE_TREE), at
	   most the room left in the area. */
	struct {
		uint32_t type;
		const uint8_t *bytes;
		size_t len;
	} overrides[HVSIM_IGVM_MAX_OVERRIDES];
	unsigned override_count;
};

struct hvsim_igvm_loaded {
	uint64_t pages_imported;        /* PAGE_DATA pages written (incl. zero pages) */
	uint64_t rip, rsi;              /* VP 0's entry */
	unsigned memory_map_entries;
};

/** 0, or -EINVAL / -ENOTSUP with a message naming the problem. */
int hvsim_igvm_scan(const uint8_t *file, size_t len, enum hvsim_igvm_platform platform,
		    struct hvsim_igvm_layout *out, char *err, size_t errlen);
/**
 * Load into `sim` (VPs not running). The memory map the host reports: the layout's VTL2
 * ranges as VTL2_PROTECTABLE, the rest of partition RAM as MEMORY. 0, or -errno with a message.
 */
int hvsim_igvm_load(struct hvsim *sim, const uint8_t *file, size_t len,
		    const struct hvsim_igvm_host *host, struct hvsim_igvm_loaded *out, char *err,
		    size_t errlen);

#endif
