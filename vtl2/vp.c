/*
 * vp: one VP's run loop and the exit handlers (module of partition; see partition.h).
 *
 *   loop { kif_vp_run; hv_exit_decode (one copy of the shared message, validated);
 *          exit_table[kind](vp, exit) -> VP_CONTINUE / VP_STOP / VP_FATAL }
 *
 * Completion goes only through vtl2/vpreg (GPRs to the run page's context, RIP/RFLAGS/RSP to
 * the register page when the kernel offers it, other private registers by hypercall). MMIO and string I/O are executed by the arch/x86_64
 * emulator with VTL0 memory reached through VTL0's own page tables (gmem) and devices through
 * the I/O bus. Everything in an exit is VTL0's doing: a handler answers it architecturally
 * (a fault injected, all-ones read, write dropped) and only stops the VM for what no
 * architecture defines an answer to (triple fault, reset, all VPs halted for good).
 */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <string.h>

#include "arch/x86_64/x86_emu.h"
#include "arch/x86_64/x86_pagewalk.h"
#include "hvcall/hv.h"
#include "hvcall/hv_call.h"
#include "hvcall/hv_exit.h"
#include "hvcall/mshv_abi.h"
#include "vtl2/cpuid.h"
#include "vtl2/msr.h"
#include "vtl2/partition_priv.h"
#include "vtl2/vpreg.h"

enum vp_verdict {
	VP_CONTINUE = 0,
	VP_STOP,     /* the VM is stopping (a reason has been recorded) */
	VP_FATAL,    /* the paravisor cannot go on: record an error and stop */
};

/* REP string chunk per exit: small enough that a hostile RCX keeps the VP responsive. */
#define VP_REP_CHUNK 4096u

static void count(struct vp *v, enum partition_exit k)
{
	atomic_fetch_add_explicit(&v->p->exits[k], 1, memory_order_relaxed);
}

__attribute__((format(printf, 2, 3)))
static enum vp_verdict fatal(struct vp *v, const char *fmt, ...)
{
	char msg[200];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	partition_finish(v->p, PARTITION_ERROR, 0, v->index, "vp%u: %s", v->index, msg);
	return VP_FATAL;
}

/* ---- registers ---- */

static int set_regs(struct vp *v, const uint32_t *names, const union hv_register_value *vals,
		    size_t n)
{
	return vpreg_set(v->p->kif, v->index, names, vals, n);
}

/* Complete an intercepted instruction: RIP past it, optionally with GPR results. */
static enum vp_verdict complete(struct vp *v, const struct hv_exit *e, const uint32_t *names,
				const uint64_t *values, size_t n)
{
	unsigned len = hv_exit_insn_len(e);
	if (len == 0)
		return fatal(v, "intercept 0x%x without instruction length", e->message_type);
	int rc = vpreg_complete(v->p->kif, v->index, &v->pages, names, values, n,
				e->u.header.rip + len);
	return rc < 0 ? fatal(v, "completing the intercept: %s", strerror(-rc)) : VP_CONTINUE;
}

/* Exceptions that push an error code (SDM 6.3.1). */
static bool has_error_code(uint8_t vector)
{
	return vector == 8 || (vector >= 10 && vector <= 14) || vector == 17 || vector == 21;
}

static enum vp_verdict inject(struct vp *v, uint8_t vector, uint32_t error, uint64_t cr2)
{
	static const uint32_t name = HV_REGISTER_PENDING_EVENT0;
	union hv_register_value val =
		hv_pending_exception_make(vector, has_error_code(vector), error, cr2);
	int rc = set_regs(v, &name, &val, 1);
	if (rc < 0)
		return fatal(v, "inject exception %u: %s", vector, strerror(-rc));
	atomic_fetch_add_explicit(&v->p->injected, 1, memory_order_relaxed);
	partition_trace(v, "inject exception %u error 0x%x param 0x%" PRIx64, vector, error, cr2);
	return VP_CONTINUE;
}

/* ---- the bus ---- */

static void note_action(struct vp *v, enum iobus_action act)
{
	if (act == IOBUS_NOT_MINE)
		atomic_fetch_add_explicit(&v->p->unclaimed, 1, memory_order_relaxed);
	else if (act == IOBUS_BAD_REGISTER)
		atomic_fetch_add_explicit(&v->p->bad_accesses, 1, memory_order_relaxed);
}

static const char *range_name(struct vp *v, enum iobus_space s, uint64_t addr)
{
	const struct iobus_range *r = iobus_find(v->p->bus, &v->hint, s, addr);
	return r ? r->name : "nobody";
}

