/* shim_main: see shim_main.h. Freestanding only: the identity map makes a gpa a pointer. */
#include "boot/shim_main.h"

#include <stddef.h>
#include <stdint.h>

#include "boot/shim_boot.h"
#include "boot/shim_cfg.h"
#include "boot/shim_err.h"
#include "boot/shim_link.h"
#include "boot/shim_log.h"
#include "boot/shim_range.h"

_Static_assert(MEZZ_SHIM_TDX_OFF_CR3 == MEZZ_TDX_RESET_OFF_CR3, "shim_link.h vs shim_params.h");
_Static_assert(MEZZ_SHIM_TDX_OFF_GDTR == MEZZ_TDX_RESET_OFF_GDTR, "shim_link.h vs shim_params.h");
_Static_assert(MEZZ_SHIM_TDX_OFF_PARAMS == MEZZ_TDX_RESET_OFF_PARAMS, "shim_link.h");
_Static_assert(MEZZ_SHIM_TDX_OFF_ENTRY == MEZZ_TDX_RESET_OFF_ENTRY, "shim_link.h");
_Static_assert(MEZZ_SHIM_TDX_RESET_BASE == MEZZ_TDX_RESET_GPA, "shim_link.h vs shim_params.h");

/* Linker script symbols: the shim's own span. */
extern char __shim_start[], __shim_end[];

/* Polls of LSR.THRE per byte before writing anyway: a missing UART must not hang the boot. */
#define COM_POLLS 100000u

static uint16_t com_port;
static struct shim_log shim_log;
static struct shim_boot shim_state;
static char shim_errmsg[SHIM_ERR_LEN];

static inline void outb(uint16_t port, uint8_t v)
{
	__asm__ volatile("outb %0, %1" : : "a"(v), "Nd"(port));
}

static inline uint8_t inb(uint16_t port)
{
	uint8_t v;
	__asm__ volatile("inb %1, %0" : "=a"(v) : "Nd"(port));
	return v;
}

static void com_putc(uint16_t base, char c)
{
	for (unsigned i = 0; i < COM_POLLS; i++)
		if (inb((uint16_t)(base + 5)) & 0x20)
			break;
	outb(base, (uint8_t)c);
}

static void com_sink(void *ctx, const char *s, size_t n)
{
	uint16_t base = *(const uint16_t *)ctx;
	for (size_t i = 0; i < n; i++) {
		if (s[i] == '\n')
			com_putc(base, '\r');
		com_putc(base, s[i]);
	}
}

static __attribute__((noreturn)) void halt(void)
{
	for (;;)
		__asm__ volatile("cli; hlt");
}

void shim_main_fatal(const char *msg)
{
	shim_log_printf(&shim_log, "mezz-shim: error: %s\n", msg);
	halt();
}

static void *ptr(uint64_t gpa)
{
	return (void *)(uintptr_t)gpa;
}

void shim_main(struct mezz_shim_params *p)
{
	/* The COM port comes from the measured page; until the magic matches use COM1. */
	com_port = p->magic == MEZZ_SHIM_PARAMS_MAGIC ? p->com_port : 0x3F8;
	shim_log_init(&shim_log, NULL, 0, com_port ? com_sink : NULL, &com_port);
	shim_log_printf(&shim_log, "mezz-shim: start, params at %p, shim [%p,%p)\n", (void *)p,
			(void *)__shim_start, (void *)__shim_end);
	/* Only a checked page may name the log buffer we write to. */
	if (shim_cfg_check(p, shim_errmsg, sizeof(shim_errmsg)))
		shim_main_fatal(shim_errmsg);
	shim_log_init(&shim_log, ptr(p->log.gpa), p->log.size, com_port ? com_sink : NULL,
		      &com_port);
	uint64_t self = (uint64_t)(uintptr_t)__shim_start;
	uint64_t self_size = (uint64_t)(__shim_end - __shim_start);
	if (!shim_range_inside(self, self_size, p->shim.gpa, p->shim.size)) {
		shim_err_snprintf(shim_errmsg, sizeof(shim_errmsg),
				  "shim: linked at [0x%llx,0x%llx) outside params shim [0x%llx,0x%llx)",
				  (unsigned long long)self, (unsigned long long)(self + self_size),
				  (unsigned long long)p->shim.gpa,
				  (unsigned long long)(p->shim.gpa + p->shim.size));
		shim_main_fatal(shim_errmsg);
	}

	struct shim_boot_mem m = {
		.areas = {
			.device_tree = ptr(p->param_device_tree.gpa),
			.memory_map = ptr(p->param_memory_map.gpa),
			.command_line = ptr(p->param_command_line.gpa),
			.vp_count = ptr(p->param_vp_count.gpa),
		},
		.kernel_setup = ptr(p->kernel_setup.gpa),
		.heap = ptr(p->heap.gpa),
	};
	if (shim_boot_prepare(p, &m, &shim_state, &shim_log, shim_errmsg, sizeof(shim_errmsg)))
		shim_main_fatal(shim_errmsg);

	/* Everything the shim still touches (its image, stack, the log, the heap) is VTL2 RAM,
	   which the new tables map. */
	__asm__ volatile("mov %0, %%cr3" : : "r"(shim_state.cr3) : "memory");
	shim_log_printf(&shim_log, "mezz-shim: cr3 0x%llx\n", (unsigned long long)shim_state.cr3);
	shim_boot_log_final(&shim_state, &shim_log);
	shim_jump_kernel(shim_state.entry, shim_state.boot_params_gpa);
}
