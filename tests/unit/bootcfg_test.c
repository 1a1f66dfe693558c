/*
 * bootcfg_test: vtl2/bootcfg.c, the parser of the device tree the VTL2 boot shim hands to the
 * paravisor (layout: the end of boot/shim_params.h). Trees are built with libfdt's
 * sequential-write API from a set of knobs (struct knobs, defaults = a valid tree); every
 * hostile case checks the return code and a distinctive part of the message.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <libfdt.h>

#include "vtl2/bootcfg.h"

#define CAP (256u << 10)
#define MAXU64 (2 * BOOTCFG_MAX_RANGES + 4)
#define MAXCPU (BOOTCFG_MAX_VPS + 2)

/* A range property: n u64 values (odd n is a malformed list); n < 0: property absent. */
struct u64list {
	int n;
	uint64_t v[MAXU64];
};

struct knobs {
	const char *root_compat;     /* NULL: no compatible */
	bool no_mezz;
	const char *mz_compat;       /* NULL: no compatible */
	const char *isolation;       /* NULL: absent */
	int isolation_len;           /* bytes written; < 0: strlen + 1 */
	bool no_vp_count;
	uint32_t vp_count;
	bool no_cpus;
	unsigned ncpus;
	uint32_t apic[MAXCPU];
	bool cpu_no_reg;             /* the last cpu node has no reg */
	struct u64list vtl0, vtl2, reserved, free_;
	bool vmbus;
	const char *vmbus_compat;
	bool vmbus_no_conn;
	uint32_t vmbus_conn, vmbus_vtl;
	bool no_chosen;
	const char *bootargs;        /* NULL: absent */
	int bootargs_len;            /* bytes written; < 0: strlen + 1 */
};

static struct knobs kn;
static struct bootcfg cfg;
static char err[256];

static void set_list(struct u64list *l, int n, ...)
{
	va_list ap;
	va_start(ap, n);
	l->n = n;
	for (int i = 0; i < n; i++)
		l->v[i] = va_arg(ap, uint64_t);
	va_end(ap);
}

/* The valid tree: 2 VPs (APIC IDs 0 and 2), SNP, VTL0 RAM below and above VTL2, VTL2 RAM at
   128 MiB (adjacent to VTL0's first range) with reserved and free parts, VMBus at VTL2. */
static void defaults(void)
{
	memset(&kn, 0, sizeof(kn));
	kn.root_compat = "mezzanine,vtl2";
	kn.mz_compat = "mezzanine,paravisor";
	kn.isolation = "snp";
	kn.isolation_len = -1;
	kn.vp_count = 2;
	kn.ncpus = 2;
	kn.apic[0] = 0;
	kn.apic[1] = 2;
	set_list(&kn.vtl0, 4, 0x0ull, 0x8000000ull, 0x100000000ull, 0x40000000ull);
	set_list(&kn.vtl2, 2, 0x8000000ull, 0x4000000ull);
	set_list(&kn.reserved, 4, 0x8000000ull, 0x100000ull, 0x8200000ull, 0x1000ull);
	set_list(&kn.free_, 2, 0x9000000ull, 0x2000000ull);
	kn.vmbus = true;
	kn.vmbus_compat = "microsoft,vmbus";
	kn.vmbus_conn = 4;
	kn.vmbus_vtl = 2;
	kn.bootargs = "console=ttyS0 mezz.log=1";
	kn.bootargs_len = -1;
}

#define OK(x) assert_int_equal((x), 0)

static void put_list(void *fdt, const char *name, const struct u64list *l)
{
	if (l->n < 0)
		return;
	fdt64_t be[MAXU64];
	for (int i = 0; i < l->n; i++)
		be[i] = cpu_to_fdt64(l->v[i]);
	OK(fdt_property(fdt, name, be, l->n * 8));
}

static void put_str(void *fdt, const char *name, const char *s, int len)
{
	OK(fdt_property(fdt, name, s, len < 0 ? (int)strlen(s) + 1 : len));
}

