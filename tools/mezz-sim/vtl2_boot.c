/*
 * vtl2_boot: boot a Mezzanine IGVM image in hvsim up to the paravisor (header: vtl2_boot.h).
 * Boot protocol facts: Documentation/arch/x86/boot.rst and zero-page.rst (boot_params offsets
 * below), the shim's contract: boot/shim_params.h.
 */
#include "tools/mezz-sim/vtl2_boot.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "arch/x86_64/x86_boot.h"
#include "boot/shim_params.h"
#include "hvcall/hv.h"
#include "hvcall/hv_exit.h"
#include "hvcall/mshv_abi.h"
#include "tools/hvsim/hvsim.h"
#include "tools/mezzanine/vm.h"

#define SETUP_DATA_MAX_CHAIN 32

#define COM1 0x3F8u
#define LINE_MAX_BYTES 1024

/*
 * ---- a watchdog: cancels VP 0 when a stage takes too long, or when the COM1 watcher has
 * seen what it waited for (hvsim_vp_cancel takes the VP's lock, which a port callback may
 * run under, so the cancel always comes from this thread) ----
 */

struct watchdog {
	pthread_t thread;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	bool stop, fired, trigger;
	unsigned seconds;
	struct hvsim *sim;
};

static void *watchdog_main(void *arg)
{
	struct watchdog *w = arg;
	struct timespec until;
	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += w->seconds;
	pthread_mutex_lock(&w->lock);
	while (!w->stop) {
		if (w->trigger) {
			hvsim_vp_cancel(w->sim, 0);
			break;
		}
		if (pthread_cond_timedwait(&w->cond, &w->lock, &until) == ETIMEDOUT) {
			w->fired = true;
			hvsim_vp_cancel(w->sim, 0);
			break;
		}
	}
	pthread_mutex_unlock(&w->lock);
	return NULL;
}

static int watchdog_start(struct watchdog *w, struct hvsim *sim, unsigned seconds)
{
	*w = (struct watchdog){ .seconds = seconds, .sim = sim };
	pthread_mutex_init(&w->lock, NULL);
	pthread_cond_init(&w->cond, NULL);
	return -pthread_create(&w->thread, NULL, watchdog_main, w);
}

static void watchdog_trigger(struct watchdog *w)
{
	pthread_mutex_lock(&w->lock);
	w->trigger = true;
	pthread_cond_signal(&w->cond);
	pthread_mutex_unlock(&w->lock);
}

static bool watchdog_stop(struct watchdog *w)
{
	pthread_mutex_lock(&w->lock);
	w->stop = true;
	pthread_cond_signal(&w->cond);
	pthread_mutex_unlock(&w->lock);
	pthread_join(w->thread, NULL);
	pthread_mutex_destroy(&w->lock);
	pthread_cond_destroy(&w->cond);
	return w->fired;
}

/* ---- the host's COM1 for VTL2: a 16550 that is always ready; lines to `out` ---- */

struct com {
	FILE *out;
	char line[LINE_MAX_BYTES];
	size_t len;
	uint8_t lcr, ier, mcr, scr;
	uint64_t bytes;
	/* What the kernel check watches for (stage 3). */
	bool watch;
	struct vtl2_boot_e820 seen[VTL2_BOOT_MAX_E820];
	unsigned seen_count;
	bool seen_overflow;
	bool e820_started, e820_done;
	char kernel_cmdline[4096];
	bool have_cmdline;
	bool done;
	struct watchdog *wd;            /* the running stage's */
	char last[LINE_MAX_BYTES];      /* last complete line (the shim's error when it halts) */
};

static void watch_line(struct com *c, const char *l)
{
	/* printk prefixes a timestamp "[    0.000000] "; match past it. */
	const char *p;
	if ((p = strstr(l, "BIOS-e820: [mem "))) {
		unsigned long long a, b;
		char type[32] = "";
		if (sscanf(p, "BIOS-e820: [mem %llx-%llx] %31s", &a, &b, type) == 3) {
			c->e820_started = true;
			if (c->seen_count == VTL2_BOOT_MAX_E820) {
				c->seen_overflow = true;
			} else {
				uint32_t t = !strcmp(type, "usable") ? 1 : !strcmp(type, "reserved") ? 2 :
					     !strcmp(type, "ACPI") ? 3 : 0;
				c->seen[c->seen_count++] = (struct vtl2_boot_e820){ a, b - a + 1, t };
			}
		}
		return;
	}
	if (c->e820_started)
		c->e820_done = true;
	if ((p = strstr(l, "Command line: ")) && !strstr(l, "Kernel command line: ") &&
	    !c->have_cmdline) {
		snprintf(c->kernel_cmdline, sizeof(c->kernel_cmdline), "%s", p + 14);
		c->have_cmdline = true;
	}
	if (c->e820_done && c->have_cmdline && !c->done) {
		c->done = true;
		if (c->wd)
			watchdog_trigger(c->wd); /* stage 3 has what it needs */
	}
}

