/* SCSI direct-access disk (devices/vmbus/scsi_disk.c): every command, boundaries, backends. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <sys/mman.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "devices/vmbus/scsi_disk.h"

#define DISK_BYTES (1u << 20)
#define DISK_BLOCKS (DISK_BYTES / 512)

/* A memory backend that can be told to fail, and counts flushes. */
struct fault_be {
	struct scsi_disk_mem m;
	int fail_read, fail_write, fail_flush;    /* -errno to return, 0 to work */
	unsigned reads, writes, flushes;
};

static int fault_read(void *ctx, void *buf, size_t len, uint64_t off)
{
	struct fault_be *f = ctx;
	f->reads++;
	return f->fail_read ? f->fail_read : scsi_disk_mem_ops.read(&f->m, buf, len, off);
}

static int fault_write(void *ctx, const void *buf, size_t len, uint64_t off)
{
	struct fault_be *f = ctx;
	f->writes++;
	return f->fail_write ? f->fail_write : scsi_disk_mem_ops.write(&f->m, buf, len, off);
}

static int fault_flush(void *ctx)
{
	struct fault_be *f = ctx;
	f->flushes++;
	return f->fail_flush;
}

static const struct scsi_disk_backend_ops fault_ops = {
	.read = fault_read, .write = fault_write, .flush = fault_flush,
};

struct fx {
	uint8_t *mem;
	struct fault_be be;
	struct scsi_disk *d;
	struct scsi_result r;
};

static uint8_t pattern(size_t i)
{
	return (uint8_t)(i * 7 + i / 512 + 1);
}

static struct scsi_disk *make_disk(struct fx *f, bool ro, bool with_flush, uint32_t max_xfer)
{
	struct scsi_disk_config cfg = {
		.backend = { .ops = &fault_ops, .ctx = &f->be, .size = DISK_BYTES },
		.read_only = ro,
		.serial = "SN-1234",
		.id = 0xABCDEF0123456789ull,
		.max_transfer_bytes = max_xfer,
	};
	static const struct scsi_disk_backend_ops noflush_ops = {
		.read = fault_read, .write = fault_write,
	};
	if (!with_flush)
		cfg.backend.ops = &noflush_ops;
	struct scsi_disk *d = NULL;
	assert_int_equal(scsi_disk_create(&cfg, &d), 0);
	assert_non_null(d);
	return d;
}

static int setup_common(void **state, bool ro, bool with_flush, uint32_t max_xfer)
{
	struct fx *f = calloc(1, sizeof(*f));
	assert_non_null(f);
	f->mem = malloc(DISK_BYTES);
	assert_non_null(f->mem);
	for (size_t i = 0; i < DISK_BYTES; i++)
		f->mem[i] = pattern(i);
	struct scsi_disk_backend dummy;
	scsi_disk_mem_backend(&f->be.m, f->mem, DISK_BYTES, &dummy);
	f->d = make_disk(f, ro, with_flush, max_xfer);
	*state = f;
	return 0;
}

static int setup(void **state)
{
	return setup_common(state, false, true, 0);
}

static int setup_ro(void **state)
{
	return setup_common(state, true, true, 0);
}

static int setup_noflush(void **state)
{
	return setup_common(state, false, false, 0);
}

/* Maximum transfer large enough that LBA + length overflow is reached before it. */
static int setup_bigxfer(void **state)
{
	return setup_common(state, false, true, 0xFFFFFE00u);
}

static int teardown(void **state)
{
	struct fx *f = *state;
	scsi_disk_destroy(f->d);
	free(f->mem);
	free(f);
	return 0;
}

static struct scsi_result *run(struct fx *f, const uint8_t *cdb, size_t cdb_len, bool data_in,
			       void *buf, size_t len)
{
	memset(&f->r, 0xEE, sizeof(f->r));
	assert_int_equal(scsi_disk_execute(f->d, cdb, cdb_len, data_in, buf, len, &f->r), 0);
	assert_int_equal(f->r.residual, len - f->r.transferred);
	assert_true(f->r.transferred <= len);
	return &f->r;
}

static void assert_good(const struct scsi_result *r)
{
	assert_int_equal(r->status, SCSI_STATUS_GOOD);
	assert_int_equal(r->sense_len, 0);
}

static void assert_sense(const struct scsi_result *r, uint8_t key, uint8_t asc, uint8_t ascq)
{
	assert_int_equal(r->status, SCSI_STATUS_CHECK_CONDITION);
	assert_int_equal(r->sense_len, SCSI_SENSE_LEN);
	assert_int_equal(r->sense[0], 0x70);
	assert_int_equal(r->sense[SCSI_SENSE_OFF_KEY] & 0x0F, key);
	assert_int_equal(r->sense[SCSI_SENSE_OFF_ADDLEN], 10);
	assert_int_equal(r->sense[SCSI_SENSE_OFF_ASC], asc);
	assert_int_equal(r->sense[SCSI_SENSE_OFF_ASCQ], ascq);
	assert_int_equal(r->transferred, 0);
}

/* INVALID FIELD IN CDB with its field pointer (SKSV, C/D) at CDB byte `byte`. */
static void assert_invalid_field(const struct scsi_result *r, unsigned byte)
{
	assert_sense(r, SCSI_SENSE_ILLEGAL_REQUEST, SCSI_ASC_INVALID_FIELD_IN_CDB, 0);
	assert_int_equal(r->sense[15], 0xC0);
	assert_int_equal(r->sense[16] << 8 | r->sense[17], byte);
}

static uint32_t be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static uint64_t be64(const uint8_t *p)
{
	return (uint64_t)be32(p) << 32 | be32(p + 4);
}

static void put32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

static void put64(uint8_t *p, uint64_t v)
{
	put32(p, (uint32_t)(v >> 32));
	put32(p + 4, (uint32_t)v);
}

/* CDB builders for the media commands, by CDB size. */
static size_t rw_cdb(uint8_t *c, uint8_t op, uint64_t lba, uint32_t blocks)
{
	memset(c, 0, 16);
	c[0] = op;
	switch (op >> 5) {
	case 0:
		c[1] = (uint8_t)((lba >> 16) & 0x1F);
		c[2] = (uint8_t)(lba >> 8);
		c[3] = (uint8_t)lba;
		c[4] = (uint8_t)blocks;
		return 6;
	case 5:
		put32(c + 2, (uint32_t)lba);
		put32(c + 6, blocks);
		return 12;
	case 4:
		put64(c + 2, lba);
		put32(c + 10, blocks);
		return 16;
	default:
		put32(c + 2, (uint32_t)lba);
		c[7] = (uint8_t)(blocks >> 8);
		c[8] = (uint8_t)blocks;
		return 10;
	}
}

static struct scsi_result *rw(struct fx *f, uint8_t op, uint64_t lba, uint32_t blocks,
			      bool data_in, void *buf, size_t len)
{
	uint8_t c[16];
	size_t n = rw_cdb(c, op, lba, blocks);
	return run(f, c, n, data_in, buf, len);
}

/* ---- generic ---------------------------------------------------------------------------- */

static void test_create_validation(void **state)
{
	(void)state;
	uint8_t mem[1024];
	struct scsi_disk_mem m;
	struct scsi_disk_config cfg = { 0 };
	struct scsi_disk *d = (struct scsi_disk *)1;

	scsi_disk_mem_backend(&m, mem, sizeof(mem), &cfg.backend);
	assert_int_equal(scsi_disk_create(NULL, &d), -EINVAL);
	cfg.backend.size = 511;
	assert_int_equal(scsi_disk_create(&cfg, &d), -EINVAL);
	assert_null(d);
	cfg.backend.size = sizeof(mem);
	cfg.serial = "";
	assert_int_equal(scsi_disk_create(&cfg, &d), -EINVAL);
	cfg.serial = "123456789012345678901";    /* 21 characters */
	assert_int_equal(scsi_disk_create(&cfg, &d), -EINVAL);
	cfg.serial = "bad\nserial";
	assert_int_equal(scsi_disk_create(&cfg, &d), -EINVAL);
	cfg.serial = "12345678901234567890";
	cfg.max_transfer_bytes = 1000;
	assert_int_equal(scsi_disk_create(&cfg, &d), -EINVAL);
	cfg.max_transfer_bytes = 0;
	const struct scsi_disk_backend_ops no_write = { .read = scsi_disk_mem_ops.read };
	cfg.backend.ops = &no_write;
	assert_int_equal(scsi_disk_create(&cfg, &d), -EINVAL);
	cfg.backend.ops = &scsi_disk_mem_ops;
	cfg.backend.size = 1000;    /* a partial block at the end is not part of the disk */
	assert_int_equal(scsi_disk_create(&cfg, &d), 0);
	assert_int_equal(scsi_disk_block_count(d), 1);
	assert_int_equal(scsi_disk_max_transfer_bytes(d), SCSI_DISK_DEFAULT_MAX_TRANSFER);
	assert_false(scsi_disk_read_only(d));

	struct scsi_result r;
	uint8_t tur[6] = { 0 };
	assert_int_equal(scsi_disk_execute(NULL, tur, 6, false, NULL, 0, &r), -EINVAL);
	assert_int_equal(scsi_disk_execute(d, tur, 6, false, NULL, 0, NULL), -EINVAL);
	assert_int_equal(scsi_disk_execute(d, NULL, 6, false, NULL, 0, &r), -EINVAL);
	assert_int_equal(scsi_disk_execute(d, tur, 6, false, NULL, 4, &r), -EINVAL);
	scsi_disk_destroy(d);
	scsi_disk_destroy(NULL);
}

static void test_tur_and_start_stop(void **state)
{
	struct fx *f = *state;
	uint8_t tur[6] = { 0x00 }, ssu[6] = { 0x1B, 0, 0, 0, 0x01, 0 };
	uint8_t buf[16];

	assert_good(run(f, tur, 6, false, NULL, 0));
	/* A buffer given with a no-data command is ignored, in either direction. */
	struct scsi_result *r = run(f, tur, 6, true, buf, sizeof(buf));
	assert_good(r);
	assert_int_equal(r->transferred, 0);
	assert_int_equal(r->residual, sizeof(buf));
	assert_good(run(f, ssu, 6, false, NULL, 0));
	ssu[4] = 0x00;    /* stop: accepted, the disk stays ready */
	assert_good(run(f, ssu, 6, false, NULL, 0));
	assert_good(run(f, tur, 6, false, NULL, 0));
}

static void test_unknown_opcode(void **state)
{
	struct fx *f = *state;
	static const uint8_t ops[] = { 0x04 /* FORMAT UNIT */, 0x15 /* MODE SELECT */, 0x41,
				       0x42 /* UNMAP */, 0x93 /* WRITE SAME 16 */, 0xA3, 0xFF };
	for (size_t i = 0; i < sizeof(ops); i++) {
		uint8_t c[16] = { ops[i] };
		assert_sense(run(f, c, 16, false, NULL, 0), SCSI_SENSE_ILLEGAL_REQUEST,
			     SCSI_ASC_INVALID_OPCODE, 0);
	}
	/* 0x9E with another service action is a known opcode with an invalid field. */
	uint8_t sai[16] = { 0x9E, 0x11 };
	uint8_t buf[32];
	assert_invalid_field(run(f, sai, 16, true, buf, sizeof(buf)), 1);

	struct scsi_disk_stats st;
	scsi_disk_get_stats(f->d, &st);
	assert_int_equal(st.commands, sizeof(ops) + 1);
	assert_int_equal(st.check_conditions, sizeof(ops) + 1);
}

static void test_cdb_length_and_naca(void **state)
{
	struct fx *f = *state;
	uint8_t c[16] = { 0 };
	uint8_t buf[512];

	assert_invalid_field(run(f, c, 0, false, NULL, 0), 0);
	rw_cdb(c, 0x28, 0, 1);
	assert_invalid_field(run(f, c, 9, true, buf, sizeof(buf)), 9);    /* READ(10) in 9 */
	rw_cdb(c, 0x88, 0, 1);
	assert_invalid_field(run(f, c, 12, true, buf, sizeof(buf)), 12);
	/* Extra bytes after a complete CDB are ignored. */
	rw_cdb(c, 0x28, 0, 1);
	assert_good(run(f, c, 16, true, buf, sizeof(buf)));
	/* NACA in the control byte (the last byte of the opcode's CDB). */
	uint8_t tur[6] = { 0, 0, 0, 0, 0, 0x04 };
	assert_invalid_field(run(f, tur, 6, false, NULL, 0), 5);
	rw_cdb(c, 0x8A, 0, 1);
	c[15] = 0x04;
	assert_invalid_field(run(f, c, 16, false, buf, sizeof(buf)), 15);
}

