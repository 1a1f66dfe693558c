/*
 * hvsim hypercalls made by VTL2 (through /dev/mshv_hvcall = hvsim_hvcall) and VTL0 register
 * access by HvRegisterName. Input layouts: hyperv-abi-facts 2.1 / 2.2; every field is checked
 * and bad input gets the HV_STATUS the hypervisor would give. Locking: hvsim_priv.h.
 */
#include "tools/hvsim/hvsim_hv.h"

#include <errno.h>
#include <string.h>

#include "arch/x86_64/x86_pagewalk.h"
#include "tools/hvsim/hvsim_priv.h"

#define HV_PAGE              4096u

static uint64_t g64(const uint8_t *p) { uint64_t v; memcpy(&v, p, 8); return v; }
static uint32_t g32(const uint8_t *p) { uint32_t v; memcpy(&v, p, 4); return v; }
static uint16_t g16(const uint8_t *p) { uint16_t v; memcpy(&v, p, 2); return v; }
static void s64(uint8_t *p, uint64_t v) { memcpy(p, &v, 8); }
static void s32(uint8_t *p, uint32_t v) { memcpy(p, &v, 4); }

static uint64_t rdu(struct hvsim_vp *vp, int reg)
{
	uint64_t v = 0;
	uc_reg_read(vp->uc, reg, &v);
	return v;
}

static int wru(struct hvsim_vp *vp, int reg, uint64_t v)
{
	return uc_reg_write(vp->uc, reg, &v) == UC_ERR_OK ? 0 : -1;
}

/* ---- registers by name ---- */

static int gpr_reg(uint32_t i)
{
	static const int r[16] = {
		UC_X86_REG_RAX, UC_X86_REG_RCX, UC_X86_REG_RDX, UC_X86_REG_RBX,
		UC_X86_REG_RSP, UC_X86_REG_RBP, UC_X86_REG_RSI, UC_X86_REG_RDI,
		UC_X86_REG_R8, UC_X86_REG_R9, UC_X86_REG_R10, UC_X86_REG_R11,
		UC_X86_REG_R12, UC_X86_REG_R13, UC_X86_REG_R14, UC_X86_REG_R15,
	};
	return r[i & 15];
}

static const int seg_regs[6] = { UC_X86_REG_ES, UC_X86_REG_CS, UC_X86_REG_SS,
				 UC_X86_REG_DS, UC_X86_REG_FS, UC_X86_REG_GS };

/* HvRegisterName of an MSR-backed register -> MSR index unicorn implements (0 = none). */
static uint32_t msr_of(uint32_t name)
{
	switch (name) {
	case HV_X64_REGISTER_TSC: return X86_MSR_TSC;
	case HV_X64_REGISTER_EFER: return X86_MSR_EFER;
	case HV_X64_REGISTER_KERNEL_GS_BASE: return X86_MSR_KERNEL_GS_BASE;
	case HV_X64_REGISTER_APIC_BASE: return X86_MSR_APIC_BASE;
	case HV_X64_REGISTER_PAT: return X86_MSR_PAT;
	case HV_X64_REGISTER_SYSENTER_CS: return X86_MSR_SYSENTER_CS;
	case HV_X64_REGISTER_SYSENTER_EIP: return X86_MSR_SYSENTER_EIP;
	case HV_X64_REGISTER_SYSENTER_ESP: return X86_MSR_SYSENTER_ESP;
	case HV_X64_REGISTER_STAR: return X86_MSR_STAR;
	case HV_X64_REGISTER_LSTAR: return X86_MSR_LSTAR;
	case HV_X64_REGISTER_CSTAR: return X86_MSR_CSTAR;
	case HV_X64_REGISTER_SFMASK: return X86_MSR_SFMASK;
	case HV_X64_REGISTER_TSC_AUX: return X86_MSR_TSC_AUX;
	default: return 0;
	}
}

/* HvRegisterName of an MTRR -> its MSR index (0 = not an MTRR name). */
static uint32_t mtrr_msr_of(uint32_t name)
{
	if (name == HV_X64_REGISTER_MSR_MTRR_DEF_TYPE)
		return X86_MSR_MTRR_DEF_TYPE;
	if (name >= HV_X64_REGISTER_MSR_MTRR_PHYS_BASE0 &&
	    name <= HV_X64_REGISTER_MSR_MTRR_PHYS_BASE7)
		return X86_MSR_MTRR_PHYS_BASE0 + 2 * (name - HV_X64_REGISTER_MSR_MTRR_PHYS_BASE0);
	if (name >= HV_X64_REGISTER_MSR_MTRR_PHYS_MASK0 &&
	    name <= HV_X64_REGISTER_MSR_MTRR_PHYS_MASK7)
		return X86_MSR_MTRR_PHYS_MASK0 + 2 * (name - HV_X64_REGISTER_MSR_MTRR_PHYS_MASK0);
	static const uint32_t fixed[11] = {
		X86_MSR_MTRR_FIX64K_00000, X86_MSR_MTRR_FIX16K_80000, X86_MSR_MTRR_FIX16K_A0000,
		X86_MSR_MTRR_FIX4K_C0000, X86_MSR_MTRR_FIX4K_C8000, X86_MSR_MTRR_FIX4K_D0000,
		X86_MSR_MTRR_FIX4K_D8000, X86_MSR_MTRR_FIX4K_E0000, X86_MSR_MTRR_FIX4K_E8000,
		X86_MSR_MTRR_FIX4K_F0000, X86_MSR_MTRR_FIX4K_F8000,
	};
	if (name >= HV_X64_REGISTER_MSR_MTRR_FIX64K00000 &&
	    name <= HV_X64_REGISTER_MSR_MTRR_FIX4KF8000)
		return fixed[name - HV_X64_REGISTER_MSR_MTRR_FIX64K00000];
	return 0;
}

