/*
 * scsi_disk: SCSI direct-access device over a backend (see scsi_disk.h for what is covered).
 *
 * One const table indexed by opcode gives each command its CDB size, data direction and
 * handler. The dispatcher checks what is common (CDB length, NACA, buffer direction); the
 * handler checks its own fields and fills the result. Every data-in answer is built in a local
 * buffer and copied out truncated, so no handler writes into the caller's buffer by itself
 * except READ, which has checked the buffer size first.
 */
#include "devices/vmbus/scsi_disk.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define VENDOR_ID  "Mezz    "            /* INQUIRY T10 vendor identification, 8 bytes */
#define PRODUCT_ID "Virtual Disk    "    /* 16 bytes */
#define REVISION   "1.0 "                /* 4 bytes */
#define DEFAULT_SERIAL "MEZZ-0000"

/* Opcodes (SPC-4 / SBC-3). */
enum {
	OP_TEST_UNIT_READY = 0x00,
	OP_REQUEST_SENSE = 0x03,
	OP_READ6 = 0x08,
	OP_WRITE6 = 0x0A,
	OP_INQUIRY = 0x12,
	OP_MODE_SENSE6 = 0x1A,
	OP_START_STOP_UNIT = 0x1B,
	OP_READ_CAPACITY10 = 0x25,
	OP_READ10 = 0x28,
	OP_WRITE10 = 0x2A,
	OP_VERIFY10 = 0x2F,
	OP_SYNC_CACHE10 = 0x35,
	OP_MODE_SENSE10 = 0x5A,
	OP_READ16 = 0x88,
	OP_WRITE16 = 0x8A,
	OP_VERIFY16 = 0x8F,
	OP_SYNC_CACHE16 = 0x91,
	OP_SERVICE_ACTION_IN16 = 0x9E,
	OP_REPORT_LUNS = 0xA0,
	OP_READ12 = 0xA8,
	OP_WRITE12 = 0xAA,
};

#define SA_READ_CAPACITY16 0x10
#define CONTROL_NACA 0x04          /* control byte (last CDB byte), SAM-5 */
#define RW_PROTECT_MASK 0xE0       /* RDPROTECT / WRPROTECT / VRPROTECT, CDB byte 1 */
#define RW_FUA 0x08
#define VERIFY_BYTCHK_MASK 0x06

#define MODE_PAGE_CACHING 0x08
#define MODE_PAGE_CONTROL 0x0A
#define MODE_PAGE_ALL     0x3F
#define MODE_PC_CHANGEABLE 1
#define MODE_PC_SAVED      3

#define VPD_SUPPORTED    0x00
#define VPD_SERIAL       0x80
#define VPD_DEVICE_ID    0x83
#define VPD_BLOCK_LIMITS 0xB0
#define VPD_BLOCK_CHARS  0xB1

enum dir { DIR_NONE, DIR_IN, DIR_OUT };

struct scsi_disk {
	struct scsi_disk_backend be;
	uint64_t blocks;
	uint32_t max_blocks;           /* maximum transfer length in blocks */
	bool read_only;
	char serial[SCSI_DISK_SERIAL_MAX + 1];
	uint64_t id;
	struct scsi_disk_stats stats;  /* updated with __atomic builtins */
};

/* One command in flight. */
struct cmd {
	struct scsi_disk *d;
	const uint8_t *cdb;
	bool data_in;
	uint8_t *buf;
	size_t buf_len;
	struct scsi_result *res;
};

struct cmd_desc {
	uint8_t cdb_len;
	uint8_t dir;
	void (*run)(struct cmd *c);
};

static void stat_add(uint64_t *ctr, uint64_t n)
{
	__atomic_fetch_add(ctr, n, __ATOMIC_RELAXED);
}

static uint16_t get_be16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static uint32_t get_be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static uint64_t get_be64(const uint8_t *p)
{
	return (uint64_t)get_be32(p) << 32 | get_be32(p + 4);
}

static void put_be16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static void put_be32(uint8_t *p, uint32_t v)
{
	put_be16(p, (uint16_t)(v >> 16));
	put_be16(p + 2, (uint16_t)v);
}

static void put_be64(uint8_t *p, uint64_t v)
{
	put_be32(p, (uint32_t)(v >> 32));
	put_be32(p + 4, (uint32_t)v);
}

static size_t min_size(size_t a, size_t b)
{
	return a < b ? a : b;
}

/* ---- results --------------------------------------------------------------------------- */

static void check(struct cmd *c, uint8_t key, uint8_t asc, uint8_t ascq)
{
	struct scsi_result *r = c->res;

	r->status = SCSI_STATUS_CHECK_CONDITION;
	r->transferred = 0;
	memset(r->sense, 0, sizeof(r->sense));
	r->sense[0] = SCSI_SENSE_FIXED;
	r->sense[SCSI_SENSE_OFF_KEY] = key;
	r->sense[SCSI_SENSE_OFF_ADDLEN] = SCSI_SENSE_LEN - 8;
	r->sense[SCSI_SENSE_OFF_ASC] = asc;
	r->sense[SCSI_SENSE_OFF_ASCQ] = ascq;
	r->sense_len = SCSI_SENSE_LEN;
}

