/*
 * hvsim_igvm: the host loader's part for IGVM images, the host's port devices and VP
 * breakpoints. A small image (built with the igvm library's builder) with page tables, a GDT,
 * code that writes to COM1 (OUT and REP OUTSB) and jumps to a "kernel entry", parameter areas
 * and required memory; the test checks what the host put into the parameter areas (igvm-facts
 * §6.10 layouts, written out here) and that the run stops at the breakpoint.
 */
#include <errno.h>
#include <libfdt.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "hvcall/hv.h"
#include "igvm/igvm.h"
#include "igvm/igvm_build.h"
#include "tools/hvsim/hvsim.h"
#include "tools/hvsim/hvsim_igvm.h"

#define BASE   0x400000ull
#define GDT    (BASE + 0x0000)
#define PML4   (BASE + 0x1000)
#define PDPT   (BASE + 0x2000)
#define PD     (BASE + 0x3000)
#define CODE   (BASE + 0x4000)
#define ENTRY  (BASE + 0x5000)
#define AREA0  (BASE + 0x6000)  /* vp count @0, memory map @0x100, command line @0x800 */
#define AREA1  (BASE + 0x8000)  /* device tree, 16 KiB */
#define REQ    0x410000ull
#define REQ_SIZE 0xF0000u
#define MEM    (8ull << 20)
#define MASK   0x1u

static void page(struct igvm_builder *b, uint64_t gpa, const void *data, size_t len)
{
	struct igvm_build_page pg = { .gpa = gpa, .compatibility_mask = MASK };
	struct igvm_error e;
	assert_int_equal(igvm_build_add_page_data(b, &pg, data, len, &e), 0);
}