/* Segment register value (doc 2.6) from the GDT descriptor of the selector. */
static void seg_value(struct hvsim_vp *vp, int reg, uint8_t v[16])
{
	memset(v, 0, 16);
	uint16_t sel = (uint16_t)rdu(vp, reg);
	uint64_t base = 0;
	uint32_t limit = 0;
	uint16_t attr = 0;
	uc_x86_mmr gdtr = { 0 };
	uc_reg_read(vp->uc, UC_X86_REG_GDTR, &gdtr);
	uint64_t d = 0, gpa = 0;
	if ((sel & ~3u) && !(sel & 4) && (uint32_t)(sel & ~7u) + 7 <= gdtr.limit &&
	    hvsim_vp_translate(vp, gdtr.base + (sel & ~7u), X86_PW_READ | X86_PW_NO_AD |
			       X86_PW_IMPLICIT, &gpa, NULL) == 0 &&
	    hvsim_vp_read_gpa(vp->sim, gpa, &d, 8) == 0) {
		attr = (uint16_t)(((d >> 40) & 0xFF) | (((d >> 52) & 0xF) << 12));
		limit = (uint32_t)((d & 0xFFFF) | (((d >> 48) & 0xF) << 16));
		if (attr & 0x8000)
			limit = (limit << 12) | 0xFFF;
		base = ((d >> 16) & 0xFFFFFF) | (((d >> 56) & 0xFF) << 24);
	}
	if (reg == UC_X86_REG_FS)
		base = rdu(vp, UC_X86_REG_FS_BASE);
	if (reg == UC_X86_REG_GS)
		base = rdu(vp, UC_X86_REG_GS_BASE);
	memcpy(v, &base, 8);
	memcpy(v + 8, &limit, 4);
	memcpy(v + 12, &sel, 2);
	memcpy(v + 14, &attr, 2);
}

uint16_t hvsim_hv_get_reg(struct hvsim_vp *vp, uint32_t name, uint8_t v[16])
{
	memset(v, 0, 16);
	if (name >= HV_X64_REGISTER_RAX && name <= HV_X64_REGISTER_R15) {
		s64(v, rdu(vp, gpr_reg(name - HV_X64_REGISTER_RAX)));
	} else if (name == HV_X64_REGISTER_RIP) {
		s64(v, rdu(vp, UC_X86_REG_RIP));
	} else if (name == HV_X64_REGISTER_RFLAGS) {
		s64(v, rdu(vp, UC_X86_REG_RFLAGS));
	} else if (name >= HV_X64_REGISTER_XMM0 && name <= HV_X64_REGISTER_XMM15) {
		uc_reg_read(vp->uc, UC_X86_REG_XMM0 + (int)(name - HV_X64_REGISTER_XMM0), v);
	} else if (name == HV_X64_REGISTER_CR0 || name == HV_X64_REGISTER_CR2 ||
		   name == HV_X64_REGISTER_CR3 || name == HV_X64_REGISTER_CR4 ||
		   name == HV_X64_REGISTER_CR8) {
		static const int cr[5] = { UC_X86_REG_CR0, UC_X86_REG_CR2, UC_X86_REG_CR3,
					   UC_X86_REG_CR4, UC_X86_REG_CR8 };
		s64(v, rdu(vp, cr[name - HV_X64_REGISTER_CR0]));
	} else if (name >= HV_X64_REGISTER_DR0 && name <= HV_X64_REGISTER_DR3) {
		s64(v, vp->dr[name - HV_X64_REGISTER_DR0]);
	} else if (name == HV_X64_REGISTER_DR6) {
		s64(v, vp->dr6 | 0xFFFF0FF0ull);
	} else if (name == HV_X64_REGISTER_DR7) {
		s64(v, vp->dr7 | 0x400);
	} else if (name >= HV_X64_REGISTER_ES && name <= HV_X64_REGISTER_GS) {
		seg_value(vp, seg_regs[name - HV_X64_REGISTER_ES], v);
	} else if (name == HV_X64_REGISTER_LDTR || name == HV_X64_REGISTER_TR) {
		uc_x86_mmr m = { 0 };
		uc_reg_read(vp->uc, name == HV_X64_REGISTER_LDTR ? UC_X86_REG_LDTR : UC_X86_REG_TR,
			    &m);
		s64(v, m.base);
		s32(v + 8, m.limit);
		memcpy(v + 12, &m.selector, 2);
		uint16_t attr = (uint16_t)(((m.flags >> 8) & 0xFF) | (((m.flags >> 20) & 0xF) << 12));
		memcpy(v + 14, &attr, 2);
	} else if (name == HV_X64_REGISTER_IDTR || name == HV_X64_REGISTER_GDTR) {
		uc_x86_mmr m = { 0 };
		uc_reg_read(vp->uc,
			    name == HV_X64_REGISTER_IDTR ? UC_X86_REG_IDTR : UC_X86_REG_GDTR, &m);
		uint16_t lim = (uint16_t)m.limit;
		memcpy(v + 6, &lim, 2);
		s64(v + 8, m.base);
	} else if (name == HV_X64_REGISTER_MSR_MTRR_CAP) {
		s64(v, HVSIM_MTRR_CAP);
	} else if (mtrr_msr_of(name)) {
		s64(v, *hvsim_vp_mtrr_slot(vp, mtrr_msr_of(name)));
	} else if (name == HV_X64_REGISTER_APIC_BASE) {
		uint64_t b = 0;
		hvsim_apic_msr(vp, X86_MSR_APIC_BASE, false, &b); /* the local APIC's, not unicorn's */
		s64(v, b);
	} else if (name == HV_X64_REGISTER_TSC) {
		s64(v, hvsim_vp_tsc(vp));  /* hvsim's clock, not unicorn's MSR (hvsim_synth.c) */
	} else if (msr_of(name)) {
		uc_x86_msr m = { .rid = msr_of(name) };
		uc_reg_read(vp->uc, UC_X86_REG_MSR, &m);
		s64(v, m.value);
	} else if (name == HV_REGISTER_PENDING_EVENT0) {
		struct hvsim_event *e = &vp->event;
		if (e->pending) {
			uint64_t lo = 1 | (e->has_error ? 1ull << 8 : 0) | ((uint64_t)e->vector << 16) |
				      ((uint64_t)e->error << 32);
			s64(v, lo);
			s64(v + 8, e->param);
		}
	} else if (name == HV_REGISTER_PENDING_INTERRUPTION) {
		/* nothing in flight between exits */
	} else if (name == HV_REGISTER_INTERRUPT_STATE) {
		s64(v, vp->interrupt_shadow ? 1 : 0);
	} else if (name == HV_REGISTER_HYPERCALL) {
		s64(v, vp->hypercall_msr);
	} else if (name == HV_REGISTER_GUEST_OS_ID) {
		s64(v, vp->guest_os_id);
	} else if (name == HV_REGISTER_VP_INDEX) {
		s64(v, vp->index);
	} else if (name >= HV_REGISTER_SINT0 && name <= HV_REGISTER_SINT15) {
		s64(v, vp->sint[name - HV_REGISTER_SINT0]);
	} else if (name == HV_REGISTER_SCONTROL) {
		s64(v, vp->scontrol);
	} else if (name == HV_REGISTER_SVERSION) {
		s64(v, 1);
	} else if (name == HV_REGISTER_SIEFP) {
		s64(v, vp->siefp);
	} else if (name == HV_REGISTER_SIMP) {
		s64(v, vp->simp);
	} else {
		return HV_STATUS_UNKNOWN_REGISTER_NAME;
	}
	return HV_STATUS_SUCCESS;
}