/* Build the tree of `kn` into a malloc'd buffer of exactly its size (so ASan sees overreads). */
static void *build(size_t *len)
{
	void *fdt = malloc(CAP);
	assert_non_null(fdt);
	OK(fdt_create(fdt, CAP));
	OK(fdt_finish_reservemap(fdt));
	OK(fdt_begin_node(fdt, ""));
	if (kn.root_compat)
		OK(fdt_property_string(fdt, "compatible", kn.root_compat));
	OK(fdt_property_u32(fdt, "#address-cells", 2));
	OK(fdt_property_u32(fdt, "#size-cells", 2));

	if (!kn.no_chosen) {
		OK(fdt_begin_node(fdt, "chosen"));
		if (kn.bootargs)
			put_str(fdt, "bootargs", kn.bootargs, kn.bootargs_len);
		OK(fdt_end_node(fdt));
	}

	if (!kn.no_cpus) {
		OK(fdt_begin_node(fdt, "cpus"));
		OK(fdt_property_u32(fdt, "#address-cells", 1));
		OK(fdt_property_u32(fdt, "#size-cells", 0));
		for (unsigned i = 0; i < kn.ncpus; i++) {
			char nm[32];
			snprintf(nm, sizeof(nm), "cpu@%x", i);
			OK(fdt_begin_node(fdt, nm));
			OK(fdt_property_string(fdt, "device_type", "cpu"));
			if (!(kn.cpu_no_reg && i == kn.ncpus - 1))
				OK(fdt_property_u32(fdt, "reg", kn.apic[i]));
			OK(fdt_end_node(fdt));
		}
		/* Not a cpu@ node: skipped. */
		OK(fdt_begin_node(fdt, "cpu-map"));
		OK(fdt_end_node(fdt));
		OK(fdt_end_node(fdt));
	}

	if (kn.vtl2.n > 0) {
		char nm[40];
		snprintf(nm, sizeof(nm), "memory@%llx", (unsigned long long)kn.vtl2.v[0]);
		OK(fdt_begin_node(fdt, nm));
		OK(fdt_property_string(fdt, "device_type", "memory"));
		put_list(fdt, "reg", &kn.vtl2);
		OK(fdt_end_node(fdt));
	}

	if (!kn.no_mezz) {
		OK(fdt_begin_node(fdt, "mezzanine"));
		if (kn.mz_compat)
			OK(fdt_property_string(fdt, "compatible", kn.mz_compat));
		if (kn.isolation)
			put_str(fdt, "isolation", kn.isolation, kn.isolation_len);
		if (!kn.no_vp_count)
			OK(fdt_property_u32(fdt, "vp-count", kn.vp_count));
		put_list(fdt, "vtl0-memory", &kn.vtl0);
		put_list(fdt, "vtl2-memory", &kn.vtl2);
		put_list(fdt, "vtl2-reserved", &kn.reserved);
		put_list(fdt, "vtl2-free", &kn.free_);
		fdt64_t log[2] = { cpu_to_fdt64(0x8100000), cpu_to_fdt64(0x10000) };
		OK(fdt_property(fdt, "log", log, sizeof(log)));
		if (kn.vmbus) {
			OK(fdt_begin_node(fdt, "vmbus"));
			if (kn.vmbus_compat)
				OK(fdt_property_string(fdt, "compatible", kn.vmbus_compat));
			if (!kn.vmbus_no_conn)
				OK(fdt_property_u32(fdt, "microsoft,message-connection-id",
						    kn.vmbus_conn));
			OK(fdt_property_u32(fdt, "microsoft,vtl", kn.vmbus_vtl));
			OK(fdt_end_node(fdt));
		}
		OK(fdt_end_node(fdt));
	}

	OK(fdt_end_node(fdt));
	OK(fdt_finish(fdt));
	*len = fdt_totalsize(fdt);
	assert_true(*len <= CAP);
	void *exact = malloc(*len);
	assert_non_null(exact);
	memcpy(exact, fdt, *len);
	free(fdt);
	return exact;
}

/* Build `kn` and parse it with the buffer length it reports. */
static int parse_kn(void)
{
	size_t len;
	void *fdt = build(&len);
	memset(err, 0, sizeof(err));
	int rc = bootcfg_parse(fdt, len, &cfg, err, sizeof(err));
	free(fdt);
	return rc;
}