/* ILLEGAL REQUEST, INVALID FIELD IN CDB, pointing at CDB byte `byte` (SPC-4 4.5.2.4.2). */
static void invalid_field(struct cmd *c, unsigned byte)
{
	check(c, SCSI_SENSE_ILLEGAL_REQUEST, SCSI_ASC_INVALID_FIELD_IN_CDB, 0);
	c->res->sense[SCSI_SENSE_OFF_SKS] = 0x80 | 0x40;     /* SKSV, C/D = CDB */
	put_be16(&c->res->sense[SCSI_SENSE_OFF_SKS + 1], (uint16_t)byte);
}

/* A buffer the command cannot use (wrong direction, too small): no field pointer. */
static void bad_buffer(struct cmd *c)
{
	check(c, SCSI_SENSE_ILLEGAL_REQUEST, SCSI_ASC_INVALID_FIELD_IN_CDB, 0);
}

/* Data-in answer of n bytes, truncated to the allocation length and the buffer. */
static void reply(struct cmd *c, const void *data, size_t n, size_t alloc)
{
	size_t m = min_size(min_size(n, alloc), c->buf_len);
	if (m)
		memcpy(c->buf, data, m);
	c->res->transferred = m;
}

/* ---- media access ---------------------------------------------------------------------- */

struct lba_fields {
	uint64_t lba;
	uint32_t blocks;
	unsigned len_byte;     /* CDB offset of the transfer length (field pointer) */
};

/* LBA and transfer length by CDB size: READ/WRITE(6), the 10-, 12- and 16-byte layouts. */
static void decode_lba(const uint8_t *cdb, struct lba_fields *f)
{
	switch (cdb[0] >> 5) {
	case 0:
		f->lba = (uint64_t)(cdb[1] & 0x1F) << 16 | (uint64_t)cdb[2] << 8 | cdb[3];
		f->blocks = cdb[4] ? cdb[4] : 256;    /* SBC-3: 0 means 256 in the 6-byte CDBs */
		f->len_byte = 4;
		break;
	case 5:
		f->lba = get_be32(cdb + 2);
		f->blocks = get_be32(cdb + 6);
		f->len_byte = 6;
		break;
	case 4:
		f->lba = get_be64(cdb + 2);
		f->blocks = get_be32(cdb + 10);
		f->len_byte = 10;
		break;
	default:    /* groups 1 and 2: 10-byte CDBs */
		f->lba = get_be32(cdb + 2);
		f->blocks = get_be16(cdb + 7);
		f->len_byte = 7;
		break;
	}
}

/* Overflow-safe: [lba, lba + blocks) inside the medium, and lba itself a valid block. */
static bool lba_range_ok(const struct scsi_disk *d, uint64_t lba, uint64_t blocks)
{
	return lba < d->blocks && blocks <= d->blocks - lba;
}

static bool range_check(struct cmd *c, const struct lba_fields *f)
{
	if (lba_range_ok(c->d, f->lba, f->blocks))
		return true;
	check(c, SCSI_SENSE_ILLEGAL_REQUEST, SCSI_ASC_LBA_OUT_OF_RANGE, 0);
	return false;
}

static void backend_error(struct cmd *c, bool write)
{
	stat_add(&c->d->stats.backend_errors, 1);
	if (write)
		check(c, SCSI_SENSE_MEDIUM_ERROR, SCSI_ASC_WRITE_ERROR, 0);
	else
		check(c, SCSI_SENSE_MEDIUM_ERROR, SCSI_ASC_UNRECOVERED_READ_ERROR, 0);
}

static int backend_flush(struct scsi_disk *d)
{
	if (!d->be.ops->flush)
		return 0;
	stat_add(&d->stats.flushes, 1);
	return d->be.ops->flush(d->be.ctx);
}

/*
 * The checks of a READ or WRITE; true with *io set when there is a transfer for the backend
 * (counted already: rw_finish takes it back if it fails), false when the command is answered.
 */