static bool canonical(uint64_t a)
{
	return (uint64_t)(((int64_t)(a << 16)) >> 16) == a;
}

uint16_t hvsim_hv_set_reg(struct hvsim_vp *vp, uint32_t name, const uint8_t v[16])
{
	uint64_t lo = g64(v), hi = g64(v + 8);
	if (name >= HV_X64_REGISTER_RAX && name <= HV_X64_REGISTER_R15) {
		wru(vp, gpr_reg(name - HV_X64_REGISTER_RAX), lo);
	} else if (name == HV_X64_REGISTER_RIP) {
		if (!canonical(lo))
			return HV_STATUS_INVALID_PARAMETER;
		wru(vp, UC_X86_REG_RIP, lo);
	} else if (name == HV_X64_REGISTER_RFLAGS) {
		/* bit 1 is always one; reserved bits must stay zero */
		if (lo & 0xFFFFFFFFFFC08028ull)
			return HV_STATUS_INVALID_PARAMETER;
		wru(vp, UC_X86_REG_RFLAGS, lo | 2);
	} else if (name >= HV_X64_REGISTER_XMM0 && name <= HV_X64_REGISTER_XMM15) {
		uc_reg_write(vp->uc, UC_X86_REG_XMM0 + (int)(name - HV_X64_REGISTER_XMM0), v);
	} else if (name == HV_X64_REGISTER_CR2) {
		wru(vp, UC_X86_REG_CR2, lo);
	} else if (name == HV_X64_REGISTER_CR8) {
		if (lo > 15)
			return HV_STATUS_INVALID_PARAMETER;
		wru(vp, UC_X86_REG_CR8, lo);
	} else if (name == HV_X64_REGISTER_CR0 || name == HV_X64_REGISTER_CR3 ||
		   name == HV_X64_REGISTER_CR4) {
		static const int cr[4] = { UC_X86_REG_CR0, 0, UC_X86_REG_CR3, UC_X86_REG_CR4 };
		if (name == HV_X64_REGISTER_CR0 && (lo >> 32))
			return HV_STATUS_INVALID_PARAMETER;
		if (wru(vp, cr[name - HV_X64_REGISTER_CR0], lo))
			return HV_STATUS_INVALID_PARAMETER;
	} else if (name >= HV_X64_REGISTER_DR0 && name <= HV_X64_REGISTER_DR3) {
		vp->dr[name - HV_X64_REGISTER_DR0] = lo;
	} else if (name == HV_X64_REGISTER_DR6) {
		vp->dr6 = lo & 0xF00Full;
	} else if (name == HV_X64_REGISTER_DR7) {
		if (lo >> 32)
			return HV_STATUS_INVALID_PARAMETER;
		vp->dr7 = lo;
	} else if (name >= HV_X64_REGISTER_ES && name <= HV_X64_REGISTER_GS) {
		/* unicorn loads the hidden part from the GDT: the selector decides. */
		uint64_t sel = g16(v + 12);
		if (sel != rdu(vp, seg_regs[name - HV_X64_REGISTER_ES]) &&
		    hvsim_write_selector(vp, seg_regs[name - HV_X64_REGISTER_ES], (uint16_t)sel))
			return HV_STATUS_INVALID_PARAMETER;
		if (name == HV_X64_REGISTER_FS)
			wru(vp, UC_X86_REG_FS_BASE, lo);
		if (name == HV_X64_REGISTER_GS)
			wru(vp, UC_X86_REG_GS_BASE, lo);
	} else if (name == HV_X64_REGISTER_LDTR || name == HV_X64_REGISTER_TR) {
		uc_x86_mmr m = { .selector = g16(v + 12), .base = lo, .limit = g32(v + 8) };
		uint16_t attr = g16(v + 14);
		m.flags = ((uint32_t)(attr & 0xFF) << 8) | ((uint32_t)(attr >> 12) << 20);
		uc_reg_write(vp->uc, name == HV_X64_REGISTER_LDTR ? UC_X86_REG_LDTR : UC_X86_REG_TR,
			     &m);
	} else if (name == HV_X64_REGISTER_IDTR || name == HV_X64_REGISTER_GDTR) {
		uc_x86_mmr m = { .base = hi, .limit = g16(v + 6) };
		uc_reg_write(vp->uc,
			     name == HV_X64_REGISTER_IDTR ? UC_X86_REG_IDTR : UC_X86_REG_GDTR, &m);
	} else if (mtrr_msr_of(name)) {
		*hvsim_vp_mtrr_slot(vp, mtrr_msr_of(name)) = lo;
	} else if (name == HV_X64_REGISTER_APIC_BASE) {
		uint64_t b = lo;
		if (hvsim_apic_msr(vp, X86_MSR_APIC_BASE, true, &b) < 0)
			return HV_STATUS_INVALID_PARAMETER;
	} else if (name == HV_X64_REGISTER_TSC) {
		hvsim_vp_set_tsc(vp, lo);
	} else if (msr_of(name)) {
		uc_x86_msr m = { .rid = msr_of(name), .value = lo };
		if (name == HV_X64_REGISTER_EFER && (lo & ~0xD01ull))
			return HV_STATUS_INVALID_PARAMETER;
		uc_reg_write(vp->uc, UC_X86_REG_MSR, &m);
	} else if (name == HV_REGISTER_PENDING_EVENT0) { /* exception type only */
		if (!(lo & 1)) {
			vp->event.pending = false;
			return HV_STATUS_SUCCESS;
		}
		unsigned type = (lo >> 1) & 7, vec = (lo >> 16) & 0xFFFF;
		if (type != 0 || vec > 31 || (lo & 0xF0F0ull))
			return HV_STATUS_INVALID_PARAMETER;
		vp->event = (struct hvsim_event){ .pending = true, .vector = (uint8_t)vec,
						  .has_error = (lo >> 8) & 1,
						  .error = (uint32_t)(lo >> 32), .param = hi };
	} else if (name == HV_REGISTER_PENDING_INTERRUPTION) {
		if (!(lo & 1))
			return HV_STATUS_SUCCESS;
		unsigned type = (lo >> 1) & 7, vec = (lo >> 16) & 0xFFFF;
		if (vec > 255)
			return HV_STATUS_INVALID_PARAMETER;
		if (type == 0 && vec >= 16) {
			hvsim_apic_accept(vp, vec, false, false); /* through the APIC: TMR, enable */
		} else if (type == 3 && vec < 32) {
			vp->event = (struct hvsim_event){ .pending = true, .vector = (uint8_t)vec,
							  .has_error = (lo >> 4) & 1,
							  .error = (uint32_t)(lo >> 32) };
		} else {
			return HV_STATUS_INVALID_PARAMETER; /* NMI / software kinds: not modelled */
		}
	} else if (name == HV_REGISTER_INTERRUPT_STATE) {
		if (lo & ~3ull)
			return HV_STATUS_INVALID_PARAMETER;
		vp->interrupt_shadow = lo & 1;
	} else if (name == HV_REGISTER_HYPERCALL) {
		vp->hypercall_msr = lo;
	} else if (name == HV_REGISTER_GUEST_OS_ID) {
		vp->guest_os_id = lo;
	} else if (name == HV_REGISTER_VP_INDEX || name == HV_REGISTER_SVERSION ||
		   name == HV_X64_REGISTER_MSR_MTRR_CAP) {
		return HV_STATUS_INVALID_PARAMETER; /* read-only */
	} else if ((name >= HV_REGISTER_SINT0 && name <= HV_REGISTER_SINT15) ||
		   (name >= HV_REGISTER_SCONTROL && name <= HV_REGISTER_SIMP)) {
		static const uint32_t msr_base[] = { HV_X64_MSR_SCONTROL, HV_X64_MSR_SVERSION,
						     HV_X64_MSR_SIEFP, HV_X64_MSR_SIMP };
		uint32_t msr = name <= HV_REGISTER_SINT15 ?
			       HV_X64_MSR_SINT0 + (name - HV_REGISTER_SINT0) :
			       msr_base[name - HV_REGISTER_SCONTROL];
		uint64_t val = lo;
		if (hvsim_vp_synic_msr(vp, msr, true, &val) < 0)
			return HV_STATUS_INVALID_PARAMETER;
	} else {
		return HV_STATUS_UNKNOWN_REGISTER_NAME;
	}
	return HV_STATUS_SUCCESS;
}