static void expect(int rc, int want, const char *msg)
{
	if (rc != want || !strstr(err, msg))
		print_error("rc %d (want %d), err \"%s\" (want \"%s\")\n", rc, want, err, msg);
	assert_int_equal(rc, want);
	assert_non_null(strstr(err, msg));
}

/* Parse `kn` and expect a refusal. */
static void bad(int want, const char *msg)
{
	expect(parse_kn(), want, msg);
}

static void check_ranges(const struct bootcfg_ranges *r, const struct u64list *l)
{
	assert_int_equal(r->count, (unsigned)l->n / 2);
	for (unsigned i = 0; i < r->count; i++) {
		assert_int_equal(r->r[i].gpa.v, l->v[2 * i]);
		assert_int_equal(r->r[i].size, l->v[2 * i + 1]);
	}
}

static int setup(void **state)
{
	(void)state;
	defaults();
	return 0;
}

/* ---- valid trees ---- */

static void test_valid(void **state)
{
	(void)state;
	if (parse_kn() != 0)
		fail_msg("%s", err);
	assert_int_equal(cfg.vp_count, 2);
	assert_int_equal(cfg.apic_id[0], 0);
	assert_int_equal(cfg.apic_id[1], 2);
	assert_string_equal(cfg.isolation, "snp");
	check_ranges(&cfg.vtl0, &kn.vtl0);
	check_ranges(&cfg.vtl2, &kn.vtl2);
	check_ranges(&cfg.vtl2_reserved, &kn.reserved);
	check_ranges(&cfg.vtl2_free, &kn.free_);
	assert_true(cfg.vmbus);
	assert_int_equal(cfg.vmbus_connection_id, 4);
	assert_int_equal(cfg.vmbus_vtl, 2);
	assert_string_equal(cfg.bootargs, "console=ttyS0 mezz.log=1");
}

/* Optional parts absent: no reserved/free, no VMBus, no /chosen; VMBus at VTL0. */
static void test_valid_minimal(void **state)
{
	(void)state;
	kn.reserved.n = -1;
	kn.free_.n = -1;
	kn.vmbus = false;
	kn.no_chosen = true;
	kn.isolation = "none";
	OK(parse_kn());
	assert_string_equal(cfg.isolation, "none");
	assert_int_equal(cfg.vtl2_reserved.count, 0);
	assert_int_equal(cfg.vtl2_free.count, 0);
	assert_false(cfg.vmbus);
	assert_int_equal(cfg.vmbus_connection_id, 0);
	assert_string_equal(cfg.bootargs, "");

	defaults();
	kn.bootargs = NULL; /* /chosen without bootargs */
	kn.vmbus_vtl = 0;
	OK(parse_kn());
	assert_string_equal(cfg.bootargs, "");
	assert_true(cfg.vmbus);
	assert_int_equal(cfg.vmbus_vtl, 0);
}

static void test_valid_isolations(void **state)
{
	(void)state;
	static const char *const iso[] = { "none", "vbs", "snp", "tdx" };
	for (unsigned i = 0; i < 4; i++) {
		kn.isolation = iso[i];
		OK(parse_kn());
		assert_string_equal(cfg.isolation, iso[i]);
	}
}

/* The limits themselves: 1024 VPs, 64 ranges, a 2047-byte command line. */
static void test_valid_limits(void **state)
{
	(void)state;
	kn.ncpus = kn.vp_count = BOOTCFG_MAX_VPS;
	for (unsigned i = 0; i < kn.ncpus; i++)
		kn.apic[i] = i * 3 + 1;
	kn.free_.n = 2 * BOOTCFG_MAX_RANGES;
	for (unsigned i = 0; i < BOOTCFG_MAX_RANGES; i++) {
		kn.free_.v[2 * i] = 0x9000000ull + i * 0x2000ull;
		kn.free_.v[2 * i + 1] = 0x1000;
	}
	static char args[2048];
	memset(args, 'a', sizeof(args) - 1);
	args[sizeof(args) - 1] = '\0';
	kn.bootargs = args;
	OK(parse_kn());
	assert_int_equal(cfg.vp_count, BOOTCFG_MAX_VPS);
	assert_int_equal(cfg.apic_id[BOOTCFG_MAX_VPS - 1], (BOOTCFG_MAX_VPS - 1) * 3 + 1);
	check_ranges(&cfg.vtl2_free, &kn.free_);
	assert_int_equal(strlen(cfg.bootargs), 2047);
}