static uint64_t pio(struct vp *v, uint16_t port, unsigned size, bool write, uint64_t value)
{
	const struct iobus_access a = { .vp = v->index };
	enum iobus_action act;
	if (write)
		act = iobus_write(v->p->bus, &v->hint, IOBUS_PIO, port, size, &a, value);
	else
		act = iobus_read(v->p->bus, &v->hint, IOBUS_PIO, port, size, &a, &value);
	note_action(v, act);
	partition_trace(v, "io %s port 0x%x size %u value 0x%" PRIx64 " -> %s %s",
				write ? "out" : "in", port, size, value,
				range_name(v, IOBUS_PIO, port), iobus_action_name(act));
	return value;
}

/*
 * Unclaimed MMIO goes to the host (HvCallMemoryMappedIoRead/Write) while the hypervisor takes
 * it; once it refuses (the call is not allowed or not implemented) the paravisor stops asking
 * and answers like an empty bus, so a hostile VTL0 cannot turn every access into a hypercall.
 */
static bool mmio_to_host(struct vp *v, uint64_t at, void *buf, unsigned size, bool write)
{
	if (!atomic_load_explicit(&v->p->mmio_to_host, memory_order_relaxed))
		return false;
	int rc = write ? hv_call_mmio_write(&v->p->hc, gpa(at), buf, size)
		       : hv_call_mmio_read(&v->p->hc, gpa(at), buf, size);
	if (rc == -EPERM || rc == -EOPNOTSUPP) {
		atomic_store(&v->p->mmio_to_host, false);
		partition_log(v->p, "the hypervisor does not forward MMIO (%s): unclaimed MMIO "
			      "reads all-ones from now on", strerror(-rc));
	}
	return rc == 0;
}

/* MMIO to the bus; unclaimed accesses to the host where it forwards them. */
static void mmio(struct vp *v, uint64_t at, void *buf, unsigned size, bool write)
{
	const struct iobus_access a = { .vp = v->index };
	uint64_t val = 0;
	enum iobus_action act;
	if (write) {
		memcpy(&val, buf, size);
		act = iobus_write(v->p->bus, &v->hint, IOBUS_MMIO, at, size, &a, val);
	} else {
		act = iobus_read(v->p->bus, &v->hint, IOBUS_MMIO, at, size, &a, &val);
	}
	if (act == IOBUS_NOT_MINE && mmio_to_host(v, at, write ? buf : (void *)&val, size, write))
		act = IOBUS_OK;
	if (!write)
		memcpy(buf, &val, size);
	note_action(v, act);
	partition_trace(v, "mmio %s gpa 0x%" PRIx64 " size %u value 0x%" PRIx64 " -> %s %s",
			write ? "write" : "read", at, size, val, range_name(v, IOBUS_MMIO, at),
			iobus_action_name(act));
}

/* Split an MMIO chunk into naturally aligned bus accesses of at most 8 bytes. */
static void mmio_chunk(struct vp *v, uint64_t at, uint8_t *buf, unsigned size, bool write)
{
	while (size) {
		unsigned n = 8;
		while (n > size || (at & (n - 1)))
			n >>= 1;
		mmio(v, at, buf, n, write);
		at += n;
		buf += n;
		size -= n;
	}
}

/* ---- the emulator's view of VTL0 ---- */

struct emu_ctx {
	struct vp *v;
	struct x86_pw_regs pw;
	unsigned cpl;
	/* The intercept's own translation (GVA page -> GPA page) for accesses of the intercepted
	   kind: the hypervisor walked VTL0's tables for exactly that access already. */
	bool hint;
	bool hint_write;
	uint64_t hint_gva, hint_gpa;
	bool xmm;            /* XMM registers were loaded (SSE forms): write back changes */
};

/* One access within a page at guest-physical `at`. */
static void phys_access(struct emu_ctx *ec, uint64_t at, uint8_t *buf, unsigned size, bool write)
{
	struct vp *v = ec->v;
	uint8_t *host = NULL;
	switch (gmem_lookup(&v->p->mem, gpa(at), size, &host)) {
	case GMEM_RAM:
		if (write)
			memcpy(host, buf, size);
		else
			memcpy(buf, host, size);
		return;
	case GMEM_READONLY:
		/* VTL0 may read but not write it: a write is dropped on VTL0's behalf. */
		if (!write)
			memcpy(buf, host, size);
		else
			partition_trace(v, "write to protected gpa 0x%" PRIx64 " size %u dropped", at,
					size);
		return;
	case GMEM_PRIVATE:
		/* VTL2's memory: VTL0 sees nothing of it. */
		if (!write)
			memset(buf, 0xFF, size);
		return;
	case GMEM_NONE:
		break;
	}
	mmio_chunk(v, at, buf, size, write);
}

/* Translate one linear page for the emulator: the intercept's own translation when it is
   for this page and access kind, else a walk of VTL0's tables. 0, or -EFAULT with *fault. */