static void com_byte(struct com *c, uint8_t b)
{
	c->bytes++;
	if (b == '\r')
		return;
	if (b == '\n' || c->len == sizeof(c->line) - 1) {
		c->line[c->len] = '\0';
		fprintf(c->out, "vtl2: %s\n", c->line);
		memcpy(c->last, c->line, c->len + 1);
		if (c->watch)
			watch_line(c, c->line);
		c->len = 0;
		if (b == '\n')
			return;
	}
	c->line[c->len++] = (b >= 0x20 && b < 0x7F) || b == '\t' ? (char)b : '?';
}

static uint32_t com_in(void *ctx, uint32_t vp, uint16_t port, unsigned size)
{
	(void)vp;
	(void)size;
	struct com *c = ctx;
	switch (port) {
	case COM1 + 1: return c->lcr & 0x80 ? 0 : c->ier;
	case COM1 + 2: return 0x01;          /* IIR: no interrupt pending */
	case COM1 + 3: return c->lcr;
	case COM1 + 4: return c->mcr;
	case COM1 + 5: return 0x60;          /* LSR: THR and transmitter empty */
	case COM1 + 6: return 0xB0;          /* MSR: CTS DSR DCD */
	case COM1 + 7: return c->scr;
	case COM1: return 0;
	default: return 0xFFFFFFFFu;         /* nothing else on VTL2's port bus */
	}
}

static void com_out(void *ctx, uint32_t vp, uint16_t port, unsigned size, uint32_t value)
{
	(void)vp;
	(void)size;
	struct com *c = ctx;
	uint8_t v = (uint8_t)value;
	switch (port) {
	case COM1: if (!(c->lcr & 0x80)) com_byte(c, v); break;
	case COM1 + 1: if (!(c->lcr & 0x80)) c->ier = v & 0x0F; break;
	case COM1 + 3: c->lcr = v; break;
	case COM1 + 4: c->mcr = v; break;
	case COM1 + 7: c->scr = v; break;
	default: break;
	}
}

static const struct hvsim_host_io_ops com_ops = { com_in, com_out };

static void clear_cancel(struct hvsim *sim)
{
	struct mshv_abi_run *run = hvsim_vp_run_page(sim, 0);
	atomic_store((_Atomic uint32_t *)&run->cancel, 0);
}

static uint64_t insns(struct hvsim *sim)
{
	struct hvsim_stats st;
	hvsim_get_stats(sim, &st);
	return st.guest_insns;
}

static uint64_t get_reg(struct hvsim *sim, uint32_t name)
{
	union hv_register_value v = { 0 };
	hvsim_vp_get_register(sim, 0, name, &v);
	return v.reg64;
}

/* Why VP 0 stopped, for a message. */
static const char *exit_name(struct hvsim *sim, struct hv_exit *ex)
{
	const struct mshv_abi_run *run = hvsim_vp_run_page(sim, 0);
	if (hv_exit_decode(run->exit_message, sizeof(run->exit_message), ex) < 0)
		return "an undecodable message";
	switch (ex->kind) {
	case HV_EXIT_HALT: return "HLT with interrupts off";
	case HV_EXIT_UNRECOVERABLE: return "a triple fault";
	case HV_EXIT_MEMORY: return "an access outside RAM";
	case HV_EXIT_IO_PORT: return "a port access";
	case HV_EXIT_MSR: return "an MSR access";
	case HV_EXIT_CPUID: return "CPUID";
	case HV_EXIT_EXCEPTION: return "an exception";
	case HV_EXIT_HYPERCALL: return "a hypercall";
	default: return "another intercept";
	}
}

/* Run VP 0 until the breakpoint (shim), the watcher's cancel (kernel) or a stop. */
enum run_end { RUN_BREAK, RUN_CANCELLED, RUN_TIMEOUT, RUN_STOPPED };