/* ---- INQUIRY ---------------------------------------------------------------------------- */

static struct scsi_result *inquiry(struct fx *f, bool evpd, uint8_t page, uint16_t alloc,
				   uint8_t *buf, size_t len)
{
	uint8_t c[6] = { 0x12, evpd ? 1 : 0, page, (uint8_t)(alloc >> 8), (uint8_t)alloc, 0 };
	return run(f, c, 6, true, buf, len);
}

static void test_inquiry_standard(void **state)
{
	struct fx *f = *state;
	uint8_t buf[256];

	memset(buf, 0xAA, sizeof(buf));
	struct scsi_result *r = inquiry(f, false, 0, 255, buf, sizeof(buf));
	assert_good(r);
	assert_int_equal(r->transferred, 36);
	assert_int_equal(r->residual, sizeof(buf) - 36);
	assert_int_equal(buf[0], 0x00);            /* connected direct-access device */
	assert_int_equal(buf[2], 0x06);            /* SPC-4 */
	assert_int_equal(buf[3] & 0x0F, 2);        /* response data format */
	assert_int_equal(buf[4], 36 - 5);
	assert_true(buf[7] & 0x02);                /* CMDQUE */
	assert_memory_equal(buf + 8, "Mezz    ", 8);
	for (int i = 8; i < 36; i++)
		assert_true(buf[i] >= 0x20 && buf[i] <= 0x7E);
	assert_int_equal(buf[36], 0xAA);           /* nothing written past the data */

	/* Allocation length truncates; so does a smaller buffer. */
	memset(buf, 0xAA, sizeof(buf));
	r = inquiry(f, false, 0, 5, buf, sizeof(buf));
	assert_good(r);
	assert_int_equal(r->transferred, 5);
	assert_int_equal(buf[4], 31);
	assert_int_equal(buf[5], 0xAA);
	r = inquiry(f, false, 0, 255, buf, 10);
	assert_good(r);
	assert_int_equal(r->transferred, 10);
	assert_int_equal(r->residual, 0);
	r = inquiry(f, false, 0, 0, buf, sizeof(buf));
	assert_good(r);
	assert_int_equal(r->transferred, 0);
	r = inquiry(f, false, 0, 36, NULL, 0);
	assert_good(r);
	assert_int_equal(r->transferred, 0);
	/* Two-byte allocation length: 0x0100 is 256, not 0. */
	r = inquiry(f, false, 0, 0x100, buf, sizeof(buf));
	assert_int_equal(r->transferred, 36);

	assert_invalid_field(inquiry(f, false, 0x80, 255, buf, sizeof(buf)), 2);
	uint8_t cmddt[6] = { 0x12, 0x02, 0, 0, 255, 0 };
	assert_invalid_field(run(f, cmddt, 6, true, buf, sizeof(buf)), 1);
	/* A data-in command given a data-out buffer. */
	r = inquiry(f, false, 0, 255, NULL, 0);
	assert_good(r);
	uint8_t c[6] = { 0x12, 0, 0, 0, 255, 0 };
	assert_sense(run(f, c, 6, false, buf, sizeof(buf)), SCSI_SENSE_ILLEGAL_REQUEST,
		     SCSI_ASC_INVALID_FIELD_IN_CDB, 0);
}

static void test_inquiry_vpd(void **state)
{
	struct fx *f = *state;
	uint8_t buf[256];

	/* 0x00: supported pages, ascending. */
	struct scsi_result *r = inquiry(f, true, 0x00, 255, buf, sizeof(buf));
	assert_good(r);
	assert_int_equal(buf[1], 0x00);
	size_t n = (size_t)(buf[2] << 8 | buf[3]);
	assert_int_equal(r->transferred, n + 4);
	static const uint8_t want[] = { 0x00, 0x80, 0x83, 0xB0, 0xB1 };
	assert_int_equal(n, sizeof(want));
	assert_memory_equal(buf + 4, want, sizeof(want));
	/* Every listed page answers; the list is the truth. */
	for (size_t i = 0; i < n; i++) {
		uint8_t pg[256];
		r = inquiry(f, true, want[i], 255, pg, sizeof(pg));
		assert_good(r);
		assert_int_equal(pg[1], want[i]);
		assert_int_equal(r->transferred, (size_t)(pg[2] << 8 | pg[3]) + 4);
	}

	/* 0x80: the configured serial. */
	r = inquiry(f, true, 0x80, 255, buf, sizeof(buf));
	assert_int_equal(buf[3], 7);
	assert_memory_equal(buf + 4, "SN-1234", 7);
	assert_int_equal(r->transferred, 11);

	/* 0x83: walk the designators; a T10 vendor id and the NAA 3 id. */
	r = inquiry(f, true, 0x83, 255, buf, sizeof(buf));
	size_t len = (size_t)(buf[2] << 8 | buf[3]) + 4, off = 4;
	bool t10 = false, naa = false;
	while (off + 4 <= len) {
		uint8_t type = buf[off + 1] & 0x0F, dl = buf[off + 3];
		assert_true(off + 4 + dl <= len);
		assert_int_equal((buf[off + 1] >> 4) & 3, 0);    /* association: the LU */
		if (type == 1) {
			assert_int_equal(buf[off] & 0x0F, 2);     /* ASCII */
			assert_memory_equal(buf + off + 4, "Mezz    ", 8);
			assert_memory_equal(buf + off + 4 + dl - 7, "SN-1234", 7);
			t10 = true;
		} else if (type == 3) {
			assert_int_equal(dl, 8);
			assert_int_equal(buf[off] & 0x0F, 1);     /* binary */
			uint64_t v = be64(buf + off + 4);
			assert_int_equal(v >> 60, 3);
			const uint64_t low60 = (1ull << 60) - 1;
			assert_int_equal(v & low60, 0xABCDEF0123456789ull & low60);
			naa = true;
		}
		off += 4 + dl;
	}
	assert_int_equal(off, len);
	assert_true(t10 && naa);

	/* 0xB0: maximum transfer length in blocks. */
	r = inquiry(f, true, 0xB0, 255, buf, sizeof(buf));
	assert_int_equal(buf[3], 0x3C);
	assert_int_equal(be32(buf + 8), SCSI_DISK_DEFAULT_MAX_TRANSFER / 512);
	/* 0xB1: non-rotating medium. */
	r = inquiry(f, true, 0xB1, 255, buf, sizeof(buf));
	assert_int_equal(buf[4] << 8 | buf[5], 1);

	/* Truncation applies to VPD pages too. */
	memset(buf, 0xAA, sizeof(buf));
	r = inquiry(f, true, 0xB0, 6, buf, sizeof(buf));
	assert_int_equal(r->transferred, 6);
	assert_int_equal(buf[6], 0xAA);

	static const uint8_t bad[] = { 0x01, 0x81, 0x86, 0xB2, 0xFF };
	for (size_t i = 0; i < sizeof(bad); i++)
		assert_invalid_field(inquiry(f, true, bad[i], 255, buf, sizeof(buf)), 2);
}

/* ---- capacity --------------------------------------------------------------------------- */

static int null_read(void *ctx, void *buf, size_t len, uint64_t off)
{
	(void)ctx, (void)buf, (void)len, (void)off;
	return -EIO;
}

static int null_write(void *ctx, const void *buf, size_t len, uint64_t off)
{
	(void)ctx, (void)buf, (void)len, (void)off;
	return -EIO;
}

static const struct scsi_disk_backend_ops null_ops = { .read = null_read, .write = null_write };

static void test_read_capacity(void **state)
{
	struct fx *f = *state;
	uint8_t buf[64];
	uint8_t rc10[10] = { 0x25 };

	memset(buf, 0xAA, sizeof(buf));
	struct scsi_result *r = run(f, rc10, 10, true, buf, sizeof(buf));
	assert_good(r);
	assert_int_equal(r->transferred, 8);
	assert_int_equal(be32(buf), DISK_BLOCKS - 1);
	assert_int_equal(be32(buf + 4), 512);
	assert_int_equal(buf[8], 0xAA);
	/* No allocation length in READ CAPACITY(10): the buffer truncates. */
	r = run(f, rc10, 10, true, buf, 4);
	assert_int_equal(r->transferred, 4);
	rc10[5] = 1;    /* LBA without PMI */
	assert_invalid_field(run(f, rc10, 10, true, buf, sizeof(buf)), 2);
	rc10[8] = 1;    /* PMI */
	assert_good(run(f, rc10, 10, true, buf, sizeof(buf)));

	uint8_t rc16[16] = { 0x9E, 0x10 };
	put32(rc16 + 10, 32);
	memset(buf, 0xAA, sizeof(buf));
	r = run(f, rc16, 16, true, buf, sizeof(buf));
	assert_good(r);
	assert_int_equal(r->transferred, 32);
	assert_int_equal(be64(buf), DISK_BLOCKS - 1);
	assert_int_equal(be32(buf + 8), 512);
	assert_int_equal(buf[12], 0);    /* no protection */
	put32(rc16 + 10, 12);
	memset(buf, 0xAA, sizeof(buf));
	r = run(f, rc16, 16, true, buf, sizeof(buf));
	assert_int_equal(r->transferred, 12);
	assert_int_equal(buf[12], 0xAA);
	put32(rc16 + 10, 0);
	assert_int_equal(run(f, rc16, 16, true, buf, sizeof(buf))->transferred, 0);
	put32(rc16 + 10, 32);
	rc16[9] = 1;
	assert_invalid_field(run(f, rc16, 16, true, buf, sizeof(buf)), 2);
}

/* A 3 TiB disk: READ CAPACITY(10) saturates, (16) gives the real last LBA. */
static void test_read_capacity_large(void **state)
{
	(void)state;
	struct scsi_disk_config cfg = {
		.backend = { .ops = &null_ops, .size = 3ull << 40 },
	};
	struct scsi_disk *d;
	struct scsi_result r;
	uint8_t buf[32];

	assert_int_equal(scsi_disk_create(&cfg, &d), 0);
	uint8_t rc10[10] = { 0x25 };
	assert_int_equal(scsi_disk_execute(d, rc10, 10, true, buf, sizeof(buf), &r), 0);
	assert_int_equal(r.status, SCSI_STATUS_GOOD);
	assert_int_equal(be32(buf), 0xFFFFFFFFu);
	uint8_t rc16[16] = { 0x9E, 0x10, [13] = 32 };
	assert_int_equal(scsi_disk_execute(d, rc16, 16, true, buf, sizeof(buf), &r), 0);
	assert_int_equal(r.status, SCSI_STATUS_GOOD);
	assert_int_equal(be64(buf), (3ull << 40) / 512 - 1);

	/* Short block descriptor saturates too; the long one does not. */
	uint8_t ms6[6] = { 0x1A, 0, 0x08, 0, 255, 0 };
	assert_int_equal(scsi_disk_execute(d, ms6, 6, true, buf, sizeof(buf), &r), 0);
	assert_int_equal(be32(buf + 4), 0xFFFFFFFFu);
	uint8_t ms10[10] = { 0x5A, 0x10, 0x08, 0, 0, 0, 0, 0, 32, 0 };
	assert_int_equal(scsi_disk_execute(d, ms10, 10, true, buf, sizeof(buf), &r), 0);
	assert_int_equal(buf[4] & 1, 1);
	assert_int_equal(be64(buf + 8), (3ull << 40) / 512);

	/* The backend errors are reported as medium errors. */
	uint8_t rd[10] = { 0x28, 0, 0, 0, 0, 5, 0, 0, 1, 0 };
	uint8_t blk[512];
	assert_int_equal(scsi_disk_execute(d, rd, 10, true, blk, sizeof(blk), &r), 0);
	assert_int_equal(r.status, SCSI_STATUS_CHECK_CONDITION);
	assert_int_equal(r.sense[2], SCSI_SENSE_MEDIUM_ERROR);
	scsi_disk_destroy(d);
}

/* ---- READ / WRITE ----------------------------------------------------------------------- */