static bool rw_prepare(struct cmd *c, bool write, struct scsi_disk_io *io)
{
	struct scsi_disk *d = c->d;
	struct lba_fields f;
	bool group0 = (c->cdb[0] >> 5) == 0;

	decode_lba(c->cdb, &f);
	if (!group0 && (c->cdb[1] & RW_PROTECT_MASK)) {
		invalid_field(c, 1);    /* no protection information */
		return false;
	}
	if (f.blocks > d->max_blocks) {
		invalid_field(c, f.len_byte);
		return false;
	}
	/* blocks < 2^32, so the product fits easily. */
	uint64_t bytes = (uint64_t)f.blocks * SCSI_DISK_BLOCK_SIZE;
	if (bytes > c->buf_len) {
		bad_buffer(c);
		return false;
	}
	if (!range_check(c, &f))
		return false;
	if (write && d->read_only) {
		check(c, SCSI_SENSE_DATA_PROTECT, SCSI_ASC_WRITE_PROTECTED, 0);
		return false;
	}
	if (bytes == 0)
		return false;
	/*
	 * Counted before the transfer and taken back if it fails: a locked add right after the
	 * backend's copy waits for all of that copy's stores to drain (measured: most of this
	 * function's time on the relay path).
	 */
	stat_add(write ? &d->stats.written_blocks : &d->stats.read_blocks, f.blocks);
	/* err -EIO until the backend says otherwise: a backend that skips one fails it. */
	*io = (struct scsi_disk_io){ .write = write, .buf = c->buf, .len = (size_t)bytes,
				     .offset = f.lba * SCSI_DISK_BLOCK_SIZE,    /* lba < blocks */
				     .err = -EIO };
	return true;
}

static bool rw_fua(const struct cmd *c)
{
	return (c->cdb[0] >> 5) != 0 && (c->cdb[1] & RW_FUA);
}

/* The transfer's outcome into the command's result. */
static void rw_finish(struct cmd *c, const struct scsi_disk_io *io)
{
	if (io->err != 0) {
		uint64_t blocks = io->len / SCSI_DISK_BLOCK_SIZE;
		stat_add(io->write ? &c->d->stats.written_blocks : &c->d->stats.read_blocks,
			 -blocks);
		backend_error(c, io->write);
		return;
	}
	c->res->transferred = io->len;
}

static void read_write(struct cmd *c, bool write)
{
	struct scsi_disk *d = c->d;
	struct scsi_disk_io io;
	if (!rw_prepare(c, write, &io))
		return;
	if (write) {
		io.err = d->be.ops->write(d->be.ctx, io.buf, io.len, io.offset);
		if (io.err == 0 && rw_fua(c))
			io.err = backend_flush(d);
	} else {
		io.err = d->be.ops->read(d->be.ctx, io.buf, io.len, io.offset);
	}
	rw_finish(c, &io);
}

static void cmd_read(struct cmd *c)
{
	read_write(c, false);
}

static void cmd_write(struct cmd *c)
{
	read_write(c, true);
}

static void cmd_verify(struct cmd *c)
{
	struct lba_fields f;

	if (c->cdb[1] & RW_PROTECT_MASK) {
		invalid_field(c, 1);
		return;
	}
	if (c->cdb[1] & VERIFY_BYTCHK_MASK) {
		invalid_field(c, 1);    /* no byte-by-byte compare: no data-out phase */
		return;
	}
	decode_lba(c->cdb, &f);
	range_check(c, &f);
}

static void cmd_sync_cache(struct cmd *c)
{
	struct lba_fields f;

	decode_lba(c->cdb, &f);    /* blocks 0 = to the end of the medium: same check */
	if (!range_check(c, &f))
		return;
	if (backend_flush(c->d) != 0)
		backend_error(c, true);
}

/* ---- the other commands ---------------------------------------------------------------- */

static void cmd_good(struct cmd *c)
{
	(void)c;    /* TEST UNIT READY, START STOP UNIT: always ready */
}

static void cmd_request_sense(struct cmd *c)
{
	uint8_t s[SCSI_SENSE_LEN] = { SCSI_SENSE_FIXED };

	if (c->cdb[1] & 0x01) {
		invalid_field(c, 1);    /* DESC: descriptor format not supported */
		return;
	}
	s[SCSI_SENSE_OFF_KEY] = SCSI_SENSE_NO_SENSE;
	s[SCSI_SENSE_OFF_ADDLEN] = SCSI_SENSE_LEN - 8;
	reply(c, s, sizeof(s), c->cdb[4]);
}

static size_t inquiry_standard(uint8_t *p)
{
	memset(p, 0, 36);
	p[0] = 0x00;           /* qualifier 0 (connected), direct-access block device */
	p[2] = 0x06;           /* SPC-4 */
	p[3] = 0x10 | 0x02;    /* HISUP, response data format 2 */
	p[4] = 36 - 5;         /* additional length */
	p[7] = 0x02;           /* CMDQUE: tagged commands */
	memcpy(p + 8, VENDOR_ID, 8);
	memcpy(p + 16, PRODUCT_ID, 16);
	memcpy(p + 32, REVISION, 4);
	return 36;
}

static const uint8_t vpd_pages[] = {
	VPD_SUPPORTED, VPD_SERIAL, VPD_DEVICE_ID, VPD_BLOCK_LIMITS, VPD_BLOCK_CHARS,
};

