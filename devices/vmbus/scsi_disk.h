/*
 * scsi_disk: a SCSI direct-access block device (peripheral device type 0, one logical unit:
 * LUN 0) over a byte-addressed backend, executing one CDB at a time into a caller's buffer.
 * It is the target behind storvsp (the VMBus synthetic SCSI server), but knows nothing of
 * VMBus: a command is (CDB, direction, buffer) in, (status, bytes moved, sense) out.
 *
 * Commands (SPC-4 / SBC-3 layouts; anything else is CHECK CONDITION, ILLEGAL REQUEST,
 * INVALID COMMAND OPERATION CODE 0x20/0x00):
 *   0x00 TEST UNIT READY, 0x03 REQUEST SENSE (fixed format only, always NO SENSE),
 *   0x12 INQUIRY (standard data; VPD pages 0x00 supported pages, 0x80 unit serial number,
 *        0x83 device identification (T10 vendor id + NAA 3 locally assigned), 0xB0 block
 *        limits, 0xB1 block device characteristics (non-rotating)),
 *   0x25 READ CAPACITY(10) (last LBA 0xFFFFFFFF when it does not fit), 0x9E/0x10 READ
 *        CAPACITY(16), 0x08/0x28/0xA8/0x88 READ(6/10/12/16), 0x0A/0x2A/0xAA/0x8A
 *        WRITE(6/10/12/16), 0x2F/0x8F VERIFY(10/16) (BYTCHK 0 only: range check, no I/O),
 *   0x35/0x91 SYNCHRONIZE CACHE(10/16), 0x1B START STOP UNIT (accepted, no effect),
 *   0xA0 REPORT LUNS (LUN 0 only), 0x1A/0x5A MODE SENSE(6/10) (pages 0x08 caching,
 *        0x0A control, 0x3F all; current, changeable (all zero) and default values; short
 *        or long LBA block descriptor; WP bit for read-only disks, DPOFUA set).
 *
 * Model choices:
 * - 512-byte logical blocks; the capacity is the backend size rounded down to a block.
 * - The device server keeps no per-initiator state: no unit attention, no reservations, no
 *   deferred sense. Every error is reported at once in the result (autosense), so REQUEST
 *   SENSE answers NO SENSE. START STOP UNIT does not stop anything.
 * - Sense data is fixed format (response code 0x70, 18 bytes). INVALID FIELD IN CDB carries a
 *   sense-key-specific field pointer (SKSV, C/D = 1) to the offending CDB byte.
 * - Write cache: WCE is reported (and SYNCHRONIZE CACHE / FUA call the backend's flush) when
 *   the backend has a flush op; otherwise writes are taken as durable (WCE 0).
 * - Check order for media access: CDB fields (protect fields must be 0, transfer length <=
 *   the maximum transfer length of VPD 0xB0), then the data buffer (direction and size), then
 *   the LBA range (LBA OUT OF RANGE 0x21/0x00), then write protection (DATA PROTECT,
 *   WRITE PROTECTED 0x27/0x00), then I/O. Range checks are overflow-safe: an LBA range is
 *   valid iff lba < capacity and blocks <= capacity - lba; a zero transfer length is not an
 *   error but its LBA must still be a valid block.
 * - Data buffer: `buf`/`buf_len` is the whole data buffer of the command and `data_in` its
 *   direction (true: device to buffer). The device never touches bytes past buf_len.
 *   Data-in answers (INQUIRY, MODE SENSE, ...) are truncated to min(allocation length,
 *   buf_len); a READ/WRITE whose transfer needs more than buf_len, or a buffer given in the
 *   wrong direction, is CHECK CONDITION ILLEGAL REQUEST / INVALID FIELD IN CDB (a transport
 *   mismatch; the buffer is not touched). A larger buffer is an underrun: `transferred` tells
 *   what moved. Commands without data ignore the buffer.
 * - Backend errors: a failed read is MEDIUM ERROR, UNRECOVERED READ ERROR (0x11/0x00); a failed
 *   write or flush is MEDIUM ERROR, WRITE ERROR (0x0C/0x00). Nothing is reported as
 *   transferred then (the buffer may hold part of the data).
 * - The NACA bit of the control byte is not supported (INVALID FIELD IN CDB); a CDB shorter
 *   than its opcode's group size is INVALID FIELD IN CDB too; extra bytes are ignored.
 *
 * Not modelled: protection information, UNMAP / WRITE SAME / COMPARE AND WRITE, MODE SELECT,
 * REPORT SUPPORTED OPERATION CODES, descriptor-format sense, persistent reservations, LUNs
 * other than 0 (the transport answers those), physical block exponent (reported as 0).
 *
 * Concurrency: scsi_disk_execute may run on several threads at once (the disk's own state is
 * read-only after create; statistics are atomic). The backend must then accept concurrent
 * calls: the file backend does (pread/pwrite); the memory backend is for single-threaded tests.
 */