/* Registers of VTL2 itself (input VTL = own): the few VSM registers hvsim models. */
static uint16_t vtl2_get_reg(struct hvsim *sim, struct hvsim_vp *vp, uint32_t name, uint8_t v[16])
{
	memset(v, 0, 16);
	switch (name) {
	case HV_REGISTER_VSM_VP_STATUS: /* active VTL 2, enabled VTLs {0, 2} (+1 if enabled) */
		s64(v, 2 | ((uint64_t)(0x5 | (sim->vtl_enabled[vp->index] ? 2 : 0)) << 16));
		return HV_STATUS_SUCCESS;
	case HV_REGISTER_VSM_PARTITION_STATUS: /* enabled set, max VTL 2 */
		s64(v, (0x5 | (sim->partition_vtl1_enabled ? 2 : 0)) | (2ull << 16));
		return HV_STATUS_SUCCESS;
	case HV_REGISTER_VSM_CAPABILITIES: /* intercept page when the register page exists */
		s64(v, sim->cfg.register_page ? 1ull << 27 : 0);
		return HV_STATUS_SUCCESS;
	case HV_REGISTER_VSM_CODE_PAGE_OFFSETS: /* no hypercall page in hvsim */
	case HV_REGISTER_VSM_PARTITION_CONFIG: /* writes accepted and ignored: see docs */
		return HV_STATUS_SUCCESS;
	case HV_REGISTER_VP_INDEX:
		s64(v, vp->index);
		return HV_STATUS_SUCCESS;
	default:
		return HV_STATUS_UNKNOWN_REGISTER_NAME;
	}
}

/* ---- hypercalls ---- */

struct hc {
	struct hvsim *sim;
	uint32_t caller;
	const uint8_t *in;          /* 4096-byte zero-padded input page */
	uint8_t *out;               /* 4096-byte output page */
	unsigned varhdr;            /* variable header bytes */
	unsigned rep_count, rep_start;
	unsigned reps_done;
};