static void test_read_write_all_sizes(void **state)
{
	struct fx *f = *state;
	static const uint8_t rd[] = { 0x08, 0x28, 0xA8, 0x88 };
	static const uint8_t wr[] = { 0x0A, 0x2A, 0xAA, 0x8A };
	uint8_t out[8 * 512], in[8 * 512];

	for (size_t w = 0; w < 4; w++) {
		uint64_t lba = 10 + 40 * w;
		uint32_t blocks = (uint32_t)(1 + w * 2);
		size_t bytes = blocks * 512u;
		for (size_t i = 0; i < bytes; i++)
			out[i] = (uint8_t)(0x5A ^ (i * 13) ^ w);
		struct scsi_result *r = rw(f, wr[w], lba, blocks, false, out, bytes);
		assert_good(r);
		assert_int_equal(r->transferred, bytes);
		/* The backing store has exactly this, and its neighbours are untouched. */
		assert_memory_equal(f->mem + lba * 512, out, bytes);
		assert_int_equal(f->mem[lba * 512 - 1], pattern(lba * 512 - 1));
		assert_int_equal(f->mem[lba * 512 + bytes], pattern(lba * 512 + bytes));
		/* Read back through every read size. */
		for (size_t rr = 0; rr < 4; rr++) {
			memset(in, 0, sizeof(in));
			r = rw(f, rd[rr], lba, blocks, true, in, bytes);
			assert_good(r);
			assert_int_equal(r->transferred, bytes);
			assert_memory_equal(in, out, bytes);
		}
	}
	struct scsi_disk_stats st;
	scsi_disk_get_stats(f->d, &st);
	assert_int_equal(st.written_blocks, 1 + 3 + 5 + 7);
	assert_int_equal(st.read_blocks, 4 * (1 + 3 + 5 + 7));
}

static void test_read6_zero_means_256(void **state)
{
	struct fx *f = *state;
	uint8_t *buf = malloc(256 * 512);
	assert_non_null(buf);

	struct scsi_result *r = rw(f, 0x08, 3, 0, true, buf, 256 * 512);
	assert_good(r);
	assert_int_equal(r->transferred, 256 * 512);
	assert_memory_equal(buf, f->mem + 3 * 512, 256 * 512);
	/* ... and a 255-block buffer is too small for it. */
	assert_sense(rw(f, 0x08, 3, 0, true, buf, 255 * 512), SCSI_SENSE_ILLEGAL_REQUEST,
		     SCSI_ASC_INVALID_FIELD_IN_CDB, 0);
	/* 21-bit LBA: the top bits of byte 1 are not part of it. */
	uint8_t c[6] = { 0x08, 0xE0, 0, 2, 1, 0 };
	r = run(f, c, 6, true, buf, 512);
	assert_good(r);
	assert_memory_equal(buf, f->mem + 2 * 512, 512);
	free(buf);
}

static void test_lba_boundaries(void **state)
{
	struct fx *f = *state;
	uint8_t buf[2 * 512];
	const uint64_t last = DISK_BLOCKS - 1;

	/* The last block reads and writes. */
	struct scsi_result *r = rw(f, 0x88, last, 1, true, buf, 512);
	assert_good(r);
	assert_memory_equal(buf, f->mem + last * 512, 512);
	memset(buf, 0x33, sizeof(buf));
	assert_good(rw(f, 0x2A, last, 1, false, buf, 512));
	assert_int_equal(f->mem[DISK_BYTES - 1], 0x33);

	static const uint8_t ops[] = { 0x28, 0xA8, 0x88, 0x2A, 0xAA, 0x8A };
	for (size_t i = 0; i < sizeof(ops); i++) {
		bool in = !(ops[i] & 2);
		/* One block past the end, starting inside and outside. */
		assert_sense(rw(f, ops[i], last, 2, in, buf, sizeof(buf)),
			     SCSI_SENSE_ILLEGAL_REQUEST, SCSI_ASC_LBA_OUT_OF_RANGE, 0);
		assert_sense(rw(f, ops[i], last + 1, 1, in, buf, sizeof(buf)),
			     SCSI_SENSE_ILLEGAL_REQUEST, SCSI_ASC_LBA_OUT_OF_RANGE, 0);
		/* Zero blocks: not an error, no data, but the LBA must exist. */
		r = rw(f, ops[i], last, 0, in, NULL, 0);
		assert_good(r);
		assert_int_equal(r->transferred, 0);
		assert_sense(rw(f, ops[i], last + 1, 0, in, NULL, 0), SCSI_SENSE_ILLEGAL_REQUEST,
			     SCSI_ASC_LBA_OUT_OF_RANGE, 0);
	}
	/* 32-bit LBAs far beyond a 1 MiB disk. */
	assert_sense(rw(f, 0x28, 0xFFFFFFFFu, 1, true, buf, 512), SCSI_SENSE_ILLEGAL_REQUEST,
		     SCSI_ASC_LBA_OUT_OF_RANGE, 0);
	/* Read(6) addresses only 21 bits: 0x1FFFFF is out of range here. */
	assert_sense(rw(f, 0x08, 0x1FFFFF, 1, true, buf, 512), SCSI_SENSE_ILLEGAL_REQUEST,
		     SCSI_ASC_LBA_OUT_OF_RANGE, 0);
	/* Backend not called for any of the refused ones. */
	assert_int_equal(f->be.writes, 1);
}

static void test_lba_overflow(void **state)
{
	struct fx *f = *state;
	uint8_t buf[16 * 512];

	/* lba + blocks wraps around 2^64: must not look like a small range. */
	uint64_t lbas[] = { UINT64_MAX, UINT64_MAX - 3, UINT64_MAX - 15, 1ull << 63,
			    (UINT64_MAX / 512) + 1 };
	for (size_t i = 0; i < sizeof(lbas) / sizeof(lbas[0]); i++) {
		assert_sense(rw(f, 0x88, lbas[i], 16, true, buf, sizeof(buf)),
			     SCSI_SENSE_ILLEGAL_REQUEST, SCSI_ASC_LBA_OUT_OF_RANGE, 0);
		assert_sense(rw(f, 0x8A, lbas[i], 16, false, buf, sizeof(buf)),
			     SCSI_SENSE_ILLEGAL_REQUEST, SCSI_ASC_LBA_OUT_OF_RANGE, 0);
		assert_sense(rw(f, 0x8F, lbas[i], 16, false, NULL, 0),
			     SCSI_SENSE_ILLEGAL_REQUEST, SCSI_ASC_LBA_OUT_OF_RANGE, 0);
		assert_sense(rw(f, 0x91, lbas[i], 16, false, NULL, 0),
			     SCSI_SENSE_ILLEGAL_REQUEST, SCSI_ASC_LBA_OUT_OF_RANGE, 0);
	}
	/* A huge transfer length from a valid LBA: range error, not an allocation. */
	assert_sense(rw(f, 0x88, 1, 0x7FFFFF, true, buf, sizeof(buf)), SCSI_SENSE_ILLEGAL_REQUEST,
		     SCSI_ASC_INVALID_FIELD_IN_CDB, 0);    /* buffer too small is checked first */
	uint8_t c[16];
	rw_cdb(c, 0x8F, 1, 0xFFFFFFFFu);
	assert_sense(run(f, c, 16, false, NULL, 0), SCSI_SENSE_ILLEGAL_REQUEST,
		     SCSI_ASC_LBA_OUT_OF_RANGE, 0);
	assert_int_equal(f->be.reads + f->be.writes, 0);
}

static void test_max_transfer_and_protect_fields(void **state)
{
	struct fx *f = *state;
	uint8_t *buf = calloc(1, SCSI_DISK_DEFAULT_MAX_TRANSFER + 512);
	assert_non_null(buf);
	uint32_t max = SCSI_DISK_DEFAULT_MAX_TRANSFER / 512;

	assert_good(rw(f, 0x28, 0, max, true, buf, max * 512u));
	assert_invalid_field(rw(f, 0x28, 0, max + 1, true, buf, (max + 1) * 512u), 7);
	assert_invalid_field(rw(f, 0xAA, 0, max + 1, false, buf, (max + 1) * 512u), 6);
	assert_invalid_field(rw(f, 0x88, 0, max + 1, true, buf, (max + 1) * 512u), 10);

	uint8_t c[16];
	rw_cdb(c, 0x28, 0, 1);
	c[1] = 0x20;    /* RDPROTECT 1 */
	assert_invalid_field(run(f, c, 10, true, buf, 512), 1);
	rw_cdb(c, 0x8A, 0, 1);
	c[1] = 0xE0;
	assert_invalid_field(run(f, c, 16, false, buf, 512), 1);
	free(buf);
}

static void test_buffer_mismatch(void **state)
{
	struct fx *f = *state;
	uint8_t buf[4096];

	/* Too small: nothing touched, nothing written. */
	memset(buf, 0xAA, sizeof(buf));
	assert_sense(rw(f, 0x28, 4, 2, true, buf, 1023), SCSI_SENSE_ILLEGAL_REQUEST,
		     SCSI_ASC_INVALID_FIELD_IN_CDB, 0);
	assert_int_equal(f->r.sense[15], 0);    /* no field pointer: not a CDB field */
	for (size_t i = 0; i < sizeof(buf); i++)
		assert_int_equal(buf[i], 0xAA);
	assert_sense(rw(f, 0x2A, 4, 2, false, buf, 1023), SCSI_SENSE_ILLEGAL_REQUEST,
		     SCSI_ASC_INVALID_FIELD_IN_CDB, 0);
	assert_sense(rw(f, 0x2A, 4, 1, false, NULL, 0), SCSI_SENSE_ILLEGAL_REQUEST,
		     SCSI_ASC_INVALID_FIELD_IN_CDB, 0);
	assert_int_equal(f->mem[4 * 512], pattern(4 * 512));

	/* Wrong direction. */
	assert_sense(rw(f, 0x28, 4, 1, false, buf, 512), SCSI_SENSE_ILLEGAL_REQUEST,
		     SCSI_ASC_INVALID_FIELD_IN_CDB, 0);
	assert_sense(rw(f, 0x2A, 4, 1, true, buf, 512), SCSI_SENSE_ILLEGAL_REQUEST,
		     SCSI_ASC_INVALID_FIELD_IN_CDB, 0);
	assert_int_equal(f->mem[4 * 512], pattern(4 * 512));
	assert_int_equal(f->be.reads + f->be.writes, 0);

	/* Too large: an underrun, only the transfer length moves. */
	struct scsi_result *r = rw(f, 0x28, 4, 1, true, buf, sizeof(buf));
	assert_good(r);
	assert_int_equal(r->transferred, 512);
	assert_int_equal(r->residual, sizeof(buf) - 512);
	assert_memory_equal(buf, f->mem + 4 * 512, 512);
	assert_int_equal(buf[512], 0xAA);
	memset(buf, 0x77, sizeof(buf));
	r = rw(f, 0x2A, 4, 1, false, buf, sizeof(buf));
	assert_int_equal(r->transferred, 512);
	assert_int_equal(f->mem[5 * 512], pattern(5 * 512));
}

static void test_read_only(void **state)
{
	struct fx *f = *state;
	uint8_t buf[512];
	static const uint8_t wr[] = { 0x0A, 0x2A, 0xAA, 0x8A };

	assert_true(scsi_disk_read_only(f->d));
	memset(buf, 0x11, sizeof(buf));
	for (size_t i = 0; i < sizeof(wr); i++) {
		assert_sense(rw(f, wr[i], 1, 1, false, buf, sizeof(buf)), SCSI_SENSE_DATA_PROTECT,
			     SCSI_ASC_WRITE_PROTECTED, 0);
		assert_sense(rw(f, wr[i], 1, wr[i] == 0x0A ? 1 : 0, false, buf, sizeof(buf)),
			     SCSI_SENSE_DATA_PROTECT, SCSI_ASC_WRITE_PROTECTED, 0);
	}
	assert_int_equal(f->be.writes, 0);
	assert_int_equal(f->mem[512], pattern(512));
	/* Reads, verify and cache flushes still work. */
	assert_good(rw(f, 0x28, 1, 1, true, buf, sizeof(buf)));
	assert_memory_equal(buf, f->mem + 512, 512);
	assert_good(rw(f, 0x2F, 1, 1, false, NULL, 0));
	assert_good(rw(f, 0x35, 0, 0, false, NULL, 0));

	/* MODE SENSE shows WP. */
	uint8_t ms6[6] = { 0x1A, 0x08, 0x3F, 0, 255, 0 };
	assert_good(run(f, ms6, 6, true, buf, sizeof(buf)));
	assert_int_equal(buf[2] & 0x80, 0x80);
	uint8_t ms10[10] = { 0x5A, 0x08, 0x3F, 0, 0, 0, 0, 0, 255, 0 };
	assert_good(run(f, ms10, 10, true, buf, sizeof(buf)));
	assert_int_equal(buf[3] & 0x80, 0x80);
}