/* The VPD page body (after the 4-byte header) into p; its length, or -1 if unknown. */
static int vpd_body(const struct scsi_disk *d, uint8_t page, uint8_t *p)
{
	size_t n = 0, sl;

	switch (page) {
	case VPD_SUPPORTED:
		memcpy(p, vpd_pages, sizeof(vpd_pages));
		return (int)sizeof(vpd_pages);
	case VPD_SERIAL:
		sl = strlen(d->serial);
		memcpy(p, d->serial, sl);
		return (int)sl;
	case VPD_DEVICE_ID:
		/* T10 vendor id based designator: ASCII, LU association, type 1. */
		sl = strlen(d->serial);
		p[n++] = 0x02;
		p[n++] = 0x01;
		p[n++] = 0;
		p[n++] = (uint8_t)(8 + 16 + sl);
		memcpy(p + n, VENDOR_ID, 8);
		memcpy(p + n + 8, PRODUCT_ID, 16);
		memcpy(p + n + 24, d->serial, sl);
		n += 24 + sl;
		/* NAA designator, binary, LU association, type 3; NAA 3 = locally assigned. */
		p[n++] = 0x01;
		p[n++] = 0x03;
		p[n++] = 0;
		p[n++] = 8;
		put_be64(p + n, (uint64_t)3 << 60 | (d->id & ((UINT64_C(1) << 60) - 1)));
		n += 8;
		return (int)n;
	case VPD_BLOCK_LIMITS:
		memset(p, 0, 0x3C);
		put_be16(p + 2, 4096 / SCSI_DISK_BLOCK_SIZE);  /* optimal transfer granularity */
		put_be32(p + 4, d->max_blocks);                 /* maximum transfer length */
		put_be32(p + 8, d->max_blocks);                 /* optimal transfer length */
		return 0x3C;
	case VPD_BLOCK_CHARS:
		memset(p, 0, 0x3C);
		put_be16(p, 0x0001);    /* medium rotation rate: non-rotating */
		return 0x3C;
	default:
		return -1;
	}
}

static void cmd_inquiry(struct cmd *c)
{
	uint8_t p[256];
	uint16_t alloc = get_be16(c->cdb + 3);
	bool evpd = c->cdb[1] & 0x01;

	if (c->cdb[1] & 0x02) {
		invalid_field(c, 1);    /* CMDDT (obsolete) */
		return;
	}
	if (!evpd) {
		if (c->cdb[2] != 0) {
			invalid_field(c, 2);
			return;
		}
		reply(c, p, inquiry_standard(p), alloc);
		return;
	}
	int n = vpd_body(c->d, c->cdb[2], p + 4);
	if (n < 0) {
		invalid_field(c, 2);
		return;
	}
	p[0] = 0x00;
	p[1] = c->cdb[2];
	put_be16(p + 2, (uint16_t)n);
	reply(c, p, (size_t)n + 4, alloc);
}

static void cmd_read_capacity10(struct cmd *c)
{
	uint8_t p[8];
	uint64_t last = c->d->blocks - 1;

	if (!(c->cdb[8] & 0x01) && get_be32(c->cdb + 2) != 0) {
		invalid_field(c, 2);    /* LBA must be 0 without PMI */
		return;
	}
	put_be32(p, last > 0xFFFFFFFEull ? 0xFFFFFFFFu : (uint32_t)last);
	put_be32(p + 4, SCSI_DISK_BLOCK_SIZE);
	reply(c, p, sizeof(p), sizeof(p));
}

static void cmd_service_action_in16(struct cmd *c)
{
	uint8_t p[32] = { 0 };

	if ((c->cdb[1] & 0x1F) != SA_READ_CAPACITY16) {
		invalid_field(c, 1);
		return;
	}
	if (!(c->cdb[14] & 0x01) && get_be64(c->cdb + 2) != 0) {
		invalid_field(c, 2);
		return;
	}
	put_be64(p, c->d->blocks - 1);
	put_be32(p + 8, SCSI_DISK_BLOCK_SIZE);
	reply(c, p, sizeof(p), get_be32(c->cdb + 10));
}

static void cmd_report_luns(struct cmd *c)
{
	uint8_t p[16] = { 0 };
	size_t n;

	switch (c->cdb[2]) {
	case 0x00:    /* all LUNs */
	case 0x02:    /* all LUNs the initiator can address */
		put_be32(p, 8);    /* one entry, LUN 0 (all zero) */
		n = 16;
		break;
	case 0x01:    /* well-known LUNs only: none */
		n = 8;
		break;
	default:
		invalid_field(c, 2);
		return;
	}
	reply(c, p, n, get_be32(c->cdb + 6));
}

static size_t mode_page_caching(const struct scsi_disk *d, uint8_t *p, bool changeable)
{
	memset(p, 0, 20);
	p[0] = MODE_PAGE_CACHING;
	p[1] = 0x12;
	if (!changeable && d->be.ops->flush)
		p[2] = 0x04;    /* WCE */
	return 20;
}