/* Adjacent ranges are sorted, not overlapping; a range ending at the top of a vtl2 range is
   inside it. */
static void test_valid_edges(void **state)
{
	(void)state;
	set_list(&kn.vtl2, 4, 0x8000000ull, 0x4000000ull, 0xC000000ull, 0x1000ull);
	set_list(&kn.free_, 4, 0x9000000ull, 0x3000000ull, 0xC000000ull, 0x1000ull);
	OK(parse_kn());
	assert_int_equal(cfg.vtl2.count, 2);
	assert_int_equal(cfg.vtl2_free.count, 2);
}

/* ---- the buffer ---- */

static void test_buffer(void **state)
{
	(void)state;
	size_t len;
	uint8_t *fdt = build(&len);

	/* Shorter than a header, and absurdly long. */
	expect(bootcfg_parse(fdt, 8, &cfg, err, sizeof(err)), -EINVAL, "device tree of 8 bytes");
	expect(bootcfg_parse(fdt, BOOTCFG_MAX_DTB + 1, &cfg, err, sizeof(err)), -EINVAL,
	       "device tree of");

	/* Truncated: the buffer ends before totalsize. */
	expect(bootcfg_parse(fdt, len - 1, &cfg, err, sizeof(err)), -EINVAL,
	       "totalsize past the buffer");
	expect(bootcfg_parse(fdt, sizeof(struct fdt_header), &cfg, err, sizeof(err)), -EINVAL,
	       "not a device tree");

	/* totalsize larger than the buffer. */
	uint8_t *big = malloc(len);
	assert_non_null(big);
	memcpy(big, fdt, len);
	fdt_set_totalsize(big, (uint32_t)len + 0x1000);
	expect(bootcfg_parse(big, len, &cfg, err, sizeof(err)), -EINVAL, "totalsize past the buffer");

	/* Bad magic. */
	memcpy(big, fdt, len);
	big[0] ^= 0xFF;
	expect(bootcfg_parse(big, len, &cfg, err, sizeof(err)), -EINVAL, "not a device tree");

	/* Old versions (libfdt 1.6.1's fdt_check_full crashed on version < 16). */
	static const uint32_t versions[] = { 2, 3, 16 };
	for (unsigned i = 0; i < 3; i++) {
		memcpy(big, fdt, len);
		fdt_set_version(big, versions[i]);
		fdt_set_last_comp_version(big, 2);
		char want[64];
		snprintf(want, sizeof(want), "not a device tree: version %u (17 needed)", versions[i]);
		expect(bootcfg_parse(big, len, &cfg, err, sizeof(err)), -EINVAL, want);
	}

	/* A broken structure block: the first token is no longer FDT_BEGIN_NODE. */
	memcpy(big, fdt, len);
	memset(big + fdt_off_dt_struct(big), 0xEE, 4);
	expect(bootcfg_parse(big, len, &cfg, err, sizeof(err)), -EINVAL, "malformed device tree");

	/* A property whose length wraps the offset back onto its own tag: libfdt 1.6.1's
	   fdt_check_full loops forever on it (found by bootcfg_fuzz); a named error now. */
	memcpy(big, fdt, len);
	int poff = 0, pnext;
	while (fdt_next_tag(big, poff, &pnext) != FDT_PROP)
		poff = pnext;
	uint32_t wrap = cpu_to_fdt32(0xFFFFFFF4u); /* -12: tag + len + nameoff */
	memcpy(big + fdt_off_dt_struct(big) + poff + 4, &wrap, 4);
	expect(bootcfg_parse(big, len, &cfg, err, sizeof(err)), -EINVAL, "malformed device tree");

	/* Strings block pointing past the end. */
	memcpy(big, fdt, len);
	fdt_set_size_dt_strings(big, fdt_size_dt_strings(fdt) + 0x100);
	expect(bootcfg_parse(big, len, &cfg, err, sizeof(err)), -EINVAL, "device tree");

	/* Garbage. */
	srand(1);
	for (size_t i = 0; i < len; i++)
		big[i] = (uint8_t)rand();
	expect(bootcfg_parse(big, len, &cfg, err, sizeof(err)), -EINVAL, "not a device tree");
	memset(big, 0, len);
	expect(bootcfg_parse(big, len, &cfg, err, sizeof(err)), -EINVAL, "not a device tree");

	/* A NULL or zero-sized error buffer only loses the message. */
	assert_int_equal(bootcfg_parse(big, len, &cfg, NULL, 0), -EINVAL);
	char tiny[4] = "xyz";
	assert_int_equal(bootcfg_parse(big, len, &cfg, tiny, sizeof(tiny)), -EINVAL);
	assert_int_equal(tiny[3], '\0');

	/* The untouched tree still parses with a larger buffer than totalsize. */
	uint8_t *roomy = calloc(1, len + 64);
	assert_non_null(roomy);
	memcpy(roomy, fdt, len);
	OK(bootcfg_parse(roomy, len + 64, &cfg, err, sizeof(err)));
	free(roomy);
	free(big);
	free(fdt);
}

