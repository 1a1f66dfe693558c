/*
 * mini_vtl2: mezz-sim's minimal built-in VTL2 (see mini_vtl2.h). Everything it does to VTL0
 * goes through vtl2/kif.h and hvcall/ (hv_exit_decode, hv_call_* over kif_hvcall), so this is
 * exactly the path a paravisor takes on hardware; only the devices are test devices.
 *
 * Register conventions (hyperv-abi-facts 1.4, 1.6): GPRs except RSP, CR2 and XMM are VTL-shared
 * and live in the run page's cpu_context while we run; RIP, RSP, RFLAGS, segments, control
 * registers and PendingEvent0 are VTL-private and go through HvGet/SetVpRegisters (input VTL0).
 */
#include "tools/mezz-sim/mini_vtl2.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "arch/x86_64/x86_emu.h"
#include "arch/x86_64/x86_pagewalk.h"
#include "hvcall/hv.h"
#include "hvcall/hv_call.h"
#include "hvcall/hv_exit.h"
#include "hvcall/mshv_abi.h"
#include "tests/guests/guest_abi.h"
#include "vtl2/kif.h"
#include "vtl2/vpreg.h"

#define MV_MAX_VPS 256
#define MV_MAX_TIMERS 64
#define MV_VTL0 0x10 /* HvInputVtl: use_target_vtl | VTL0 */
#define MV_MSR_COUNT (GUEST_MSR_TEST_LAST - GUEST_MSR_TEST_FIRST + 1)
#define X86_EXC_GP_VECTOR 13

/* Handler verdicts (>= 0) besides -errno. */
#define MV_CONTINUE 0
#define MV_STOP 1

struct mv;

struct mv_vp {
	struct mv *mv;
	uint32_t index;
	pthread_t thread;
	atomic_bool started;
	struct mshv_abi_run *run;
	uint32_t echo;           /* echo register: last value OUT to GUEST_PORT_ECHO */
};

struct mv_timer {
	bool used;
	uint32_t vp;
	uint8_t vector;
	struct timespec when;    /* CLOCK_MONOTONIC */
};

struct mv {
	const struct mini_vtl2_config *cfg;
	struct mini_vtl2_result *res;
	struct kif *kif;
	struct hv_call_ctx hc;
	uint32_t vp_count;
	uint8_t *ram;
	uint64_t ram_size;
	FILE *serial;
	FILE *trace;
	struct mv_vp *vps;

	pthread_mutex_t lock;    /* everything below, and res */
	pthread_cond_t cond;     /* timer thread: new timer or stop */
	atomic_bool stop;
	bool result_set;
	uint64_t msr[MV_MSR_COUNT];
	uint8_t dev[GUEST_MMIO_SIZE];
	uint64_t prot_hits;
	uint32_t parked;         /* VPs halted with IF=0 for good */
	struct mv_timer timers[MV_MAX_TIMERS];
	struct timespec deadline; /* watchdog (tv_sec 0 = none) */
	pthread_t timer_thread;
	bool timer_started;

	pthread_mutex_t out_lock; /* serial and trace output */
	atomic_uint_fast64_t exits[MINI_VTL2_KIND_COUNT];
	atomic_uint_fast64_t serial_bytes;
};

static const char *const kind_names[MINI_VTL2_KIND_COUNT] = {
	[MINI_VTL2_IO] = "io",
	[MINI_VTL2_STRING_IO] = "string-io",
	[MINI_VTL2_MMIO] = "mmio",
	[MINI_VTL2_VTLPROT] = "vtlprot",
	[MINI_VTL2_CPUID] = "cpuid",
	[MINI_VTL2_MSR] = "msr",
	[MINI_VTL2_HYPERCALL] = "hypercall",
	[MINI_VTL2_HALT] = "halt",
	[MINI_VTL2_EXCEPTION] = "exception",
	[MINI_VTL2_OTHER] = "other",
	[MINI_VTL2_CANCEL] = "cancel",
};

const char *mini_vtl2_kind_name(unsigned kind)
{
	return kind < MINI_VTL2_KIND_COUNT ? kind_names[kind] : "?";
}

/* ---- output, results, stopping ---- */

__attribute__((format(printf, 2, 3)))
static void trace(struct mv_vp *v, const char *fmt, ...)
{
	struct mv *mv = v->mv;
	if (!mv->cfg->trace)
		return;
	va_list ap;
	va_start(ap, fmt);
	pthread_mutex_lock(&mv->out_lock);
	fprintf(mv->trace, "[vp%u] ", v->index);
	vfprintf(mv->trace, fmt, ap);
	fputc('\n', mv->trace);
	fflush(mv->trace);
	pthread_mutex_unlock(&mv->out_lock);
	va_end(ap);
}

static void count(struct mv *mv, enum mini_vtl2_kind k)
{
	atomic_fetch_add_explicit(&mv->exits[k], 1, memory_order_relaxed);
}

/* Set stop and kick every VP out of kif_vp_run (the caller's own VP sees `stop` itself). */
static void stop_all(struct mv *mv)
{
	atomic_store(&mv->stop, true);
	for (uint32_t i = 0; i < mv->vp_count; i++)
		if (atomic_load(&mv->vps[i].started))
			kif_vp_cancel(mv->kif, i);
	pthread_mutex_lock(&mv->lock);
	pthread_cond_broadcast(&mv->cond);
	pthread_mutex_unlock(&mv->lock);
}

/* First outcome wins: a failure after the guest already exited does not overwrite it. */
__attribute__((format(printf, 2, 3)))
static int fatal(struct mv *mv, const char *fmt, ...)
{
	pthread_mutex_lock(&mv->lock);
	if (!mv->result_set) {
		mv->result_set = true;
		mv->res->outcome = MINI_VTL2_ERROR;
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(mv->res->error, sizeof(mv->res->error), fmt, ap);
		va_end(ap);
	}
	pthread_mutex_unlock(&mv->lock);
	stop_all(mv);
	return MV_STOP;
}

static void guest_exit(struct mv_vp *v, uint32_t code)
{
	struct mv *mv = v->mv;
	pthread_mutex_lock(&mv->lock);
	if (!mv->result_set) {
		mv->result_set = true;
		mv->res->outcome = code == 0 ? MINI_VTL2_PASS : MINI_VTL2_FAIL;
		mv->res->exit_code = code;
		mv->res->exit_vp = v->index;
	}
	pthread_mutex_unlock(&mv->lock);
	stop_all(mv);
}