static void test_backend_errors(void **state)
{
	struct fx *f = *state;
	uint8_t buf[1024];

	f->be.fail_read = -EIO;
	assert_sense(rw(f, 0x28, 0, 2, true, buf, sizeof(buf)), SCSI_SENSE_MEDIUM_ERROR,
		     SCSI_ASC_UNRECOVERED_READ_ERROR, 0);
	f->be.fail_read = 0;
	f->be.fail_write = -ENOSPC;
	assert_sense(rw(f, 0x2A, 0, 2, false, buf, sizeof(buf)), SCSI_SENSE_MEDIUM_ERROR,
		     SCSI_ASC_WRITE_ERROR, 0);
	f->be.fail_write = 0;
	f->be.fail_flush = -EIO;
	assert_sense(rw(f, 0x35, 0, 0, false, NULL, 0), SCSI_SENSE_MEDIUM_ERROR,
		     SCSI_ASC_WRITE_ERROR, 0);
	assert_sense(rw(f, 0x91, 0, 0, false, NULL, 0), SCSI_SENSE_MEDIUM_ERROR,
		     SCSI_ASC_WRITE_ERROR, 0);
	/* WRITE with FUA flushes, and its failure is the write's. */
	uint8_t c[16];
	rw_cdb(c, 0x2A, 0, 1);
	c[1] = 0x08;
	assert_sense(run(f, c, 10, false, buf, 512), SCSI_SENSE_MEDIUM_ERROR, SCSI_ASC_WRITE_ERROR,
		     0);
	f->be.fail_flush = 0;
	unsigned flushes = f->be.flushes;
	assert_good(run(f, c, 10, false, buf, 512));
	assert_int_equal(f->be.flushes, flushes + 1);
	/* WRITE(6) has no FUA, WRITE(10) without it does not flush. */
	rw_cdb(c, 0x2A, 0, 1);
	assert_good(run(f, c, 10, false, buf, 512));
	assert_int_equal(f->be.flushes, flushes + 1);

	struct scsi_disk_stats st;
	scsi_disk_get_stats(f->d, &st);
	assert_int_equal(st.backend_errors, 5);
	/* Blocks are counted as a transfer starts; a failed one is taken back. */
	assert_int_equal(st.read_blocks, 0);
	assert_int_equal(st.written_blocks, 2);
}

/*
 * scsi_disk_execute_batch over a backend with rw_batch: which transfers go together, in what
 * order the rest runs, and every command's result equal to executing them one by one.
 */
struct batch_be {
	struct scsi_disk_mem m;
	uint64_t fail_offset;           /* a read at this offset fails (-EIO); ~0: none */
	char log[128];                  /* "B3 F W ..." */
};

static void blog(struct batch_be *b, const char *ev)
{
	strncat(b->log, ev, sizeof(b->log) - strlen(b->log) - 1);
}

static int bb_read(void *ctx, void *buf, size_t len, uint64_t off)
{
	struct batch_be *b = ctx;
	blog(b, "R ");
	return off == b->fail_offset ? -EIO : scsi_disk_mem_ops.read(&b->m, buf, len, off);
}

static int bb_write(void *ctx, const void *buf, size_t len, uint64_t off)
{
	struct batch_be *b = ctx;
	blog(b, "W ");
	return scsi_disk_mem_ops.write(&b->m, buf, len, off);
}

static int bb_flush(void *ctx)
{
	blog(ctx, "F ");
	return 0;
}

static void bb_rw_batch(void *ctx, struct scsi_disk_io *ios, size_t n)
{
	struct batch_be *b = ctx;
	char ev[8];
	snprintf(ev, sizeof(ev), "B%zu ", n);
	blog(b, ev);
	for (size_t i = n; i-- > 0;) {     /* last first: the order is the backend's */
		struct scsi_disk_io *io = &ios[i];
		io->err = !io->write && io->offset == b->fail_offset ? -EIO :
			  io->write ? scsi_disk_mem_ops.write(&b->m, io->buf, io->len, io->offset)
				    : scsi_disk_mem_ops.read(&b->m, io->buf, io->len, io->offset);
	}
}

static void test_execute_batch(void **state)
{
	(void)state;
	static const struct scsi_disk_backend_ops batch_ops = {
		.read = bb_read, .write = bb_write, .flush = bb_flush, .rw_batch = bb_rw_batch,
	};
	static const struct scsi_disk_backend_ops seq_ops = {
		.read = bb_read, .write = bb_write, .flush = bb_flush,
	};
	static uint8_t mem[2][DISK_BYTES];
	struct batch_be be[2];
	struct scsi_disk *d[2];
	for (int k = 0; k < 2; k++) {
		for (size_t i = 0; i < DISK_BYTES; i++)
			mem[k][i] = pattern(i);
		struct scsi_disk_backend dummy;
		memset(&be[k], 0, sizeof(be[k]));
		scsi_disk_mem_backend(&be[k].m, mem[k], DISK_BYTES, &dummy);
		be[k].fail_offset = 80 * 512;
		struct scsi_disk_config cfg = {
			.backend = { .ops = k ? &seq_ops : &batch_ops, .ctx = &be[k],
				     .size = DISK_BYTES },
		};
		assert_int_equal(scsi_disk_create(&cfg, &d[k]), 0);
	}
	enum { N = 10 };
	uint8_t cdbs[N][16];
	size_t lens[N] = { 10, 10, 16, 10, 10, 10, 10, 6, 10, 10 };
	bool in[N] = { true, false, true, false, true, false, true, true, true, true };
	rw_cdb(cdbs[0], 0x28, 0, 8);
	rw_cdb(cdbs[1], 0x2A, 16, 8);
	rw_cdb(cdbs[2], 0x88, 32, 8);
	memset(cdbs[3], 0, 16);
	cdbs[3][0] = 0x35;                          /* SYNCHRONIZE CACHE(10) */
	rw_cdb(cdbs[4], 0x28, 48, 8);
	rw_cdb(cdbs[5], 0x2A, 64, 8);
	cdbs[5][1] = 0x08;                          /* FUA */
	rw_cdb(cdbs[6], 0x28, 80, 8);               /* the backend fails it */
	uint8_t inq[6] = { 0x12, 0, 0, 0, 36, 0 };
	memcpy(cdbs[7], inq, 6);
	rw_cdb(cdbs[8], 0x28, DISK_BLOCKS - 4, 8);  /* past the end */
	rw_cdb(cdbs[9], 0x28, 96, 8);
	static uint8_t bufs[2][N][4096];
	struct scsi_disk_cmd cmds[N];
	for (int i = 0; i < N; i++) {
		size_t blen = cdbs[i][0] == 0x35 ? 0 : cdbs[i][0] == 0x12 ? 36 : 4096;
		for (int k = 0; k < 2; k++)
			memset(bufs[k][i], in[i] ? 0xEE : 0x40 + i, sizeof(bufs[k][i]));
		cmds[i] = (struct scsi_disk_cmd){ .cdb = cdbs[i], .cdb_len = lens[i],
						  .data_in = in[i], .buf = blen ? bufs[0][i] : NULL,
						  .buf_len = blen };
	}
	assert_int_equal(scsi_disk_execute_batch(d[0], cmds, N), 0);
	/* Reads and writes together; SYNCHRONIZE CACHE, the FUA write and INQUIRY in order. */
	assert_string_equal(be[0].log, "B3 F B1 W F B1 B1 ");
	for (int i = 0; i < N; i++) {
		struct scsi_result r;
		assert_int_equal(scsi_disk_execute(d[1], cmds[i].cdb, cmds[i].cdb_len, in[i],
						   cmds[i].buf_len ? bufs[1][i] : NULL,
						   cmds[i].buf_len, &r), 0);
		assert_int_equal(cmds[i].res.status, r.status);
		assert_int_equal(cmds[i].res.transferred, r.transferred);
		assert_int_equal(cmds[i].res.residual, r.residual);
		assert_int_equal(cmds[i].res.sense_len, r.sense_len);
		assert_memory_equal(cmds[i].res.sense, r.sense, r.sense_len);
		assert_memory_equal(bufs[0][i], bufs[1][i], sizeof(bufs[0][i]));
	}
	assert_int_equal(cmds[6].res.status, SCSI_STATUS_CHECK_CONDITION);
	assert_int_equal(cmds[8].res.status, SCSI_STATUS_CHECK_CONDITION);
	assert_memory_equal(mem[0], mem[1], DISK_BYTES);
	struct scsi_disk_stats st[2];
	for (int k = 0; k < 2; k++)
		scsi_disk_get_stats(d[k], &st[k]);
	assert_memory_equal(&st[0], &st[1], sizeof(st[0]));
	assert_int_equal(st[0].read_blocks, 8 + 8 + 8 + 8);
	assert_int_equal(scsi_disk_execute_batch(NULL, cmds, 1), -EINVAL);
	assert_int_equal(scsi_disk_execute_batch(d[0], NULL, 1), -EINVAL);
	assert_int_equal(scsi_disk_execute_batch(d[0], cmds, 0), 0);
	for (int k = 0; k < 2; k++)
		scsi_disk_destroy(d[k]);
}

/* A backend whose rw_batch answers nothing: the transfers fail, they do not "succeed". */
static void bb_lazy(void *ctx, struct scsi_disk_io *ios, size_t n)
{
	(void)ctx;
	(void)ios;
	(void)n;
}

static void test_execute_batch_unanswered(void **state)
{
	(void)state;
	static const struct scsi_disk_backend_ops lazy_ops = {
		.read = bb_read, .write = bb_write, .rw_batch = bb_lazy,
	};
	static uint8_t mem[DISK_BYTES];
	struct batch_be be;
	memset(&be, 0, sizeof(be));
	struct scsi_disk_backend dummy;
	scsi_disk_mem_backend(&be.m, mem, DISK_BYTES, &dummy);
	be.fail_offset = ~0ull;
	struct scsi_disk_config cfg = { .backend = { .ops = &lazy_ops, .ctx = &be,
						     .size = DISK_BYTES } };
	struct scsi_disk *d;
	assert_int_equal(scsi_disk_create(&cfg, &d), 0);
	uint8_t cdb[2][16], buf[2][4096];
	rw_cdb(cdb[0], 0x28, 0, 8);
	rw_cdb(cdb[1], 0x2A, 8, 8);
	struct scsi_disk_cmd cmds[2] = {
		{ .cdb = cdb[0], .cdb_len = 10, .data_in = true, .buf = buf[0], .buf_len = 4096 },
		{ .cdb = cdb[1], .cdb_len = 10, .data_in = false, .buf = buf[1], .buf_len = 4096 },
	};
	assert_int_equal(scsi_disk_execute_batch(d, cmds, 2), 0);
	for (int i = 0; i < 2; i++) {
		assert_int_equal(cmds[i].res.status, SCSI_STATUS_CHECK_CONDITION);
		assert_int_equal(cmds[i].res.transferred, 0);
		assert_int_equal(cmds[i].res.sense[SCSI_SENSE_OFF_KEY] & 0x0F, SCSI_SENSE_MEDIUM_ERROR);
	}
	struct scsi_disk_stats st;
	scsi_disk_get_stats(d, &st);
	assert_int_equal(st.read_blocks + st.written_blocks, 0);
	assert_int_equal(st.backend_errors, 2);
	scsi_disk_destroy(d);
}

/*
 * scsi_disk_submit over a backend whose device answers later, when the test says so (like
 * storvsc's host across the ring): rw_submit only records the started transfers;
 * abe_complete then does them over the memory disk (failing those at a fail offset) and calls
 * done. rw_batch does the same at once, so scsi_disk_execute_batch over a second, identical
 * disk is the reference every asynchronous result is compared with.
 */