static uint8_t *make_image_ex(size_t *len, bool native, bool vbs_ctx)
{
	struct igvm_builder *b;
	struct igvm_error e;
	assert_int_equal(igvm_build_new(1, IGVM_BUILD_ARCH_X64, &b), 0);
	struct igvm_build_platform p = { .compatibility_mask = MASK, .highest_vtl = 2,
					 .platform_type = native ? IGVM_BUILD_PLATFORM_NATIVE :
								   IGVM_BUILD_PLATFORM_VSM,
					 .platform_version = 1 };
	assert_int_equal(igvm_build_add_platform(b, &p, &e), 0);

	uint64_t gdt[4] = { 0, 0, 0x00AF9A000000FFFFull, 0x00CF92000000FFFFull };
	page(b, GDT, gdt, sizeof(gdt));
	uint64_t e1 = PDPT | 3, e2 = PD | 3;
	page(b, PML4, &e1, 8);
	page(b, PDPT, &e2, 8);
	static uint64_t pd[512];
	for (unsigned i = 0; i < 512; i++)
		pd[i] = ((uint64_t)i << 21) | 0x83;
	page(b, PD, pd, sizeof(pd));
	/* mov dx,0x3f8; mov al,'h'; out dx,al; mov al,'i'; out dx,al; mov al,10; out dx,al;
	   lea rsi,[rip+msg]; mov ecx,3; rep outsb; mov rax,ENTRY; jmp rax; msg: "abc" */
	uint8_t code[] = { 0x66, 0xBA, 0xF8, 0x03, 0xB0, 'h', 0xEE, 0xB0, 'i', 0xEE, 0xB0, 10, 0xEE,
			   0x48, 0x8D, 0x35, 0x13, 0x00, 0x00, 0x00, 0xB9, 0x03, 0x00, 0x00, 0x00,
			   0xF3, 0x6E, 0x48, 0xB8, 0, 0, 0, 0, 0, 0, 0, 0, 0xFF, 0xE0,
			   'a', 'b', 'c' };
	uint64_t entry = ENTRY;
	memcpy(code + 29, &entry, 8);
	page(b, CODE, code, sizeof(code));
	uint8_t hlt = 0xF4;
	page(b, ENTRY, &hlt, 1);

	assert_int_equal(igvm_build_add_parameter_area(b, 0, 0x2000, NULL, 0, &e), 0);
	assert_int_equal(igvm_build_add_parameter(b, IGVM_BUILD_PARAM_VP_COUNT, 0, 0, &e), 0);
	assert_int_equal(igvm_build_add_parameter(b, IGVM_BUILD_PARAM_MEMORY_MAP, 0, 0x100, &e), 0);
	assert_int_equal(igvm_build_add_parameter(b, IGVM_BUILD_PARAM_COMMAND_LINE, 0, 0x800, &e),
			 0);
	assert_int_equal(igvm_build_add_parameter_insert(b, AREA0, MASK, 0, &e), 0);
	assert_int_equal(igvm_build_add_parameter_area(b, 1, 0x4000, NULL, 0, &e), 0);
	assert_int_equal(igvm_build_add_parameter(b, IGVM_BUILD_PARAM_DEVICE_TREE, 1, 0, &e), 0);
	assert_int_equal(igvm_build_add_parameter_insert(b, AREA1, MASK, 1, &e), 0);
	assert_int_equal(igvm_build_add_required_memory(b, REQ, MASK, REQ_SIZE,
							IGVM_BUILD_REQMEM_VTL2_PROTECTABLE, &e), 0);
	if (native) {
		struct igvm_native_vp_context_x64 c = {
			.rip = CODE, .rflags = 2, .rsi = AREA0, .rbx = 0xB0B, .r15 = 0xF15,
			.cr0 = 0x80010033, .cr3 = PML4, .cr4 = 0x620, .efer = 0xD01,
			.gdtr_base = GDT, .gdtr_limit = 0x1F,
			.code_selector = 0x10, .code_attributes = 0xA09B, .code_limit = 0xFFFFFFFF,
			.data_selector = 0x18, .data_attributes = 0xC093, .data_limit = 0xFFFFFFFF,
		};
		assert_int_equal(igvm_build_add_vp_native_x64(b, MASK, 0, &c, sizeof(c), &e), 0);
	}
	if (!native && vbs_ctx) {
		/* The same entry state as a VTL 2 register list (igvm-facts §6.11.2 encodings). */
		struct igvm_build_vbs_reg r[16];
		memset(r, 0, sizeof(r));
		size_t n = 0;
		const struct { uint32_t name; uint64_t v; } r64[] = {
			{ HV_X64_REGISTER_RIP, CODE }, { HV_X64_REGISTER_RSI, AREA0 },
			{ HV_X64_REGISTER_RBX, 0xB0B }, { HV_X64_REGISTER_R15, 0xF15 },
			{ HV_X64_REGISTER_CR0, 0x80010033 }, { HV_X64_REGISTER_CR3, PML4 },
			{ HV_X64_REGISTER_CR4, 0x620 }, { HV_X64_REGISTER_EFER, 0xD01 },
			{ HV_X64_REGISTER_RFLAGS, 2 },
		};
		for (size_t i = 0; i < sizeof(r64) / sizeof(r64[0]); i++, n++) {
			r[n].name = r64[i].name;
			memcpy(r[n].value, &r64[i].v, 8);
		}
		const struct { uint32_t name; uint16_t sel, attr; } seg[] = {
			{ HV_X64_REGISTER_CS, 0x10, 0xA09B }, { HV_X64_REGISTER_DS, 0x18, 0xC093 },
			{ HV_X64_REGISTER_SS, 0x18, 0xC093 },
		};
		for (size_t i = 0; i < sizeof(seg) / sizeof(seg[0]); i++, n++) {
			struct hv_x64_segment_register sr = { .base = 0, .limit = 0xFFFFFFFF,
							      .selector = seg[i].sel,
							      .attributes = seg[i].attr };
			r[n].name = seg[i].name;
			memcpy(r[n].value, &sr, 16);
		}
		struct hv_x64_table_register t = { .limit = 0x1F, .base = GDT };
		r[n].name = HV_X64_REGISTER_GDTR;
		memcpy(r[n++].value, &t, 16);
		assert_int_equal(igvm_build_add_vp_vbs(b, MASK, 0, 2, r, n, &e), 0);
	}
	uint8_t *buf;
	assert_int_equal(igvm_build_write(b, &buf, len, &e), 0);
	igvm_build_free(b);
	return buf;
}