/* ---- VTL0 register access ---- */

/* vpreg picks the route per register (VTL-private ones: one batched HvSetVpRegisters). */
static int set_regs(struct mv_vp *v, const uint32_t *names, const union hv_register_value *vals,
		    size_t n)
{
	return vpreg_set(v->mv->kif, v->index, names, vals, n);
}

static int set_rip(struct mv_vp *v, uint64_t rip)
{
	static const uint32_t name = HV_X64_REGISTER_RIP;
	union hv_register_value val = { .reg64 = rip };
	return set_regs(v, &name, &val, 1);
}

/* Complete an intercepted instruction: RIP = intercept RIP + length from the header. */
static int advance(struct mv_vp *v, const struct hv_exit *e)
{
	unsigned len = hv_exit_insn_len(e);
	if (len == 0)
		return fatal(v->mv, "vp%u: intercept 0x%x without instruction length", v->index,
			     e->message_type);
	int rc = set_rip(v, e->u.header.rip + len);
	if (rc < 0)
		return fatal(v->mv, "vp%u: SetVpRegisters(RIP): %s", v->index, strerror(-rc));
	return MV_CONTINUE;
}

static int inject_exception(struct mv_vp *v, uint8_t vector, bool has_error, uint32_t error,
			    uint64_t parameter)
{
	static const uint32_t name = HV_REGISTER_PENDING_EVENT0;
	union hv_register_value val = hv_pending_exception_make(vector, has_error, error, parameter);
	int rc = set_regs(v, &name, &val, 1);
	if (rc < 0)
		return fatal(v->mv, "vp%u: inject exception %u: %s", v->index, vector, strerror(-rc));
	trace(v, "inject exception %u error 0x%x param 0x%" PRIx64, vector, error, parameter);
	return MV_CONTINUE;
}

/* ---- the test devices: ports ---- */

typedef int (*port_fn)(struct mv_vp *v, uint16_t port, unsigned size, bool write, uint32_t *val);

static uint32_t width_mask(unsigned size)
{
	return size >= 4 ? 0xFFFFFFFFu : (1u << (8 * size)) - 1;
}

static int port_com1(struct mv_vp *v, uint16_t port, unsigned size, bool write, uint32_t *val)
{
	struct mv *mv = v->mv;
	(void)size;
	unsigned reg = port - GUEST_PORT_COM1;
	if (write) {
		if (reg == 0) {
			char c = (char)(*val & 0xFF);
			atomic_fetch_add(&mv->serial_bytes, 1);
			if (c == '\r')
				return MV_CONTINUE; /* the guest sends CRLF; the host terminal wants LF */
			pthread_mutex_lock(&mv->out_lock);
			fputc(c, mv->serial);
			if (c == '\n')
				fflush(mv->serial);
			pthread_mutex_unlock(&mv->out_lock);
		}
		return MV_CONTINUE;
	}
	/* LSR: THR empty + transmitter idle; everything else reads 0. */
	*val = reg == 5 ? 0x60 : 0;
	return MV_CONTINUE;
}

static int port_echo(struct mv_vp *v, uint16_t port, unsigned size, bool write, uint32_t *val)
{
	(void)port;
	if (write)
		v->echo = *val & width_mask(size);
	else
		*val = (v->echo + 1) & width_mask(size);
	return MV_CONTINUE;
}

static int port_exit(struct mv_vp *v, uint16_t port, unsigned size, bool write, uint32_t *val)
{
	(void)port;
	if (!write) {
		*val = width_mask(size);
		return MV_CONTINUE;
	}
	uint32_t code = *val & width_mask(size);
	trace(v, "guest exit code %u", code);
	guest_exit(v, code);
	return MV_STOP;
}

static int assert_irq(struct mv *mv, uint32_t vp, uint8_t vector)
{
	/* Fixed, edge-triggered, physical destination = APIC id = VP index in hvsim. */
	return hv_call_assert_virtual_interrupt(&mv->hc, HV_X64_INTERRUPT_TYPE_FIXED, vp, vector, 0);
}

static void timespec_add_ms(struct timespec *t, unsigned ms)
{
	t->tv_sec += ms / 1000;
	t->tv_nsec += (long)(ms % 1000) * 1000000L;
	if (t->tv_nsec >= 1000000000L) {
		t->tv_sec++;
		t->tv_nsec -= 1000000000L;
	}
}

static int port_irq(struct mv_vp *v, uint16_t port, unsigned size, bool write, uint32_t *val)
{
	struct mv *mv = v->mv;
	(void)size;
	if (!write) {
		*val = 0;
		return MV_CONTINUE;
	}
	uint32_t vector = *val & 0xFF;
	if (vector < 16) {
		trace(v, "irq request for reserved vector %u ignored", vector);
		return MV_CONTINUE;
	}
	if (port == GUEST_PORT_IRQ) {
		int rc = assert_irq(mv, v->index, (uint8_t)vector);
		trace(v, "assert vector 0x%x: %d", vector, rc);
		if (rc < 0)
			return fatal(mv, "vp%u: AssertVirtualInterrupt(0x%x): %s", v->index, vector,
				     strerror(-rc));
		return MV_CONTINUE;
	}
	struct timespec when;
	clock_gettime(CLOCK_MONOTONIC, &when);
	timespec_add_ms(&when, GUEST_IRQ_DELAY_MS);
	pthread_mutex_lock(&mv->lock);
	unsigned i;
	for (i = 0; i < MV_MAX_TIMERS && mv->timers[i].used; i++)
		;
	if (i < MV_MAX_TIMERS) {
		mv->timers[i] = (struct mv_timer){ true, v->index, (uint8_t)vector, when };
		pthread_cond_broadcast(&mv->cond);
	}
	pthread_mutex_unlock(&mv->lock);
	trace(v, "vector 0x%x in %u ms%s", vector, GUEST_IRQ_DELAY_MS,
	      i < MV_MAX_TIMERS ? "" : ": too many timers, dropped");
	return MV_CONTINUE;
}