static enum run_end run_vp0(struct hvsim *sim, struct com *c, unsigned timeout_s,
			    struct hv_exit *ex, const char **why)
{
	struct watchdog w;
	ex->kind = HV_EXIT_NONE;
	if (watchdog_start(&w, sim, timeout_s) < 0) {
		*why = "no watchdog thread";
		return RUN_STOPPED;
	}
	c->wd = &w;
	int rc = hvsim_vp_run(sim, 0);
	bool fired = watchdog_stop(&w);
	c->wd = NULL;
	clear_cancel(sim);
	if (rc == HVSIM_RUN_BREAK)
		return RUN_BREAK;
	if (rc == -EINTR)
		return fired ? RUN_TIMEOUT : RUN_CANCELLED;
	*why = rc < 0 ? "an hvsim error" : exit_name(sim, ex);
	return RUN_STOPPED;
}

/* ---- what the shim handed over ---- */

static int read_handover(struct hvsim *sim, uint64_t bp, struct vtl2_boot_result *r, FILE *err)
{
	const uint8_t *b = hvsim_gpa_ptr(sim, gpa(bp), sizeof(struct x86_boot_params));
	if (!b) {
		fprintf(err, "mezz-sim: boot_params at 0x%" PRIx64 " is not RAM\n", bp);
		return -1;
	}
	/* One copy: VTL2 could change the page while we read it (it does not run now, but the
	   rule is the same for every hostile page). */
	struct x86_boot_params p;
	memcpy(&p, b, sizeof(p));
	if (p.e820_entries > X86_BOOT_E820_MAX) {
		fprintf(err, "mezz-sim: boot_params lists %u E820 entries (at most %u)\n",
			p.e820_entries, X86_BOOT_E820_MAX);
		return -1;
	}
	for (unsigned i = 0; i < p.e820_entries; i++)
		r->e820[i] = (struct vtl2_boot_e820){ p.e820_table[i].addr, p.e820_table[i].size,
						      p.e820_table[i].type };
	r->e820_count = p.e820_entries;
	uint64_t cl = ((uint64_t)p.ext_cmd_line_ptr << 32) | p.hdr.cmd_line_ptr;
	r->cmdline[0] = '\0';
	if (cl) {
		/* At most 4 KiB, within RAM, NUL-terminated. */
		size_t i = 0;
		for (; i < sizeof(r->cmdline) - 1; i++) {
			const char *ch = hvsim_gpa_ptr(sim, gpa(cl + i), 1);
			if (!ch) {
				fprintf(err, "mezz-sim: the command line at 0x%" PRIx64 " leaves RAM\n",
					cl);
				return -1;
			}
			r->cmdline[i] = *ch;
			if (!*ch)
				break;
		}
		if (i == sizeof(r->cmdline) - 1) {
			fprintf(err, "mezz-sim: the command line at 0x%" PRIx64 " has no NUL in "
				     "4 KiB\n", cl);
			return -1;
		}
	}
	uint64_t sd = p.hdr.setup_data;
	for (int hop = 0; sd && hop < SETUP_DATA_MAX_CHAIN; hop++) {
		const uint8_t *h = hvsim_gpa_ptr(sim, gpa(sd), sizeof(struct x86_boot_setup_data));
		if (!h) {
			fprintf(err, "mezz-sim: setup_data at 0x%" PRIx64 " is not RAM\n", sd);
			return -1;
		}
		struct x86_boot_setup_data hd;
		memcpy(&hd, h, sizeof(hd));
		uint64_t next = hd.next;
		uint32_t type = hd.type, len = hd.len;
		if (type == X86_BOOT_SETUP_DTB && !r->dtb) {
			const uint8_t *d = hvsim_gpa_ptr(sim, gpa(sd + 16), len);
			if (!d || len == 0 || len > BOOTCFG_MAX_DTB) {
				fprintf(err, "mezz-sim: SETUP_DTB at 0x%" PRIx64 ": %u bytes outside "
					     "RAM or too large\n", sd, len);
				return -1;
			}
			r->dtb = malloc(len);
			if (!r->dtb)
				return -1;
			memcpy(r->dtb, d, len);
			r->dtb_size = len;
		}
		sd = next;
	}
	if (!r->dtb) {
		fprintf(err, "mezz-sim: boot_params carries no SETUP_DTB device tree\n");
		return -1;
	}
	return 0;
}

static const char *e820_type(uint32_t t)
{
	return t == 1 ? "usable" : t == 2 ? "reserved" : t == 3 ? "ACPI data" : "other";
}