static uint8_t *make_image(size_t *len, bool native)
{
	return make_image_ex(len, native, false);
}

struct com {
	char out[64];
	size_t n;
	unsigned ins;
};

static uint32_t com_in(void *ctx, uint32_t vp, uint16_t port, unsigned size)
{
	(void)vp;
	(void)port;
	(void)size;
	((struct com *)ctx)->ins++;
	return 0x60;
}

static void com_out(void *ctx, uint32_t vp, uint16_t port, unsigned size, uint32_t value)
{
	struct com *c = ctx;
	assert_int_equal(vp, 0);
	assert_int_equal(port, 0x3F8);
	assert_int_equal(size, 1);
	if (c->n < sizeof(c->out) - 1)
		c->out[c->n++] = (char)value;
}

static struct hvsim *mk(void)
{
	struct hvsim_config cfg = { .vp_count = 2, .mem_size = MEM };
	struct hvsim *sim = NULL;
	assert_int_equal(hvsim_create(&cfg, &sim), 0);
	return sim;
}

static void test_scan_layout(void **state)
{
	(void)state;
	size_t len;
	uint8_t *img = make_image(&len, true);
	struct hvsim_igvm_layout l;
	char err[256];
	assert_int_equal(hvsim_igvm_scan(img, len, HVSIM_IGVM_NATIVE, &l, err, sizeof(err)), 0);
	/* Pages 0x400000..0x40C000 (ten pages + two 8K/16K areas) and the required range. */
	assert_int_equal(l.vtl2_count, 2);
	assert_int_equal(l.vtl2[0].gpa, BASE);
	assert_int_equal(l.vtl2[0].size, 0xC000);
	assert_int_equal(l.vtl2[1].gpa, REQ);
	assert_int_equal(l.vtl2[1].size, REQ_SIZE);
	assert_int_equal(l.vtl2_end, REQ + REQ_SIZE);
	free(img);
}

static void test_load_parameters(void **state)
{
	(void)state;
	size_t len;
	uint8_t *img = make_image(&len, true);
	struct hvsim *sim = mk();
	struct hvsim_igvm_host host = { .command_line = "console=ttyS0 quiet", .vmbus = true,
					.vmbus_connection_id = 0x800074, .vmbus_vtl = 2 };
	struct hvsim_igvm_loaded ld;
	char err[256];
	assert_int_equal(hvsim_igvm_load(sim, img, len, &host, &ld, err, sizeof(err)), 0);
	assert_int_equal(ld.rip, CODE);
	assert_int_equal(ld.rsi, AREA0);
	const uint8_t *a0 = hvsim_gpa_ptr(sim, gpa(AREA0), 0x2000);
	uint32_t vps;
	memcpy(&vps, a0, 4);
	assert_int_equal(vps, 2);
	/* Memory map: 24-byte entries {gpn, pages, type u16, flags u16, reserved u32}. */
	static const struct { uint64_t gpn, pages; uint16_t type; } want[] = {
		{ 0, BASE >> 12, 0 }, { BASE >> 12, 0xC, 3 }, { (BASE + 0xC000) >> 12, 4, 0 },
		{ REQ >> 12, REQ_SIZE >> 12, 3 }, { (REQ + REQ_SIZE) >> 12, (MEM - REQ - REQ_SIZE) >> 12, 0 },
		{ 0, 0, 0 },
	};
	assert_int_equal(ld.memory_map_entries, 5);
	for (unsigned i = 0; i < 6; i++) {
		uint64_t gpn, pages;
		uint16_t type;
		memcpy(&gpn, a0 + 0x100 + 24 * i, 8);
		memcpy(&pages, a0 + 0x100 + 24 * i + 8, 8);
		memcpy(&type, a0 + 0x100 + 24 * i + 16, 2);
		assert_int_equal(gpn, want[i].gpn);
		assert_int_equal(pages, want[i].pages);
		assert_int_equal(type, want[i].type);
	}
	assert_string_equal((const char *)a0 + 0x800, "console=ttyS0 quiet");
	const void *dt = hvsim_gpa_ptr(sim, gpa(AREA1), 0x4000);
	assert_int_equal(fdt_check_full(dt, 0x4000), 0);
	int cpus = fdt_path_offset(dt, "/cpus"), n = 0, node;
	fdt_for_each_subnode(node, dt, cpus)
		n++;
	assert_int_equal(n, 2);
	assert_string_equal(fdt_getprop(dt, fdt_path_offset(dt, "/chosen"), "bootargs", NULL),
			    "console=ttyS0 quiet");
	int vb = fdt_node_offset_by_compatible(dt, -1, "microsoft,vmbus");
	assert_true(vb >= 0);
	const fdt32_t *id = fdt_getprop(dt, vb, "microsoft,message-connection-id", NULL);
	assert_non_null(id);
	assert_int_equal(fdt32_to_cpu(*id), 0x800074);
	hvsim_destroy(sim);
	free(img);
}