static int port_protect(struct mv_vp *v, uint16_t port, unsigned size, bool write, uint32_t *val)
{
	struct mv *mv = v->mv;
	(void)size;
	if (!write) {
		*val = 0;
		return MV_CONTINUE;
	}
	gpn_t page = gpn(*val);
	if (page.v >= mv->ram_size >> ADDR_PAGE_SHIFT) {
		trace(v, "protect request for gpn 0x%" PRIx64 " outside RAM ignored", page.v);
		return MV_CONTINUE;
	}
	bool protect = port == GUEST_PORT_PROTECT;
	uint32_t flags = protect ? (HV_MAP_GPA_READABLE | HV_MAP_GPA_KERNEL_EXECUTABLE |
				    HV_MAP_GPA_USER_EXECUTABLE)
				 : HV_MAP_GPA_ALL;
	int rc = hv_call_modify_vtl_protection_mask(&mv->hc, flags, MV_VTL0, &page, 1);
	trace(v, "%s gpn 0x%" PRIx64 ": %d", protect ? "write-protect" : "unprotect", page.v, rc);
	if (rc < 0)
		return fatal(mv, "vp%u: ModifyVtlProtectionMask(gpn 0x%" PRIx64 "): %s", v->index,
			     page.v, strerror(-rc));
	return MV_CONTINUE;
}

static int port_prot_count(struct mv_vp *v, uint16_t port, unsigned size, bool write,
			   uint32_t *val)
{
	struct mv *mv = v->mv;
	(void)port;
	if (write)
		return MV_CONTINUE;
	pthread_mutex_lock(&mv->lock);
	*val = (uint32_t)mv->prot_hits & width_mask(size);
	pthread_mutex_unlock(&mv->lock);
	return MV_CONTINUE;
}

struct port_range {
	uint16_t first, last;
	port_fn fn;
};

static const struct port_range port_table[] = {
	{ GUEST_PORT_COM1, GUEST_PORT_COM1 + 7, port_com1 },
	{ GUEST_PORT_ECHO, GUEST_PORT_ECHO, port_echo },
	{ GUEST_PORT_EXIT, GUEST_PORT_EXIT, port_exit },
	{ GUEST_PORT_IRQ, GUEST_PORT_IRQ_DELAYED, port_irq },
	{ GUEST_PORT_PROTECT, GUEST_PORT_UNPROTECT, port_protect },
	{ GUEST_PORT_PROT_COUNT, GUEST_PORT_PROT_COUNT, port_prot_count },
};

/* Intercepted port ranges (InstallIntercept X64IoPortRange). */
static const struct { uint16_t first, last; } intercept_ports[] = {
	{ GUEST_PORT_COM1, GUEST_PORT_COM1 + 7 },
	{ GUEST_PORT_ECHO, GUEST_PORT_PROT_COUNT },
};

static int port_access(struct mv_vp *v, uint16_t port, unsigned size, bool write, uint32_t *val)
{
	for (size_t i = 0; i < sizeof(port_table) / sizeof(port_table[0]); i++)
		if (port >= port_table[i].first && port <= port_table[i].last)
			return port_table[i].fn(v, port, size, write, val);
	/* Unassigned port in an intercepted range: reads float high, writes vanish. */
	if (!write)
		*val = width_mask(size);
	trace(v, "unassigned port 0x%x %s", port, write ? "write" : "read");
	return MV_CONTINUE;
}

/* ---- guest memory for the emulator: page walk + RAM / test device / nothing ---- */

static int pw_read(void *ctx, gpa_t at, void *buf, unsigned size)
{
	struct mv *mv = ctx;
	if (at.v > mv->ram_size || mv->ram_size - at.v < size)
		return -EFAULT;
	memcpy(buf, mv->ram + at.v, size);
	return 0;
}

static int pw_cmpxchg(void *ctx, gpa_t at, uint64_t old, uint64_t nv, unsigned size)
{
	struct mv *mv = ctx;
	if (at.v > mv->ram_size || mv->ram_size - at.v < size || (at.v & (size - 1)))
		return -EFAULT;
	if (size == 8) {
		uint64_t *p = (uint64_t *)(void *)(mv->ram + at.v);
		return __atomic_compare_exchange_n(p, &old, nv, false, __ATOMIC_SEQ_CST,
						   __ATOMIC_SEQ_CST) ? 0 : -EAGAIN;
	}
	uint32_t *p = (uint32_t *)(void *)(mv->ram + at.v);
	uint32_t o = (uint32_t)old;
	return __atomic_compare_exchange_n(p, &o, (uint32_t)nv, false, __ATOMIC_SEQ_CST,
					   __ATOMIC_SEQ_CST) ? 0 : -EAGAIN;
}

static const struct x86_pw_mem_ops pw_ops = { pw_read, pw_cmpxchg };

struct emu_ctx {
	struct mv_vp *v;
	struct x86_pw_regs pw;
	unsigned cpl;
	uint64_t device_accesses;
};

static bool is_device(uint64_t gpa_v)
{
	return gpa_v >= GUEST_MMIO_BASE && gpa_v < GUEST_MMIO_BASE + GUEST_MMIO_SIZE;
}

/* Access `size` bytes at physical `at` that do not cross a page. */
static void phys_access(struct emu_ctx *ec, uint64_t at, void *buf, unsigned size, bool write)
{
	struct mv *mv = ec->v->mv;
	if (at < mv->ram_size && mv->ram_size - at >= size) {
		if (write)
			memcpy(mv->ram + at, buf, size);
		else
			memcpy(buf, mv->ram + at, size);
		return;
	}
	if (is_device(at)) {
		unsigned off = (unsigned)(at - GUEST_MMIO_BASE);
		ec->device_accesses++;
		pthread_mutex_lock(&mv->lock);
		if (!write) {
			memcpy(buf, mv->dev + off, size);
		} else if (off >= GUEST_MMIO_SCRATCH) {
			memcpy(mv->dev + off, buf, size);
		}
		pthread_mutex_unlock(&mv->lock);
		if (mv->cfg->trace) {
			uint64_t v = 0;
			memcpy(&v, buf, size < 8 ? size : 8);
			trace(ec->v, "mmio %s gpa 0x%" PRIx64 " size %u value 0x%" PRIx64 "%s",
			      write ? "write" : "read", at, size, v,
			      write && off < GUEST_MMIO_SCRATCH ? " (read-only, dropped)" : "");
		}
		return;
	}
	/* Neither RAM nor a device: reads float high, writes are dropped. */
	if (!write)
		memset(buf, 0xFF, size);
	trace(ec->v, "%s of unbacked gpa 0x%" PRIx64 " size %u", write ? "write" : "read", at, size);
}