static int translate(struct emu_ctx *ec, gva_t la, unsigned access, bool write, uint64_t *gpa_out,
		     struct x86_emu_fault *fault)
{
	if (ec->hint && (la.v & ~(ADDR_PAGE_SIZE - 1)) == ec->hint_gva &&
	    write == ec->hint_write && !(access & X86_PW_FETCH)) {
		*gpa_out = ec->hint_gpa | (la.v & (ADDR_PAGE_SIZE - 1));
		return 0;
	}
	struct x86_pw_result r;
	unsigned acc = access | (ec->cpl == 3 ? X86_PW_USER : 0);
	int rc = x86_pw_translate(&ec->pw, la, acc, &gmem_pw_ops, &ec->v->p->mem, &r);
	if (rc == -EFAULT && r.fault) {
		*fault = (struct x86_emu_fault){ .vector = X86_EXC_PF, .has_error_code = true,
						 .error_code = r.pf_error, .cr2 = la.v };
		return -EFAULT;
	}
	if (rc == -EINVAL || rc == -EFAULT) {
		/* Non-canonical, or page tables outside RAM (hardware would read all-ones or take
		   a machine check): #GP(0) keeps VTL0 alive and the paravisor sane. */
		*fault = (struct x86_emu_fault){ .vector = X86_EXC_GP, .has_error_code = true };
		return -EFAULT;
	}
	if (rc < 0)
		return rc;
	*gpa_out = r.gpa.v;
	return 0;
}

static int linear_access(struct emu_ctx *ec, gva_t la, uint8_t *p, unsigned size,
			 unsigned access, bool write, struct x86_emu_fault *fault)
{
	while (size) {
		unsigned chunk = (unsigned)(ADDR_PAGE_SIZE - (la.v & (ADDR_PAGE_SIZE - 1)));
		if (chunk > size)
			chunk = size;
		uint64_t at;
		int rc = translate(ec, la, access, write, &at, fault);
		if (rc < 0)
			return rc;
		phys_access(ec, at, p, chunk, write);
		p += chunk;
		la = gva_add(la, chunk);
		size -= chunk;
	}
	return 0;
}

static int emu_read(void *ctx, gva_t la, void *buf, unsigned size, enum x86_emu_access kind,
		    struct x86_emu_fault *fault)
{
	unsigned acc = kind == X86_EMU_FETCH ? X86_PW_FETCH :
		       kind == X86_EMU_WRITE ? X86_PW_WRITE : X86_PW_READ;
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
	*value = (uint32_t)pio(ec->v, port, size, false, 0);
	return 0;
}

static int emu_out(void *ctx, uint16_t port, unsigned size, uint32_t value,
		   struct x86_emu_fault *fault)
{
	struct emu_ctx *ec = ctx;
	(void)fault;
	pio(ec->v, port, size, true, value);
	return 0;
}

/* LOCKed forms use read + write (cmpxchg NULL): only MMIO-touching instructions get here. */
static const struct x86_emu_ops emu_ops = {
	.read = emu_read,
	.write = emu_write,
	.cmpxchg = NULL,
	.io_in = emu_in,
	.io_out = emu_out,
};

/* The private registers the emulator reads: from the register page when it is valid, else
   one HvGetVpRegisters. GPRs come from the context in bulk, XMM only for SSE forms. */
enum {
	R_RSP = 0,
	R_RFLAGS,
	R_CR0, R_CR3, R_CR4, R_EFER,
	R_SEG0,
	EMU_REG_COUNT = R_SEG0 + X86_SEG_COUNT
};

static const uint32_t emu_reg_names[EMU_REG_COUNT] = {
	[R_RSP] = HV_X64_REGISTER_RSP,
	[R_RFLAGS] = HV_X64_REGISTER_RFLAGS,
	[R_CR0] = HV_X64_REGISTER_CR0,
	[R_CR3] = HV_X64_REGISTER_CR3,
	[R_CR4] = HV_X64_REGISTER_CR4,
	[R_EFER] = HV_X64_REGISTER_EFER,
	[R_SEG0 + X86_ES] = HV_X64_REGISTER_ES,
	[R_SEG0 + X86_CS] = HV_X64_REGISTER_CS,
	[R_SEG0 + X86_SS] = HV_X64_REGISTER_SS,
	[R_SEG0 + X86_DS] = HV_X64_REGISTER_DS,
	[R_SEG0 + X86_FS] = HV_X64_REGISTER_FS,
	[R_SEG0 + X86_GS] = HV_X64_REGISTER_GS,
};

/* Does the instruction (as far as the bytes show) touch XMM registers? Unknown: yes. */
static bool needs_xmm(const uint8_t *bytes, unsigned n)
{
	struct x86_insn insn;
	if (x86_decode(bytes, n, X86_MODE_64, &insn) <= 0)
		return true;
	return insn.opcode_map != 0 || insn.vex || insn.opsize == 16;
}