/* The kernel merges adjacent entries of one type (e820__update_table): compare merged. */
static unsigned merge(const struct vtl2_boot_e820 *in, unsigned n, struct vtl2_boot_e820 *out)
{
	unsigned m = 0;
	for (unsigned i = 0; i < n; i++) {
		if (in[i].size == 0)
			continue;
		if (m && out[m - 1].type == in[i].type && out[m - 1].addr + out[m - 1].size == in[i].addr)
			out[m - 1].size += in[i].size;
		else
			out[m++] = in[i];
	}
	return m;
}

static int compare(const struct com *c, struct vtl2_boot_result *r, FILE *out, FILE *err)
{
	struct vtl2_boot_e820 mine[VTL2_BOOT_MAX_E820], theirs[VTL2_BOOT_MAX_E820];
	unsigned a = merge(r->e820, r->e820_count, mine);
	unsigned b = merge(c->seen, c->seen_count, theirs);
	int bad = 0;
	if (c->seen_overflow || a != b) {
		fprintf(err, "mezz-sim: the kernel printed %u E820 entries, the shim handed over %u\n",
			b, a);
		bad = 1;
	}
	for (unsigned i = 0; i < a && i < b; i++) {
		if (mine[i].addr != theirs[i].addr || mine[i].size != theirs[i].size ||
		    mine[i].type != theirs[i].type) {
			fprintf(err, "mezz-sim: E820 entry %u: kernel [0x%" PRIx64 ", +0x%" PRIx64
				     ") %s, shim [0x%" PRIx64 ", +0x%" PRIx64 ") %s\n", i,
				theirs[i].addr, theirs[i].size, e820_type(theirs[i].type), mine[i].addr,
				mine[i].size, e820_type(mine[i].type));
			bad = 1;
		}
	}
	if (strcmp(c->kernel_cmdline, r->cmdline) != 0) {
		fprintf(err, "mezz-sim: the kernel's command line \"%s\" is not the shim's \"%s\"\n",
			c->kernel_cmdline, r->cmdline);
		bad = 1;
	}
	if (!bad)
		fprintf(out, "mezz-sim: [3/4] the VTL2 kernel's own printout matches the handover: "
			     "%u E820 entries, command line \"%s\" (%" PRIu64 " kernel instructions, "
			     "upper bound)\n", b, c->kernel_cmdline, r->kernel_insns);
	return bad ? -1 : 0;
}