static int linear_access(struct emu_ctx *ec, gva_t la, void *buf, unsigned size, unsigned access,
			 bool write, struct x86_emu_fault *fault)
{
	uint8_t *p = buf;
	while (size) {
		unsigned chunk = (unsigned)(ADDR_PAGE_SIZE - (la.v & (ADDR_PAGE_SIZE - 1)));
		if (chunk > size)
			chunk = size;
		struct x86_pw_result r;
		unsigned acc = access | (ec->cpl == 3 ? X86_PW_USER : 0);
		int rc = x86_pw_translate(&ec->pw, la, acc, &pw_ops, ec->v->mv, &r);
		if (rc == -EFAULT && r.fault) {
			*fault = (struct x86_emu_fault){ .vector = X86_EXC_PF, .has_error_code = true,
							 .error_code = r.pf_error, .cr2 = la.v };
			return -EFAULT;
		}
		if (rc == -EINVAL) {
			*fault = (struct x86_emu_fault){ .vector = X86_EXC_GP, .has_error_code = true };
			return -EFAULT;
		}
		if (rc < 0)
			return rc;
		phys_access(ec, r.gpa.v, p, chunk, write);
		p += chunk;
		la = gva_add(la, chunk);
		size -= chunk;
	}
	return 0;
}

static int emu_read(void *ctx, gva_t la, void *buf, unsigned size, enum x86_emu_access kind,
		    struct x86_emu_fault *fault)
{
	unsigned acc = kind == X86_EMU_FETCH ? X86_PW_FETCH : X86_PW_READ;
	return linear_access(ctx, la, buf, size, acc, false, fault);
}

static int emu_write(void *ctx, gva_t la, const void *buf, unsigned size,
		     struct x86_emu_fault *fault)
{
	uint8_t tmp[64];
	if (size > sizeof(tmp))
		return -EINVAL;
	memcpy(tmp, buf, size);
	return linear_access(ctx, la, tmp, size, X86_PW_WRITE, true, fault);
}

static int emu_in(void *ctx, uint16_t port, unsigned size, uint32_t *value,
		  struct x86_emu_fault *fault)
{
	struct emu_ctx *ec = ctx;
	(void)fault;
	*value = 0;
	int rc = port_access(ec->v, port, size, false, value);
	return rc < 0 ? rc : 0;
}

static int emu_out(void *ctx, uint16_t port, unsigned size, uint32_t value,
		   struct x86_emu_fault *fault)
{
	struct emu_ctx *ec = ctx;
	(void)fault;
	int rc = port_access(ec->v, port, size, true, &value);
	return rc < 0 ? rc : 0;
}

static const struct x86_emu_ops emu_ops = {
	.read = emu_read,
	.write = emu_write,
	.cmpxchg = NULL,
	.io_in = emu_in,
	.io_out = emu_out,
};

/* VTL-private registers the emulator needs, fetched in one HvGetVpRegisters. */
static const uint32_t emu_reg_names[] = {
	HV_X64_REGISTER_RSP, HV_X64_REGISTER_RFLAGS, HV_X64_REGISTER_CR0, HV_X64_REGISTER_CR3,
	HV_X64_REGISTER_CR4, HV_X64_REGISTER_EFER, HV_X64_REGISTER_ES, HV_X64_REGISTER_CS,
	HV_X64_REGISTER_SS, HV_X64_REGISTER_DS, HV_X64_REGISTER_FS, HV_X64_REGISTER_GS,
};
enum { R_RSP, R_RFLAGS, R_CR0, R_CR3, R_CR4, R_EFER, R_SEG0, EMU_REG_COUNT = R_SEG0 + 6 };
_Static_assert(sizeof(emu_reg_names) / sizeof(emu_reg_names[0]) == EMU_REG_COUNT,
	       "one name per slot");

static void ctx_to_gprs(const struct mshv_abi_cpu_context *c, uint64_t *g)
{
	g[X86_RAX] = c->rax; g[X86_RCX] = c->rcx; g[X86_RDX] = c->rdx; g[X86_RBX] = c->rbx;
	g[X86_RBP] = c->rbp; g[X86_RSI] = c->rsi; g[X86_RDI] = c->rdi;
	g[X86_R8] = c->r8; g[X86_R9] = c->r9; g[X86_R10] = c->r10; g[X86_R11] = c->r11;
	g[X86_R12] = c->r12; g[X86_R13] = c->r13; g[X86_R14] = c->r14; g[X86_R15] = c->r15;
}

static void gprs_to_ctx(const uint64_t *g, struct mshv_abi_cpu_context *c)
{
	c->rax = g[X86_RAX]; c->rcx = g[X86_RCX]; c->rdx = g[X86_RDX]; c->rbx = g[X86_RBX];
	c->rbp = g[X86_RBP]; c->rsi = g[X86_RSI]; c->rdi = g[X86_RDI];
	c->r8 = g[X86_R8]; c->r9 = g[X86_R9]; c->r10 = g[X86_R10]; c->r11 = g[X86_R11];
	c->r12 = g[X86_R12]; c->r13 = g[X86_R13]; c->r14 = g[X86_R14]; c->r15 = g[X86_R15];
}

/* Build the emulator's view of VP `v` at the intercepted instruction. */
static int load_cpu(struct mv_vp *v, const struct hv_exit *e, struct x86_emu_cpu *cpu,
		    struct emu_ctx *ec)
{
	union hv_register_value r[EMU_REG_COUNT];
	int rc = vpreg_get(v->mv->kif, v->index, emu_reg_names, r, EMU_REG_COUNT);
	if (rc < 0)
		return rc;
	memset(cpu, 0, sizeof(*cpu));
	const struct mshv_abi_cpu_context *c = &v->run->cpu_context;
	ctx_to_gprs(c, cpu->gpr);
	cpu->gpr[X86_RSP] = r[R_RSP].reg64;
	cpu->rip = e->u.header.rip;
	cpu->rflags = r[R_RFLAGS].reg64;
	cpu->cr0 = r[R_CR0].reg64;
	cpu->cr4 = r[R_CR4].reg64;
	cpu->efer = r[R_EFER].reg64;
	for (unsigned s = 0; s < X86_SEG_COUNT; s++) {
		const struct hv_x64_segment_register *sr = &r[R_SEG0 + s].segment;
		cpu->seg[s] = (struct x86_segment){ sr->base, sr->limit, sr->selector, sr->attributes };
	}
	memcpy(cpu->xmm, c->fx_state.xmm, sizeof(cpu->xmm));
	cpu->cpl = hv_exit_cpl(e);
	*ec = (struct emu_ctx){
		.v = v,
		.pw = { .cr0 = cpu->cr0, .cr3 = r[R_CR3].reg64, .cr4 = cpu->cr4, .efer = cpu->efer,
			.rflags = cpu->rflags },
		.cpl = cpu->cpl,
	};
	return 0;
}