static void test_run_to_breakpoint(void **state)
{
	(void)state;
	size_t len;
	uint8_t *img = make_image(&len, true);
	struct hvsim *sim = mk();
	struct hvsim_igvm_host host = { 0 };
	struct hvsim_igvm_loaded ld;
	char err[256];
	assert_int_equal(hvsim_igvm_load(sim, img, len, &host, &ld, err, sizeof(err)), 0);
	struct com c = { 0 };
	static const struct hvsim_host_io_ops ops = { com_in, com_out };
	hvsim_set_host_io(sim, &ops, &c);
	assert_int_equal(hvsim_vp_set_breakpoint(sim, 0, ENTRY), 0);
	int rr = hvsim_vp_run(sim, 0);
	union hv_register_value v;
	if (rr != HVSIM_RUN_BREAK) {
		hvsim_vp_get_register(sim, 0, HV_X64_REGISTER_RIP, &v);
		const uint8_t *rp = hvsim_vp_run_page(sim, 0);
		uint32_t t;
		memcpy(&t, rp + 16, 4);
		print_message("run %d rip %llx msg 0x%x out '%s'\n", rr, (unsigned long long)v.reg64, t, c.out);
	}
	assert_int_equal(rr, HVSIM_RUN_BREAK);
	assert_int_equal(hvsim_vp_get_register(sim, 0, HV_X64_REGISTER_RIP, &v), 0);
	assert_int_equal(v.reg64, ENTRY); /* stopped before the HLT there */
	/* The context's GPRs reached the code (the run page's context was brought in line). */
	assert_int_equal(hvsim_vp_get_register(sim, 0, HV_X64_REGISTER_RBX, &v), 0);
	assert_int_equal(v.reg64, 0xB0B);
	assert_int_equal(hvsim_vp_get_register(sim, 0, HV_X64_REGISTER_R15, &v), 0);
	assert_int_equal(v.reg64, 0xF15);
	assert_string_equal(c.out, "hi\nabc");
	/* Without the breakpoint the HLT (interrupts off) runs: a halt intercept. */
	assert_int_equal(hvsim_vp_set_breakpoint(sim, 0, 0), 0);
	assert_int_equal(hvsim_vp_run(sim, 0), 0);
	assert_int_equal(hvsim_vp_get_register(sim, 0, HV_X64_REGISTER_RIP, &v), 0);
	assert_int_equal(v.reg64, ENTRY);
	hvsim_destroy(sim);
	free(img);
}