static uint16_t check_partition(const uint8_t *in)
{
	return g64(in) == HV_PARTITION_ID_SELF ? HV_STATUS_SUCCESS : HV_STATUS_INVALID_PARTITION_ID;
}

static struct hvsim_vp *vp_of(struct hc *h, uint32_t idx)
{
	if (idx == HV_VP_INDEX_SELF)
		idx = h->caller;
	return idx < h->sim->vp_count ? h->sim->vps[idx] : NULL;
}

/* Rep element i's input; NULL when the list runs off the input page. */
static const uint8_t *rep_in(struct hc *h, unsigned hdr, unsigned size, unsigned i)
{
	size_t off = (size_t)hdr + h->varhdr + (size_t)size * i;
	return off + size <= HV_PAGE ? h->in + off : NULL;
}

static uint16_t hc_modify_vtl_protection(struct hc *h)
{
	uint16_t st = check_partition(h->in);
	if (st)
		return st;
	uint32_t flags = g32(h->in + 8);
	uint8_t target = h->in[12];
	if (h->in[13] || h->in[14] || h->in[15] || (flags & ~0x807Fu))
		return HV_STATUS_INVALID_PARAMETER;
	/* Only VTL0's view can be restricted by VTL2 here. */
	if (target != 0x10)
		return HV_STATUS_INVALID_PARAMETER;
	struct hvsim *sim = h->sim;
	uint16_t result = HV_STATUS_SUCCESS;
	pthread_mutex_lock(&sim->lock);
	for (unsigned i = h->rep_start; i < h->rep_count; i++) {
		const uint8_t *e = rep_in(h, 16, 8, i);
		if (!e) {
			result = HV_STATUS_INVALID_HYPERCALL_INPUT;
			break;
		}
		uint64_t pfn = g64(e);
		if (pfn >= sim->mem_size >> ADDR_PAGE_SHIFT) {
			result = HV_STATUS_INVALID_PARAMETER;
			break;
		}
		sim->prot[pfn] = (uint8_t)(flags & 0xF);
		h->reps_done = i + 1;
	}
	uint64_t gen = atomic_fetch_add(&sim->prot_gen, 1) + 1;
	pthread_mutex_unlock(&sim->lock);
	/* VP threads re-apply protections before re-entering; running VPs are kicked. */
	hvsim_vp_sync_protections(sim, gen);
	return result;
}

static uint16_t hc_enable_partition_vtl(struct hc *h)
{
	uint16_t st = check_partition(h->in);
	if (st)
		return st;
	uint8_t vtl = h->in[8], flags = h->in[9];
	if (g16(h->in + 10) || g32(h->in + 12) || (flags & ~7u))
		return HV_STATUS_INVALID_PARAMETER;
	if (vtl == 0 || vtl == 2)
		return HV_STATUS_VTL_ALREADY_ENABLED;
	if (vtl != 1)
		return HV_STATUS_INVALID_PARAMETER;
	pthread_mutex_lock(&h->sim->lock);
	bool was = h->sim->partition_vtl1_enabled;
	h->sim->partition_vtl1_enabled = true;
	pthread_mutex_unlock(&h->sim->lock);
	return was ? HV_STATUS_VTL_ALREADY_ENABLED : HV_STATUS_SUCCESS;
}

static uint16_t hc_enable_vp_vtl(struct hc *h)
{
	uint16_t st = check_partition(h->in);
	if (st)
		return st;
	uint32_t idx = g32(h->in + 8);
	uint8_t vtl = h->in[12];
	if (h->in[13] || h->in[14] || h->in[15])
		return HV_STATUS_INVALID_PARAMETER;
	struct hvsim_vp *vp = vp_of(h, idx);
	if (!vp)
		return HV_STATUS_INVALID_VP_INDEX;
	if (vtl == 0 || vtl == 2)
		return HV_STATUS_VTL_ALREADY_ENABLED;
	if (vtl != 1)
		return HV_STATUS_INVALID_PARAMETER;
	pthread_mutex_lock(&h->sim->lock);
	uint16_t r = !h->sim->partition_vtl1_enabled ? HV_STATUS_INVALID_VTL_STATE :
		     h->sim->vtl_enabled[vp->index] ? HV_STATUS_VTL_ALREADY_ENABLED :
		     HV_STATUS_SUCCESS;
	if (r == HV_STATUS_SUCCESS)
		h->sim->vtl_enabled[vp->index] = true;
	pthread_mutex_unlock(&h->sim->lock);
	return r;
}

static uint16_t hc_install_intercept(struct hc *h)
{
	uint16_t st = check_partition(h->in);
	if (st)
		return st;
	uint32_t access = g32(h->in + 8), type = g32(h->in + 12);
	uint64_t param = g64(h->in + 16);
	if (access == 0 || (access & ~7u))
		return HV_STATUS_INVALID_PARAMETER;
	struct hvsim_intercepts *ic = &h->sim->icpt;
	uint16_t r = HV_STATUS_SUCCESS;
	pthread_mutex_lock(&h->sim->lock);
	switch (type) {
	case HVSIM_ICPT_IO_PORT:
		if (param > 0xFFFF || (access & HVSIM_ACC_EXEC))
			r = HV_STATUS_INVALID_PARAMETER;
		else
			ic->io[param] |= (uint8_t)access;
		break;
	case HVSIM_ICPT_IO_PORT_RANGE: {
		uint64_t first = param & 0xFFFF, last = (param >> 16) & 0xFFFF;
		if ((param >> 32) || first > last || (access & HVSIM_ACC_EXEC))
			r = HV_STATUS_INVALID_PARAMETER;
		else
			for (uint64_t p = first; p <= last; p++)
				ic->io[p] |= (uint8_t)access;
		break;
	}
	case HVSIM_ICPT_MSR:
		if (access & HVSIM_ACC_EXEC)
			r = HV_STATUS_INVALID_PARAMETER;
		else
			ic->msr |= (uint8_t)access;
		break;
	case HVSIM_ICPT_CPUID: {
		if (param >> 32) {
			r = HV_STATUS_INVALID_PARAMETER;
			break;
		}
		bool have = false;
		for (unsigned i = 0; i < ic->cpuid_count; i++)
			have |= ic->cpuid_leaf[i] == (uint32_t)param;
		if (!have) {
			if (ic->cpuid_count == HVSIM_MAX_CPUID_ICPT)
				r = HV_STATUS_INSUFFICIENT_BUFFERS;
			else
				ic->cpuid_leaf[ic->cpuid_count++] = (uint32_t)param;
		}
		break;
	}
	case HVSIM_ICPT_EXCEPTION:
		if (param > 31)
			r = HV_STATUS_INVALID_PARAMETER;
		else
			ic->exceptions |= 1u << param;
		break;
	case HVSIM_ICPT_HYPERCALL:
		ic->hypercall = true;
		break;
	default:
		r = HV_STATUS_INVALID_PARAMETER;
		break;
	}
	atomic_fetch_add(&h->sim->icpt_gen, 1);
	pthread_mutex_unlock(&h->sim->lock);
	/* Running VPs start their run over and scan blocks against the new intercepts. */
	for (uint32_t i = 0; i < h->sim->vp_count; i++)
		hvsim_vp_kick(h->sim->vps[i]);
	return r;
}