/* A tree at a 4-byte (setup_data payload) or odd offset: either it parses the same (bootcfg's
   own loads are byte-wise) or libfdt refuses the buffer (1.6.1's fdt_check_header wants 8-byte
   alignment: FDT_ERR_ALIGNMENT, which its fdt_strerror names "<unknown error>"). */
static void test_unaligned_buffer(void **state)
{
	(void)state;
	size_t len;
	uint8_t *fdt = build(&len);
	uint8_t *m = malloc(len + 8);
	assert_non_null(m);
	for (unsigned off = 1; off < 8; off++) {
		memcpy(m + off, fdt, len);
		err[0] = '\0';
		int rc = bootcfg_parse(m + off, len, &cfg, err, sizeof(err));
		if (rc) {
			expect(rc, -EINVAL, "not a device tree: ");
			continue;
		}
		assert_int_equal(cfg.vp_count, 2);
		assert_int_equal(cfg.apic_id[1], 2);
		check_ranges(&cfg.vtl0, &kn.vtl0);
		check_ranges(&cfg.vtl2_free, &kn.free_);
		assert_int_equal(cfg.vmbus_connection_id, 4);
	}
	free(m);
	free(fdt);
}

/* ---- root and /mezzanine ---- */

static void test_root_compatible(void **state)
{
	(void)state;
	kn.root_compat = "linux,dummy-virt";
	bad(-EINVAL, "/: not compatible \"mezzanine,vtl2\"");
	kn.root_compat = NULL;
	bad(-EINVAL, "/: not compatible");
}

static void test_no_mezzanine(void **state)
{
	(void)state;
	kn.no_mezz = true;
	bad(-EINVAL, "no /mezzanine node");
	kn.no_mezz = false;
	kn.mz_compat = "mezzanine,other";
	bad(-EINVAL, "no /mezzanine node compatible \"mezzanine,paravisor\"");
	kn.mz_compat = NULL;
	bad(-EINVAL, "no /mezzanine node");
}

static void test_isolation(void **state)
{
	(void)state;
	kn.isolation = "sev";
	bad(-EINVAL, "isolation \"sev\" is unknown");
	kn.isolation = "";
	bad(-EINVAL, "isolation \"\" is unknown");
	kn.isolation = "nonexxxx"; /* 9 bytes with the NUL: past the field */
	bad(-EINVAL, "/mezzanine: isolation is not a string of at most 7 bytes");
	kn.isolation = "snp";
	kn.isolation_len = 3; /* no NUL */
	bad(-EINVAL, "isolation is not a string");
	kn.isolation = "sn\0p";
	kn.isolation_len = 5; /* embedded NUL */
	bad(-EINVAL, "isolation is not a string");
	kn.isolation = NULL;
	bad(-EINVAL, "isolation is not a string");
}

/* ---- VPs ---- */

