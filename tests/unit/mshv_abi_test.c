/*
 * hvcall/mshv_abi.h: the ioctl encodings and mmap helpers, and - when the system has Linux
 * 6.19+ uapi headers with the mshv_vtl section - agreement with <linux/mshv.h> on every ioctl
 * number, capability id, struct size and field offset (at compile time and at run time).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <linux/ioctl.h>
#include <string.h>

#include "hvcall/mshv_abi.h"

#if defined(__has_include)
#if __has_include(<linux/mshv.h>)
#include <linux/mshv.h>
#endif
#endif

/* The VTL section of the uapi header arrived with the mshv_vtl driver (Linux 6.19). */
#if defined(MSHV_RETURN_TO_LOWER_VTL) && defined(MSHV_HVCALL_SETUP)
#define HAVE_KERNEL_MSHV_VTL 1
#else
#define HAVE_KERNEL_MSHV_VTL 0
#endif

/* ---- our own header, always ---- */

struct ioc {
	const char *name;
	unsigned long nr;
	unsigned dir, ioc_nr, size;
};

static void test_ioctl_encoding(void **state)
{
	(void)state;
	const struct ioc t[] = {
		{ "CHECK_EXTENSION", MSHV_ABI_CHECK_EXTENSION, _IOC_WRITE, 0x00, 4 },
		{ "CREATE_VTL", MSHV_ABI_CREATE_VTL, _IOC_READ, 0x1D, 1 },
		{ "GET_VP_REGISTERS", MSHV_ABI_GET_VP_REGISTERS, _IOC_READ | _IOC_WRITE, 0x05,
		  sizeof(struct mshv_abi_vp_registers) },
		{ "SET_VP_REGISTERS", MSHV_ABI_SET_VP_REGISTERS, _IOC_WRITE, 0x06,
		  sizeof(struct mshv_abi_vp_registers) },
		{ "ADD_VTL0_MEMORY", MSHV_ABI_ADD_VTL0_MEMORY, _IOC_WRITE, 0x21,
		  sizeof(struct mshv_abi_ram_disposition) },
		{ "SET_POLL_FILE", MSHV_ABI_SET_POLL_FILE, _IOC_WRITE, 0x25,
		  sizeof(struct mshv_abi_set_poll_file) },
		{ "RETURN_TO_LOWER_VTL", MSHV_ABI_RETURN_TO_LOWER_VTL, _IOC_NONE, 0x27, 0 },
		{ "SINT_SIGNAL_EVENT", MSHV_ABI_SINT_SIGNAL_EVENT, _IOC_WRITE, 0x22,
		  sizeof(struct mshv_abi_signal_event) },
		{ "SINT_POST_MESSAGE", MSHV_ABI_SINT_POST_MESSAGE, _IOC_WRITE, 0x23,
		  sizeof(struct mshv_abi_sint_post_msg) },
		{ "SINT_SET_EVENTFD", MSHV_ABI_SINT_SET_EVENTFD, _IOC_WRITE, 0x24,
		  sizeof(struct mshv_abi_set_eventfd) },
		{ "SINT_PAUSE_MESSAGE_STREAM", MSHV_ABI_SINT_PAUSE_MESSAGE_STREAM, _IOC_WRITE, 0x25,
		  sizeof(struct mshv_abi_sint_mask) },
		{ "HVCALL_SETUP", MSHV_ABI_HVCALL_SETUP, _IOC_WRITE, 0x1E,
		  sizeof(struct mshv_abi_hvcall_setup) },
		{ "HVCALL", MSHV_ABI_HVCALL, _IOC_READ | _IOC_WRITE, 0x1F,
		  sizeof(struct mshv_abi_hvcall) },
	};
	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		print_message("%-26s 0x%08lx\n", t[i].name, t[i].nr);
		assert_int_equal(_IOC_TYPE(t[i].nr), 0xB8);
		assert_int_equal(_IOC_DIR(t[i].nr), t[i].dir);
		assert_int_equal(_IOC_NR(t[i].nr), t[i].ioc_nr);
		assert_int_equal(_IOC_SIZE(t[i].nr), t[i].size);
	}
	/* SET_POLL_FILE and SINT_PAUSE share a number; the fd tells them apart (doc 1.2) */
	assert_int_equal(MSHV_ABI_SET_POLL_FILE, MSHV_ABI_SINT_PAUSE_MESSAGE_STREAM);
}