/* Which VP and VTL a Get/SetVpRegisters header names; status on failure. */
static uint16_t regs_target(struct hc *h, struct hvsim_vp **vp, bool *vtl0)
{
	uint16_t st = check_partition(h->in);
	if (st)
		return st;
	uint8_t ivtl = h->in[12];
	if (h->in[13] || h->in[14] || h->in[15] || (ivtl & 0xE0))
		return HV_STATUS_INVALID_PARAMETER;
	*vp = vp_of(h, g32(h->in + 8));
	if (!*vp)
		return HV_STATUS_INVALID_VP_INDEX;
	if (!(ivtl & 0x10) || (ivtl & 0xF) == 2)
		*vtl0 = false;
	else if ((ivtl & 0xF) == 0)
		*vtl0 = true;
	else
		return HV_STATUS_INVALID_VTL_STATE; /* VTL1 is not modelled */
	return HV_STATUS_SUCCESS;
}

static uint16_t hc_vp_registers(struct hc *h, bool set)
{
	struct hvsim_vp *vp;
	bool vtl0;
	uint16_t st = regs_target(h, &vp, &vtl0);
	if (st)
		return st;
	pthread_mutex_lock(&vp->lock);
	if (vtl0 && vp->in_guest) {
		/* VTL0 of that VP is running on another thread: its state is in flux. */
		pthread_mutex_unlock(&vp->lock);
		return HV_STATUS_INVALID_VP_STATE;
	}
	uint16_t r = HV_STATUS_SUCCESS;
	for (unsigned i = h->rep_start; i < h->rep_count; i++) {
		const uint8_t *e = rep_in(h, 16, set ? 32 : 4, i);
		if (!e || (!set && (size_t)16 * (i + 1) > HV_PAGE)) {
			r = HV_STATUS_INVALID_HYPERCALL_INPUT;
			break;
		}
		uint32_t name = g32(e);
		if (set) {
			if (g32(e + 4) || g64(e + 8)) {
				r = HV_STATUS_INVALID_PARAMETER;
				break;
			}
			r = vtl0 ? hvsim_hv_set_reg(vp, name, e + 16) :
			    (name == HV_REGISTER_VSM_PARTITION_CONFIG ||
			     name == HV_REGISTER_VSM_CODE_PAGE_OFFSETS) ? HV_STATUS_SUCCESS :
			    HV_STATUS_UNKNOWN_REGISTER_NAME;
		} else {
			r = vtl0 ? hvsim_hv_get_reg(vp, name, h->out + 16 * i) :
			    vtl2_get_reg(h->sim, vp, name, h->out + 16 * i);
		}
		if (r)
			break;
		h->reps_done = i + 1;
	}
	/*
	 * Like the hypervisor, the run page's cpu_context is not touched: VTL-shared registers
	 * (GPRs, CR2, XMM) written here are overwritten by the context on the next run.
	 */
	pthread_mutex_unlock(&vp->lock);
	return r;
}

/* Translate control flags -> walker access; result codes of doc 2.2. */
static uint16_t hc_translate(struct hc *h, bool ex)
{
	uint16_t st = check_partition(h->in);
	if (st)
		return st;
	uint64_t flags = g64(h->in + 16), gvn = g64(h->in + 24);
	if (g32(h->in + 12) || (flags & 0x00FFFFFFFFFFF800ull))
		return HV_STATUS_INVALID_PARAMETER;
	uint8_t ivtl = (uint8_t)(flags >> 56);
	if ((ivtl & 0xE0) || ((ivtl & 0x10) && (ivtl & 0xF) != 0))
		return HV_STATUS_INVALID_PARAMETER;
	if (gvn >> 52)
		return HV_STATUS_INVALID_PARAMETER;
	struct hvsim_vp *vp = vp_of(h, g32(h->in + 8));
	if (!vp)
		return HV_STATUS_INVALID_VP_INDEX;
	unsigned acc = X86_PW_READ;
	if (flags & 2)
		acc = X86_PW_WRITE;
	if (flags & 4)
		acc = X86_PW_FETCH;
	if (flags & (1u << 7))
		acc |= X86_PW_USER;
	if (!(flags & (1u << 4)))
		acc |= X86_PW_NO_AD;
	pthread_mutex_lock(&vp->lock);
	if (vp->in_guest) {
		pthread_mutex_unlock(&vp->lock);
		return HV_STATUS_INVALID_VP_STATE;
	}
	uint64_t gpa = 0;
	uint32_t pf = 0;
	uint32_t code;
	int rc = hvsim_vp_translate(vp, gvn << 12, acc, &gpa, &pf);
	pthread_mutex_unlock(&vp->lock);
	if (rc == 0) {
		code = 0;
		if (gpa >= h->sim->mem_size) {
			code = 4; /* GPA unmapped */
		} else {
			uint8_t m = h->sim->prot[gpa >> 12];
			if ((flags & 1) && !(m & 1))
				code = 5;
			else if ((flags & 2) && !(m & 2))
				code = 6;
		}
	} else if (rc == -EFAULT) {
		code = (pf & X86_PFERR_RSVD) ? 3 : (pf & X86_PFERR_P) ? 2 : 1;
	} else if (rc == -EINVAL) {
		code = 1; /* non-canonical: reported as not present */
	} else {
		code = 4;
	}
	uint64_t result = code | (code == 0 ? 6ull << 32 : 0);
	if (!(flags & 7) && code >= 5)
		result = 6ull << 32; /* no validation requested: protections do not matter */
	uint64_t gpn = code == 0 || (result & 0xFFFFFFFF) == 0 ? gpa >> 12 : 0;
	if (ex) {
		memset(h->out, 0, 64);
		s64(h->out, result);
		s64(h->out + 48, gpn);
	} else {
		s64(h->out, result);
		s64(h->out + 8, gpn);
	}
	return HV_STATUS_SUCCESS;
}