/* Write back what an emulated instruction changed. */
static int store_cpu(struct mv_vp *v, const struct x86_emu_cpu *old, const struct x86_emu_cpu *cpu)
{
	struct mshv_abi_cpu_context *c = &v->run->cpu_context;
	gprs_to_ctx(cpu->gpr, c);
	memcpy(c->fx_state.xmm, cpu->xmm, sizeof(cpu->xmm));
	uint32_t names[3];
	union hv_register_value vals[3];
	size_t n = 0;
	names[n] = HV_X64_REGISTER_RIP;
	vals[n++] = (union hv_register_value){ .reg64 = cpu->rip };
	if (cpu->rflags != old->rflags) {
		names[n] = HV_X64_REGISTER_RFLAGS;
		vals[n++] = (union hv_register_value){ .reg64 = cpu->rflags };
	}
	if (cpu->gpr[X86_RSP] != old->gpr[X86_RSP]) {
		names[n] = HV_X64_REGISTER_RSP;
		vals[n++] = (union hv_register_value){ .reg64 = cpu->gpr[X86_RSP] };
	}
	return set_regs(v, names, vals, n);
}

static const char *emu_result_name(enum x86_emu_result r)
{
	switch (r) {
	case X86_EMU_OK: return "ok";
	case X86_EMU_FAULT: return "fault";
	case X86_EMU_UNSUPPORTED: return "unsupported instruction";
	case X86_EMU_ERROR: return "callback error";
	}
	return "?";
}

static void hex_bytes(char *out, size_t outlen, const uint8_t *b, unsigned n)
{
	size_t o = 0;
	out[0] = '\0';
	for (unsigned i = 0; i < n && o + 4 < outlen; i++)
		o += (size_t)snprintf(out + o, outlen - o, "%s%02x", i ? " " : "", b[i]);
}

/* Emulate the intercepted instruction (MMIO or string I/O) and complete it. */
static int emulate(struct mv_vp *v, const struct hv_exit *e, const uint8_t *bytes, unsigned nbytes,
		   const char *what)
{
	struct x86_emu_cpu cpu, old;
	struct emu_ctx ec;
	int rc = load_cpu(v, e, &cpu, &ec);
	if (rc < 0)
		return fatal(v->mv, "vp%u: GetVpRegisters for %s emulation: %s", v->index, what,
			     strerror(-rc));
	old = cpu;
	struct x86_emu_fault fault = { 0 };
	enum x86_emu_result er = x86_emu_step(&cpu, bytes, nbytes, &emu_ops, &ec, &fault);
	if (er == X86_EMU_FAULT)
		return inject_exception(v, fault.vector, fault.has_error_code, fault.error_code,
					fault.cr2);
	if (er != X86_EMU_OK) {
		char hex[64];
		hex_bytes(hex, sizeof(hex), bytes, nbytes);
		return fatal(v->mv, "vp%u: %s emulation at rip 0x%" PRIx64 " failed: %s (bytes %s)",
			     v->index, what, e->u.header.rip, emu_result_name(er), hex);
	}
	if (atomic_load(&v->mv->stop))
		return MV_STOP; /* e.g. the exit port was written by a string OUT */
	rc = store_cpu(v, &old, &cpu);
	if (rc < 0)
		return fatal(v->mv, "vp%u: SetVpRegisters after %s emulation: %s", v->index, what,
			     strerror(-rc));
	return MV_CONTINUE;
}

/* ---- exit handlers ---- */

typedef int (*exit_fn)(struct mv_vp *v, const struct hv_exit *e);

static int on_io(struct mv_vp *v, const struct hv_exit *e)
{
	const struct hv_x64_io_port_intercept_message *io = &e->u.io;
	unsigned size = hv_exit_io_size(e);
	bool write = hv_exit_io_is_write(e);
	if (hv_exit_io_is_string(e)) {
		count(v->mv, MINI_VTL2_STRING_IO);
		trace(v, "io %s%s port 0x%x size %u rcx 0x%" PRIx64 " rip 0x%" PRIx64,
		      hv_exit_io_is_rep(e) ? "rep " : "", write ? "outs" : "ins", io->port_number,
		      size, io->rcx, e->u.header.rip);
		return emulate(v, e, io->instruction_bytes, io->instruction_byte_count, "string I/O");
	}
	count(v->mv, MINI_VTL2_IO);
	uint32_t val = write ? (uint32_t)io->rax & width_mask(size) : 0;
	int rc = port_access(v, io->port_number, size, write, &val);
	if (rc != MV_CONTINUE)
		return rc;
	if (!write) {
		/* Exact-width completion: 8/16-bit INs keep the rest of RAX, 32-bit zero-extends. */
		uint64_t rax = v->run->cpu_context.rax;
		if (size == 4)
			rax = val;
		else
			rax = (rax & ~(uint64_t)width_mask(size)) | (val & width_mask(size));
		v->run->cpu_context.rax = rax;
	}
	if (v->mv->cfg->trace && io->port_number != GUEST_PORT_COM1 &&
	    io->port_number != GUEST_PORT_COM1_LSR)
		trace(v, "io %s port 0x%x size %u value 0x%x rip 0x%" PRIx64, write ? "out" : "in",
		      io->port_number, size, val, e->u.header.rip);
	return advance(v, e);
}

static int on_vtlprot(struct mv_vp *v, const struct hv_exit *e)
{
	struct mv *mv = v->mv;
	const struct hv_x64_memory_intercept_message *m = &e->u.memory;
	count(mv, MINI_VTL2_VTLPROT);
	pthread_mutex_lock(&mv->lock);
	mv->prot_hits++;
	pthread_mutex_unlock(&mv->lock);
	static const char *const access[] = { "read", "write", "execute" };
	trace(v, "vtl protection intercept: %s gpa 0x%" PRIx64 " gva 0x%" PRIx64 " rip 0x%" PRIx64
	      " (skipped)", access[e->u.header.intercept_access_type % 3],
	      m->guest_physical_address, m->guest_virtual_address, e->u.header.rip);
	/* Skip the access: the instruction length comes from the header or from decoding. */
	unsigned len = hv_exit_insn_len(e);
	if (len == 0) {
		struct x86_insn insn;
		uint8_t buf[X86_MAX_INSN_LEN + 1];
		unsigned n = m->instruction_byte_count;
		memcpy(buf, m->instruction_bytes, n);
		int rc = x86_decode(buf, n, X86_MODE_64, &insn);
		if (rc == -ENODATA) {
			struct x86_emu_cpu cpu;
			struct emu_ctx ec;
			struct x86_emu_fault f;
			if (load_cpu(v, e, &cpu, &ec) == 0 &&
			    emu_read(&ec, gva(e->u.header.rip), buf, X86_MAX_INSN_LEN, X86_EMU_FETCH,
				     &f) == 0)
				rc = x86_decode(buf, X86_MAX_INSN_LEN, X86_MODE_64, &insn);
		}
		if (rc <= 0)
			return fatal(mv, "vp%u: cannot decode the instruction at rip 0x%" PRIx64
				     " that hit a protected page (%d)", v->index, e->u.header.rip, rc);
		len = (unsigned)rc;
	}
	int rc = set_rip(v, e->u.header.rip + len);
	if (rc < 0)
		return fatal(mv, "vp%u: SetVpRegisters(RIP): %s", v->index, strerror(-rc));
	return MV_CONTINUE;
}