static void test_mmap_offsets(void **state)
{
	(void)state;
	assert_int_equal(mshv_abi_mmap_pgoff(MSHV_ABI_MMAP_KIND_RUN, 0), 0);
	assert_int_equal(mshv_abi_mmap_offset(MSHV_ABI_MMAP_KIND_RUN, 5), 5 * 4096);
	assert_int_equal(mshv_abi_mmap_pgoff(MSHV_ABI_MMAP_KIND_REG_PAGE, 3), 0x10003);
	assert_int_equal(mshv_abi_mmap_offset(MSHV_ABI_MMAP_KIND_REG_PAGE, 0xFFFF),
			 0x1FFFFull * 4096);
	/* the kernel decodes cpu = pgoff & 0xFFFF, kind = pgoff >> 16 */
	uint64_t pg = mshv_abi_mmap_pgoff(MSHV_ABI_MMAP_KIND_APIC_PAGE, 0x1234);
	assert_int_equal(pg & 0xFFFF, 0x1234);
	assert_int_equal(pg >> 16, 3);
}

static void test_run_page_layout(void **state)
{
	(void)state;
	/* write through the struct, read the bytes at the doc's offsets */
	static _Alignas(4096) uint8_t page[4096];
	struct mshv_abi_run *run = (struct mshv_abi_run *)page;
	run->cancel = 0x11111111;
	run->vtl_ret_action_size = 16;
	run->exit_message[0] = 0x22;
	run->cpu_context.rax = 0x3333333333333333ull;
	run->cpu_context.cr2 = 0x4444444444444444ull;
	run->cpu_context.r15 = 0x5555555555555555ull;
	run->cpu_context.fx_state.mxcsr = 0x1F80;
	run->cpu_context.fx_state.xmm[15][15] = 0x66;
	run->vtl_ret_actions[255] = 0x77;
	assert_int_equal(page[0], 0x11);
	assert_int_equal(page[4], 16);
	assert_int_equal(page[16], 0x22);
	assert_int_equal(page[272], 0x33);
	assert_int_equal(page[304], 0x44);
	assert_int_equal(page[392], 0x55);
	assert_int_equal(page[400 + 24], 0x80);
	assert_int_equal(page[815], 0x66);
	assert_int_equal(page[1551], 0x77);

	struct mshv_abi_run_ohcl *o = (struct mshv_abi_run_ohcl *)page;
	o->enter_mode = MSHV_ABI_RUN_ENTER_MODE(MSHV_ABI_RUN_ENTER_PLAY_IDLE,
						MSHV_ABI_RUN_ENTER_IDLE_TO_VTL0);
	o->target_vtl = 0x10;
	o->proxy_irr_exit[7] = 0x88888888;
	assert_int_equal(page[15], 0x21);
	assert_int_equal(page[1584], 0x10);
	assert_int_equal(page[1651], 0x88);

	struct mshv_abi_vtl_ret_action_signal_event a = {
		.action_type = MSHV_ABI_VTL_RET_ACTION_SIGNAL_EVENT,
		.target_vp = 2, .target_vtl = 0, .target_sint = 2, .flag_number = 0x123,
	};
	uint8_t b[16];
	memcpy(b, &a, sizeof(b));
	assert_int_equal(b[0], 1);
	assert_int_equal(b[8], 2);
	assert_int_equal(b[13], 2);
	assert_int_equal(b[14], 0x23);
	assert_int_equal(b[15], 0x01);
}

/* ---- agreement with <linux/mshv.h> ---- */

#if HAVE_KERNEL_MSHV_VTL