static void test_vp_count(void **state)
{
	(void)state;
	kn.vp_count = 0;
	bad(-EINVAL, "/mezzanine: vp-count 0 (1..1024)");
	kn.vp_count = BOOTCFG_MAX_VPS + 1;
	bad(-EINVAL, "vp-count 1025 (1..1024)");
	kn.vp_count = 0xFFFFFFFF;
	bad(-EINVAL, "vp-count 4294967295");
	kn.vp_count = 3;
	bad(-EINVAL, "/mezzanine/vp-count 3 but /cpus has 2 cpu nodes");
	kn.vp_count = 1;
	bad(-EINVAL, "/mezzanine/vp-count 1 but /cpus has 2 cpu nodes");
	kn.no_vp_count = true;
	bad(-EINVAL, "vp-count is not one u32");
}

static void test_cpus(void **state)
{
	(void)state;
	kn.apic[1] = 0;
	bad(-EINVAL, "/cpus: APIC ID 0 appears twice");

	defaults();
	kn.ncpus = kn.vp_count = 5;
	for (unsigned i = 0; i < 5; i++)
		kn.apic[i] = 10 + i;
	kn.apic[4] = 12;
	bad(-EINVAL, "APIC ID 12 appears twice");

	defaults();
	kn.cpu_no_reg = true;
	bad(-EINVAL, "/cpus/cpu@: reg is not one u32");

	defaults();
	kn.no_cpus = true;
	bad(-EINVAL, "no /cpus node");

	defaults();
	kn.ncpus = 0;
	bad(-EINVAL, "/cpus: no cpu nodes");

	/* More cpu nodes than any vp-count may say. */
	defaults();
	kn.vp_count = BOOTCFG_MAX_VPS;
	kn.ncpus = BOOTCFG_MAX_VPS + 1;
	for (unsigned i = 0; i < kn.ncpus; i++)
		kn.apic[i] = i;
	bad(-E2BIG, "/cpus: more than 1024 cpu nodes");
}

/* ---- ranges ---- */

static void test_range_list_shape(void **state)
{
	(void)state;
	set_list(&kn.vtl0, 3, 0x0ull, 0x8000000ull, 0x100000000ull);
	bad(-EINVAL, "/mezzanine/vtl0-memory: 24 bytes is not a list of (u64 base, u64 size)");

	defaults();
	kn.free_.n = 1;
	bad(-EINVAL, "/mezzanine/vtl2-free: 8 bytes is not a list");

	defaults();
	kn.vtl0.n = -1;
	bad(-EINVAL, "/mezzanine: no vtl0-memory property");

	defaults();
	kn.vtl2.n = -1;
	bad(-EINVAL, "/mezzanine: no vtl2-memory property");
}

static void test_range_values(void **state)
{
	(void)state;
	kn.vtl0.v[0] = 0x800; /* unaligned base */
	bad(-EINVAL, "/mezzanine/vtl0-memory[0]: [0x800, +0x8000000) is not a non-empty "
		     "page-aligned range");

	defaults();
	kn.vtl0.v[3] = 0x40000001; /* unaligned size */
	bad(-EINVAL, "/mezzanine/vtl0-memory[1]: [0x100000000, +0x40000001) is not");

	defaults();
	kn.reserved.v[3] = 0; /* zero size */
	bad(-EINVAL, "/mezzanine/vtl2-reserved[1]: [0x8200000, +0x0) is not a non-empty");

	defaults();
	set_list(&kn.vtl0, 2, 0xFFFFFFFFFFFFF000ull, 0x2000ull); /* wraps */
	bad(-EINVAL, "/mezzanine/vtl0-memory[0]: [0xfffffffffffff000, +0x2000) is not");

	defaults();
	set_list(&kn.vtl0, 2, 0xFFFFFFFFFFFFF000ull, 0x1000ull); /* ends exactly at 2^64 */
	bad(-EINVAL, "vtl0-memory[0]: [0xfffffffffffff000, +0x1000) is not");
}