#define ABE_MAX_FAIL 4

struct async_be {
	struct scsi_disk_mem m;
	uint64_t fail[ABE_MAX_FAIL];    /* transfers at these byte offsets fail with -EIO */
	size_t nfail;
	int submit_rc;                  /* rw_submit's answer; not 0: nothing starts */
	bool inline_done;               /* complete inside rw_submit, on the caller's thread */
	struct scsi_disk_io *ios;       /* the started transfers, until completed */
	size_t n;
	void (*done)(void *arg);
	void *arg;
	unsigned submits, batches, singles, cancels;    /* calls of each op (read/write: singles) */
	size_t submitted;               /* transfers rw_submit started, in all */
};

static int abe_io(struct async_be *b, bool write, void *buf, size_t len, uint64_t off)
{
	for (size_t i = 0; i < b->nfail; i++)
		if (b->fail[i] == off)
			return -EIO;
	return write ? scsi_disk_mem_ops.write(&b->m, buf, len, off)
		     : scsi_disk_mem_ops.read(&b->m, buf, len, off);
}

static int abe_read(void *ctx, void *buf, size_t len, uint64_t off)
{
	struct async_be *b = ctx;
	b->singles++;
	return abe_io(b, false, buf, len, off);
}

static int abe_write(void *ctx, const void *buf, size_t len, uint64_t off)
{
	struct async_be *b = ctx;
	b->singles++;
	return abe_io(b, true, (void *)buf, len, off);
}

static void abe_rw_batch(void *ctx, struct scsi_disk_io *ios, size_t n)
{
	struct async_be *b = ctx;
	b->batches++;
	for (size_t i = n; i-- > 0;)     /* last first: the order is the backend's */
		ios[i].err = abe_io(b, ios[i].write, ios[i].buf, ios[i].len, ios[i].offset);
}

/*
 * The device answers what was started: every transfer, then done() with nothing of the
 * backend's held. No cmocka assertions: it also runs on a second thread.
 */
static bool abe_complete(struct async_be *b)
{
	if (!b->ios)
		return false;
	for (size_t i = b->n; i-- > 0;)
		b->ios[i].err = abe_io(b, b->ios[i].write, b->ios[i].buf, b->ios[i].len,
				       b->ios[i].offset);
	void (*done)(void *arg) = b->done;
	void *arg = b->arg;
	b->ios = NULL;
	b->n = 0;
	done(arg);
	return true;
}

static int abe_rw_submit(void *ctx, struct scsi_disk_io *ios, size_t n, void (*done)(void *arg),
			 void *arg)
{
	struct async_be *b = ctx;
	b->submits++;
	if (b->submit_rc)
		return b->submit_rc;
	b->ios = ios;
	b->n = n;
	b->done = done;
	b->arg = arg;
	b->submitted += n;
	if (b->inline_done)
		abe_complete(b);
	return 0;
}

/* Everything outstanding fails with -ECANCELED, its done() has run when this returns. */
static void abe_cancel(void *ctx)
{
	struct async_be *b = ctx;
	b->cancels++;
	if (!b->ios)
		return;
	for (size_t i = 0; i < b->n; i++)
		b->ios[i].err = -ECANCELED;
	void (*done)(void *arg) = b->done;
	void *arg = b->arg;
	b->ios = NULL;
	b->n = 0;
	done(arg);
}

static const struct scsi_disk_backend_ops abe_ops = {
	.read = abe_read, .write = abe_write, .rw_batch = abe_rw_batch,
	.rw_submit = abe_rw_submit, .cancel = abe_cancel,
};

static void *abe_complete_thread(void *arg)
{
	abe_complete(arg);
	return NULL;
}

/* done(arg): how often, and on which thread the last time. */
struct done_rec {
	unsigned calls;
	pthread_t thread;
};

static void rec_done(void *arg)
{
	struct done_rec *r = arg;
	r->calls++;
	r->thread = pthread_self();
}

/* Two identical disks over async_be: [0] is given scsi_disk_submit, [1] execute_batch. */
struct apair {
	uint8_t mem[2][DISK_BYTES];
	struct async_be be[2];
	struct scsi_disk *d[2];
};

static struct scsi_disk *abe_disk(struct async_be *b, uint8_t *mem,
				  const struct scsi_disk_backend_ops *ops)
{
	memset(b, 0, sizeof(*b));
	for (size_t i = 0; i < DISK_BYTES; i++)
		mem[i] = pattern(i);
	struct scsi_disk_backend dummy;
	scsi_disk_mem_backend(&b->m, mem, DISK_BYTES, &dummy);
	/* The plain memory backend's ctx is its scsi_disk_mem. */
	void *ctx = ops == &scsi_disk_mem_ops ? (void *)&b->m : b;
	struct scsi_disk_config cfg = { .backend = { .ops = ops, .ctx = ctx, .size = DISK_BYTES } };
	struct scsi_disk *d = NULL;
	assert_int_equal(scsi_disk_create(&cfg, &d), 0);
	return d;
}

static int setup_apair(void **state)
{
	struct apair *p = calloc(1, sizeof(*p));
	assert_non_null(p);
	for (int k = 0; k < 2; k++)
		p->d[k] = abe_disk(&p->be[k], p->mem[k], &abe_ops);
	*state = p;
	return 0;
}

static int teardown_apair(void **state)
{
	struct apair *p = *state;
	for (int k = 0; k < 2; k++) {
		assert_null(p->be[k].ios);    /* nothing left outstanding */
		scsi_disk_destroy(p->d[k]);
	}
	free(p);
	return 0;
}

/* The same commands for both disks, each with its own buffers (equal at the start). */
#define ACMD_MAX (SCSI_DISK_BATCH_MAX + 1)
struct acmds {
	size_t n;
	uint8_t cdb[ACMD_MAX][16];
	uint64_t lba[ACMD_MAX];
	uint32_t blocks[ACMD_MAX];
	uint8_t buf[2][ACMD_MAX][4096];
	struct scsi_disk_cmd cmd[2][ACMD_MAX];
};

static bool op_is_read(uint8_t op)
{
	return op == 0x08 || op == 0x28 || op == 0xA8 || op == 0x88;
}

/* A READ or WRITE (data direction from the opcode) with a buf_len-byte buffer; its index. */
static size_t acmd_add(struct acmds *c, uint8_t op, uint64_t lba, uint32_t blocks,
		       size_t buf_len)
{
	size_t i = c->n++;
	assert_true(i < ACMD_MAX && buf_len <= sizeof(c->buf[0][0]));
	size_t cdb_len = rw_cdb(c->cdb[i], op, lba, blocks);
	c->lba[i] = lba;
	c->blocks[i] = blocks;
	bool in = op_is_read(op);
	for (int k = 0; k < 2; k++) {
		if (in)
			memset(c->buf[k][i], 0xEE, sizeof(c->buf[k][i]));
		else
			for (size_t j = 0; j < sizeof(c->buf[k][i]); j++)
				c->buf[k][i][j] = (uint8_t)(j * 13 + i * 5 + 3);
		c->cmd[k][i] = (struct scsi_disk_cmd){ .cdb = c->cdb[i], .cdb_len = cdb_len,
						       .data_in = in,
						       .buf = buf_len ? c->buf[k][i] : NULL,
						       .buf_len = buf_len };
		memset(&c->cmd[k][i].res, 0xEE, sizeof(c->cmd[k][i].res));
	}
	return i;
}

/* The submitted disk [0] against the reference [1]: results, buffers, media, statistics. */
static void assert_same_as_batch(struct apair *p, const struct acmds *c)
{
	for (size_t i = 0; i < c->n; i++) {
		const struct scsi_result *a = &c->cmd[0][i].res, *b = &c->cmd[1][i].res;
		assert_int_equal(a->status, b->status);
		assert_int_equal(a->transferred, b->transferred);
		assert_int_equal(a->residual, b->residual);
		assert_int_equal(a->sense_len, b->sense_len);
		assert_memory_equal(a->sense, b->sense, b->sense_len);
		assert_memory_equal(c->buf[0][i], c->buf[1][i], sizeof(c->buf[0][i]));
	}
	assert_memory_equal(p->mem[0], p->mem[1], DISK_BYTES);
	struct scsi_disk_stats st[2];
	for (int k = 0; k < 2; k++)
		scsi_disk_get_stats(p->d[k], &st[k]);
	assert_memory_equal(&st[0], &st[1], sizeof(st[0]));
}

/* How many started transfers are exactly command i's (buffer, offset, length, direction). */
static unsigned started_for(const struct scsi_disk_io *ios, size_t n, const struct acmds *c,
			    size_t i)
{
	unsigned hits = 0;
	for (size_t k = 0; k < n; k++)
		if (ios[k].buf == c->cmd[0][i].buf && ios[k].offset == c->lba[i] * 512 &&
		    ios[k].len == (size_t)c->blocks[i] * 512 && ios[k].write == !c->cmd[0][i].data_in)
			hits++;
	return hits;
}

static void test_submit_async(void **state)
{
	struct apair *p = *state;
	struct acmds *c = calloc(1, sizeof(*c));
	assert_non_null(c);
	struct scsi_disk_async a;
	struct done_rec rec = { 0 };

	/* 1. Completed later from the test: every size of CDB, one answered before the backend. */
	acmd_add(c, 0x28, 0, 8, 4096);                      /* READ(10) */
	acmd_add(c, 0x2A, 16, 8, 4096);                     /* WRITE(10) */
	acmd_add(c, 0x88, 32, 8, 4096);                     /* READ(16) */
	acmd_add(c, 0x8A, 48, 8, 4096);                     /* WRITE(16) */
	size_t past = acmd_add(c, 0x28, DISK_BLOCKS - 4, 8, 4096);
	size_t under = acmd_add(c, 0x28, 64, 4, 4096);      /* underrun: half the buffer */
	size_t empty = acmd_add(c, 0x2A, 72, 0, 0);         /* nothing to transfer */
	acmd_add(c, 0xAA, 80, 8, 4096);                     /* WRITE(12) */
	acmd_add(c, 0x08, 96, 8, 4096);                     /* READ(6) */
	acmd_add(c, 0xA8, 112, 8, 4096);                    /* READ(12) */
	assert_int_equal(scsi_disk_submit(p->d[0], c->cmd[0], c->n, &a, rec_done, &rec), 1);
	assert_int_equal(p->be[0].submits, 1);
	assert_int_equal(p->be[0].batches + p->be[0].singles, 0);
	assert_int_equal(p->be[0].n, c->n - 2);
	for (size_t i = 0; i < c->n; i++)
		assert_int_equal(started_for(p->be[0].ios, p->be[0].n, c, i),
				 i == past || i == empty ? 0 : 1);
	/* Started, not done: nothing moved yet, and no result for what is outstanding. */
	assert_int_equal(rec.calls, 0);
	for (size_t i = 0; i < c->n; i++) {
		if (i == past || i == empty)
			continue;
		assert_int_equal(c->cmd[0][i].res.transferred, 0);
		if (c->cmd[0][i].data_in)
			assert_memory_equal(c->buf[0][i], c->buf[1][i], 4096);    /* still 0xEE */
		else
			assert_memory_equal(p->mem[0] + c->lba[i] * 512,
					    p->mem[1] + c->lba[i] * 512, c->blocks[i] * 512);
	}
	/* The one past the end was answered at once. */
	assert_sense(&c->cmd[0][past].res, SCSI_SENSE_ILLEGAL_REQUEST, SCSI_ASC_LBA_OUT_OF_RANGE, 0);
	assert_int_equal(scsi_disk_execute_batch(p->d[1], c->cmd[1], c->n), 0);
	assert_true(abe_complete(&p->be[0]));
	assert_int_equal(rec.calls, 1);
	scsi_disk_finish(&a);
	assert_same_as_batch(p, c);
	assert_int_equal(c->cmd[0][under].res.transferred, 2048);
	assert_int_equal(c->cmd[0][under].res.residual, 2048);
	assert_memory_equal(c->buf[0][0], p->mem[0], 4096);    /* real data, not just equal */

	/* 2. Completed on another thread: it reads what round 1 wrote, and writes more. */
	memset(c, 0, sizeof(*c));
	rec.calls = 0;
	acmd_add(c, 0x28, 16, 8, 4096);
	acmd_add(c, 0x88, 48, 8, 4096);
	acmd_add(c, 0x2A, 128, 8, 4096);
	acmd_add(c, 0x8A, 136, 1, 512);
	assert_int_equal(scsi_disk_submit(p->d[0], c->cmd[0], c->n, &a, rec_done, &rec), 1);
	assert_int_equal(scsi_disk_execute_batch(p->d[1], c->cmd[1], c->n), 0);
	pthread_t t;
	assert_int_equal(pthread_create(&t, NULL, abe_complete_thread, &p->be[0]), 0);
	assert_int_equal(pthread_join(t, NULL), 0);
	assert_int_equal(rec.calls, 1);
	assert_true(pthread_equal(rec.thread, t));
	scsi_disk_finish(&a);
	assert_same_as_batch(p, c);
	assert_memory_equal(c->buf[0][0], p->mem[0] + 16 * 512, 4096);

	/* 3. A full batch, done() inside rw_submit on the caller's thread before it returns. */
	memset(c, 0, sizeof(*c));
	rec.calls = 0;
	p->be[0].inline_done = true;
	for (size_t i = 0; i < SCSI_DISK_BATCH_MAX; i++)
		acmd_add(c, i % 2 ? 0x2A : 0x28, 200 + i, 1, 512);
	assert_int_equal(scsi_disk_submit(p->d[0], c->cmd[0], c->n, &a, rec_done, &rec), 1);
	assert_int_equal(rec.calls, 1);
	assert_true(pthread_equal(rec.thread, pthread_self()));
	assert_int_equal(p->be[0].submitted, 8 + 4 + c->n);    /* rounds 1, 2 and this one */
	scsi_disk_finish(&a);
	assert_int_equal(scsi_disk_execute_batch(p->d[1], c->cmd[1], c->n), 0);
	assert_same_as_batch(p, c);
	assert_int_equal(p->be[0].batches + p->be[0].singles, 0);    /* only ever rw_submit */
	free(c);
}