static int on_memory(struct mv_vp *v, const struct hv_exit *e)
{
	const struct hv_x64_memory_intercept_message *m = &e->u.memory;
	switch (e->memory_kind) {
	case HV_EXIT_MEMORY_GPA_INTERCEPT:
		return on_vtlprot(v, e);
	case HV_EXIT_MEMORY_UNMAPPED_GPA:
		count(v->mv, MINI_VTL2_MMIO);
		if (!is_device(m->guest_physical_address))
			trace(v, "unmapped gpa 0x%" PRIx64 " outside the test device",
			      m->guest_physical_address);
		return emulate(v, e, m->instruction_bytes, m->instruction_byte_count, "MMIO");
	case HV_EXIT_MEMORY_UNACCEPTED_GPA:
		break;
	}
	return fatal(v->mv, "vp%u: unaccepted GPA 0x%" PRIx64 " at rip 0x%" PRIx64, v->index,
		     m->guest_physical_address, e->u.header.rip);
}

static int on_msr(struct mv_vp *v, const struct hv_exit *e)
{
	struct mv *mv = v->mv;
	const struct hv_x64_msr_intercept_message *m = &e->u.msr;
	bool write = e->u.header.intercept_access_type == HV_INTERCEPT_ACCESS_WRITE;
	count(mv, MINI_VTL2_MSR);
	if (m->msr_number < GUEST_MSR_TEST_FIRST || m->msr_number > GUEST_MSR_TEST_LAST) {
		trace(v, "%smsr 0x%x unknown -> #GP", write ? "wr" : "rd", m->msr_number);
		return inject_exception(v, X86_EXC_GP_VECTOR, true, 0, 0);
	}
	unsigned idx = m->msr_number - GUEST_MSR_TEST_FIRST;
	uint64_t val;
	pthread_mutex_lock(&mv->lock);
	if (write)
		mv->msr[idx] = val = hv_exit_msr_value(e);
	else
		val = mv->msr[idx];
	pthread_mutex_unlock(&mv->lock);
	if (!write) {
		v->run->cpu_context.rax = (uint32_t)val;
		v->run->cpu_context.rdx = val >> 32;
	}
	trace(v, "%smsr 0x%x value 0x%" PRIx64, write ? "wr" : "rd", m->msr_number, val);
	return advance(v, e);
}

static int on_cpuid(struct mv_vp *v, const struct hv_exit *e)
{
	const struct hv_x64_cpuid_intercept_message *c = &e->u.cpuid;
	struct mshv_abi_cpu_context *ctx = &v->run->cpu_context;
	uint32_t leaf = (uint32_t)c->rax;
	count(v->mv, MINI_VTL2_CPUID);
	uint32_t a, b, cx, d;
	if (leaf == GUEST_CPUID_VENDOR_LEAF) {
		a = GUEST_CPUID_VENDOR_MAX;
		memcpy(&b, "Mezz", 4);
		memcpy(&cx, "SimV", 4);
		memcpy(&d, "TL2 ", 4);
	} else {
		a = (uint32_t)c->default_result_rax;
		b = (uint32_t)c->default_result_rbx;
		cx = (uint32_t)c->default_result_rcx;
		d = (uint32_t)c->default_result_rdx;
	}
	ctx->rax = a;
	ctx->rbx = b;
	ctx->rcx = cx;
	ctx->rdx = d;
	trace(v, "cpuid leaf 0x%x sub 0x%x -> %08x %08x %08x %08x", leaf, (uint32_t)c->rcx, a, b,
	      cx, d);
	return advance(v, e);
}

static int on_hypercall(struct mv_vp *v, const struct hv_exit *e)
{
	const struct hv_x64_hypercall_intercept_message *h = &e->u.hypercall;
	count(v->mv, MINI_VTL2_HYPERCALL);
	uint16_t code = (uint16_t)(h->rcx & HV_HYPERCALL_CODE_MASK);
	/* No VTL0 hypercalls are implemented by this VTL2: every code is unknown. */
	v->run->cpu_context.rax = hv_result_make(HV_STATUS_INVALID_HYPERCALL_CODE, 0);
	trace(v, "hypercall code 0x%x -> HV_STATUS_INVALID_HYPERCALL_CODE", code);
	int rc = set_rip(v, e->u.header.rip + HV_HYPERCALL_INSN_LEN);
	if (rc < 0)
		return fatal(v->mv, "vp%u: SetVpRegisters(RIP): %s", v->index, strerror(-rc));
	return MV_CONTINUE;
}

static int on_halt(struct mv_vp *v, const struct hv_exit *e)
{
	struct mv *mv = v->mv;
	count(mv, MINI_VTL2_HALT);
	trace(v, "halt at rip 0x%" PRIx64 " rflags 0x%" PRIx64, e->u.header.rip,
	      e->u.header.rflags);
	/* HLT with IF=1 is the hypervisor's to model (hvsim sleeps until an interrupt); if the
	   message comes anyway, resume and let the hypervisor halt it. */
	if (e->u.header.rflags & X86_FLAG_IF)
		return MV_CONTINUE;
	/* HLT with IF=0: only NMI/INIT could wake it, and this VTL2 sends neither, so the VP is
	   parked for good (e.g. a secondary VP that finished). Wait for the end of the run
	   instead of spinning through halt intercepts. */
	pthread_mutex_lock(&mv->lock);
	bool all_parked = ++mv->parked == mv->vp_count;
	pthread_mutex_unlock(&mv->lock);
	if (all_parked)
		return fatal(mv, "every VP is halted with interrupts disabled (last: vp%u at rip 0x%"
			     PRIx64 "): nothing can wake them", v->index, e->u.header.rip);
	pthread_mutex_lock(&mv->lock);
	while (!atomic_load(&mv->stop))
		pthread_cond_wait(&mv->cond, &mv->lock);
	pthread_mutex_unlock(&mv->lock);
	return MV_STOP;
}

