/*
 * iobus_devices fuzz target: the whole chipset (with the test devices) on a fresh bus and a
 * manual clock per input; the input is a program of guest accesses, clock steps, EOIs and
 * host serial input. Every answer must be a valid action with a value that fits the access,
 * and invalid sizes must be refused before any device sees them.
 *
 * Input: a sequence of ops, each starting with one byte
 *   bits 0-1  class: 0 access near a registered range, 1 access at an absolute address,
 *             2 clock step, 3 misc
 *   bit 2     write (misc: 0 = EOI, 1 = serial input)
 *   bits 3-4  space: 0 PIO, 1 MMIO, 2 MSR, 3 PIO (misc serial input: bit 3 = COM2)
 *   bits 5-7  VP index
 * followed by
 *   near:     range index (1 byte, modulo the space's count), offset + 16 (3 bytes LE, modulo
 *             len + 32), size selector (1 byte), value (8 bytes LE, writes only)
 *   absolute: address (PIO 2, MMIO 8, MSR 4 bytes LE), size selector, value (writes only)
 *   step:     scale (1 byte: 1 ns, 1 us, 1 ms, 100 ms), count (2 bytes LE); the whole input
 *             advances at most MAX_VIRTUAL_NS (periodic device timers fire at every period,
 *             so an unbounded jump would only measure patience)
 *   EOI:      vector (1 byte)
 *   serial:   length (1 byte, modulo 24), bytes
 * Missing bytes read as 0. Size selector: 0-3 -> 1, 2, 4, 8; then 1, 2, 4, 8, 1, 2, 4 again;
 * 11-15 -> 0, 3, 5, 7, 16 (invalid).
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "devices/chipset.h"
#include "vtl2/devctx.h"
#include "vtl2/iobus.h"
#include "vtl2/vclock.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_VIRTUAL_NS 2000000000ull
#define NVPS 8

struct in {
	const uint8_t *p;
	size_t n, at;
};

static uint64_t rd(struct in *in, unsigned bytes)
{
	uint64_t v = 0;
	for (unsigned i = 0; i < bytes; i++) {
		uint64_t b = in->at < in->n ? in->p[in->at] : 0;
		in->at++;
		v |= b << (8 * i);
	}
	return v;
}

/* What the machine did, recorded so the callbacks have something to touch. */
struct rec {
	uint64_t msgs, stops, protects;
	struct irq_msg last;
	enum devctx_stop last_stop;
};

static int rec_deliver(void *ctx, const struct irq_msg *m)
{
	struct rec *r = ctx;
	r->msgs++;
	r->last = *m;
	return 0;
}

static void rec_stop(void *ctx, enum devctx_stop why, uint32_t code, uint32_t vp)
{
	struct rec *r = ctx;
	(void)code;
	if ((unsigned)why > DEVCTX_STOP_TEST_EXIT || vp >= NVPS)
		abort();
	r->stops++;
	r->last_stop = why;
}

static int rec_protect(void *ctx, gpn_t page, bool write_protect)
{
	struct rec *r = ctx;
	(void)page;
	(void)write_protect;
	r->protects++;
	return 0;
}

static uint64_t rec_protect_hits(void *ctx)
{
	struct rec *r = ctx;
	return r->protects;
}

static const unsigned size_table[16] = { 1, 2, 4, 8, 1, 2, 4, 8, 1, 2, 4, 0, 3, 5, 7, 16 };

static bool size_valid(unsigned s)
{
	return s == 1 || s == 2 || s == 4 || s == 8;
}