/* scsi_disk_submit said -EAGAIN or -EINVAL: nothing ran, nothing was touched. */
static void assert_refused(struct scsi_disk *d, struct async_be *b, struct scsi_disk_cmd *cmds,
			   size_t n, struct scsi_disk_async *a, void (*done)(void *arg), int want)
{
	struct scsi_disk_stats st0, st1;
	struct async_be b0 = *b;
	static struct scsi_disk_cmd saved[ACMD_MAX];
	struct done_rec rec = { 0 };
	if (cmds)
		memcpy(saved, cmds, (n < ACMD_MAX ? n : ACMD_MAX) * sizeof(*cmds));
	if (d)
		scsi_disk_get_stats(d, &st0);
	assert_int_equal(scsi_disk_submit(d, cmds, n, a, done, &rec), want);
	assert_int_equal(rec.calls, 0);
	if (d) {
		scsi_disk_get_stats(d, &st1);
		assert_memory_equal(&st0, &st1, sizeof(st0));
	}
	if (b) {
		assert_int_equal(b->submits, b0.submits);
		assert_int_equal(b->batches, b0.batches);
		assert_int_equal(b->singles, b0.singles);
	}
	if (cmds)    /* results untouched (and so the read buffers: no transfer ran) */
		assert_memory_equal(saved, cmds, (n < ACMD_MAX ? n : ACMD_MAX) * sizeof(*cmds));
}

static void test_submit_refuses(void **state)
{
	struct apair *p = *state;
	struct acmds *c = calloc(1, sizeof(*c));
	assert_non_null(c);
	struct scsi_disk_async a;
	struct scsi_disk_cmd *cmd = c->cmd[0];
	struct async_be *be = &p->be[0];

	/* A command that is not a READ/WRITE among them: INQUIRY, then SYNCHRONIZE CACHE. */
	acmd_add(c, 0x28, 0, 8, 4096);
	acmd_add(c, 0x2A, 8, 8, 4096);
	size_t x = acmd_add(c, 0x28, 16, 8, 4096);
	static const uint8_t inq[6] = { 0x12, 0, 0, 0, 36, 0 };
	cmd[x].cdb = inq;
	cmd[x].cdb_len = 6;
	cmd[x].buf_len = 36;
	assert_refused(p->d[0], be, cmd, c->n, &a, rec_done, -EAGAIN);
	static const uint8_t sync[10] = { 0x35 };
	cmd[x] = (struct scsi_disk_cmd){ .cdb = sync, .cdb_len = 10 };
	assert_refused(p->d[0], be, cmd, c->n, &a, rec_done, -EAGAIN);
	/* The other command first: the refusal does not depend on where it is. */
	assert_refused(p->d[0], be, &cmd[x], 1, &a, rec_done, -EAGAIN);
	/* A WRITE with FUA (it needs the flush after it: not a queued transfer). */
	cmd[x] = c->cmd[1][x];                      /* the READ again */
	size_t fua = acmd_add(c, 0x2A, 24, 8, 4096);
	c->cdb[fua][1] |= 0x08;
	assert_refused(p->d[0], be, &cmd[fua], 1, &a, rec_done, -EAGAIN);
	assert_refused(p->d[0], be, cmd, c->n, &a, rec_done, -EAGAIN);
	/* Without them, the same commands are taken: the refusals above were theirs. */
	struct done_rec rec = { 0 };
	assert_int_equal(scsi_disk_submit(p->d[0], cmd, fua, &a, rec_done, &rec), 1);
	assert_true(abe_complete(be));
	scsi_disk_finish(&a);
	for (size_t i = 0; i < fua; i++)
		assert_int_equal(cmd[i].res.status, SCSI_STATUS_GOOD);
	const struct async_be b0 = *be;

	/* Backends without rw_submit (the memory backend; rw_batch only), or without rw_batch. */
	static const struct scsi_disk_backend_ops batch_only = {
		.read = abe_read, .write = abe_write, .rw_batch = abe_rw_batch,
	};
	static const struct scsi_disk_backend_ops submit_only = {
		.read = abe_read, .write = abe_write, .rw_submit = abe_rw_submit,
	};
	const struct scsi_disk_backend_ops *const others[] = { &scsi_disk_mem_ops, &batch_only,
							      &submit_only };
	static uint8_t mem[DISK_BYTES];
	for (size_t k = 0; k < 3; k++) {
		struct async_be ob;
		struct scsi_disk *d = abe_disk(&ob, mem, others[k]);
		assert_refused(d, &ob, cmd, 2, &a, rec_done, -EAGAIN);
		scsi_disk_destroy(d);
	}

	/* Bad arguments. */
	assert_refused(NULL, be, cmd, 2, &a, rec_done, -EINVAL);
	assert_refused(p->d[0], be, NULL, 2, &a, rec_done, -EINVAL);
	assert_refused(p->d[0], be, cmd, 2, NULL, rec_done, -EINVAL);
	assert_refused(p->d[0], be, cmd, 2, &a, NULL, -EINVAL);
	memset(c, 0, sizeof(*c));
	for (size_t i = 0; i < SCSI_DISK_BATCH_MAX + 1; i++)
		acmd_add(c, 0x28, i, 1, 512);
	assert_refused(p->d[0], be, cmd, SCSI_DISK_BATCH_MAX + 1, &a, rec_done, -EINVAL);
	cmd[1].buf = NULL;                          /* a buffer length without a buffer */
	assert_refused(p->d[0], be, cmd, 2, &a, rec_done, -EINVAL);
	cmd[1].buf = c->buf[0][1];
	cmd[1].cdb = NULL;                          /* a CDB length without a CDB */
	assert_refused(p->d[0], be, cmd, 2, &a, rec_done, -EINVAL);

	/* No commands: nothing to wait for. */
	rec.calls = 0;
	assert_int_equal(scsi_disk_submit(p->d[0], cmd, 0, &a, rec_done, &rec), 0);
	assert_int_equal(rec.calls, 0);
	assert_int_equal(be->submits + be->batches + be->singles,
			 b0.submits + b0.batches + b0.singles);
	free(c);
}

static void test_submit_all_refused_before_backend(void **state)
{
	struct apair *p = *state;
	struct acmds *c = calloc(1, sizeof(*c));
	assert_non_null(c);
	struct scsi_disk_async a;
	struct done_rec rec = { 0 };

	acmd_add(c, 0x28, DISK_BLOCKS - 4, 8, 4096);        /* past the end */
	acmd_add(c, 0x8A, UINT64_MAX - 1, 2, 1024);         /* LBA + length overflows */
	acmd_add(c, 0x28, 0, 8, 512);                       /* buffer too small */
	size_t dir = acmd_add(c, 0x2A, 0, 1, 512);
	for (int k = 0; k < 2; k++)
		c->cmd[k][dir].data_in = true;              /* buffer in the wrong direction */
	size_t prot = acmd_add(c, 0x88, 0, 1, 512);
	c->cdb[prot][1] = 0x20;                             /* RDPROTECT: no protection info */
	size_t zero = acmd_add(c, 0x28, 5, 0, 0);           /* nothing to transfer: GOOD */
	assert_int_equal(scsi_disk_submit(p->d[0], c->cmd[0], c->n, &a, rec_done, &rec), 0);
	assert_int_equal(rec.calls, 0);
	assert_int_equal(p->be[0].submits + p->be[0].batches + p->be[0].singles, 0);
	assert_int_equal(scsi_disk_execute_batch(p->d[1], c->cmd[1], c->n), 0);
	assert_same_as_batch(p, c);
	for (size_t i = 0; i < c->n; i++)
		assert_int_equal(c->cmd[0][i].res.status,
				 i == zero ? SCSI_STATUS_GOOD : SCSI_STATUS_CHECK_CONDITION);
	assert_int_equal(c->cmd[0][zero].res.residual, 0);
	free(c);
}

static void test_submit_backend_refuses(void **state)
{
	struct apair *p = *state;
	struct acmds *c = calloc(1, sizeof(*c));
	assert_non_null(c);
	struct scsi_disk_async a;
	struct done_rec rec = { 0 };

	p->be[0].submit_rc = -EAGAIN;                       /* no room in the ring now */
	acmd_add(c, 0x28, 0, 8, 4096);
	acmd_add(c, 0x2A, 8, 8, 4096);
	acmd_add(c, 0x28, DISK_BLOCKS, 1, 512);             /* answered before the backend */
	acmd_add(c, 0x8A, 24, 8, 4096);
	assert_int_equal(scsi_disk_submit(p->d[0], c->cmd[0], c->n, &a, rec_done, &rec), 0);
	/* Offered to rw_submit once, then run there and then through rw_batch. */
	assert_int_equal(p->be[0].submits, 1);
	assert_int_equal(p->be[0].submitted, 0);
	assert_int_equal(p->be[0].batches, 1);
	assert_int_equal(rec.calls, 0);
	assert_int_equal(scsi_disk_execute_batch(p->d[1], c->cmd[1], c->n), 0);
	assert_same_as_batch(p, c);
	assert_int_equal(c->cmd[0][0].res.transferred, 4096);
	assert_memory_equal(p->mem[0] + 8 * 512, c->buf[0][1], 4096);
	free(c);
}

static void test_submit_errors(void **state)
{
	struct apair *p = *state;
	struct acmds *c = calloc(1, sizeof(*c));
	assert_non_null(c);
	struct scsi_disk_async a;
	struct done_rec rec = { 0 };

	/* Both backends fail the same transfers: a read at block 8, a write at block 24. */
	for (int k = 0; k < 2; k++) {
		p->be[k].fail[0] = 8 * 512;
		p->be[k].fail[1] = 24 * 512;
		p->be[k].nfail = 2;
	}
	acmd_add(c, 0x28, 0, 8, 4096);
	size_t bad_rd = acmd_add(c, 0x28, 8, 8, 4096);
	acmd_add(c, 0x2A, 16, 8, 4096);
	size_t bad_wr = acmd_add(c, 0x2A, 24, 4, 4096);
	acmd_add(c, 0x88, 32, 2, 4096);
	acmd_add(c, 0x8A, 40, 3, 4096);
	assert_int_equal(scsi_disk_submit(p->d[0], c->cmd[0], c->n, &a, rec_done, &rec), 1);
	assert_true(abe_complete(&p->be[0]));
	assert_int_equal(rec.calls, 1);
	scsi_disk_finish(&a);
	assert_int_equal(scsi_disk_execute_batch(p->d[1], c->cmd[1], c->n), 0);
	assert_same_as_batch(p, c);
	assert_sense(&c->cmd[0][bad_rd].res, SCSI_SENSE_MEDIUM_ERROR,
		     SCSI_ASC_UNRECOVERED_READ_ERROR, 0);
	assert_sense(&c->cmd[0][bad_wr].res, SCSI_SENSE_MEDIUM_ERROR, SCSI_ASC_WRITE_ERROR, 0);
	assert_int_equal(c->cmd[0][bad_wr].res.residual, 4096);
	/* The block counters hold only what moved. */
	uint64_t rd = 0, wr = 0;
	for (size_t i = 0; i < c->n; i++) {
		if (i == bad_rd || i == bad_wr)
			continue;
		assert_int_equal(c->cmd[0][i].res.status, SCSI_STATUS_GOOD);
		*(c->cmd[0][i].data_in ? &rd : &wr) += c->blocks[i];
	}
	struct scsi_disk_stats st;
	scsi_disk_get_stats(p->d[0], &st);
	assert_int_equal(st.read_blocks, rd);
	assert_int_equal(st.written_blocks, wr);
	assert_int_equal(st.backend_errors, 2);
	assert_int_equal(st.check_conditions, 2);
	free(c);
}