static int load_cpu(struct vp *v, const struct hv_exit *e, const uint8_t *bytes, unsigned n,
		    struct x86_emu_cpu *cpu, struct emu_ctx *ec)
{
	union hv_register_value r[EMU_REG_COUNT];
	memset(cpu, 0, sizeof(*cpu));
	int rc = vpreg_get_gprs(v->p->kif, v->index, cpu->gpr);
	if (rc == 0)
		rc = vpreg_get(v->p->kif, v->index, emu_reg_names, r, EMU_REG_COUNT);
	bool xmm = rc == 0 && needs_xmm(bytes, n);
	if (xmm) {
		uint32_t names[16];
		union hv_register_value x[16];
		for (unsigned i = 0; i < 16; i++)
			names[i] = HV_X64_REGISTER_XMM0 + i;
		rc = vpreg_get(v->p->kif, v->index, names, x, 16);
		for (unsigned i = 0; rc == 0 && i < 16; i++)
			memcpy(cpu->xmm[i], &x[i], 16);
	}
	if (rc < 0)
		return rc;
	cpu->gpr[X86_RSP] = r[R_RSP].reg64;
	cpu->rip = e->u.header.rip;
	cpu->rflags = r[R_RFLAGS].reg64;
	cpu->cr0 = r[R_CR0].reg64;
	cpu->cr4 = r[R_CR4].reg64;
	cpu->efer = r[R_EFER].reg64;
	for (unsigned s = 0; s < X86_SEG_COUNT; s++) {
		const struct hv_x64_segment_register *sr = &r[R_SEG0 + s].segment;
		cpu->seg[s] = (struct x86_segment){ sr->base, sr->limit, sr->selector,
						    sr->attributes };
	}
	cpu->cpl = hv_exit_cpl(e);
	*ec = (struct emu_ctx){
		.v = v,
		.pw = { .cr0 = cpu->cr0, .cr3 = r[R_CR3].reg64, .cr4 = cpu->cr4,
			.efer = cpu->efer, .rflags = cpu->rflags },
		.cpl = cpu->cpl,
		.xmm = xmm,
	};
	if (e->kind == HV_EXIT_MEMORY && (e->u.memory.memory_access_info & HV_X64_MEM_ACCESS_GVA_VALID) &&
	    e->u.header.intercept_access_type != HV_INTERCEPT_ACCESS_EXECUTE) {
		ec->hint = true;
		ec->hint_write = e->u.header.intercept_access_type == HV_INTERCEPT_ACCESS_WRITE;
		ec->hint_gva = e->u.memory.guest_virtual_address & ~(ADDR_PAGE_SIZE - 1);
		ec->hint_gpa = e->u.memory.guest_physical_address & ~(ADDR_PAGE_SIZE - 1);
	}
	return 0;
}