static void do_access(struct iobus *bus, struct iobus_hint *hint, enum iobus_space space,
		   uint64_t addr, unsigned size, bool write, uint64_t value, uint32_t vp)
{
	const struct iobus_access a = { .vp = vp };
	enum iobus_action act;
	if (write) {
		act = iobus_write(bus, hint, space, addr, size, &a, value);
	} else {
		uint64_t v = 0x0123456789ABCDEFull;
		act = iobus_read(bus, hint, space, addr, size, &a, &v);
		/* The value never has bits beyond the access; refused reads are all-ones unless
		   split into bytes (MMIO), where only the failing bytes are. */
		if (v & ~iobus_ones(size))
			abort();
		if (act != IOBUS_OK && space != IOBUS_MMIO && v != iobus_ones(size))
			abort();
	}
	if ((unsigned)act > IOBUS_BAD_REGISTER)
		abort();
	if (!size_valid(size) && act != IOBUS_BAD_REGISTER)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static FILE *devnull;
	if (!devnull)
		devnull = fopen("/dev/null", "w");

	struct rec rec = { 0 };
	struct vclock *clock = NULL;
	struct iobus *bus = NULL;
	struct chipset *cs = NULL;
	char err[256];

	if (vclock_create(true, &clock) != 0 || iobus_create(&bus) != 0)
		abort();
	vclock_set_wall(clock, 1700000000ull * 1000000000ull);
	struct devctx dc = {
		.ctx = &rec,
		.stop = rec_stop,
		.protect = rec_protect,
		.protect_hits = rec_protect_hits,
		.clock = clock,
		.sink = { .deliver = rec_deliver, .ctx = &rec },
		.log = devnull,
	};
	const struct chipset_config cfg = { .test_devices = true };
	if (chipset_create(bus, &dc, &cfg, &cs, err, sizeof(err)) != 0) {
		fprintf(stderr, "chipset_create: %s\n", err);
		abort();
	}
	iobus_freeze(bus);
	struct irq_eoi eoi = chipset_eoi(cs);

	struct iobus_hint hints[NVPS];
	memset(hints, 0, sizeof(hints));
	struct in in = { data, size, 0 };
	uint64_t advanced = 0;

	while (in.at < in.n) {
		uint8_t op = (uint8_t)rd(&in, 1);
		unsigned cls = op & 3;
		bool write = op & 4;
		unsigned sp = (op >> 3) & 3;
		enum iobus_space space = sp == 3 ? IOBUS_PIO : (enum iobus_space)sp;
		uint32_t vp = op >> 5;

		switch (cls) {
		case 0:
		case 1: {
			uint64_t addr;
			if (cls == 0) {
				size_t count = iobus_count(bus, space);
				uint8_t idx = (uint8_t)rd(&in, 1);
				uint64_t off = rd(&in, 3);
				const struct iobus_range *r = iobus_range_at(bus, space, idx % count);
				if (!r)
					abort();
				/* Up to 16 addresses either side of the range, to hit its edges. */
				addr = r->base + off % (r->len + 32) - 16;
			} else {
				addr = rd(&in, space == IOBUS_PIO ? 2 : space == IOBUS_MSR ? 4 : 8);
			}
			unsigned sz = size_table[rd(&in, 1) & 15];
			uint64_t value = write ? rd(&in, 8) : 0;
			do_access(bus, &hints[vp], space, addr, sz, write, value, vp);
			break;
		}
		case 2: {
			static const uint64_t scale[4] = { 1, 1000, 1000000, 100000000 };
			uint64_t ns = scale[rd(&in, 1) & 3] * rd(&in, 2);
			if (ns > MAX_VIRTUAL_NS - advanced)
				ns = MAX_VIRTUAL_NS - advanced;
			advanced += ns;
			vclock_advance(clock, ns);
			break;
		}
		default:
			if (!write) {
				eoi.eoi(eoi.ctx, (uint8_t)rd(&in, 1));
			} else {
				uint8_t buf[24];
				size_t n = rd(&in, 1) % sizeof(buf);
				for (size_t i = 0; i < n; i++)
					buf[i] = (uint8_t)rd(&in, 1);
				struct uart16550 *u = chipset_com(cs, (op >> 3) & 1);
				if (!u || uart16550_receive(u, buf, n) > n)
					abort();
			}
			break;
		}
	}
	/* Whatever is still armed fires once more before teardown. */
	vclock_advance(clock, MAX_VIRTUAL_NS - advanced < 1000000 ? MAX_VIRTUAL_NS - advanced
								 : 1000000);

	/* For checking what a seed does: IOBUS_FUZZ_STATS=1 <target> <seed>. */
	if (getenv("IOBUS_FUZZ_STATS"))
		fprintf(stderr, "irq messages %llu (last vector 0x%x), stops %llu, protects %llu\n",
			(unsigned long long)rec.msgs, rec.last.vector, (unsigned long long)rec.stops,
			(unsigned long long)rec.protects);
	/* The partition's teardown order: clock stopped, then devices, then the clock freed. */
	vclock_stop(clock);
	chipset_destroy(cs);
	iobus_destroy(bus);
	vclock_destroy(clock);
	return 0;
}
