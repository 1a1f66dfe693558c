/*
 * Page walker fuzz target: the input is the paging registers, the address, the access kind and
 * a small guest memory image holding hostile page tables. Checks that the walk never reads
 * outside guest memory, terminates, and that a success lies inside a page of the size it names.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "arch/x86_64/x86_pagewalk.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct fmem { uint8_t *buf; size_t size; unsigned races; };

static int f_read(void *ctx, gpa_t at, void *out, unsigned n)
{
	struct fmem *m = ctx;
	if (n != 4 && n != 8)
		abort();
	if (at.v >= m->size || m->size - at.v < n)
		return -EFAULT;
	memcpy(out, m->buf + at.v, n);
	return 0;
}

static int f_cmpxchg(void *ctx, gpa_t at, uint64_t old, uint64_t nv, unsigned n)
{
	struct fmem *m = ctx;
	uint64_t cur = 0;
	if (at.v >= m->size || m->size - at.v < n)
		return -EFAULT;
	if (m->races && m->races--)
		return -EAGAIN;
	memcpy(&cur, m->buf + at.v, n);
	if (cur != old)
		return -EAGAIN;
	memcpy(m->buf + at.v, &nv, n);
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct x86_pw_regs r;
	uint64_t va;
	uint8_t acc, races;
	const size_t hdr = sizeof(r) + sizeof(va) + 2;
	if (size < hdr)
		return 0;
	memcpy(&r, data, sizeof(r));
	memcpy(&va, data + sizeof(r), sizeof(va));
	acc = data[sizeof(r) + sizeof(va)];
	races = data[sizeof(r) + sizeof(va) + 1];
	/* Keep table addresses inside the small image often enough to walk deep. */
	r.cr3 &= 0xFFFF;
	struct fmem m = { .size = size - hdr, .races = races & 0xF };
	m.buf = malloc(m.size ? m.size : 1);
	if (!m.buf)
		return 0;
	memcpy(m.buf, data + hdr, m.size);
	struct x86_pw_result res;
	const struct x86_pw_mem_ops ops = { f_read, f_cmpxchg };
	int rc = x86_pw_translate(&r, gva(va), acc & 0x1F, &ops, &m, &res);
	if (rc == 0) {
		if (res.page_size != 4096 && res.page_size != (2u << 20) &&
		    res.page_size != (4u << 20) && res.page_size != (1u << 30))
			abort();
		if (res.fault)
			abort();
	} else if (rc != -EFAULT && rc != -EINVAL && rc != -ELOOP) {
		abort();
	}
	free(m.buf);
	return 0;
}