static int on_exception(struct mv_vp *v, const struct hv_exit *e)
{
	const struct hv_x64_exception_intercept_message *x = &e->u.exception;
	count(v->mv, MINI_VTL2_EXCEPTION);
	return fatal(v->mv, "vp%u: unexpected exception intercept: vector %u error 0x%x at rip 0x%"
		     PRIx64, v->index, x->exception_vector, x->error_code, e->u.header.rip);
}

static int on_unrecoverable(struct mv_vp *v, const struct hv_exit *e)
{
	count(v->mv, MINI_VTL2_OTHER);
	return fatal(v->mv, "vp%u: unrecoverable exception (triple fault) at rip 0x%" PRIx64,
		     v->index, e->u.header.rip);
}

static int on_none(struct mv_vp *v, const struct hv_exit *e)
{
	(void)e;
	trace(v, "empty exit message");
	return MV_CONTINUE;
}

static const exit_fn exit_table[HV_EXIT_KIND_COUNT] = {
	[HV_EXIT_NONE] = on_none,
	[HV_EXIT_IO_PORT] = on_io,
	[HV_EXIT_MEMORY] = on_memory,
	[HV_EXIT_MSR] = on_msr,
	[HV_EXIT_CPUID] = on_cpuid,
	[HV_EXIT_EXCEPTION] = on_exception,
	[HV_EXIT_HYPERCALL] = on_hypercall,
	[HV_EXIT_HALT] = on_halt,
	[HV_EXIT_UNRECOVERABLE] = on_unrecoverable,
};

/* ---- VP threads ---- */

static void *vp_thread(void *arg)
{
	struct mv_vp *v = arg;
	struct mv *mv = v->mv;
	int rc = kif_vp_bind(mv->kif, v->index);
	if (rc < 0) {
		fatal(mv, "vp%u: kif_vp_bind: %s", v->index, strerror(-rc));
		return NULL;
	}
	v->run = kif_vp_run_page(mv->kif, v->index);
	if (!v->run) {
		fatal(mv, "vp%u: no run page", v->index);
		return NULL;
	}
	while (!atomic_load(&mv->stop)) {
		rc = kif_vp_run(mv->kif);
		if (rc == -EINTR) {
			count(mv, MINI_VTL2_CANCEL);
			__atomic_store_n(&v->run->cancel, 0, __ATOMIC_SEQ_CST);
			continue; /* the loop condition sees a stop request */
		}
		if (rc < 0) {
			fatal(mv, "vp%u: kif_vp_run: %s", v->index, strerror(-rc));
			break;
		}
		struct hv_exit e;
		rc = hv_exit_decode(v->run->exit_message, sizeof(v->run->exit_message), &e);
		if (rc == -ENOTSUP) {
			count(mv, MINI_VTL2_OTHER);
			fatal(mv, "vp%u: unhandled message type 0x%x", v->index, e.message_type);
			break;
		}
		if (rc < 0) {
			count(mv, MINI_VTL2_OTHER);
			fatal(mv, "vp%u: malformed exit message (type 0x%x): %s", v->index,
			      e.message_type, strerror(-rc));
			break;
		}
		exit_fn fn = (unsigned)e.kind < HV_EXIT_KIND_COUNT ? exit_table[e.kind] : NULL;
		if (!fn) {
			count(mv, MINI_VTL2_OTHER);
			fatal(mv, "vp%u: unexpected exit %s (type 0x%x)", v->index,
			      hv_exit_kind_str(e.kind), e.message_type);
			break;
		}
		if (fn(v, &e) != MV_CONTINUE)
			break;
	}
	return NULL;
}

/* Delayed interrupts and the watchdog. */
static void *timer_thread(void *arg)
{
	struct mv *mv = arg;
	pthread_mutex_lock(&mv->lock);
	while (!atomic_load(&mv->stop)) {
		struct timespec now, next = { 0, 0 };
		clock_gettime(CLOCK_MONOTONIC, &now);
		if (mv->deadline.tv_sec && (now.tv_sec > mv->deadline.tv_sec ||
					    (now.tv_sec == mv->deadline.tv_sec &&
					     now.tv_nsec >= mv->deadline.tv_nsec))) {
			pthread_mutex_unlock(&mv->lock);
			fatal(mv, "timeout after %u ms", mv->cfg->timeout_ms);
			return NULL;
		}
		next = mv->deadline;
		for (unsigned i = 0; i < MV_MAX_TIMERS; i++) {
			struct mv_timer *t = &mv->timers[i];
			if (!t->used)
				continue;
			if (now.tv_sec > t->when.tv_sec ||
			    (now.tv_sec == t->when.tv_sec && now.tv_nsec >= t->when.tv_nsec)) {
				struct mv_timer fire = *t;
				t->used = false;
				pthread_mutex_unlock(&mv->lock);
				int rc = assert_irq(mv, fire.vp, fire.vector);
				if (rc < 0) {
					fatal(mv, "timer: AssertVirtualInterrupt(vp%u, 0x%x): %s",
					      fire.vp, fire.vector, strerror(-rc));
					return NULL;
				}
				pthread_mutex_lock(&mv->lock);
				continue;
			}
			if (!next.tv_sec || t->when.tv_sec < next.tv_sec ||
			    (t->when.tv_sec == next.tv_sec && t->when.tv_nsec < next.tv_nsec))
				next = t->when;
		}
		if (next.tv_sec)
			pthread_cond_timedwait(&mv->cond, &mv->lock, &next);
		else
			pthread_cond_wait(&mv->cond, &mv->lock);
	}
	pthread_mutex_unlock(&mv->lock);
	return NULL;
}

/* ---- setup ---- */

static int kif_xfer(void *ctx, uint64_t control, const void *in, size_t in_size, void *out,
		    size_t out_size, uint64_t *result)
{
	return kif_hvcall(ctx, control, in, in_size, out, out_size, result);
}