static size_t mode_page_control(uint8_t *p, bool changeable)
{
	memset(p, 0, 12);
	p[0] = MODE_PAGE_CONTROL;
	p[1] = 0x0A;
	if (!changeable)
		p[3] = 0x10;    /* queue algorithm modifier 1: unrestricted reordering */
	return 12;
}

static void mode_sense(struct cmd *c, bool ten)
{
	const uint8_t *cdb = c->cdb;
	struct scsi_disk *d = c->d;
	uint8_t p[64];
	bool dbd = cdb[1] & 0x08;
	bool llbaa = ten && (cdb[1] & 0x10);
	unsigned pc = cdb[2] >> 6, page = cdb[2] & 0x3F, sub = cdb[3];
	size_t alloc = ten ? get_be16(cdb + 7) : cdb[4];
	size_t n = ten ? 8 : 4;

	if (pc == MODE_PC_SAVED) {
		check(c, SCSI_SENSE_ILLEGAL_REQUEST, SCSI_ASC_SAVING_NOT_SUPPORTED, 0);
		return;
	}
	if (page != MODE_PAGE_CACHING && page != MODE_PAGE_CONTROL && page != MODE_PAGE_ALL) {
		invalid_field(c, 2);
		return;
	}
	if (sub != 0 && !(page == MODE_PAGE_ALL && sub == 0xFF)) {
		invalid_field(c, 3);
		return;
	}
	memset(p, 0, n);
	uint8_t dsp = (uint8_t)((d->read_only ? 0x80 : 0) | 0x10);    /* WP, DPOFUA */
	if (!dbd) {
		uint8_t *bd = p + n;
		if (llbaa) {
			memset(bd, 0, 16);
			put_be64(bd, d->blocks);
			put_be32(bd + 12, SCSI_DISK_BLOCK_SIZE);
			n += 16;
		} else {
			memset(bd, 0, 8);
			put_be32(bd, d->blocks > 0xFFFFFFFFull ? 0xFFFFFFFFu : (uint32_t)d->blocks);
			put_be32(bd + 4, SCSI_DISK_BLOCK_SIZE);    /* byte 4 reserved: < 2^24 */
			n += 8;
		}
	}
	size_t bdlen = n - (ten ? 8 : 4);
	if (page == MODE_PAGE_CACHING || page == MODE_PAGE_ALL)
		n += mode_page_caching(d, p + n, pc == MODE_PC_CHANGEABLE);
	if (page == MODE_PAGE_CONTROL || page == MODE_PAGE_ALL)
		n += mode_page_control(p + n, pc == MODE_PC_CHANGEABLE);
	if (ten) {
		put_be16(p, (uint16_t)(n - 2));
		p[3] = dsp;
		p[4] = llbaa && !dbd ? 0x01 : 0x00;    /* LONGLBA */
		put_be16(p + 6, (uint16_t)bdlen);
	} else {
		p[0] = (uint8_t)(n - 1);
		p[2] = dsp;
		p[3] = (uint8_t)bdlen;
	}
	reply(c, p, n, alloc);
}

static void cmd_mode_sense6(struct cmd *c)
{
	mode_sense(c, false);
}

static void cmd_mode_sense10(struct cmd *c)
{
	mode_sense(c, true);
}

static const struct cmd_desc cmd_table[256] = {
	[OP_TEST_UNIT_READY] = { 6, DIR_NONE, cmd_good },
	[OP_REQUEST_SENSE] = { 6, DIR_IN, cmd_request_sense },
	[OP_READ6] = { 6, DIR_IN, cmd_read },
	[OP_WRITE6] = { 6, DIR_OUT, cmd_write },
	[OP_INQUIRY] = { 6, DIR_IN, cmd_inquiry },
	[OP_MODE_SENSE6] = { 6, DIR_IN, cmd_mode_sense6 },
	[OP_START_STOP_UNIT] = { 6, DIR_NONE, cmd_good },
	[OP_READ_CAPACITY10] = { 10, DIR_IN, cmd_read_capacity10 },
	[OP_READ10] = { 10, DIR_IN, cmd_read },
	[OP_WRITE10] = { 10, DIR_OUT, cmd_write },
	[OP_VERIFY10] = { 10, DIR_NONE, cmd_verify },
	[OP_SYNC_CACHE10] = { 10, DIR_NONE, cmd_sync_cache },
	[OP_MODE_SENSE10] = { 10, DIR_IN, cmd_mode_sense10 },
	[OP_READ16] = { 16, DIR_IN, cmd_read },
	[OP_WRITE16] = { 16, DIR_OUT, cmd_write },
	[OP_VERIFY16] = { 16, DIR_NONE, cmd_verify },
	[OP_SYNC_CACHE16] = { 16, DIR_NONE, cmd_sync_cache },
	[OP_SERVICE_ACTION_IN16] = { 16, DIR_IN, cmd_service_action_in16 },
	[OP_REPORT_LUNS] = { 12, DIR_IN, cmd_report_luns },
	[OP_READ12] = { 12, DIR_IN, cmd_read },
	[OP_WRITE12] = { 12, DIR_OUT, cmd_write },
};

