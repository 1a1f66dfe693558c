/*
 * Fuzz target: vtl2/bootcfg.c. Input = the device tree bytes, handed to bootcfg_parse as they
 * are. The parser must never crash or read outside the buffer, must refuse with a known error
 * and a message, and an accepted tree must satisfy what the header promises: 1..1024 VPs with
 * distinct APIC IDs, a known isolation, sorted disjoint page-aligned ranges, VTL0 off VTL2,
 * vtl2-reserved and vtl2-free inside VTL2 and disjoint, a VMBus VTL of 0 or 2, and terminated
 * strings.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "vtl2/bootcfg.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct bootcfg cfg;

static void need(int cond)
{
	if (!cond)
		abort();
}

static void check_ranges(const struct bootcfg_ranges *r)
{
	need(r->count <= BOOTCFG_MAX_RANGES);
	for (unsigned i = 0; i < r->count; i++) {
		uint64_t a = r->r[i].gpa.v, s = r->r[i].size;
		need(s > 0 && !((a | s) & 0xFFF) && a + s > a);
		if (i)
			need(r->r[i - 1].gpa.v + r->r[i - 1].size <= a);
	}
}

static int disjoint(const struct bootcfg_ranges *x, const struct bootcfg_ranges *y)
{
	for (unsigned i = 0; i < x->count; i++)
		for (unsigned j = 0; j < y->count; j++)
			if (x->r[i].gpa.v < y->r[j].gpa.v + y->r[j].size &&
			    y->r[j].gpa.v < x->r[i].gpa.v + x->r[i].size)
				return 0;
	return 1;
}

static int within(const struct bootcfg_ranges *x, const struct bootcfg_ranges *y)
{
	for (unsigned i = 0; i < x->count; i++) {
		int ok = 0;
		for (unsigned j = 0; j < y->count; j++)
			ok |= x->r[i].gpa.v >= y->r[j].gpa.v &&
			      x->r[i].gpa.v + x->r[i].size <= y->r[j].gpa.v + y->r[j].size;
		if (!ok)
			return 0;
	}
	return 1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char err[200] = "";
	int rc = bootcfg_parse(data, size, &cfg, err, sizeof(err));
	if (rc) {
		need(rc == -EINVAL || rc == -E2BIG);
		need(err[0] != '\0' && memchr(err, '\0', sizeof(err)) != NULL);
		return 0;
	}
	need(cfg.vp_count >= 1 && cfg.vp_count <= BOOTCFG_MAX_VPS);
	for (uint32_t i = 0; i < cfg.vp_count; i++)
		for (uint32_t j = 0; j < i; j++)
			need(cfg.apic_id[i] != cfg.apic_id[j]);
	need(!strcmp(cfg.isolation, "none") || !strcmp(cfg.isolation, "vbs") ||
	     !strcmp(cfg.isolation, "snp") || !strcmp(cfg.isolation, "tdx"));
	check_ranges(&cfg.vtl0);
	check_ranges(&cfg.vtl2);
	check_ranges(&cfg.vtl2_reserved);
	check_ranges(&cfg.vtl2_free);
	need(disjoint(&cfg.vtl0, &cfg.vtl2));
	need(within(&cfg.vtl2_reserved, &cfg.vtl2) && within(&cfg.vtl2_free, &cfg.vtl2));
	need(disjoint(&cfg.vtl2_reserved, &cfg.vtl2_free));
	need(!cfg.vmbus || cfg.vmbus_vtl == 0 || cfg.vmbus_vtl == 2);
	need(memchr(cfg.bootargs, '\0', sizeof(cfg.bootargs)) != NULL);
	return 0;
}
