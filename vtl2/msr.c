/* msr: the MSR policy table (see msr.h). */
#include "vtl2/msr.h"

#include <errno.h>
#include <stdbool.h>
#include <stddef.h>

enum msr_write_rule { MSR_W_GP, MSR_W_IGNORE, MSR_W_SAME };

struct msr_entry {
	uint32_t msr;
	bool readable;
	uint64_t value;                 /* read value (MSR_CORE_THREAD_COUNT computed) */
	enum msr_write_rule write;
};

#define MSR_CORE_THREAD_COUNT 0x35u

static const struct msr_entry msr_table[] = {
	{ 0x17, true, 0, MSR_W_GP },
	{ MSR_CORE_THREAD_COUNT, true, 0, MSR_W_GP },
	{ 0x3A, true, 1, MSR_W_GP },
	{ 0x79, false, 0, MSR_W_IGNORE },
	{ 0x8B, true, 0, MSR_W_IGNORE },
	{ 0x140, true, 0, MSR_W_SAME },
	{ 0x1A0, true, 1, MSR_W_SAME },
};

static const struct msr_entry *lookup(uint32_t msr)
{
	for (size_t i = 0; i < sizeof(msr_table) / sizeof(msr_table[0]); i++)
		if (msr_table[i].msr == msr)
			return &msr_table[i];
	return NULL;
}

static uint64_t value_of(const struct msr_entry *e, uint32_t vp_count)
{
	if (e->msr == MSR_CORE_THREAD_COUNT)
		return ((uint64_t)(vp_count & 0xFFFF) << 16) | (vp_count & 0xFFFF);
	return e->value;
}

int msr_read(uint32_t vp_count, uint32_t msr, uint64_t *value)
{
	const struct msr_entry *e = lookup(msr);
	if (!e || !e->readable)
		return -EPERM;
	*value = value_of(e, vp_count);
	return 0;
}

int msr_write(uint32_t vp_count, uint32_t msr, uint64_t value)
{
	const struct msr_entry *e = lookup(msr);
	if (!e)
		return -EPERM;
	switch (e->write) {
	case MSR_W_IGNORE:
		return 0;
	case MSR_W_SAME:
		return value == value_of(e, vp_count) ? 0 : -EPERM;
	case MSR_W_GP:
		break;
	}
	return -EPERM;
}