/*
 * Everything of a command up to its transfer. With `defer` (the backend batches), a READ or
 * WRITE without FUA stops there: true with *io to hand to the backend, then end(). Otherwise
 * the command runs to its result here (false).
 */
static bool start(struct cmd *c, size_t cdb_len, bool defer, struct scsi_disk_io *io)
{
	struct scsi_disk *d = c->d;
	const uint8_t *cdb = c->cdb;
	const size_t buf_len = c->buf_len;
	memset(c->res, 0, sizeof(*c->res));
	c->res->status = SCSI_STATUS_GOOD;
	const struct cmd_desc *e = cdb_len ? &cmd_table[cdb[0]] : NULL;

	stat_add(&d->stats.commands, 1);
	bool deferred = false;
	if (!cdb_len)
		invalid_field(c, 0);
	else if (!e->run)
		check(c, SCSI_SENSE_ILLEGAL_REQUEST, SCSI_ASC_INVALID_OPCODE, 0);
	else if (cdb_len < e->cdb_len)
		invalid_field(c, (unsigned)cdb_len);    /* the first byte missing */
	else if (cdb[e->cdb_len - 1] & CONTROL_NACA)
		invalid_field(c, e->cdb_len - 1u);
	else if (e->dir != DIR_NONE && buf_len > 0 && c->data_in != (e->dir == DIR_IN))
		bad_buffer(c);
	else if (defer && (e->run == cmd_read || e->run == cmd_write) && !rw_fua(c))
		deferred = rw_prepare(c, e->run == cmd_write, io);
	else
		e->run(c);
	return deferred;
}

/* The rest of a command: its result's common fields. */
static void end(struct cmd *c, size_t cdb_len)
{
	const struct cmd_desc *e = cdb_len ? &cmd_table[c->cdb[0]] : NULL;
	if (e && e->dir == DIR_NONE)
		c->res->transferred = 0;
	c->res->residual = c->buf_len - c->res->transferred;
	if (c->res->status != SCSI_STATUS_GOOD)
		stat_add(&c->d->stats.check_conditions, 1);
}

int scsi_disk_execute(struct scsi_disk *d, const uint8_t *cdb, size_t cdb_len, bool data_in,
		      void *buf, size_t buf_len, struct scsi_result *res)
{
	if (!d || !res || (!cdb && cdb_len) || (!buf && buf_len))
		return -EINVAL;
	struct cmd c = { .d = d, .cdb = cdb, .data_in = data_in, .buf = buf, .buf_len = buf_len,
			 .res = res };
	start(&c, cdb_len, false, NULL);
	end(&c, cdb_len);
	return 0;
}

/* The batch's deferred transfers: to the backend at once, then each command's end. */
static void batch_flush(struct scsi_disk *d, struct scsi_disk_cmd *cmds, const size_t *idx,
			struct scsi_disk_io *ios, size_t n)
{
	if (n == 0)
		return;
	d->be.ops->rw_batch(d->be.ctx, ios, n);
	for (size_t k = 0; k < n; k++) {
		struct scsi_disk_cmd *sc = &cmds[idx[k]];
		struct cmd c = { .d = d, .cdb = sc->cdb, .data_in = sc->data_in, .buf = sc->buf,
				 .buf_len = sc->buf_len, .res = &sc->res };
		rw_finish(&c, &ios[k]);
		end(&c, sc->cdb_len);
	}
}

/* The commands' peek of scsi_disk_execute_batch: would it hand this one to the backend? */
static bool batchable(struct scsi_disk *d, struct scsi_disk_cmd *sc)
{
	struct cmd c = { .d = d, .cdb = sc->cdb, .data_in = sc->data_in, .buf = sc->buf,
			 .buf_len = sc->buf_len, .res = &sc->res };
	const struct cmd_desc *e = sc->cdb_len ? &cmd_table[sc->cdb[0]] : NULL;
	return e && (e->run == cmd_read || e->run == cmd_write) && sc->cdb_len >= e->cdb_len &&
	       !rw_fua(&c);
}