static int install_intercepts(struct mv *mv)
{
	const uint32_t rw = HV_INTERCEPT_ACCESS_MASK_READ | HV_INTERCEPT_ACCESS_MASK_WRITE;
	int rc;
	for (size_t i = 0; i < sizeof(intercept_ports) / sizeof(intercept_ports[0]); i++) {
		rc = hv_call_install_intercept(&mv->hc, rw, HV_INTERCEPT_TYPE_X64_IO_PORT_RANGE,
					       hv_intercept_io_port_range(intercept_ports[i].first,
									  intercept_ports[i].last));
		if (rc < 0)
			return rc;
	}
	rc = hv_call_install_intercept(&mv->hc, rw, HV_INTERCEPT_TYPE_X64_MSR, 0);
	if (rc < 0)
		return rc;
	rc = hv_call_install_intercept(&mv->hc, HV_INTERCEPT_ACCESS_MASK_READ,
				       HV_INTERCEPT_TYPE_X64_CPUID, GUEST_CPUID_VENDOR_LEAF);
	if (rc < 0)
		return rc;
	return hv_call_install_intercept(&mv->hc, HV_INTERCEPT_ACCESS_MASK_EXECUTE,
					 HV_INTERCEPT_TYPE_HYPERCALL, 0);
}

static void init_device(struct mv *mv)
{
	for (unsigned off = 0; off < GUEST_MMIO_SIZE; off += 4) {
		uint32_t v = (uint32_t)(GUEST_MMIO_BASE + off) ^ GUEST_MMIO_PATTERN;
		memcpy(mv->dev + off, &v, 4);
	}
}

__attribute__((format(printf, 3, 4)))
static int setup_error(struct mini_vtl2_result *res, int rc, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(res->error, sizeof(res->error), fmt, ap);
	va_end(ap);
	res->outcome = MINI_VTL2_ERROR;
	return rc;
}

static double now_seconds(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

int mini_vtl2_run(const struct mini_vtl2_config *cfg, struct mini_vtl2_result *res)
{
	memset(res, 0, sizeof(*res));
	if (!cfg || cfg->mem_size == 0 || (cfg->mem_size & (ADDR_PAGE_SIZE - 1)))
		return setup_error(res, -EINVAL, "bad configuration (memory size)");
	struct mv *mv = calloc(1, sizeof(*mv));
	if (!mv)
		return setup_error(res, -ENOMEM, "out of memory");
	mv->cfg = cfg;
	mv->res = res;
	mv->serial = cfg->serial_out ? cfg->serial_out : stdout;
	mv->trace = cfg->trace_out ? cfg->trace_out : stderr;
	mv->ram_size = cfg->mem_size;
	init_device(mv);
	pthread_mutex_init(&mv->lock, NULL);
	pthread_mutex_init(&mv->out_lock, NULL);
	pthread_condattr_t ca;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&mv->cond, &ca);
	pthread_condattr_destroy(&ca);
	atomic_init(&mv->stop, false);

	double t0 = now_seconds();
	struct kif_params params = { .dev_dir = NULL, .run_layout = KIF_RUN_UPSTREAM };
	int rc = kif_open(&params, &mv->kif);
	if (rc < 0) {
		setup_error(res, rc, "kif_open: %s", strerror(-rc));
		goto out;
	}
	mv->hc = (struct hv_call_ctx){ .xfer = kif_xfer, .ctx = mv->kif };
	mv->vp_count = kif_vp_count(mv->kif);
	if (mv->vp_count == 0 || mv->vp_count > MV_MAX_VPS) {
		rc = setup_error(res, -EINVAL, "unsupported VP count %u", mv->vp_count);
		goto out;
	}
	void *ram = NULL;
	rc = kif_vtl0_map(mv->kif, gpa(0), mv->ram_size, &ram);
	if (rc < 0) {
		setup_error(res, rc, "kif_vtl0_map(0, 0x%" PRIx64 "): %s", mv->ram_size, strerror(-rc));
		goto out;
	}
	mv->ram = ram;
	rc = install_intercepts(mv);
	if (rc < 0) {
		setup_error(res, rc, "InstallIntercept: %s", strerror(-rc));
		goto out;
	}
	mv->vps = calloc(mv->vp_count, sizeof(*mv->vps));
	if (!mv->vps) {
		rc = setup_error(res, -ENOMEM, "out of memory");
		goto out;
	}
	if (cfg->timeout_ms) {
		clock_gettime(CLOCK_MONOTONIC, &mv->deadline);
		timespec_add_ms(&mv->deadline, cfg->timeout_ms);
	}
	if (pthread_create(&mv->timer_thread, NULL, timer_thread, mv) == 0)
		mv->timer_started = true;
	else
		rc = setup_error(res, -EAGAIN, "cannot create the timer thread");
	for (uint32_t i = 0; rc == 0 && i < mv->vp_count; i++) {
		struct mv_vp *v = &mv->vps[i];
		v->mv = mv;
		v->index = i;
		if (pthread_create(&v->thread, NULL, vp_thread, v) != 0) {
			fatal(mv, "cannot create the thread of vp%u", i);
			break;
		}
		atomic_store(&v->started, true);
	}
	/* A stop requested while threads were still being created may have missed some VPs. */
	if (atomic_load(&mv->stop))
		stop_all(mv);
	for (uint32_t i = 0; i < mv->vp_count; i++)
		if (atomic_load(&mv->vps[i].started))
			pthread_join(mv->vps[i].thread, NULL);
	stop_all(mv);
	if (mv->timer_started)
		pthread_join(mv->timer_thread, NULL);
	if (rc == 0 && !mv->result_set) {
		/* Every VP thread ended without an exit or an error: cannot happen by design. */
		res->outcome = MINI_VTL2_ERROR;
		snprintf(res->error, sizeof(res->error), "all VPs stopped without a result");
	}
	rc = rc < 0 ? rc : 0;
out:
	res->wall_seconds = now_seconds() - t0;
	for (unsigned k = 0; k < MINI_VTL2_KIND_COUNT; k++)
		res->exits[k] = atomic_load(&mv->exits[k]);
	res->serial_bytes = atomic_load(&mv->serial_bytes);
	res->vtlprot_hits = mv->prot_hits;
	fflush(mv->serial);
	if (mv->ram)
		kif_vtl0_unmap(mv->kif, mv->ram, mv->ram_size);
	kif_close(mv->kif);
	free(mv->vps);
	pthread_cond_destroy(&mv->cond);
	pthread_mutex_destroy(&mv->lock);
	pthread_mutex_destroy(&mv->out_lock);
	free(mv);
	return rc;
}