#ifndef MEZZ_DEVICES_VMBUS_SCSI_DISK_H
#define MEZZ_DEVICES_VMBUS_SCSI_DISK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SCSI_DISK_BLOCK_SIZE 512u
#define SCSI_DISK_DEFAULT_MAX_TRANSFER 0x40000u    /* bytes; VPD 0xB0 maximum transfer length */
#define SCSI_DISK_SERIAL_MAX 20u                  /* VPD 0x80 serial number, printable ASCII */
#define SCSI_DISK_MAX_CDB 16u

/* SAM-5 status codes (the ones this device returns). */
#define SCSI_STATUS_GOOD            0x00
#define SCSI_STATUS_CHECK_CONDITION 0x02

/* SPC-4 sense keys. */
#define SCSI_SENSE_NO_SENSE        0x0
#define SCSI_SENSE_MEDIUM_ERROR    0x3
#define SCSI_SENSE_ILLEGAL_REQUEST 0x5
#define SCSI_SENSE_DATA_PROTECT    0x7

/* Additional sense codes (ASC; ASCQ 0 for all of them). */
#define SCSI_ASC_WRITE_ERROR            0x0C
#define SCSI_ASC_UNRECOVERED_READ_ERROR 0x11
#define SCSI_ASC_INVALID_OPCODE         0x20
#define SCSI_ASC_LBA_OUT_OF_RANGE       0x21
#define SCSI_ASC_INVALID_FIELD_IN_CDB   0x24
#define SCSI_ASC_WRITE_PROTECTED        0x27
#define SCSI_ASC_SAVING_NOT_SUPPORTED   0x39

/* Fixed-format sense data (SPC-4 4.5.3): response code 0x70, additional length 10. */
#define SCSI_SENSE_LEN        18u
#define SCSI_SENSE_FIXED      0x70
#define SCSI_SENSE_OFF_KEY    2      /* low nibble */
#define SCSI_SENSE_OFF_ADDLEN 7
#define SCSI_SENSE_OFF_ASC    12
#define SCSI_SENSE_OFF_ASCQ   13
#define SCSI_SENSE_OFF_SKS    15     /* bit 7 SKSV, bit 6 C/D; field pointer in bytes 16-17 */

/**
 * Backend: byte-addressed storage. read/write move exactly len bytes at offset (the disk only
 * asks for whole blocks inside `size`) and return 0 or -errno (a short transfer is an error).
 * flush may be NULL: writes are then durable as soon as write returns.
 */
struct scsi_disk_io {
	bool write;
	void *buf;                      /* len bytes: read into, or written from */
	size_t len;                     /* whole blocks */
	uint64_t offset;
	int err;                        /* the backend's result: 0 or -errno (starts -EIO) */
};

struct scsi_disk_backend_ops {
	int (*read)(void *ctx, void *buf, size_t len, uint64_t offset);
	int (*write)(void *ctx, const void *buf, size_t len, uint64_t offset);
	int (*flush)(void *ctx);
	/*
	 * Optional: n reads and writes at once, as a device with a command queue takes them
	 * (a backend whose latency is a round trip, like storvsc's host, overlaps them);
	 * returns when every one is done, each with its own err. The order between them is
	 * not defined: scsi_disk_execute_batch only puts commands together that may run in any
	 * order.
	 */
	void (*rw_batch)(void *ctx, struct scsi_disk_io *ios, size_t n);
	/*
	 * Optional, with rw_batch: start n reads and writes and return at once (a backend whose
	 * device answers later, like storvsc's host). 0: started; done(arg) then runs exactly once,
	 * when every one has its err, on any thread (on the caller's, possibly before rw_submit
	 * returns), with none of the backend's locks held; `ios` must stay valid until then.
	 * -errno (e.g. -EAGAIN: no room now): nothing was started and done never runs.
	 */
	int (*rw_submit)(void *ctx, struct scsi_disk_io *ios, size_t n, void (*done)(void *arg),
			 void *arg);
	/*
	 * Optional, with rw_submit: end every started transfer now; those the device has not
	 * answered fail with -ECANCELED. Their done() has run when cancel returns (or runs on
	 * another thread that is already calling it).
	 */
	void (*cancel)(void *ctx);
};

struct scsi_disk_backend {
	const struct scsi_disk_backend_ops *ops;
	void *ctx;
	uint64_t size;                  /* bytes */
};

/** File backend: pread/pwrite/fdatasync on a file descriptor (regular file or block device). */
extern const struct scsi_disk_backend_ops scsi_disk_file_ops;
/**
 * A backend over `fd` (kept open by the caller for the disk's lifetime), sized with
 * lseek(SEEK_END). 0 or -errno.
 */
int scsi_disk_file_backend(int fd, struct scsi_disk_backend *out);

/** Memory backend over a caller-owned buffer (tests, fuzzing). No flush op. */
struct scsi_disk_mem {
	uint8_t *data;
	uint64_t size;
};
extern const struct scsi_disk_backend_ops scsi_disk_mem_ops;
/** `m` is filled and must outlive the disk. */
void scsi_disk_mem_backend(struct scsi_disk_mem *m, void *data, uint64_t size,
			   struct scsi_disk_backend *out);