/* Write back what the instruction changed: one vpreg_set. */
static int store_cpu(struct vp *v, const struct x86_emu_cpu *old, const struct x86_emu_cpu *cpu,
		     bool xmm)
{
	uint32_t names[X86_GPR_COUNT + 16 + 2];
	union hv_register_value vals[X86_GPR_COUNT + 16 + 2];
	size_t n = 0;
	for (unsigned i = 0; i < X86_GPR_COUNT; i++) {
		if (cpu->gpr[i] == old->gpr[i])
			continue;
		names[n] = HV_X64_REGISTER_RAX + i;
		vals[n++] = (union hv_register_value){ .reg64 = cpu->gpr[i] };
	}
	for (unsigned i = 0; xmm && i < 16; i++) {
		if (!memcmp(cpu->xmm[i], old->xmm[i], 16))
			continue;
		names[n] = HV_X64_REGISTER_XMM0 + i;
		memset(&vals[n], 0, sizeof(vals[n]));
		memcpy(&vals[n++], cpu->xmm[i], 16);
	}
	if (cpu->rflags != old->rflags) {
		names[n] = HV_X64_REGISTER_RFLAGS;
		vals[n++] = (union hv_register_value){ .reg64 = cpu->rflags };
	}
	names[n] = HV_X64_REGISTER_RIP;
	vals[n++] = (union hv_register_value){ .reg64 = cpu->rip };
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

/* Emulate the intercepted instruction (MMIO, string I/O, GPA intercept) and complete it. */
static enum vp_verdict emulate(struct vp *v, const struct hv_exit *e, const uint8_t *bytes,
			       unsigned nbytes, const char *what)
{
	struct x86_emu_cpu cpu, old;
	struct emu_ctx ec;
	int rc = load_cpu(v, e, bytes, nbytes, &cpu, &ec);
	if (rc < 0)
		return fatal(v, "GetVpRegisters for %s emulation: %s", what, strerror(-rc));
	old = cpu;
	struct x86_emu_fault fault = { 0 };
	enum x86_emu_result er = x86_emu_step_rep(&cpu, bytes, nbytes, &emu_ops, &ec, &fault,
						  VP_REP_CHUNK);
	switch (er) {
	case X86_EMU_OK:
		break;
	case X86_EMU_FAULT:
		return inject(v, fault.vector, fault.error_code, fault.cr2);
	case X86_EMU_UNSUPPORTED:
	case X86_EMU_ERROR:
		/* A valid instruction the emulator does not execute touched a device: VTL0 gets
		   #UD (the instruction cannot complete), the paravisor goes on. */
		partition_log(v->p, "vp%u: %s at rip 0x%" PRIx64 ": %s, #UD injected", v->index,
			      what, e->u.header.rip, emu_result_name(er));
		return inject(v, X86_EXC_UD, 0, 0);
	}
	if (atomic_load(&v->p->stop))
		return VP_STOP; /* e.g. an emulated OUT hit the exit or reset port */
	rc = store_cpu(v, &old, &cpu, ec.xmm);
	return rc < 0 ? fatal(v, "SetVpRegisters after %s emulation: %s", what, strerror(-rc))
		      : VP_CONTINUE;
}

/* ---- exit handlers ---- */

typedef enum vp_verdict (*exit_fn)(struct vp *v, const struct hv_exit *e);

static enum vp_verdict on_io(struct vp *v, const struct hv_exit *e)
{
	const struct hv_x64_io_port_intercept_message *io = &e->u.io;
	unsigned size = hv_exit_io_size(e);
	bool write = hv_exit_io_is_write(e);
	if (hv_exit_io_is_string(e)) {
		count(v, PARTITION_EXIT_STRING_IO);
		partition_trace(v, "io %s%s port 0x%x size %u rcx 0x%" PRIx64 " rip 0x%" PRIx64,
				hv_exit_io_is_rep(e) ? "rep " : "", write ? "outs" : "ins",
				io->port_number, size, io->rcx, e->u.header.rip);
		return emulate(v, e, io->instruction_bytes, io->instruction_byte_count,
			       "string I/O");
	}
	count(v, PARTITION_EXIT_IO);
	uint64_t mask = iobus_ones(size);
	if (write) {
		pio(v, io->port_number, size, true, io->rax & mask);
		if (atomic_load(&v->p->stop))
			return VP_STOP;
		return complete(v, e, NULL, NULL, 0);
	}
	uint64_t val = pio(v, io->port_number, size, false, 0);
	/* 8/16-bit IN keeps the rest of RAX; 32-bit zero-extends (SDM "IN"). */
	uint64_t rax = size == 4 ? (val & mask) : ((io->rax & ~mask) | (val & mask));
	static const uint32_t rax_name = HV_X64_REGISTER_RAX;
	return complete(v, e, &rax_name, &rax, 1);
}

static enum vp_verdict on_memory(struct vp *v, const struct hv_exit *e)
{
	const struct hv_x64_memory_intercept_message *m = &e->u.memory;
	unsigned access = e->u.header.intercept_access_type;
	static const char *const access_name[] = { "read", "write", "execute" };
	switch (e->memory_kind) {
	case HV_EXIT_MEMORY_GPA_INTERCEPT:
		count(v, PARTITION_EXIT_GPA);
		atomic_fetch_add_explicit(&v->p->gpa_hits, 1, memory_order_relaxed);
		partition_trace(v, "vtl protection intercept: %s gpa 0x%" PRIx64 " gva 0x%" PRIx64
				" rip 0x%" PRIx64, access_name[access % 3],
				m->guest_physical_address, m->guest_virtual_address,
				e->u.header.rip);
		break;
	case HV_EXIT_MEMORY_UNMAPPED_GPA:
		count(v, PARTITION_EXIT_MMIO);
		break;
	case HV_EXIT_MEMORY_UNACCEPTED_GPA:
		count(v, PARTITION_EXIT_OTHER);
		/* Isolated VMs only: VTL0 touched memory nobody accepted. #GP keeps it contained. */
		partition_log(v->p, "vp%u: unaccepted gpa 0x%" PRIx64 " at rip 0x%" PRIx64
			      ": #GP", v->index, m->guest_physical_address, e->u.header.rip);
		return inject(v, X86_EXC_GP, 0, 0);
	}
	if (access == HV_INTERCEPT_ACCESS_EXECUTE) {
		/* Code fetched from MMIO, unbacked or VTL2 memory: what the CPU would fetch there
		   is all-ones, FF FF decodes as an invalid FF /7: #UD. */
		partition_log(v->p, "vp%u: instruction fetch from gpa 0x%" PRIx64 " (rip 0x%"
			      PRIx64 "): #UD", v->index, m->guest_physical_address,
			      e->u.header.rip);
		return inject(v, X86_EXC_UD, 0, 0);
	}
	return emulate(v, e, m->instruction_bytes, m->instruction_byte_count,
		       e->memory_kind == HV_EXIT_MEMORY_UNMAPPED_GPA ? "MMIO" : "protected access");
}

static enum vp_verdict on_msr(struct vp *v, const struct hv_exit *e)
{
	const struct hv_x64_msr_intercept_message *m = &e->u.msr;
	bool write = e->u.header.intercept_access_type == HV_INTERCEPT_ACCESS_WRITE;
	const struct iobus_access a = { .vp = v->index };
	count(v, PARTITION_EXIT_MSR);
	uint64_t val = write ? hv_exit_msr_value(e) : 0;
	enum iobus_action act = write ? iobus_write(v->p->bus, &v->hint, IOBUS_MSR, m->msr_number,
						     8, &a, val)
				      : iobus_read(v->p->bus, &v->hint, IOBUS_MSR, m->msr_number, 8,
						   &a, &val);
	int rc = act == IOBUS_OK ? 0 : -EPERM;
	if (act == IOBUS_BAD_REGISTER)
		note_action(v, act); /* counted like PIO/MMIO (partition_result.bad_accesses) */
	if (act == IOBUS_NOT_MINE)
		rc = write ? msr_write(v->p->vp_count, m->msr_number, val)
			   : msr_read(v->p->vp_count, m->msr_number, &val);
	partition_trace(v, "%smsr 0x%x value 0x%" PRIx64 " -> %s", write ? "wr" : "rd",
			m->msr_number, val, rc == 0 ? "ok" : "#GP");
	if (rc < 0)
		return inject(v, X86_EXC_GP, 0, 0);
	if (write)
		return complete(v, e, NULL, NULL, 0);
	static const uint32_t names[2] = { HV_X64_REGISTER_RAX, HV_X64_REGISTER_RDX };
	const uint64_t vals[2] = { (uint32_t)val, val >> 32 };
	return complete(v, e, names, vals, 2);
}

static enum vp_verdict on_cpuid(struct vp *v, const struct hv_exit *e)
{
	const struct hv_x64_cpuid_intercept_message *c = &e->u.cpuid;
	count(v, PARTITION_EXIT_CPUID);
	uint32_t leaf = (uint32_t)c->rax, sub = (uint32_t)c->rcx;
	uint32_t r[4] = { (uint32_t)c->default_result_rax, (uint32_t)c->default_result_rbx,
			  (uint32_t)c->default_result_rcx, (uint32_t)c->default_result_rdx };
	cpuid_apply(v->index, v->p->vp_count, leaf, sub, r);
	partition_trace(v, "cpuid leaf 0x%x sub 0x%x -> %08x %08x %08x %08x", leaf, sub, r[0],
			r[1], r[2], r[3]);
	static const uint32_t names[4] = { HV_X64_REGISTER_RAX, HV_X64_REGISTER_RBX,
					   HV_X64_REGISTER_RCX, HV_X64_REGISTER_RDX };
	const uint64_t vals[4] = { r[0], r[1], r[2], r[3] };
	return complete(v, e, names, vals, 4);
}

/*
 * VTL0's HvPostMessage (0x5C, memory input: u32 connection id, u32 reserved, u32 message type,
 * u32 payload size, 240 bytes payload) and HvSignalEvent (0x5D, fast: RDX = connection id |
 * flag number << 32; or the same 8 bytes in memory) to connection ids a device registered on
 * the bus (VMBus). The input is copied out of VTL0 memory once, then checked.
 */
static int synic_call(struct vp *v, const struct hv_x64_hypercall_intercept_message *h,
		      uint16_t code)
{
	bool fast = h->rcx & HV_HYPERCALL_FAST_BIT;
	if (h->rcx & (HV_HYPERCALL_VARHEAD_MASK | HV_HYPERCALL_REP_COUNT_MASK |
		      HV_HYPERCALL_REP_START_MASK))
		return -EBADMSG;
	uint8_t in[256];
	unsigned need = code == HVCALL_POST_MESSAGE ? 256 : 8;
	if (fast) {
		if (code != HVCALL_SIGNAL_EVENT)
			return -EBADMSG; /* register input is only defined for the 8-byte form */
		memcpy(in, &h->rdx, 8);
	} else {
		uint64_t g = h->rdx;
		if ((g & 7) || (g & (ADDR_PAGE_SIZE - 1)) + need > ADDR_PAGE_SIZE)
			return -EFAULT;
		uint8_t *host = NULL;
		enum gmem_kind k = gmem_lookup(&v->p->mem, gpa(g), need, &host);
		if (k != GMEM_RAM && k != GMEM_READONLY)
			return -EACCES;
		memcpy(in, host, need);
	}
	uint32_t conn, type, len;
	memcpy(&conn, in, 4);
	struct iobus_access a = { .vp = v->index };
	if (code == HVCALL_SIGNAL_EVENT) {
		uint16_t flag, rsvd;
		memcpy(&flag, in + 4, 2);
		memcpy(&rsvd, in + 6, 2);
		if (rsvd || flag >= 2048)
			return -EINVAL;
		return iobus_signal_event(v->p->bus, &a, conn & 0xFFFFFF, flag);
	}
	uint32_t rsvd;
	memcpy(&rsvd, in + 4, 4);
	memcpy(&type, in + 8, 4);
	memcpy(&len, in + 12, 4);
	/* Message types with the high bit are the hypervisor's own. */
	if (rsvd || type == 0 || (type & 0x80000000u) || len > HV_MESSAGE_PAYLOAD_SIZE)
		return -EINVAL;
	return iobus_post_message(v->p->bus, &a, conn & 0xFFFFFF, type, in + 16, len);
}

static enum vp_verdict on_hypercall(struct vp *v, const struct hv_exit *e)
{
	const struct hv_x64_hypercall_intercept_message *h = &e->u.hypercall;
	count(v, PARTITION_EXIT_HYPERCALL);
	uint16_t code = (uint16_t)(h->rcx & HV_HYPERCALL_CODE_MASK);
	uint64_t result;
	if (code == HVCALL_POST_MESSAGE || code == HVCALL_SIGNAL_EVENT) {
		int rc = synic_call(v, h, code);
		result = hv_result_synic_call(rc);
		partition_trace(v, "hypercall %s -> %d", code == HVCALL_POST_MESSAGE ?
				"post message" : "signal event", rc);
	} else {
		/* Every other code is unknown to this hypervisor: the TLFS answer for it. */
		result = hv_result_from_errno(-EOPNOTSUPP);
		partition_trace(v, "hypercall code 0x%x -> unsupported", code);
	}
	static const uint32_t rax = HV_X64_REGISTER_RAX;
	int rc = vpreg_complete(v->p->kif, v->index, &v->pages, &rax, &result, 1,
				e->u.header.rip + HV_HYPERCALL_INSN_LEN);
	return rc < 0 ? fatal(v, "completing the hypercall: %s", strerror(-rc)) : VP_CONTINUE;
}

static enum vp_verdict on_halt(struct vp *v, const struct hv_exit *e)
{
	count(v, PARTITION_EXIT_HALT);
	partition_trace(v, "halt at rip 0x%" PRIx64 " rflags 0x%" PRIx64, e->u.header.rip,
			e->u.header.rflags);
	/* HLT with IF=1 is the hypervisor's to model (it waits for an interrupt); if the message
	   comes anyway, resume and let it halt the VP. */
	if (e->u.header.rflags & X86_FLAG_IF)
		return VP_CONTINUE;
	/* HLT with IF=0: only NMI/INIT wake it and none is sent, so the VP is parked; when the
	   last VP parks, nothing can ever run again: stop the VM. */
	if (!partition_park(v->p)) {
		partition_finish(v->p, PARTITION_ALL_HALTED, 0, v->index,
				 "every VP is halted with interrupts disabled (last: vp%u at rip 0x%"
				 PRIx64 ")", v->index, e->u.header.rip);
	}
	return VP_STOP;
}

static enum vp_verdict on_exception(struct vp *v, const struct hv_exit *e)
{
	const struct hv_x64_exception_intercept_message *x = &e->u.exception;
	count(v, PARTITION_EXIT_EXCEPTION);
	/* The paravisor installs no exception intercepts of its own: give it back to VTL0. */
	partition_trace(v, "exception %u error 0x%x at rip 0x%" PRIx64 ": reflected",
			x->exception_vector, x->error_code, e->u.header.rip);
	return inject(v, (uint8_t)x->exception_vector, x->error_code, x->exception_parameter);
}

static enum vp_verdict on_unrecoverable(struct vp *v, const struct hv_exit *e)
{
	count(v, PARTITION_EXIT_TRIPLE_FAULT);
	partition_finish(v->p, PARTITION_TRIPLE_FAULT, 0, v->index,
			 "vp%u: triple fault at rip 0x%" PRIx64, v->index, e->u.header.rip);
	return VP_STOP;
}

static enum vp_verdict on_apic_eoi(struct vp *v, const struct hv_exit *e)
{
	count(v, PARTITION_EXIT_APIC_EOI);
	uint8_t vector = (uint8_t)e->u.apic_eoi.interrupt_vector;
	partition_trace(v, "apic eoi vector 0x%x", vector);
	if (v->p->eoi.eoi)
		v->p->eoi.eoi(v->p->eoi.ctx, vector);
	return VP_CONTINUE;
}

static enum vp_verdict on_none(struct vp *v, const struct hv_exit *e)
{
	(void)e;
	partition_trace(v, "empty exit message");
	return VP_CONTINUE;
}

/* Decoded, but nothing the paravisor asked for: count, log, let VTL0 go on. */
static enum vp_verdict on_other(struct vp *v, const struct hv_exit *e)
{
	count(v, PARTITION_EXIT_OTHER);
	partition_log(v->p, "vp%u: unexpected exit %s (type 0x%x) ignored", v->index,
		      hv_exit_kind_str(e->kind), e->message_type);
	return VP_CONTINUE;
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
	[HV_EXIT_APIC_EOI] = on_apic_eoi,
	[HV_EXIT_REGISTER] = on_other,
	[HV_EXIT_SINT_DELIVERABLE] = on_other,
	[HV_EXIT_INTERRUPTION_DELIVERABLE] = on_other,
	[HV_EXIT_SIPI] = on_other,
	[HV_EXIT_INVALID_VP_REGISTER] = on_other,
	[HV_EXIT_TIMER] = on_other,
	[HV_EXIT_UNKNOWN] = on_other,
};

/*
 * Exits the paravisor leaves unanswered (unexpected kinds, malformed or empty messages) do not
 * move VTL0 on; if the same one comes back at the same RIP again and again, the hypervisor and
 * the paravisor would spin forever: stop with a message instead. Answered exits (completed or
 * with a fault injected) reset the count: a guest loop is the guest's business.
 */
static bool storm(struct vp *v, const struct hv_exit *e)
{
	uint64_t rip = e->has_header ? e->u.header.rip : 0;
	if (rip != v->storm_rip || e->message_type != v->storm_type) {
		v->storm_rip = rip;
		v->storm_type = e->message_type;
		v->storm_count = 0;
	}
	return ++v->storm_count >= VP_STORM_LIMIT;
}

/*
 * One exit, from the raw message to its completion. Not inlined: `make bench` counts the
 * paravisor's instructions per exit inside this function (callgrind --toggle-collect), with
 * the hypercall transport (the hypervisor's side) toggled off.
 */
__attribute__((noinline)) static enum vp_verdict vp_handle_exit(struct vp *v,
								 struct mshv_abi_run *run)
{
	struct partition *p = v->p;
	struct hv_exit e;
	int rc = hv_exit_decode(run->exit_message, sizeof(run->exit_message), &e);
	if (rc < 0 && rc != -ENOTSUP) {
		count(v, PARTITION_EXIT_OTHER);
		partition_log(p, "vp%u: malformed exit message (type 0x%x): %s", v->index,
			      e.message_type, strerror(-rc));
		return storm(v, &e) ? fatal(v, "malformed exit messages without progress")
				    : VP_CONTINUE;
	}
	exit_fn fn = (unsigned)e.kind < HV_EXIT_KIND_COUNT ? exit_table[e.kind] : NULL;
	if (!fn)
		fn = on_other;
	if (fn != on_other && fn != on_none) {
		v->storm_count = 0;
		return fn(v, &e);
	}
	if (storm(v, &e))
		return fatal(v, "exit %s (type 0x%x) repeats at rip 0x%" PRIx64 " without progress",
			     hv_exit_kind_str(e.kind), e.message_type, v->storm_rip);
	return fn(v, &e);
}

void *vp_main(void *arg)
{
	struct vp *v = arg;
	struct partition *p = v->p;
	int rc = kif_vp_bind(p->kif, v->index);
	if (rc < 0) {
		fatal(v, "kif_vp_bind: %s", strerror(-rc));
		return NULL;
	}
	struct mshv_abi_run *run = kif_vp_run_page(p->kif, v->index);
	if (!run || vpreg_pages_of(p->kif, v->index, &v->pages) < 0) {
		fatal(v, "no run page");
		return NULL;
	}
	if (p->cfg.kernel && v->index == 0) {
		rc = vtl0boot_apply(p->kif, v->index, &p->boot);
		if (rc < 0) {
			fatal(v, "setting the kernel's entry registers: %s", strerror(-rc));
			return NULL;
		}
		partition_trace(v, "VTL0 starts at the kernel entry 0x%" PRIx64 " (boot_params 0x%"
				PRIx64 ")", p->boot.regs.rip, p->boot.regs.rsi);
	}
	while (!atomic_load(&p->stop)) {
		rc = kif_vp_run(p->kif);
		if (rc == -EINTR) {
			count(v, PARTITION_EXIT_CANCEL);
			__atomic_store_n(&run->cancel, 0, __ATOMIC_SEQ_CST);
			continue; /* the loop condition sees a stop request */
		}
		if (rc < 0) {
			fatal(v, "kif_vp_run: %s", strerror(-rc));
			break;
		}
		if (vp_handle_exit(v, run) != VP_CONTINUE)
			break;
	}
	return NULL;
}