static uint16_t hc_assert_interrupt(struct hc *h)
{
	uint16_t st = check_partition(h->in);
	if (st)
		return st;
	uint64_t ctl = g64(h->in + 8), dest = g64(h->in + 16);
	uint32_t vector = g32(h->in + 24);
	uint8_t vtl = h->in[28];
	/* HV_INTERRUPT_CONTROL: type (fixed 0, lowest priority 1), level bit 32, logical 33. */
	uint32_t type = (uint32_t)ctl;
	bool logical = (ctl >> 33) & 1;
	if (h->in[29] || g16(h->in + 30) || (ctl >> 34) || type > 1 || vtl != 0 ||
	    vector < 16 || vector > 255 || dest > 0xFFFFFFFFull)
		return HV_STATUS_INVALID_PARAMETER;
	if (!logical && dest >= h->sim->vp_count)
		return HV_STATUS_INVALID_PARAMETER; /* APIC id == VP index in hvsim */
	/* A logical destination may name no VP at all: the interrupt is then dropped. */
	hvsim_apic_route(h->sim, (uint32_t)dest, logical, type == 1, (uint8_t)vector,
			 ctl & HV_INTERRUPT_CONTROL_LEVEL_TRIGGERED);
	return HV_STATUS_SUCCESS;
}

static uint16_t hc_vp_index_from_apic(struct hc *h)
{
	uint16_t st = check_partition(h->in);
	if (st)
		return st;
	for (int i = 9; i < 16; i++)
		if (h->in[i])
			return HV_STATUS_INVALID_PARAMETER;
	if (h->in[8] != 0 && h->in[8] != 0x10)
		return HV_STATUS_INVALID_PARAMETER;
	for (unsigned i = h->rep_start; i < h->rep_count; i++) {
		const uint8_t *e = rep_in(h, 16, 4, i);
		if (!e || (size_t)4 * (i + 1) > HV_PAGE)
			return HV_STATUS_INVALID_HYPERCALL_INPUT;
		uint32_t apic = g32(e);
		if (apic >= h->sim->vp_count)
			return HV_STATUS_INVALID_PARAMETER;
		s32(h->out + 4 * i, apic);
		h->reps_done = i + 1;
	}
	return HV_STATUS_SUCCESS;
}

/* Common header of the *Direct calls: partition, vp, vtl (VTL0 SynIC only). */
static uint16_t direct_target(struct hc *h, struct hvsim_vp **vp)
{
	uint16_t st = check_partition(h->in);
	if (st)
		return st;
	*vp = vp_of(h, g32(h->in + 8));
	if (!*vp)
		return HV_STATUS_INVALID_VP_INDEX;
	if (h->in[12] != 0)
		return HV_STATUS_INVALID_PARAMETER; /* only VTL0's SynIC is modelled */
	return HV_STATUS_SUCCESS;
}

static uint16_t hc_signal_event_direct(struct hc *h)
{
	struct hvsim_vp *vp;
	uint16_t st = direct_target(h, &vp);
	if (st)
		return st;
	uint8_t sint = h->in[13];
	uint16_t flag = g16(h->in + 14);
	if (sint > 15 || flag >= 2048)
		return HV_STATUS_INVALID_PARAMETER;
	pthread_mutex_lock(&vp->lock);
	if (!(vp->siefp & 1) || !(vp->scontrol & 1)) {
		pthread_mutex_unlock(&vp->lock);
		return HV_STATUS_INVALID_SYNIC_STATE;
	}
	uint64_t gpa = (vp->siefp & ~0xFFFull) + sint * 256u + flag / 8u;
	uint8_t newly = 0;
	if (gpa < h->sim->mem_size) {
		uint8_t bit = (uint8_t)(1u << (flag % 8));
		uint8_t old = __atomic_fetch_or(h->sim->ram + gpa, bit, __ATOMIC_SEQ_CST);
		newly = !(old & bit);
		if (newly)
			hvsim_vp_assert_sint_locked(vp, sint);
	}
	pthread_mutex_unlock(&vp->lock);
	h->out[0] = newly;
	return HV_STATUS_SUCCESS;
}