#define SAME_FIELD(ours, theirs, f)                                                             \
	_Static_assert(offsetof(struct ours, f) == offsetof(struct theirs, f) &&                 \
			       sizeof(((struct ours *)0)->f) == sizeof(((struct theirs *)0)->f), \
		       #theirs "." #f " differs from hvcall/mshv_abi.h")
#define SAME_SIZE(ours, theirs)                                                                 \
	_Static_assert(sizeof(struct ours) == sizeof(struct theirs),                             \
		       "sizeof " #theirs " differs from hvcall/mshv_abi.h")

_Static_assert(MSHV_CHECK_EXTENSION == MSHV_ABI_CHECK_EXTENSION, "MSHV_CHECK_EXTENSION");
_Static_assert(MSHV_CREATE_VTL == MSHV_ABI_CREATE_VTL, "MSHV_CREATE_VTL");
_Static_assert(MSHV_GET_VP_REGISTERS == MSHV_ABI_GET_VP_REGISTERS, "MSHV_GET_VP_REGISTERS");
_Static_assert(MSHV_SET_VP_REGISTERS == MSHV_ABI_SET_VP_REGISTERS, "MSHV_SET_VP_REGISTERS");
_Static_assert(MSHV_ADD_VTL0_MEMORY == MSHV_ABI_ADD_VTL0_MEMORY, "MSHV_ADD_VTL0_MEMORY");
_Static_assert(MSHV_SET_POLL_FILE == MSHV_ABI_SET_POLL_FILE, "MSHV_SET_POLL_FILE");
_Static_assert(MSHV_RETURN_TO_LOWER_VTL == MSHV_ABI_RETURN_TO_LOWER_VTL,
	       "MSHV_RETURN_TO_LOWER_VTL");
_Static_assert(MSHV_SINT_SIGNAL_EVENT == MSHV_ABI_SINT_SIGNAL_EVENT, "MSHV_SINT_SIGNAL_EVENT");
_Static_assert(MSHV_SINT_POST_MESSAGE == MSHV_ABI_SINT_POST_MESSAGE, "MSHV_SINT_POST_MESSAGE");
_Static_assert(MSHV_SINT_SET_EVENTFD == MSHV_ABI_SINT_SET_EVENTFD, "MSHV_SINT_SET_EVENTFD");
_Static_assert(MSHV_SINT_PAUSE_MESSAGE_STREAM == MSHV_ABI_SINT_PAUSE_MESSAGE_STREAM,
	       "MSHV_SINT_PAUSE_MESSAGE_STREAM");
_Static_assert(MSHV_HVCALL_SETUP == MSHV_ABI_HVCALL_SETUP, "MSHV_HVCALL_SETUP");
_Static_assert(MSHV_HVCALL == MSHV_ABI_HVCALL, "MSHV_HVCALL");
_Static_assert(MSHV_CAP_CORE_API_STABLE == MSHV_ABI_CAP_CORE_API_STABLE, "MSHV_CAP_*");
_Static_assert(MSHV_CAP_REGISTER_PAGE == MSHV_ABI_CAP_REGISTER_PAGE, "MSHV_CAP_*");
_Static_assert(MSHV_CAP_VTL_RETURN_ACTION == MSHV_ABI_CAP_VTL_RETURN_ACTION, "MSHV_CAP_*");
_Static_assert(MSHV_CAP_DR6_SHARED == MSHV_ABI_CAP_DR6_SHARED, "MSHV_CAP_*");
_Static_assert(MSHV_MAX_RUN_MSG_SIZE == MSHV_ABI_MSG_SIZE, "MSHV_MAX_RUN_MSG_SIZE");

SAME_SIZE(mshv_abi_vp_registers, mshv_vp_registers);
SAME_FIELD(mshv_abi_vp_registers, mshv_vp_registers, count);
SAME_FIELD(mshv_abi_vp_registers, mshv_vp_registers, reserved);
SAME_FIELD(mshv_abi_vp_registers, mshv_vp_registers, regs_ptr);
SAME_SIZE(mshv_abi_ram_disposition, mshv_vtl_ram_disposition);
SAME_FIELD(mshv_abi_ram_disposition, mshv_vtl_ram_disposition, start_pfn);
SAME_FIELD(mshv_abi_ram_disposition, mshv_vtl_ram_disposition, last_pfn);
SAME_SIZE(mshv_abi_set_poll_file, mshv_vtl_set_poll_file);
SAME_FIELD(mshv_abi_set_poll_file, mshv_vtl_set_poll_file, cpu);
SAME_FIELD(mshv_abi_set_poll_file, mshv_vtl_set_poll_file, fd);
SAME_SIZE(mshv_abi_signal_event, mshv_vtl_signal_event);
SAME_FIELD(mshv_abi_signal_event, mshv_vtl_signal_event, connection_id);
SAME_FIELD(mshv_abi_signal_event, mshv_vtl_signal_event, flag);
SAME_SIZE(mshv_abi_sint_post_msg, mshv_vtl_sint_post_msg);
SAME_FIELD(mshv_abi_sint_post_msg, mshv_vtl_sint_post_msg, message_type);
SAME_FIELD(mshv_abi_sint_post_msg, mshv_vtl_sint_post_msg, connection_id);
SAME_FIELD(mshv_abi_sint_post_msg, mshv_vtl_sint_post_msg, payload_size);
SAME_FIELD(mshv_abi_sint_post_msg, mshv_vtl_sint_post_msg, payload_ptr);
SAME_SIZE(mshv_abi_set_eventfd, mshv_vtl_set_eventfd);
SAME_FIELD(mshv_abi_set_eventfd, mshv_vtl_set_eventfd, fd);
SAME_FIELD(mshv_abi_set_eventfd, mshv_vtl_set_eventfd, flag);
SAME_SIZE(mshv_abi_sint_mask, mshv_sint_mask);
SAME_FIELD(mshv_abi_sint_mask, mshv_sint_mask, mask);
SAME_FIELD(mshv_abi_sint_mask, mshv_sint_mask, reserved);
SAME_SIZE(mshv_abi_hvcall_setup, mshv_vtl_hvcall_setup);
SAME_FIELD(mshv_abi_hvcall_setup, mshv_vtl_hvcall_setup, bitmap_array_size);
SAME_FIELD(mshv_abi_hvcall_setup, mshv_vtl_hvcall_setup, allow_bitmap_ptr);
SAME_SIZE(mshv_abi_hvcall, mshv_vtl_hvcall);
SAME_FIELD(mshv_abi_hvcall, mshv_vtl_hvcall, control);
SAME_FIELD(mshv_abi_hvcall, mshv_vtl_hvcall, input_size);
SAME_FIELD(mshv_abi_hvcall, mshv_vtl_hvcall, input_ptr);
SAME_FIELD(mshv_abi_hvcall, mshv_vtl_hvcall, status);
SAME_FIELD(mshv_abi_hvcall, mshv_vtl_hvcall, output_size);
SAME_FIELD(mshv_abi_hvcall, mshv_vtl_hvcall, output_ptr);

struct pair {
	const char *name;
	unsigned long ours, theirs;
};

#define P(name, ours, theirs) { name, (unsigned long)(ours), (unsigned long)(theirs) }
#define PS(o, t) P("sizeof " #t, sizeof(struct o), sizeof(struct t))
#define PF(o, t, f) P(#t "." #f, offsetof(struct o, f), offsetof(struct t, f))

static void test_kernel_header_agrees(void **state)
{
	(void)state;
	const struct pair t[] = {
		P("CHECK_EXTENSION", MSHV_ABI_CHECK_EXTENSION, MSHV_CHECK_EXTENSION),
		P("CREATE_VTL", MSHV_ABI_CREATE_VTL, MSHV_CREATE_VTL),
		P("GET_VP_REGISTERS", MSHV_ABI_GET_VP_REGISTERS, MSHV_GET_VP_REGISTERS),
		P("SET_VP_REGISTERS", MSHV_ABI_SET_VP_REGISTERS, MSHV_SET_VP_REGISTERS),
		P("ADD_VTL0_MEMORY", MSHV_ABI_ADD_VTL0_MEMORY, MSHV_ADD_VTL0_MEMORY),
		P("SET_POLL_FILE", MSHV_ABI_SET_POLL_FILE, MSHV_SET_POLL_FILE),
		P("RETURN_TO_LOWER_VTL", MSHV_ABI_RETURN_TO_LOWER_VTL, MSHV_RETURN_TO_LOWER_VTL),
		P("SINT_SIGNAL_EVENT", MSHV_ABI_SINT_SIGNAL_EVENT, MSHV_SINT_SIGNAL_EVENT),
		P("SINT_POST_MESSAGE", MSHV_ABI_SINT_POST_MESSAGE, MSHV_SINT_POST_MESSAGE),
		P("SINT_SET_EVENTFD", MSHV_ABI_SINT_SET_EVENTFD, MSHV_SINT_SET_EVENTFD),
		P("SINT_PAUSE_MESSAGE_STREAM", MSHV_ABI_SINT_PAUSE_MESSAGE_STREAM,
		  MSHV_SINT_PAUSE_MESSAGE_STREAM),
		P("HVCALL_SETUP", MSHV_ABI_HVCALL_SETUP, MSHV_HVCALL_SETUP),
		P("HVCALL", MSHV_ABI_HVCALL, MSHV_HVCALL),
		P("CAP_REGISTER_PAGE", MSHV_ABI_CAP_REGISTER_PAGE, MSHV_CAP_REGISTER_PAGE),
		P("CAP_VTL_RETURN_ACTION", MSHV_ABI_CAP_VTL_RETURN_ACTION,
		  MSHV_CAP_VTL_RETURN_ACTION),
		P("CAP_DR6_SHARED", MSHV_ABI_CAP_DR6_SHARED, MSHV_CAP_DR6_SHARED),
		PS(mshv_abi_vp_registers, mshv_vp_registers),
		PF(mshv_abi_vp_registers, mshv_vp_registers, regs_ptr),
		PS(mshv_abi_ram_disposition, mshv_vtl_ram_disposition),
		PF(mshv_abi_ram_disposition, mshv_vtl_ram_disposition, last_pfn),
		PS(mshv_abi_set_poll_file, mshv_vtl_set_poll_file),
		PF(mshv_abi_set_poll_file, mshv_vtl_set_poll_file, fd),
		PS(mshv_abi_signal_event, mshv_vtl_signal_event),
		PF(mshv_abi_signal_event, mshv_vtl_signal_event, flag),
		PS(mshv_abi_sint_post_msg, mshv_vtl_sint_post_msg),
		PF(mshv_abi_sint_post_msg, mshv_vtl_sint_post_msg, connection_id),
		PF(mshv_abi_sint_post_msg, mshv_vtl_sint_post_msg, payload_size),
		PF(mshv_abi_sint_post_msg, mshv_vtl_sint_post_msg, payload_ptr),
		PS(mshv_abi_set_eventfd, mshv_vtl_set_eventfd),
		PF(mshv_abi_set_eventfd, mshv_vtl_set_eventfd, flag),
		PS(mshv_abi_sint_mask, mshv_sint_mask),
		PF(mshv_abi_sint_mask, mshv_sint_mask, reserved),
		PS(mshv_abi_hvcall_setup, mshv_vtl_hvcall_setup),
		PF(mshv_abi_hvcall_setup, mshv_vtl_hvcall_setup, allow_bitmap_ptr),
		PS(mshv_abi_hvcall, mshv_vtl_hvcall),
		PF(mshv_abi_hvcall, mshv_vtl_hvcall, input_size),
		PF(mshv_abi_hvcall, mshv_vtl_hvcall, input_ptr),
		PF(mshv_abi_hvcall, mshv_vtl_hvcall, status),
		PF(mshv_abi_hvcall, mshv_vtl_hvcall, output_size),
		PF(mshv_abi_hvcall, mshv_vtl_hvcall, output_ptr),
	};
	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		if (t[i].ours != t[i].theirs)
			fail_msg("%s: mshv_abi.h 0x%lx, linux/mshv.h 0x%lx", t[i].name, t[i].ours,
				 t[i].theirs);
	}
	print_message("linux/mshv.h agrees on %zu values\n", sizeof(t) / sizeof(t[0]));
}

#else

static void test_kernel_header_agrees(void **state)
{
	(void)state;
	print_message("linux/mshv.h without mshv_vtl (kernel headers < 6.19)\n");
	skip();
}

#endif

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_ioctl_encoding),
		cmocka_unit_test(test_mmap_offsets),
		cmocka_unit_test(test_run_page_layout),
		cmocka_unit_test(test_kernel_header_agrees),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