static void test_range_order(void **state)
{
	(void)state;
	/* Unsorted. */
	set_list(&kn.vtl0, 4, 0x100000000ull, 0x40000000ull, 0x0ull, 0x8000000ull);
	bad(-EINVAL, "/mezzanine/vtl0-memory[1]: 0x0 is not above range 0");

	/* Overlapping. */
	defaults();
	set_list(&kn.vtl0, 4, 0x0ull, 0x8000000ull, 0x7FFF000ull, 0x1000ull);
	bad(-EINVAL, "/mezzanine/vtl0-memory[1]: 0x7fff000 is not above range 0");

	/* The same range twice. */
	defaults();
	set_list(&kn.free_, 4, 0x9000000ull, 0x1000ull, 0x9000000ull, 0x1000ull);
	bad(-EINVAL, "/mezzanine/vtl2-free[1]: 0x9000000 is not above range 0");
}

static void test_too_many_ranges(void **state)
{
	(void)state;
	kn.vtl0.n = 2 * (BOOTCFG_MAX_RANGES + 1);
	for (unsigned i = 0; i <= BOOTCFG_MAX_RANGES; i++) {
		kn.vtl0.v[2 * i] = 0x100000000ull + i * 0x200000ull;
		kn.vtl0.v[2 * i + 1] = 0x100000;
	}
	bad(-E2BIG, "/mezzanine/vtl0-memory: 65 ranges (at most 64)");

	defaults();
	kn.reserved.n = 2 * (BOOTCFG_MAX_RANGES + 1);
	for (unsigned i = 0; i <= BOOTCFG_MAX_RANGES; i++) {
		kn.reserved.v[2 * i] = 0x8000000ull + i * 0x2000ull;
		kn.reserved.v[2 * i + 1] = 0x1000;
	}
	bad(-E2BIG, "/mezzanine/vtl2-reserved: 65 ranges");
}

static void test_range_relations(void **state)
{
	(void)state;
	/* VTL0 RAM overlapping VTL2 RAM by one page. */
	kn.vtl0.v[1] = 0x8001000;
	bad(-EINVAL, "/mezzanine: vtl0-memory overlaps vtl2-memory");

	/* VTL2 RAM inside a later VTL0 range. */
	defaults();
	set_list(&kn.vtl0, 2, 0x0ull, 0x100000000ull);
	bad(-EINVAL, "vtl0-memory overlaps vtl2-memory");

	/* vtl2-free past the end of VTL2 RAM by one page. */
	defaults();
	kn.free_.v[1] = 0x3000000 + 0x1000;
	bad(-EINVAL, "/mezzanine: vtl2-reserved/vtl2-free outside vtl2-memory");

	/* vtl2-free entirely in VTL0 RAM. */
	defaults();
	set_list(&kn.free_, 2, 0x1000ull, 0x1000ull);
	bad(-EINVAL, "vtl2-free outside vtl2-memory");

	/* vtl2-reserved below VTL2 RAM. */
	defaults();
	set_list(&kn.reserved, 2, 0x7FFF000ull, 0x2000ull);
	bad(-EINVAL, "vtl2-reserved/vtl2-free outside vtl2-memory");

	/* vtl2-free overlapping vtl2-reserved. */
	defaults();
	set_list(&kn.free_, 2, 0x80FF000ull, 0x2000ull);
	bad(-EINVAL, "/mezzanine: vtl2-free overlaps vtl2-reserved");

	defaults();
	set_list(&kn.free_, 2, 0x8200000ull, 0x1000ull); /* exactly the second reserved range */
	bad(-EINVAL, "vtl2-free overlaps vtl2-reserved");
}

/* ---- /mezzanine/vmbus ---- */

static void test_vmbus(void **state)
{
	(void)state;
	kn.vmbus_compat = "microsoft,hyperv";
	bad(-EINVAL, "/mezzanine/vmbus: not compatible \"microsoft,vmbus\"");
	kn.vmbus_compat = NULL;
	bad(-EINVAL, "/mezzanine/vmbus: not compatible");

	defaults();
	kn.vmbus_vtl = 1;
	bad(-EINVAL, "/mezzanine/vmbus: vtl 1");
	kn.vmbus_vtl = 0xFFFFFFFF;
	bad(-EINVAL, "/mezzanine/vmbus: vtl 4294967295");

	defaults();
	kn.vmbus_no_conn = true;
	bad(-EINVAL, "/mezzanine/vmbus: microsoft,message-connection-id is not one u32");
}