int scsi_disk_execute_batch(struct scsi_disk *d, struct scsi_disk_cmd *cmds, size_t n)
{
	if (!d || (!cmds && n))
		return -EINVAL;
	for (size_t i = 0; i < n; i++)
		if ((!cmds[i].cdb && cmds[i].cdb_len) || (!cmds[i].buf && cmds[i].buf_len))
			return -EINVAL;
	const bool defer = d->be.ops->rw_batch != NULL;
	struct scsi_disk_io ios[SCSI_DISK_BATCH_MAX];
	size_t idx[SCSI_DISK_BATCH_MAX], pending = 0;
	for (size_t i = 0; i < n; i++) {
		struct scsi_disk_cmd *sc = &cmds[i];
		struct cmd c = { .d = d, .cdb = sc->cdb, .data_in = sc->data_in, .buf = sc->buf,
				 .buf_len = sc->buf_len, .res = &sc->res };
		if (pending == SCSI_DISK_BATCH_MAX) {
			batch_flush(d, cmds, idx, ios, pending);
			pending = 0;
		}
		/* Peek: a command that will not be deferred waits for the ones before it. */
		if (!defer || !batchable(d, sc)) {
			batch_flush(d, cmds, idx, ios, pending);
			pending = 0;
		}
		if (start(&c, sc->cdb_len, defer, &ios[pending]))
			idx[pending++] = i;
		else
			end(&c, sc->cdb_len);
	}
	batch_flush(d, cmds, idx, ios, pending);
	return 0;
}

int scsi_disk_submit(struct scsi_disk *d, struct scsi_disk_cmd *cmds, size_t n,
		     struct scsi_disk_async *a, void (*done)(void *arg), void *arg)
{
	if (!d || !a || !done || (!cmds && n) || n > SCSI_DISK_BATCH_MAX)
		return -EINVAL;
	a->pending = 0;     /* a finish after a refusal is harmless */
	for (size_t i = 0; i < n; i++)
		if ((!cmds[i].cdb && cmds[i].cdb_len) || (!cmds[i].buf && cmds[i].buf_len))
			return -EINVAL;
	if (!d->be.ops->rw_submit || !d->be.ops->rw_batch)
		return -EAGAIN;
	for (size_t i = 0; i < n; i++)
		if (!batchable(d, &cmds[i]))
			return -EAGAIN;
	a->d = d;
	a->cmds = cmds;
	a->pending = 0;
	for (size_t i = 0; i < n; i++) {
		struct scsi_disk_cmd *sc = &cmds[i];
		struct cmd c = { .d = d, .cdb = sc->cdb, .data_in = sc->data_in, .buf = sc->buf,
				 .buf_len = sc->buf_len, .res = &sc->res };
		if (start(&c, sc->cdb_len, true, &a->ios[a->pending]))
			a->idx[a->pending++] = i;
		else
			end(&c, sc->cdb_len);
	}
	if (a->pending == 0)
		return 0;
	if (d->be.ops->rw_submit(d->be.ctx, a->ios, a->pending, done, arg) == 0)
		return 1;
	/* Refused after the commands started (counted): they run now, as a batch would. */
	batch_flush(d, cmds, a->idx, a->ios, a->pending);
	a->pending = 0;
	return 0;
}

void scsi_disk_finish(struct scsi_disk_async *a)
{
	for (size_t k = 0; k < a->pending; k++) {
		struct scsi_disk_cmd *sc = &a->cmds[a->idx[k]];
		struct cmd c = { .d = a->d, .cdb = sc->cdb, .data_in = sc->data_in, .buf = sc->buf,
				 .buf_len = sc->buf_len, .res = &sc->res };
		rw_finish(&c, &a->ios[k]);
		end(&c, sc->cdb_len);
	}
	a->pending = 0;
}

void scsi_disk_cancel(struct scsi_disk *d)
{
	if (d && d->be.ops->cancel)
		d->be.ops->cancel(d->be.ctx);
}

/* ---- lifetime -------------------------------------------------------------------------- */

static bool serial_ok(const char *s)
{
	size_t n = strnlen(s, SCSI_DISK_SERIAL_MAX + 1);
	if (n == 0 || n > SCSI_DISK_SERIAL_MAX)
		return false;
	for (size_t i = 0; i < n; i++)
		if (s[i] < 0x20 || s[i] > 0x7E)
			return false;
	return true;
}

int scsi_disk_create(const struct scsi_disk_config *cfg, struct scsi_disk **out)
{
	if (!cfg || !out)
		return -EINVAL;
	*out = NULL;
	const struct scsi_disk_backend *be = &cfg->backend;
	if (!be->ops || !be->ops->read || !be->ops->write || be->size < SCSI_DISK_BLOCK_SIZE)
		return -EINVAL;
	const char *serial = cfg->serial ? cfg->serial : DEFAULT_SERIAL;
	if (!serial_ok(serial))
		return -EINVAL;
	uint32_t max = cfg->max_transfer_bytes ? cfg->max_transfer_bytes
					       : SCSI_DISK_DEFAULT_MAX_TRANSFER;
	if (max % SCSI_DISK_BLOCK_SIZE)
		return -EINVAL;

	struct scsi_disk *d = calloc(1, sizeof(*d));
	if (!d)
		return -ENOMEM;
	d->be = *be;
	d->blocks = be->size / SCSI_DISK_BLOCK_SIZE;
	d->max_blocks = max / SCSI_DISK_BLOCK_SIZE;
	d->read_only = cfg->read_only;
	strcpy(d->serial, serial);
	d->id = cfg->id;
	*out = d;
	return 0;
}