/* The VSM_ISOLATION platform: its pages and its VTL 2 register list, the same run. */
static void test_vbs_platform(void **state)
{
	(void)state;
	size_t len;
	uint8_t *img = make_image_ex(&len, false, true);
	struct hvsim *sim = mk();
	struct hvsim_igvm_host host = { .platform = HVSIM_IGVM_VBS };
	struct hvsim_igvm_loaded ld;
	char err[256];
	assert_int_equal(hvsim_igvm_load(sim, img, len, &host, &ld, err, sizeof(err)), 0);
	assert_int_equal(ld.rip, CODE);
	assert_int_equal(ld.rsi, AREA0);
	struct com c = { 0 };
	static const struct hvsim_host_io_ops ops = { com_in, com_out };
	hvsim_set_host_io(sim, &ops, &c);
	assert_int_equal(hvsim_vp_set_breakpoint(sim, 0, ENTRY), 0);
	assert_int_equal(hvsim_vp_run(sim, 0), HVSIM_RUN_BREAK);
	assert_string_equal(c.out, "hi\nabc");
	union hv_register_value v;
	assert_int_equal(hvsim_vp_get_register(sim, 0, HV_X64_REGISTER_R15, &v), 0);
	assert_int_equal(v.reg64, 0xF15);
	hvsim_destroy(sim);
	/* Asked for NATIVE, the file has only VSM_ISOLATION. */
	struct hvsim_igvm_layout l;
	assert_int_equal(hvsim_igvm_scan(img, len, HVSIM_IGVM_NATIVE, &l, err, sizeof(err)),
			 -EINVAL);
	free(img);
}

static void test_hostile(void **state)
{
	(void)state;
	size_t len;
	char err[256];
	struct hvsim_igvm_layout l;
	uint8_t *img = make_image(&len, false);
	assert_int_equal(hvsim_igvm_scan(img, len, HVSIM_IGVM_NATIVE, &l, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "no NATIVE platform"));
	free(img);

	img = make_image(&len, true);
	img[len / 2] ^= 0xFF; /* data or headers: either way not the same file */
	int rc = hvsim_igvm_scan(img, len, HVSIM_IGVM_NATIVE, &l, err, sizeof(err));
	if (rc == 0) {
		/* A flipped data byte still validates (data is not checksummed): fine. */
		assert_int_equal(l.vtl2_count, 2);
	}
	free(img);
	uint8_t junk[64] = { 0 };
	assert_int_equal(hvsim_igvm_scan(junk, sizeof(junk), HVSIM_IGVM_NATIVE, &l, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "not a valid IGVM file"));

	/* Partition smaller than the image's memory. */
	img = make_image(&len, true);
	struct hvsim_config cfg = { .vp_count = 1, .mem_size = 4u << 20 };
	struct hvsim *sim = NULL;
	assert_int_equal(hvsim_create(&cfg, &sim), 0);
	struct hvsim_igvm_host host = { 0 };
	struct hvsim_igvm_loaded ld;
	assert_int_equal(hvsim_igvm_load(sim, img, len, &host, &ld, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "needs RAM up to"));
	hvsim_destroy(sim);

	/* A hostile host's command line replaces the real one, cut to the area. */
	sim = mk();
	static const uint8_t evil[] = "not terminated";
	host.overrides[0].type = IGVM_VHT_COMMAND_LINE;
	host.overrides[0].bytes = evil;
	host.overrides[0].len = sizeof(evil) - 1;
	host.override_count = 1;
	assert_int_equal(hvsim_igvm_load(sim, img, len, &host, &ld, err, sizeof(err)), 0);
	const char *cl = hvsim_gpa_ptr(sim, gpa(AREA0 + 0x800), 16);
	assert_memory_equal(cl, evil, sizeof(evil) - 1);
	hvsim_destroy(sim);
	free(img);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_scan_layout),
		cmocka_unit_test(test_load_parameters),
		cmocka_unit_test(test_run_to_breakpoint),
		cmocka_unit_test(test_vbs_platform),
		cmocka_unit_test(test_hostile),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
