/*
 * paravisor: the Mezzanine VTL2 image (a manifest's "paravisor" section, docs/mezz-igvm.md
 * PARAVISOR IMAGES). Validates the inputs (boot shim ELF, TDX reset page, bzImage, initrd),
 * computes the VTL2 layout of boot/shim_params.h and emits the directives: params page per
 * platform, GDT, identity page tables, parameter areas, log, kernel setup bytes, shim
 * segments, heap, kernel, initrd, required memory, TDX reset page and the VP contexts.
 * The input files are hostile: every header field is checked before it is used.
 */
#ifndef MEZZ_IGVM_PARAVISOR_H
#define MEZZ_IGVM_PARAVISOR_H

#include <stddef.h>
#include <stdint.h>

struct igvm_builder;

#define PARAVISOR_DEFAULT_VTL2_BASE 0x10000000ull
/* Default vtl2_size: the layout rounded up to 2 MiB plus this much for the VTL2 kernel's and
 * the paravisor's own memory (page cache of the unpacked initramfs, the process, the pool). */
#define PARAVISOR_DEFAULT_HEADROOM (64ull << 20)
#define PARAVISOR_MIN_HEAP (1ull << 20)
#define PARAVISOR_LOG_SIZE 0x2000ull
/* Fixed offsets inside the region beyond what shim_params.h fixes. */
#define PARAVISOR_OFF_VMSA 0x8000ull /* SNP VMSA (a zero page for the other platforms) */
#define PARAVISOR_OFF_LOG 0x9000ull
#define PARAVISOR_OFF_PAD 0xB000ull  /* zero pages up to the parameter areas */
#define PARAVISOR_N_AREAS 4u
/* Largest input files accepted (the IGVM file is limited to 4 GiB anyway). */
#define PARAVISOR_MAX_SHIM (16u << 20)
#define PARAVISOR_MAX_KERNEL (512u << 20)

/* One platform of the manifest (igvm_build_platform_type, its mask bit). */
struct paravisor_platform {
	uint32_t type;
	uint32_t mask;
	uint32_t highest_vtl;
	uint64_t shared_gpa_boundary;
};

/* The section, with its files already read. */
struct paravisor_config {
	const uint8_t *shim;
	size_t shim_len;
	const uint8_t *tdx_reset; /* NULL: none (then no TDX platform may be listed) */
	size_t tdx_reset_len;
	const uint8_t *kernel;
	size_t kernel_len;
	const uint8_t *initrd; /* NULL or length 0: none */
	size_t initrd_len;
	const char *command_line; /* static, measured; "" for none */
	uint32_t cmdline_policy;  /* enum mezz_shim_cmdline_policy */
	uint64_t vtl2_base;
	uint64_t vtl2_size; /* 0: default (layout + PARAVISOR_DEFAULT_HEADROOM) */
	uint16_t com_port;
	const struct paravisor_platform *platforms;
	size_t n_platforms;
};

/* What the layout needs from the inputs. */
struct paravisor_inputs {
	uint64_t vtl2_base;
	uint64_t vtl2_size;     /* 0: default */
	uint64_t setup_size;    /* bzImage bytes [0, setup_size) */
	uint64_t kernel_size;   /* protected-mode bytes */
	uint64_t init_size;     /* header init_size */
	uint64_t kernel_align;  /* header kernel_alignment (power of two) */
	uint64_t shim_lo, shim_hi; /* page-aligned span of the shim's PT_LOAD segments */
	uint64_t initrd_size;   /* 0: none */
	int tdx;                /* a TDX platform is listed: keep clear of the reset page */
};

struct paravisor_range {
	uint64_t gpa;
	uint64_t size;
};

struct paravisor_layout {
	struct paravisor_range vtl2;
	uint64_t vmsa;
	struct paravisor_range log, pad;
	struct paravisor_range areas[PARAVISOR_N_AREAS]; /* MEZZ_SHIM_AREA_* order */
	struct paravisor_range setup; /* size: bytes (not rounded) */
	uint64_t loader_end;          /* end of the loader block (page aligned) */
	struct paravisor_range shim;  /* page-aligned span */
	struct paravisor_range heap;
	struct paravisor_range kernel; /* size: bytes */
	uint64_t kernel_span;
	struct paravisor_range initrd; /* size: bytes; gpa 0 when none */
	uint64_t used_end;             /* end of the imported layout (2 MiB aligned) */
	/* Not imported, VTL2 RAM (required_memory): below the shim, the kernel span past the
	 * kernel's bytes, everything after the initrd. size 0: absent. */
	struct paravisor_range ram[3];
};

/* bzImage header facts the layout and the params page need. */
struct paravisor_bzimage {
	uint64_t setup_size;
	uint64_t kernel_size;
	uint64_t init_size;
	uint64_t kernel_align;
	uint16_t version;
};

#define PARAVISOR_MAX_SEGS 16u

/* The shim ELF: entry, PT_LOAD segments and their page-aligned span. */
struct paravisor_shim {
	uint64_t entry;
	uint64_t lo, hi;
	unsigned n_segs;
	struct {
		uint64_t paddr, memsz, offset, filesz;
	} segs[PARAVISOR_MAX_SEGS];
};

/*
 * Validate a bzImage's setup header (boot flag, "HdrS", version >= 2.12, 64-bit entry,
 * relocatable, kernel_alignment, init_size, sizes). 0 or -EINVAL with msg naming the problem
 * ("not a bzImage (no HdrS at 0x202)", ...), without a "paravisor.kernel: " prefix.
 */
int paravisor_parse_bzimage(const uint8_t *buf, size_t len, struct paravisor_bzimage *out,
			    char *msg, size_t msg_len);

/*
 * Validate the shim: a static little-endian x86-64 ELF64 executable, program headers and
 * PT_LOAD segments inside the file, filesz <= memsz, no wrap-around, no overlapping segments,
 * no PT_INTERP/PT_DYNAMIC, entry inside an executable segment. 0 or -EINVAL (msg without a
 * prefix).
 */
int paravisor_parse_shim(const uint8_t *buf, size_t len, struct paravisor_shim *out, char *msg,
			 size_t msg_len);

/*
 * Compute the layout (docs/mezz-igvm.md, PARAVISOR IMAGES). 0 or -EINVAL with msg naming
 * the manifest key at fault ("paravisor.vtl2_size: ...", "paravisor.shim: ...").
 */
int paravisor_layout(const struct paravisor_inputs *in, struct paravisor_layout *out, char *msg,
		     size_t msg_len);

/*
 * Validate the inputs, lay them out and add every directive to b (platforms must already be
 * in b). 0, -EINVAL (msg names the problem, prefixed "paravisor..."), -ENOMEM.
 */
int paravisor_build(struct igvm_builder *b, const struct paravisor_config *c, char *msg,
		    size_t msg_len);

#endif