void scsi_disk_destroy(struct scsi_disk *d)
{
	free(d);
}

uint64_t scsi_disk_block_count(const struct scsi_disk *d)
{
	return d->blocks;
}

uint32_t scsi_disk_max_transfer_bytes(const struct scsi_disk *d)
{
	return d->max_blocks * SCSI_DISK_BLOCK_SIZE;
}

bool scsi_disk_read_only(const struct scsi_disk *d)
{
	return d->read_only;
}

void scsi_disk_get_stats(const struct scsi_disk *d, struct scsi_disk_stats *st)
{
	st->commands = __atomic_load_n(&d->stats.commands, __ATOMIC_RELAXED);
	st->check_conditions = __atomic_load_n(&d->stats.check_conditions, __ATOMIC_RELAXED);
	st->read_blocks = __atomic_load_n(&d->stats.read_blocks, __ATOMIC_RELAXED);
	st->written_blocks = __atomic_load_n(&d->stats.written_blocks, __ATOMIC_RELAXED);
	st->flushes = __atomic_load_n(&d->stats.flushes, __ATOMIC_RELAXED);
	st->backend_errors = __atomic_load_n(&d->stats.backend_errors, __ATOMIC_RELAXED);
}

/* ---- backends -------------------------------------------------------------------------- */

/*
 * The destination may be guest memory read into in place (storvsp). Memory the kernel cannot
 * write for us (EFAULT: e.g. hvsim write-protects pages a VP runs code from, and only a store
 * from user space lets its fault handler step in) is read through a small bounce instead.
 */
static ssize_t pread_bounced(int fd, uint8_t *p, size_t len, off_t offset)
{
	uint8_t tmp[4096];
	size_t n = len < sizeof(tmp) ? len : sizeof(tmp);
	ssize_t r = pread(fd, tmp, n, offset);
	if (r > 0)
		memcpy(p, tmp, (size_t)r);
	return r;
}

static int file_read(void *ctx, void *buf, size_t len, uint64_t offset)
{
	int fd = (int)(intptr_t)ctx;
	uint8_t *p = buf;

	while (len) {
		ssize_t n = pread(fd, p, len, (off_t)offset);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EFAULT)
			n = pread_bounced(fd, p, len, (off_t)offset);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			return -EIO;    /* the file shrank under us */
		p += n;
		len -= (size_t)n;
		offset += (uint64_t)n;
	}
	return 0;
}

static int file_write(void *ctx, const void *buf, size_t len, uint64_t offset)
{
	int fd = (int)(intptr_t)ctx;
	const uint8_t *p = buf;

	while (len) {
		ssize_t n = pwrite(fd, p, len, (off_t)offset);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			return -EIO;
		p += n;
		len -= (size_t)n;
		offset += (uint64_t)n;
	}
	return 0;
}

static int file_flush(void *ctx)
{
	int fd = (int)(intptr_t)ctx;
	return fdatasync(fd) == 0 ? 0 : -errno;
}

const struct scsi_disk_backend_ops scsi_disk_file_ops = {
	.read = file_read,
	.write = file_write,
	.flush = file_flush,
};

int scsi_disk_file_backend(int fd, struct scsi_disk_backend *out)
{
	if (fd < 0 || !out)
		return -EINVAL;
	off_t end = lseek(fd, 0, SEEK_END);
	if (end < 0)
		return -errno;
	out->ops = &scsi_disk_file_ops;
	out->ctx = (void *)(intptr_t)fd;
	out->size = (uint64_t)end;
	return 0;
}

/* Bounds are checked again here: the backend does not rely on its caller. */
static int mem_read(void *ctx, void *buf, size_t len, uint64_t offset)
{
	const struct scsi_disk_mem *m = ctx;
	if (offset > m->size || len > m->size - offset)
		return -EINVAL;
	memcpy(buf, m->data + offset, len);
	return 0;
}

static int mem_write(void *ctx, const void *buf, size_t len, uint64_t offset)
{
	struct scsi_disk_mem *m = ctx;
	if (offset > m->size || len > m->size - offset)
		return -EINVAL;
	memcpy(m->data + offset, buf, len);
	return 0;
}

const struct scsi_disk_backend_ops scsi_disk_mem_ops = {
	.read = mem_read,
	.write = mem_write,
	.flush = NULL,
};

void scsi_disk_mem_backend(struct scsi_disk_mem *m, void *data, uint64_t size,
			   struct scsi_disk_backend *out)
{
	m->data = data;
	m->size = size;
	out->ops = &scsi_disk_mem_ops;
	out->ctx = m;
	out->size = size;
}