static void test_cancel(void **state)
{
	struct apair *p = *state;
	struct acmds *c = calloc(1, sizeof(*c));
	assert_non_null(c);
	struct scsi_disk_async a;
	struct done_rec rec = { 0 };

	acmd_add(c, 0x28, 0, 8, 4096);
	acmd_add(c, 0x2A, 8, 8, 4096);
	acmd_add(c, 0x88, 16, 8, 4096);
	assert_int_equal(scsi_disk_submit(p->d[0], c->cmd[0], c->n, &a, rec_done, &rec), 1);
	scsi_disk_cancel(p->d[0]);
	assert_int_equal(p->be[0].cancels, 1);
	assert_int_equal(rec.calls, 1);                     /* done() has run on return */
	scsi_disk_finish(&a);
	for (size_t i = 0; i < c->n; i++)
		assert_sense(&c->cmd[0][i].res, SCSI_SENSE_MEDIUM_ERROR,
			     c->cmd[0][i].data_in ? SCSI_ASC_UNRECOVERED_READ_ERROR
						  : SCSI_ASC_WRITE_ERROR, 0);
	assert_memory_equal(p->mem[0], p->mem[1], DISK_BYTES);    /* the write never happened */
	struct scsi_disk_stats st;
	scsi_disk_get_stats(p->d[0], &st);
	assert_int_equal(st.read_blocks + st.written_blocks, 0);
	assert_int_equal(st.backend_errors, 3);
	/* Nothing outstanding: the op is still asked, no done() again. */
	scsi_disk_cancel(p->d[0]);
	assert_int_equal(p->be[0].cancels, 2);
	assert_int_equal(rec.calls, 1);

	/* Without a cancel op (and for NULL): nothing happens. */
	static const struct scsi_disk_backend_ops nocancel = {
		.read = abe_read, .write = abe_write, .rw_batch = abe_rw_batch,
		.rw_submit = abe_rw_submit,
	};
	static uint8_t mem[DISK_BYTES];
	struct async_be ob;
	struct scsi_disk *d = abe_disk(&ob, mem, &nocancel);
	memset(c, 0, sizeof(*c));
	acmd_add(c, 0x28, 0, 8, 4096);
	rec.calls = 0;
	assert_int_equal(scsi_disk_submit(d, c->cmd[0], c->n, &a, rec_done, &rec), 1);
	scsi_disk_cancel(d);
	assert_int_equal(rec.calls, 0);
	assert_int_equal(ob.cancels, 0);
	assert_true(abe_complete(&ob));                     /* it still finishes normally */
	assert_int_equal(rec.calls, 1);
	scsi_disk_finish(&a);
	assert_int_equal(c->cmd[0][0].res.status, SCSI_STATUS_GOOD);
	assert_memory_equal(c->buf[0][0], mem, 4096);
	scsi_disk_destroy(d);
	struct scsi_disk_config cfg = { 0 };
	scsi_disk_mem_backend(&ob.m, mem, DISK_BYTES, &cfg.backend);
	assert_int_equal(scsi_disk_create(&cfg, &d), 0);
	scsi_disk_cancel(d);
	scsi_disk_destroy(d);
	scsi_disk_cancel(NULL);
	free(c);
}

static void test_sync_cache_and_verify(void **state)
{
	struct fx *f = *state;

	assert_good(rw(f, 0x35, 0, 0, false, NULL, 0));           /* whole disk */
	assert_good(rw(f, 0x35, 100, 10, false, NULL, 0));
	assert_good(rw(f, 0x91, DISK_BLOCKS - 1, 1, false, NULL, 0));
	assert_int_equal(f->be.flushes, 3);
	assert_sense(rw(f, 0x35, DISK_BLOCKS, 0, false, NULL, 0), SCSI_SENSE_ILLEGAL_REQUEST,
		     SCSI_ASC_LBA_OUT_OF_RANGE, 0);
	assert_sense(rw(f, 0x91, DISK_BLOCKS - 1, 2, false, NULL, 0), SCSI_SENSE_ILLEGAL_REQUEST,
		     SCSI_ASC_LBA_OUT_OF_RANGE, 0);
	assert_int_equal(f->be.flushes, 3);
	struct scsi_disk_stats st;
	scsi_disk_get_stats(f->d, &st);
	assert_int_equal(st.flushes, 3);

	/* VERIFY: a range check, no I/O; BYTCHK is refused. */
	assert_good(rw(f, 0x2F, 0, 100, false, NULL, 0));
	assert_good(rw(f, 0x8F, DISK_BLOCKS - 100, 100, false, NULL, 0));
	assert_sense(rw(f, 0x8F, DISK_BLOCKS - 100, 101, false, NULL, 0),
		     SCSI_SENSE_ILLEGAL_REQUEST, SCSI_ASC_LBA_OUT_OF_RANGE, 0);
	uint8_t c[16];
	rw_cdb(c, 0x2F, 0, 1);
	c[1] = 0x02;
	assert_invalid_field(run(f, c, 10, false, NULL, 0), 1);
	assert_int_equal(f->be.reads + f->be.writes, 0);
}

static void test_no_flush_backend(void **state)
{
	struct fx *f = *state;
	uint8_t buf[64];

	/* Without a flush op: SYNCHRONIZE CACHE is a no-op success, WCE reads 0. */
	assert_good(rw(f, 0x35, 0, 0, false, NULL, 0));
	assert_int_equal(f->be.flushes, 0);
	uint8_t ms6[6] = { 0x1A, 0x08, 0x08, 0, 255, 0 };
	assert_good(run(f, ms6, 6, true, buf, sizeof(buf)));
	assert_int_equal(buf[4], 0x08);
	assert_int_equal(buf[6] & 0x04, 0);
}

/* ---- REPORT LUNS, MODE SENSE, REQUEST SENSE --------------------------------------------- */

static void test_report_luns(void **state)
{
	struct fx *f = *state;
	uint8_t buf[64];
	uint8_t c[12] = { 0xA0 };

	put32(c + 6, sizeof(buf));
	memset(buf, 0xAA, sizeof(buf));
	struct scsi_result *r = run(f, c, 12, true, buf, sizeof(buf));
	assert_good(r);
	assert_int_equal(r->transferred, 16);
	assert_int_equal(be32(buf), 8);
	for (int i = 4; i < 16; i++)
		assert_int_equal(buf[i], 0);
	assert_int_equal(buf[16], 0xAA);

	put32(c + 6, 8);    /* truncated to the header: the list length still says 8 */
	r = run(f, c, 12, true, buf, sizeof(buf));
	assert_int_equal(r->transferred, 8);
	assert_int_equal(be32(buf), 8);
	put32(c + 6, 0);
	assert_int_equal(run(f, c, 12, true, buf, sizeof(buf))->transferred, 0);

	put32(c + 6, sizeof(buf));
	c[2] = 0x01;    /* well-known LUNs: none */
	r = run(f, c, 12, true, buf, sizeof(buf));
	assert_int_equal(r->transferred, 8);
	assert_int_equal(be32(buf), 0);
	c[2] = 0x02;
	assert_int_equal(run(f, c, 12, true, buf, sizeof(buf))->transferred, 16);
	c[2] = 0x05;
	assert_invalid_field(run(f, c, 12, true, buf, sizeof(buf)), 2);
}

/* Find a mode page after the header and block descriptors. */
static const uint8_t *find_page(const uint8_t *p, size_t len, size_t start, uint8_t code)
{
	size_t off = start;
	while (off + 2 <= len) {
		if ((p[off] & 0x3F) == code)
			return p + off;
		off += 2 + p[off + 1];
	}
	return NULL;
}

static void test_mode_sense6(void **state)
{
	struct fx *f = *state;
	uint8_t buf[255];
	uint8_t c[6] = { 0x1A, 0, 0x3F, 0, 255, 0 };

	memset(buf, 0xAA, sizeof(buf));
	struct scsi_result *r = run(f, c, 6, true, buf, sizeof(buf));
	assert_good(r);
	size_t total = buf[0] + 1u;
	assert_int_equal(r->transferred, total);
	assert_int_equal(buf[2], 0x10);           /* DPOFUA, not write-protected */
	assert_int_equal(buf[3], 8);              /* one short block descriptor */
	assert_int_equal(be32(buf + 4), DISK_BLOCKS);
	assert_int_equal(be32(buf + 8) & 0xFFFFFF, 512);
	const uint8_t *cache = find_page(buf, total, 12, 0x08);
	const uint8_t *ctl = find_page(buf, total, 12, 0x0A);
	assert_non_null(cache);
	assert_non_null(ctl);
	assert_true(cache < ctl);                 /* ascending page order */
	assert_int_equal(cache[1], 0x12);
	assert_int_equal(cache[2] & 0x04, 0x04);  /* WCE: the backend has a flush */
	assert_int_equal(ctl[1], 0x0A);
	assert_int_equal(total, 4 + 8 + 20 + 12);

	/* DBD: no block descriptor. */
	c[1] = 0x08;
	c[2] = 0x0A;
	r = run(f, c, 6, true, buf, sizeof(buf));
	assert_good(r);
	assert_int_equal(buf[3], 0);
	assert_int_equal(buf[0] + 1, 4 + 12);
	assert_int_equal(buf[4], 0x0A);

	/* Allocation length truncates; mode data length stays the full one. */
	c[1] = 0;
	c[2] = 0x3F;
	c[4] = 7;
	memset(buf, 0xAA, sizeof(buf));
	r = run(f, c, 6, true, buf, sizeof(buf));
	assert_int_equal(r->transferred, 7);
	assert_int_equal(buf[0] + 1, 44);
	assert_int_equal(buf[7], 0xAA);
	c[4] = 255;

	/* Changeable values: nothing is. */
	c[2] = 0x40 | 0x08;
	r = run(f, c, 6, true, buf, sizeof(buf));
	assert_good(r);
	cache = find_page(buf, buf[0] + 1u, 12, 0x08);
	assert_non_null(cache);
	for (int i = 2; i < 20; i++)
		assert_int_equal(cache[i], 0);
	/* Default values == current. */
	c[2] = 0x80 | 0x08;
	r = run(f, c, 6, true, buf, sizeof(buf));
	assert_good(r);
	assert_int_equal(buf[12 + 2] & 0x04, 0x04);

	c[2] = 0xC0 | 0x08;    /* saved */
	assert_sense(run(f, c, 6, true, buf, sizeof(buf)), SCSI_SENSE_ILLEGAL_REQUEST,
		     SCSI_ASC_SAVING_NOT_SUPPORTED, 0);
	c[2] = 0x19;
	assert_invalid_field(run(f, c, 6, true, buf, sizeof(buf)), 2);
	c[2] = 0x08;
	c[3] = 0x01;
	assert_invalid_field(run(f, c, 6, true, buf, sizeof(buf)), 3);
	c[2] = 0x3F;
	c[3] = 0xFF;    /* all pages and subpages */
	assert_good(run(f, c, 6, true, buf, sizeof(buf)));
}