/* ---- /chosen/bootargs ---- */

static void test_bootargs(void **state)
{
	(void)state;
	kn.bootargs_len = (int)strlen(kn.bootargs); /* no NUL */
	bad(-EINVAL, "/chosen: bootargs is not a string of at most 2047 bytes");

	kn.bootargs = "a\0b";
	kn.bootargs_len = 4; /* embedded NUL */
	bad(-EINVAL, "/chosen: bootargs is not a string");

	kn.bootargs = "";
	kn.bootargs_len = 0; /* empty property */
	bad(-EINVAL, "/chosen: bootargs is not a string");

	static char args[2049];
	memset(args, 'a', sizeof(args) - 1);
	args[sizeof(args) - 1] = '\0';
	kn.bootargs = args; /* 2048 characters: one too many */
	kn.bootargs_len = -1;
	bad(-EINVAL, "/chosen: bootargs is not a string of at most 2047 bytes");

	kn.bootargs = "";
	OK(parse_kn());
	assert_string_equal(cfg.bootargs, "");
}

/* Every single-byte truncation and corruption of the valid tree: never a crash, always a
   named error or a tree that still satisfies the invariants. */
static void test_mutations(void **state)
{
	(void)state;
	size_t len;
	uint8_t *fdt = build(&len);
	uint8_t *m = malloc(len);
	assert_non_null(m);
	for (size_t cut = 0; cut < len; cut++) {
		memcpy(m, fdt, cut);
		err[0] = '\0';
		assert_int_equal(bootcfg_parse(m, cut, &cfg, err, sizeof(err)), -EINVAL);
		assert_true(err[0] != '\0');
	}
	static const uint8_t flips[] = { 0x01, 0x80, 0xFF };
	for (size_t i = 0; i < len; i++) {
		for (unsigned f = 0; f < sizeof(flips); f++) {
			memcpy(m, fdt, len);
			m[i] ^= flips[f];
			err[0] = '\0';
			int rc = bootcfg_parse(m, len, &cfg, err, sizeof(err));
			if (rc) {
				assert_true(rc == -EINVAL || rc == -E2BIG);
				assert_true(err[0] != '\0');
				continue;
			}
			assert_true(cfg.vp_count >= 1 && cfg.vp_count <= BOOTCFG_MAX_VPS);
			assert_true(cfg.vtl2_free.count <= BOOTCFG_MAX_RANGES);
			assert_non_null(memchr(cfg.bootargs, '\0', sizeof(cfg.bootargs)));
			assert_non_null(memchr(cfg.isolation, '\0', sizeof(cfg.isolation)));
		}
	}
	free(m);
	free(fdt);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup(test_valid, setup),
		cmocka_unit_test_setup(test_valid_minimal, setup),
		cmocka_unit_test_setup(test_valid_isolations, setup),
		cmocka_unit_test_setup(test_valid_limits, setup),
		cmocka_unit_test_setup(test_valid_edges, setup),
		cmocka_unit_test_setup(test_buffer, setup),
		cmocka_unit_test_setup(test_unaligned_buffer, setup),
		cmocka_unit_test_setup(test_root_compatible, setup),
		cmocka_unit_test_setup(test_no_mezzanine, setup),
		cmocka_unit_test_setup(test_isolation, setup),
		cmocka_unit_test_setup(test_vp_count, setup),
		cmocka_unit_test_setup(test_cpus, setup),
		cmocka_unit_test_setup(test_range_list_shape, setup),
		cmocka_unit_test_setup(test_range_values, setup),
		cmocka_unit_test_setup(test_range_order, setup),
		cmocka_unit_test_setup(test_too_many_ranges, setup),
		cmocka_unit_test_setup(test_range_relations, setup),
		cmocka_unit_test_setup(test_vmbus, setup),
		cmocka_unit_test_setup(test_bootargs, setup),
		cmocka_unit_test_setup(test_mutations, setup),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