int vtl2_boot_run(struct hvsim *sim, const struct vtl2_boot_opts *o, struct vtl2_boot_result *r)
{
	memset(r, 0, sizeof(*r));
	FILE *out = o->out ? o->out : stdout;
	char err[256];
	struct com *c = calloc(1, sizeof(*c));
	if (!c)
		return VM_EXIT_ERROR;
	c->out = out;
	hvsim_set_host_io(sim, &com_ops, c);
	int status = VM_EXIT_ERROR;
	/* Stages 2 and 3 report their instruction counts: every block counts (hvsim's gate). */
	bool counting = hvsim_count_insns(sim, true);

	int rc = hvsim_igvm_load(sim, o->image, o->image_size, &o->host, &r->loaded, err,
				 sizeof(err));
	if (rc < 0) {
		fprintf(stderr, "mezz-sim: --igvm: %s\n", err);
		status = rc == -ENOMEM ? VM_EXIT_ERROR : VM_EXIT_USAGE;
		goto out;
	}
	/* The shim's parameters page tells where the kernel goes (boot/shim_params.h). */
	const struct mezz_shim_params *sp = hvsim_gpa_ptr(sim, gpa(r->loaded.rsi), sizeof(*sp));
	if (!sp || sp->magic != MEZZ_SHIM_PARAMS_MAGIC || sp->version != MEZZ_SHIM_PARAMS_VERSION ||
	    sp->kernel.gpa == 0) {
		fprintf(stderr, "mezz-sim: --igvm: RSI 0x%" PRIx64 " of VP 0's context is not a "
				"Mezzanine shim parameter page\n", r->loaded.rsi);
		status = VM_EXIT_USAGE;
		goto out;
	}
	uint64_t entry = sp->kernel.gpa + 0x200;
	r->mem_region = sp->vtl2.size;
	r->mem_shim = sp->shim.size;
	r->mem_loader = 0x1000 + sp->tables.size + sp->param_device_tree.size +
			sp->param_memory_map.size + sp->param_command_line.size +
			sp->param_vp_count.size + sp->log.size +
			((sp->kernel_setup.size + 0xFFF) & ~0xFFFull);
	r->mem_heap = sp->heap.size;
	r->mem_kernel = sp->kernel_span;
	r->mem_initrd = sp->initrd.size;
	fprintf(out, "mezz-sim: [1/4] IGVM image loaded (%s platform): %" PRIu64 " pages, "
		     "%u VPs, memory map of %u entries, VP 0 at 0x%" PRIx64 "\n",
		o->host.platform == HVSIM_IGVM_VBS ? "VSM_ISOLATION" : "NATIVE",
		r->loaded.pages_imported, hvsim_vp_count(sim), r->loaded.memory_map_entries,
		r->loaded.rip);
	fflush(out);

	/* Stage 2: the shim, entry to the kernel jump. */
	if (hvsim_vp_set_breakpoint(sim, 0, entry) < 0) {
		fprintf(stderr, "mezz-sim: cannot set a breakpoint at 0x%" PRIx64 "\n", entry);
		goto out;
	}
	uint64_t i0 = insns(sim);
	struct hv_exit ex;
	const char *why = "";
	enum run_end end = run_vp0(sim, c, o->shim_timeout_s ? o->shim_timeout_s : 60, &ex, &why);
	r->shim_insns = insns(sim) - i0;
	hvsim_vp_set_breakpoint(sim, 0, 0);
	if (end != RUN_BREAK) {
		fprintf(stderr, "mezz-sim: the boot shim stopped before the kernel (%s) at RIP "
				"0x%" PRIx64 "; its last line: %s\n",
			end == RUN_TIMEOUT ? "timeout" : why, get_reg(sim, HV_X64_REGISTER_RIP),
			c->last[0] ? c->last : "(none)");
		status = end == RUN_STOPPED && ex.kind == HV_EXIT_HALT ? VM_EXIT_STOPPED :
									 VM_EXIT_ERROR;
		goto out;
	}
	r->boot_params = get_reg(sim, HV_X64_REGISTER_RSI);
	if (read_handover(sim, r->boot_params, r, stderr) < 0)
		goto out;
	fprintf(out, "mezz-sim: [2/4] boot shim done: %" PRIu64 " instructions (upper bound) to "
		     "the kernel entry 0x%" PRIx64 ", boot_params 0x%" PRIx64 ": %u E820 entries, "
		     "command line \"%s\", device tree %zu bytes\n",
		r->shim_insns, entry, r->boot_params, r->e820_count, r->cmdline, r->dtb_size);
	fprintf(out, "mezz-sim: VTL2 memory: region %" PRIu64 " KiB; shim %" PRIu64 " KiB, "
		     "parameters + tables + areas + log %" PRIu64 " KiB, heap region %" PRIu64
		     " KiB; the VTL2 kernel's span %" PRIu64 " KiB and initrd %" PRIu64 " KiB\n",
		r->mem_region >> 10, r->mem_shim >> 10, r->mem_loader >> 10, r->mem_heap >> 10,
		r->mem_kernel >> 10, r->mem_initrd >> 10);
	fflush(out);
	if (bootcfg_parse(r->dtb, r->dtb_size, &r->cfg, err, sizeof(err)) < 0) {
		fprintf(stderr, "mezz-sim: the shim's device tree: %s\n", err);
		goto out;
	}

	/* Stage 3: the real kernel checks the handover. */
	if (o->kernel_check) {
		c->watch = true;
		uint64_t k0 = insns(sim);
		end = run_vp0(sim, c, o->kernel_timeout_s ? o->kernel_timeout_s : 300, &ex, &why);
		r->kernel_insns = insns(sim) - k0;
		c->watch = false;
		if (!c->done) {
			fprintf(stderr, "mezz-sim: the VTL2 kernel stopped (%s) at RIP 0x%" PRIx64
					" before printing its E820 map and command line (E820 lines "
					"%u, command line %s); is earlyprintk=serial,ttyS0 on its "
					"command line?\n",
				end == RUN_TIMEOUT ? "timeout" : end == RUN_STOPPED ? why : "cancelled",
				get_reg(sim, HV_X64_REGISTER_RIP), c->seen_count,
				c->have_cmdline ? "seen" : "not seen");
			goto out;
		}
		if (compare(c, r, out, stderr) < 0)
			goto out;
	}
	status = 0;
out:
	hvsim_count_insns(sim, counting);
	/* VTL0 comes next: VP 0 starts over and nothing VTL2 ran stays translated. */
	hvsim_set_host_io(sim, NULL, NULL);
	hvsim_vp_set_breakpoint(sim, 0, 0);
	clear_cancel(sim);
	hvsim_flush_code(sim);
	free(c);
	return status;
}

void vtl2_boot_free(struct vtl2_boot_result *r)
{
	free(r->dtb);
	r->dtb = NULL;
}