static void test_mode_sense10(void **state)
{
	struct fx *f = *state;
	uint8_t buf[255];
	uint8_t c[10] = { 0x5A, 0, 0x3F, 0, 0, 0, 0, 0, 255, 0 };

	struct scsi_result *r = run(f, c, 10, true, buf, sizeof(buf));
	assert_good(r);
	size_t total = (size_t)(buf[0] << 8 | buf[1]) + 2;
	assert_int_equal(r->transferred, total);
	assert_int_equal(total, 8 + 8 + 20 + 12);
	assert_int_equal(buf[4] & 1, 0);
	assert_int_equal(buf[6] << 8 | buf[7], 8);
	assert_int_equal(be32(buf + 8), DISK_BLOCKS);

	c[1] = 0x10;    /* LLBAA: 16-byte descriptor */
	r = run(f, c, 10, true, buf, sizeof(buf));
	total = (size_t)(buf[0] << 8 | buf[1]) + 2;
	assert_int_equal(total, 8 + 16 + 20 + 12);
	assert_int_equal(buf[4] & 1, 1);
	assert_int_equal(buf[6] << 8 | buf[7], 16);
	assert_int_equal(be64(buf + 8), DISK_BLOCKS);
	assert_int_equal(be32(buf + 20), 512);
	assert_non_null(find_page(buf, total, 24, 0x08));

	c[1] = 0x18;    /* LLBAA + DBD */
	r = run(f, c, 10, true, buf, sizeof(buf));
	assert_int_equal(buf[6] << 8 | buf[7], 0);
	assert_int_equal(buf[4] & 1, 0);

	c[1] = 0;
	c[7] = 0;
	c[8] = 3;
	r = run(f, c, 10, true, buf, sizeof(buf));
	assert_int_equal(r->transferred, 3);
	c[8] = 255;
	c[2] = 0x01;
	assert_invalid_field(run(f, c, 10, true, buf, sizeof(buf)), 2);
}

static void test_request_sense(void **state)
{
	struct fx *f = *state;
	uint8_t buf[32];
	uint8_t c[6] = { 0x03, 0, 0, 0, 252, 0 };

	/* After an error: autosense already delivered it, REQUEST SENSE says NO SENSE. */
	rw(f, 0x28, DISK_BLOCKS, 1, true, buf, 512);
	memset(buf, 0xAA, sizeof(buf));
	struct scsi_result *r = run(f, c, 6, true, buf, sizeof(buf));
	assert_good(r);
	assert_int_equal(r->transferred, 18);
	assert_int_equal(buf[0], 0x70);
	assert_int_equal(buf[2], SCSI_SENSE_NO_SENSE);
	assert_int_equal(buf[7], 10);
	assert_int_equal(buf[12], 0);
	assert_int_equal(buf[18], 0xAA);
	c[4] = 4;
	assert_int_equal(run(f, c, 6, true, buf, sizeof(buf))->transferred, 4);
	c[1] = 1;    /* DESC */
	assert_invalid_field(run(f, c, 6, true, buf, sizeof(buf)), 1);
}

/* ---- backends --------------------------------------------------------------------------- */

static void test_file_backend(void **state)
{
	(void)state;
	char path[] = "/tmp/mezz-scsi-XXXXXX";
	int fd = mkstemp(path);
	assert_true(fd >= 0);
	unlink(path);
	assert_int_equal(ftruncate(fd, 64 * 1024 + 100), 0);

	struct scsi_disk_config cfg = { .serial = "FILE" };
	assert_int_equal(scsi_disk_file_backend(fd, &cfg.backend), 0);
	assert_int_equal(cfg.backend.size, 64 * 1024 + 100);
	struct scsi_disk *d;
	assert_int_equal(scsi_disk_create(&cfg, &d), 0);
	assert_int_equal(scsi_disk_block_count(d), 128);

	uint8_t out[3 * 512], in[3 * 512], raw[3 * 512];
	for (size_t i = 0; i < sizeof(out); i++)
		out[i] = (uint8_t)(i ^ 0xC3);
	struct scsi_result r;
	uint8_t wr[10] = { 0x2A, 0x08 /* FUA */, 0, 0, 0, 125, 0, 0, 3, 0 };
	assert_int_equal(scsi_disk_execute(d, wr, 10, false, out, sizeof(out), &r), 0);
	assert_int_equal(r.status, SCSI_STATUS_GOOD);
	assert_int_equal(r.transferred, sizeof(out));
	uint8_t rd[16] = { 0x88, 0, 0, 0, 0, 0, 0, 0, 0, 125, 0, 0, 0, 3, 0, 0 };
	assert_int_equal(scsi_disk_execute(d, rd, 16, true, in, sizeof(in), &r), 0);
	assert_int_equal(r.status, SCSI_STATUS_GOOD);
	assert_memory_equal(in, out, sizeof(out));
	assert_int_equal(pread(fd, raw, sizeof(raw), 125 * 512), (ssize_t)sizeof(raw));
	assert_memory_equal(raw, out, sizeof(out));
	/* The last whole block is 127; 128 would be in the partial tail. */
	rd[9] = 127;
	rd[13] = 2;
	assert_int_equal(scsi_disk_execute(d, rd, 16, true, in, sizeof(in), &r), 0);
	assert_int_equal(r.sense[12], SCSI_ASC_LBA_OUT_OF_RANGE);
	uint8_t sync[10] = { 0x35 };
	assert_int_equal(scsi_disk_execute(d, sync, 10, false, NULL, 0, &r), 0);
	assert_int_equal(r.status, SCSI_STATUS_GOOD);
	struct scsi_disk_stats st;
	scsi_disk_get_stats(d, &st);
	assert_int_equal(st.flushes, 2);    /* FUA + SYNCHRONIZE CACHE */
	scsi_disk_destroy(d);

	/* The file shrinking under the disk: a read error, not a short read of garbage. */
	assert_int_equal(scsi_disk_create(&cfg, &d), 0);
	assert_int_equal(ftruncate(fd, 4096), 0);
	rd[9] = 100;
	rd[13] = 1;
	assert_int_equal(scsi_disk_execute(d, rd, 16, true, in, sizeof(in), &r), 0);
	assert_int_equal(r.sense[2], SCSI_SENSE_MEDIUM_ERROR);
	assert_int_equal(r.sense[12], SCSI_ASC_UNRECOVERED_READ_ERROR);
	scsi_disk_destroy(d);
	close(fd);

	/* A closed descriptor. */
	struct scsi_disk_backend be;
	assert_int_equal(scsi_disk_file_backend(fd, &be), -EBADF);
	assert_int_equal(scsi_disk_file_backend(-1, &be), -EINVAL);
}

/* A destination the kernel may not write (like a page hvsim write-protects because a VP runs
   code from it): the first store from user space faults, this handler opens the page. */
static uint8_t *g_ro_page;
static volatile int g_ro_faults;

static void ro_handler(int sig, siginfo_t *si, void *uc)
{
	(void)sig;
	(void)uc;
	uint8_t *a = si->si_addr;
	if (a >= g_ro_page && a < g_ro_page + 4096) {
		g_ro_faults++;
		mprotect(g_ro_page, 4096, PROT_READ | PROT_WRITE);
		return;
	}
	abort();
}

static void test_file_read_efault(void **state)
{
	(void)state;
	char path[] = "/tmp/mezz-scsi-XXXXXX";
	int fd = mkstemp(path);
	assert_true(fd >= 0);
	unlink(path);
	uint8_t data[8192];
	for (size_t i = 0; i < sizeof(data); i++)
		data[i] = (uint8_t)(i * 5 + 9);
	assert_int_equal(pwrite(fd, data, sizeof(data), 0), (ssize_t)sizeof(data));
	struct scsi_disk_config cfg = { .serial = "FILE" };
	assert_int_equal(scsi_disk_file_backend(fd, &cfg.backend), 0);
	struct scsi_disk *d;
	assert_int_equal(scsi_disk_create(&cfg, &d), 0);

	/* Two pages: the first writable, the second read-only until a user-space store. */
	uint8_t *buf = mmap(NULL, 8192, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	assert_true(buf != MAP_FAILED);
	g_ro_page = buf + 4096;
	assert_int_equal(mprotect(g_ro_page, 4096, PROT_READ), 0);
	struct sigaction sa = { 0 }, old;
	sa.sa_sigaction = ro_handler;
	sa.sa_flags = SA_SIGINFO;
	sigemptyset(&sa.sa_mask);
	assert_int_equal(sigaction(SIGSEGV, &sa, &old), 0);

	struct scsi_result r;
	uint8_t rd[10] = { 0x28, 0, 0, 0, 0, 0, 0, 0, 16, 0 };
	assert_int_equal(scsi_disk_execute(d, rd, 10, true, buf, 8192, &r), 0);
	assert_int_equal(r.status, SCSI_STATUS_GOOD);
	assert_int_equal(r.transferred, 8192);
	assert_memory_equal(buf, data, sizeof(data));
	assert_int_equal(g_ro_faults, 1);   /* the bounce's memcpy opened it, once */

	sigaction(SIGSEGV, &old, NULL);
	munmap(buf, 8192);
	scsi_disk_destroy(d);
	close(fd);
}

static void test_mem_backend_bounds(void **state)
{
	(void)state;
	uint8_t mem[1024], b[16];
	struct scsi_disk_mem m;
	struct scsi_disk_backend be;

	scsi_disk_mem_backend(&m, mem, sizeof(mem), &be);
	assert_int_equal(be.ops->read(be.ctx, b, 16, 1024 - 16), 0);
	assert_int_equal(be.ops->read(be.ctx, b, 16, 1024 - 15), -EINVAL);
	assert_int_equal(be.ops->write(be.ctx, b, 1, UINT64_MAX), -EINVAL);
	assert_null(be.ops->flush);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_create_validation),
		cmocka_unit_test_setup_teardown(test_tur_and_start_stop, setup, teardown),
		cmocka_unit_test_setup_teardown(test_unknown_opcode, setup, teardown),
		cmocka_unit_test_setup_teardown(test_cdb_length_and_naca, setup, teardown),
		cmocka_unit_test_setup_teardown(test_inquiry_standard, setup, teardown),
		cmocka_unit_test_setup_teardown(test_inquiry_vpd, setup, teardown),
		cmocka_unit_test_setup_teardown(test_read_capacity, setup, teardown),
		cmocka_unit_test(test_read_capacity_large),
		cmocka_unit_test_setup_teardown(test_read_write_all_sizes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_read6_zero_means_256, setup, teardown),
		cmocka_unit_test_setup_teardown(test_lba_boundaries, setup, teardown),
		cmocka_unit_test_setup_teardown(test_lba_overflow, setup_bigxfer, teardown),
		cmocka_unit_test_setup_teardown(test_max_transfer_and_protect_fields, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_buffer_mismatch, setup, teardown),
		cmocka_unit_test_setup_teardown(test_read_only, setup_ro, teardown),
		cmocka_unit_test_setup_teardown(test_backend_errors, setup, teardown),
		cmocka_unit_test(test_execute_batch),
		cmocka_unit_test(test_execute_batch_unanswered),
		cmocka_unit_test_setup_teardown(test_submit_async, setup_apair, teardown_apair),
		cmocka_unit_test_setup_teardown(test_submit_refuses, setup_apair, teardown_apair),
		cmocka_unit_test_setup_teardown(test_submit_all_refused_before_backend, setup_apair,
						teardown_apair),
		cmocka_unit_test_setup_teardown(test_submit_backend_refuses, setup_apair,
						teardown_apair),
		cmocka_unit_test_setup_teardown(test_submit_errors, setup_apair, teardown_apair),
		cmocka_unit_test_setup_teardown(test_cancel, setup_apair, teardown_apair),
		cmocka_unit_test_setup_teardown(test_sync_cache_and_verify, setup, teardown),
		cmocka_unit_test_setup_teardown(test_no_flush_backend, setup_noflush, teardown),
		cmocka_unit_test_setup_teardown(test_report_luns, setup, teardown),
		cmocka_unit_test_setup_teardown(test_mode_sense6, setup, teardown),
		cmocka_unit_test_setup_teardown(test_mode_sense10, setup, teardown),
		cmocka_unit_test_setup_teardown(test_request_sense, setup, teardown),
		cmocka_unit_test(test_file_backend),
		cmocka_unit_test(test_file_read_efault),
		cmocka_unit_test(test_mem_backend_bounds),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