struct scsi_disk_config {
	struct scsi_disk_backend backend;   /* ops with read and write, size >= one block */
	bool read_only;
	const char *serial;                 /* 1..20 printable ASCII; NULL: "MEZZ-0000" */
	uint64_t id;                        /* low 60 bits: the NAA 3 designator of VPD 0x83 */
	uint32_t max_transfer_bytes;        /* multiple of 512, >= 512; 0: the default */
};

struct scsi_result {
	uint8_t status;                     /* SCSI_STATUS_* */
	size_t transferred;                 /* bytes moved to/from the buffer */
	size_t residual;                    /* buf_len - transferred */
	uint8_t sense_len;                  /* SCSI_SENSE_LEN with CHECK CONDITION, else 0 */
	uint8_t sense[SCSI_SENSE_LEN];
};

struct scsi_disk_stats {
	uint64_t commands;
	uint64_t check_conditions;
	uint64_t read_blocks;           /* counted when a transfer starts, taken back if it fails */
	uint64_t written_blocks;
	uint64_t flushes;
	uint64_t backend_errors;
};

struct scsi_disk;

/** 0, -EINVAL (bad config) or -ENOMEM. The backend is copied (not its ctx). */
int scsi_disk_create(const struct scsi_disk_config *cfg, struct scsi_disk **out);
/** NULL is accepted. Does not close or flush the backend. */
void scsi_disk_destroy(struct scsi_disk *d);

/**
 * Execute one command. `cdb` holds cdb_len bytes (the first is the opcode); `buf` may be NULL
 * iff buf_len is 0. `res` is always filled. Returns 0, or -EINVAL for NULL arguments only
 * (every command problem is a CHECK CONDITION in res).
 */
int scsi_disk_execute(struct scsi_disk *d, const uint8_t *cdb, size_t cdb_len, bool data_in,
		      void *buf, size_t buf_len, struct scsi_result *res);

/** One command of a batch: the arguments of scsi_disk_execute, and its result. */
struct scsi_disk_cmd {
	const uint8_t *cdb;
	size_t cdb_len;
	bool data_in;
	void *buf;
	size_t buf_len;
	struct scsi_result res;         /* out */
};

/** At most this many commands' transfers go to the backend's rw_batch in one call. */
#define SCSI_DISK_BATCH_MAX 64u

/**
 * Execute n commands, each with the result scsi_disk_execute would give it. With a backend
 * that has rw_batch, the READ and WRITE transfers of consecutive commands (without FUA) go to
 * it together: like simple-tagged commands in a SCSI target's queue, those run in no defined
 * order among themselves (a guest does not overlap them); any other command runs after every
 * command before it and before every command after it. 0, or -EINVAL for NULL arguments (then
 * nothing ran).
 */
int scsi_disk_execute_batch(struct scsi_disk *d, struct scsi_disk_cmd *cmds, size_t n);

/**
 * A batch whose transfers complete later (scsi_disk_submit). The caller owns it (and the
 * commands) until scsi_disk_finish; the fields are scsi_disk's.
 */
struct scsi_disk_async {
	struct scsi_disk *d;
	struct scsi_disk_cmd *cmds;
	size_t pending;
	size_t idx[SCSI_DISK_BATCH_MAX];
	struct scsi_disk_io ios[SCSI_DISK_BATCH_MAX];
};

/**
 * Start n commands (n <= SCSI_DISK_BATCH_MAX) that scsi_disk_execute_batch would hand to the
 * backend together - every one a READ or WRITE without FUA - without waiting for the backend
 * (its rw_submit). 1: started: done(arg) runs once when the backend has answered (any thread,
 * see rw_submit), after which scsi_disk_finish(a) gives every command its result. 0: every
 * command has its result already (e.g. all were refused before the backend; done is not
 * called). -EAGAIN: the backend has no rw_submit or refused, or a command is not such a READ
 * or WRITE: nothing ran, run them with scsi_disk_execute_batch. -EINVAL: bad arguments.
 * Like simple-tagged commands they run in no defined order with anything else the disk is
 * given meanwhile.
 */
int scsi_disk_submit(struct scsi_disk *d, struct scsi_disk_cmd *cmds, size_t n,
		     struct scsi_disk_async *a, void (*done)(void *arg), void *arg);
/** After done(arg): the results into the commands (statistics counted). */
void scsi_disk_finish(struct scsi_disk_async *a);
/** End what the disk's backend has started (its cancel op; nothing without one). */
void scsi_disk_cancel(struct scsi_disk *d);

uint64_t scsi_disk_block_count(const struct scsi_disk *d);
uint32_t scsi_disk_max_transfer_bytes(const struct scsi_disk *d);
bool scsi_disk_read_only(const struct scsi_disk *d);
void scsi_disk_get_stats(const struct scsi_disk *d, struct scsi_disk_stats *st);

#endif