static uint16_t hc_post_message_direct(struct hc *h)
{
	struct hvsim_vp *vp;
	uint16_t st = direct_target(h, &vp);
	if (st)
		return st;
	uint8_t sint = h->in[16];
	const uint8_t *msg = h->in + 20;
	if (h->in[13] || h->in[14] || h->in[15] || h->in[17] || h->in[18] || h->in[19] ||
	    sint > 15)
		return HV_STATUS_INVALID_PARAMETER;
	uint32_t type = g32(msg);
	/* Types with the high bit are the hypervisor's own. */
	if (type == 0 || (type & 0x80000000u) || msg[4] > 240)
		return HV_STATUS_INVALID_PARAMETER;
	pthread_mutex_lock(&vp->lock);
	uint16_t r = HV_STATUS_SUCCESS;
	uint8_t *slot = (vp->simp & 1) && (vp->scontrol & 1) ?
		hvsim_gpa_ptr(h->sim, gpa((vp->simp & ~0xFFFull) + sint * 256u), 256) : NULL;
	if (!slot) {
		r = HV_STATUS_INVALID_SYNIC_STATE; /* SynIC off, or a SIMP outside RAM */
	} else {
		uint32_t cur;
		memcpy(&cur, slot, 4);
		if (cur != 0) {
			r = HV_STATUS_INSUFFICIENT_BUFFERS; /* slot busy: no message queue modelled */
		} else {
			memcpy(slot + 4, msg + 4, 252);
			__atomic_store_n((uint32_t *)slot, type, __ATOMIC_RELEASE);
			hvsim_vp_assert_sint_locked(vp, sint);
		}
	}
	pthread_mutex_unlock(&vp->lock);
	return r;
}

struct hc_desc {
	uint16_t code;
	bool rep;
	uint16_t (*fn)(struct hc *h);
};

static uint16_t hc_get_regs(struct hc *h) { return hc_vp_registers(h, false); }
static uint16_t hc_set_regs(struct hc *h) { return hc_vp_registers(h, true); }
static uint16_t hc_tva(struct hc *h) { return hc_translate(h, false); }
static uint16_t hc_tva_ex(struct hc *h) { return hc_translate(h, true); }

static const struct hc_desc hc_table[] = {
	{ 0x000C, true, hc_modify_vtl_protection },
	{ 0x000D, false, hc_enable_partition_vtl },
	{ 0x000F, false, hc_enable_vp_vtl },
	{ 0x004D, false, hc_install_intercept },
	{ 0x0050, true, hc_get_regs },
	{ 0x0051, true, hc_set_regs },
	{ 0x0052, false, hc_tva },
	{ 0x0094, false, hc_assert_interrupt },
	{ 0x009A, true, hc_vp_index_from_apic },
	{ 0x00AC, false, hc_tva_ex },
	{ 0x00C0, false, hc_signal_event_direct },
	{ 0x00C1, false, hc_post_message_direct },
};

int hvsim_hvcall(struct hvsim *sim, uint32_t caller_vp, uint64_t control, const void *in,
		 size_t in_size, void *out, size_t out_size, uint64_t *result)
{
	if (in_size > HV_PAGE || out_size > HV_PAGE || (in_size && !in) || (out_size && !out) ||
	    !result)
		return -EINVAL;
	atomic_fetch_add_explicit(&sim->st_hypercalls, 1, memory_order_relaxed);
	/* The kernel's input/output pages. */
	static _Thread_local uint8_t inpage[HV_PAGE], outpage[HV_PAGE];
	memset(inpage, 0, sizeof(inpage));
	memset(outpage, 0, sizeof(outpage));
	if (in_size)
		memcpy(inpage, in, in_size);
	struct hc h = {
		.sim = sim, .caller = caller_vp < sim->vp_count ? caller_vp : 0,
		.in = inpage, .out = outpage,
		.varhdr = (unsigned)((control >> 17) & 0x3FF) * 8,
		.rep_count = (unsigned)((control >> 32) & 0xFFF),
		.rep_start = (unsigned)((control >> 48) & 0xFFF),
	};
	uint16_t code = (uint16_t)control, st;
	const struct hc_desc *d = NULL;
	for (size_t i = 0; i < sizeof(hc_table) / sizeof(hc_table[0]); i++)
		if (hc_table[i].code == code)
			d = &hc_table[i];
	if (!d)
		st = HV_STATUS_INVALID_HYPERCALL_CODE;
	else if ((control & (1ull << 16)) || (control & 0x78000000ull) ||
		 (control & 0xF000F00000000000ull) || h.varhdr > HV_PAGE - 16)
		st = HV_STATUS_INVALID_HYPERCALL_INPUT; /* fast / reserved bits / huge header */
	else if (d->rep != (h.rep_count != 0) || h.rep_start > h.rep_count ||
		 (!d->rep && h.rep_start))
		st = HV_STATUS_INVALID_HYPERCALL_INPUT;
	else {
		h.reps_done = h.rep_start;
		st = d->fn(&h);
	}
	*result = st | ((uint64_t)(d && d->rep ? h.reps_done : 0) << 32);
	if (out_size)
		memcpy(out, outpage, out_size);
	return 0;
}

/* ---- the driver's register ioctls ---- */

static int status_errno(uint16_t st)
{
	return st == HV_STATUS_SUCCESS ? 0 : (st == HV_STATUS_UNKNOWN_REGISTER_NAME ||
					     st == HV_STATUS_INVALID_PARAMETER) ? -EINVAL : -EIO;
}

int hvsim_vp_get_register(struct hvsim *sim, uint32_t idx, uint32_t name,
			  union hv_register_value *value)
{
	if (idx >= sim->vp_count || !value)
		return -EINVAL;
	struct hvsim_vp *vp = sim->vps[idx];
	uint8_t v[16];
	pthread_mutex_lock(&vp->lock);
	uint16_t st = vp->in_guest ? HV_STATUS_INVALID_VP_STATE : hvsim_hv_get_reg(vp, name, v);
	pthread_mutex_unlock(&vp->lock);
	if (st == HV_STATUS_SUCCESS)
		memcpy(value, v, 16);
	return status_errno(st);
}

int hvsim_vp_set_register(struct hvsim *sim, uint32_t idx, uint32_t name,
			  const union hv_register_value *value)
{
	if (idx >= sim->vp_count || !value)
		return -EINVAL;
	struct hvsim_vp *vp = sim->vps[idx];
	uint8_t v[16];
	memcpy(v, value, 16);
	pthread_mutex_lock(&vp->lock);
	uint16_t st = vp->in_guest ? HV_STATUS_INVALID_VP_STATE : hvsim_hv_set_reg(vp, name, v);
	pthread_mutex_unlock(&vp->lock);
	return status_errno(st);
}
