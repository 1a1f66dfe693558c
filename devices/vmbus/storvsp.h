/*
 * storvsp: the server side of the VMBus synthetic SCSI protocol (StorVSC/storvsp,
 * hyperv-abi-facts §3.8) for one channel, over one scsi_disk at path 0, target 0, LUN 0.
 *
 * Transport-agnostic: the caller reads a packet from the channel's ring and hands over its
 * VMBus packet type, transaction id, inband payload (the vstor_packet) and, for GPA-direct
 * packets, the page ranges; storvsp_handle() executes it synchronously and fills the payload of
 * the completion to send back (packet type 0xB, same transaction id). Guest memory is reached
 * only through the caller's copy callback, one call per page piece, and only inside the pages
 * the packet named.
 *
 * Protocol:
 * - Init state machine, strictly in order: BEGIN_INITIALIZATION -> QUERY_PROTOCOL_VERSION
 *   (repeated until one is accepted) -> QUERY_PROPERTIES -> END_INITIALIZATION -> ready.
 *   Any other operation (or a repeat) before ready, and init operations after it, complete
 *   with STORVSP_STATUS_INVALID_DEVICE_STATE and leave the state as it was. A new channel open
 *   starts over: call storvsp_reset().
 * - Versions: WIN8 0x0501, WIN8.1 0x0600 and WIN10 0x0602 are accepted (the revision field
 *   is ignored); anything else, including WIN7 0x0402 and WIN6 0x0200, gets
 *   STORVSP_STATUS_REVISION_MISMATCH so the guest tries an older one. The accepted versions
 *   behave the same here.
 * - Packet sizes: a vstor_packet is 64 bytes from WIN8 on (vmscsi_request 0x34 bytes); before
 *   WIN8 the SRB lacks its 16-byte extension (0x24 bytes, packet 48). A guest does not know
 *   the version before negotiating, so Linux sends the init packets at 48 bytes: init
 *   operations accept any payload of >= 48 bytes (longer payloads are cut at 64). Since only
 *   WIN8+ is accepted, pre-WIN8 SRBs are never executed: EXECUTE_SRB needs the full 64 bytes.
 *   The completion is 64 bytes when the request was >= 64 bytes, else 48 (the guest checks
 *   the completion is at least as long as what it sent).
 * - QUERY_PROPERTIES answers max_sub_channels 0, flags 0 (no multi-channel) and
 *   max_transfer_bytes = the disk's maximum transfer length (VPD 0xB0), 0x40000 by default.
 *   CREATE_SUB_CHANNELS (after QUERY_PROPERTIES) succeeds for a count of 0 and fails with
 *   STORVSP_STATUS_INVALID_PARAMETER otherwise: no subchannels are offered.
 * - RESET_LUN / RESET_ADAPTER / RESET_BUS succeed once ready; SRBs outstanding from
 *   storvsp_handle_batch_async are not aborted (they complete as they would have).
 *   COMPLETE_IO, REMOVE_DEVICE, ENUMERATE_BUS, FC_HBA_DATA, EVENT_NOTIFICATION (host-to-guest operations) and unknown operations get
 *   STORVSP_STATUS_INVALID_DEVICE_REQUEST. A GPA-direct packet that is not EXECUTE_SRB, or a
 *   payload shorter than 48 bytes, gets STORVSP_STATUS_INVALID_PARAMETER.
 *
 * EXECUTE_SRB (checks in this order; the SRB fields are the request's, never trusted):
 * - Not ready: INVALID_DEVICE_STATE. Payload < 64, cdb_length 0 or > 16, data_in > 2 (0 write,
 *   1 read, 2 no data), data_transfer_length > max_transfer_bytes, data with data_in 2, an
 *   inband packet with data_transfer_length != 0, or a GPA-direct packet whose ranges are not
 *   exactly one range with byte_count == data_transfer_length, byte_offset < 4096,
 *   pfn_count == ceil((byte_offset + byte_count) / 4096) and every pfn < 2^52:
 *   INVALID_PARAMETER. A failed guest-memory copy (the callback's error) is INVALID_PARAMETER
 *   too: for a write nothing reaches the disk; for a read the guest pages before the failing
 *   piece have been written. All of these reply srb_status STORVSP_SRB_INVALID_REQUEST,
 *   scsi_status 0, data_transfer_length 0.
 * - path_id, target_id or lun != 0 (no device there), answered as a SCSI target answers for
 *   a LUN it lacks (SPC-4 6.6.2), never with srb_status INVALID_LUN (Linux's storvsc would
 *   remove LUN n of target 0, the real disk): a standard INQUIRY succeeds with peripheral
 *   qualifier 011b / type 1Fh (36 bytes at most, within the allocation length); anything
 *   else is CHECK CONDITION, ILLEGAL REQUEST, LOGICAL UNIT NOT SUPPORTED (25h/00h), srb_status
 *   STORVSP_SRB_ERROR (+ AUTOSENSE_VALID as below). port_number is ignored (the channel is
 *   the port).
 * - Otherwise the disk runs the CDB over a bounce buffer of data_transfer_length bytes
 *   (written data is copied in first, read data copied out after, only what was moved).
 *   Status success; scsi_status from the disk; srb_status STORVSP_SRB_SUCCESS for GOOD (an
 *   underrun is success with the shorter data_transfer_length), else STORVSP_SRB_ERROR, with
 *   STORVSP_SRB_AUTOSENSE_VALID when the sense was copied into the SRB's sense area (offset 16)
 *   and sense_info_length set to its length: min(18, the request's sense_info_length, 20),
 *   none with srb_flags STORVSP_SRB_FLAGS_DISABLE_AUTOSENSE. The 20-byte CDB/sense area of
 *   the reply is zeroed apart from that sense. srb_flags other than DISABLE_AUTOSENSE, the
 *   SRB length field, queue tags and timeouts are ignored.
 *
 * Not modelled: subchannels, more than one disk or LUN, FC HBA data, host-initiated
 * ENUMERATE_BUS / REMOVE_DEVICE. Asynchronous completion only for in-place READ/WRITEs
 * (storvsp_handle_batch_async); every other SRB holds the caller until the disk returns.
 *
 * Concurrency: one instance serves one channel; the caller serialises storvsp_handle calls
 * on it. The disk may be shared (see scsi_disk.h).
 */
#ifndef MEZZ_DEVICES_VMBUS_STORVSP_H
#define MEZZ_DEVICES_VMBUS_STORVSP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "devices/vmbus/scsi_disk.h"

/* ---- wire format (hyperv-abi-facts §3.8; little-endian) -------------------------------- */

/* VMBus packet types storvsp receives (§3.6); the reply goes back as a completion (0xB). */
#define STORVSP_PKT_INBAND     0x6
#define STORVSP_PKT_GPA_DIRECT 0x9
#define STORVSP_PKT_COMPLETION 0xB

#define STORVSP_PAGE_SIZE 4096u

enum storvsp_operation {
	STORVSP_OP_COMPLETE_IO = 1,
	STORVSP_OP_REMOVE_DEVICE = 2,
	STORVSP_OP_EXECUTE_SRB = 3,
	STORVSP_OP_RESET_LUN = 4,
	STORVSP_OP_RESET_ADAPTER = 5,
	STORVSP_OP_RESET_BUS = 6,
	STORVSP_OP_BEGIN_INITIALIZATION = 7,
	STORVSP_OP_END_INITIALIZATION = 8,
	STORVSP_OP_QUERY_PROTOCOL_VERSION = 9,
	STORVSP_OP_QUERY_PROPERTIES = 10,
	STORVSP_OP_ENUMERATE_BUS = 11,
	STORVSP_OP_FC_HBA_DATA = 12,
	STORVSP_OP_CREATE_SUB_CHANNELS = 13,
	STORVSP_OP_EVENT_NOTIFICATION = 14,
};

#define STORVSP_FLAG_REQUEST_COMPLETION 0x1    /* vstor_packet.flags */

/* Protocol versions, major << 8 | minor. */
#define STORVSP_VERSION_WIN6  0x0200
#define STORVSP_VERSION_WIN7  0x0402
#define STORVSP_VERSION_WIN8  0x0501
#define STORVSP_VERSION_WIN81 0x0600
#define STORVSP_VERSION_WIN10 0x0602

/* NTSTATUS values in vstor_packet.status. */
#define STORVSP_STATUS_SUCCESS                0x00000000u
#define STORVSP_STATUS_INVALID_PARAMETER      0xC000000Du
#define STORVSP_STATUS_INVALID_DEVICE_REQUEST 0xC0000010u
#define STORVSP_STATUS_REVISION_MISMATCH      0xC0000059u
#define STORVSP_STATUS_INVALID_DEVICE_STATE   0xC0000184u

/* SRB status (vmscsi_request.srb_status). */
#define STORVSP_SRB_SUCCESS         0x01
#define STORVSP_SRB_ERROR           0x04
#define STORVSP_SRB_INVALID_REQUEST 0x06
#define STORVSP_SRB_INVALID_LUN     0x20
#define STORVSP_SRB_AUTOSENSE_VALID 0x80

#define STORVSP_SRB_FLAGS_DISABLE_AUTOSENSE 0x20

#define STORVSP_SRB_DATA_OUT  0     /* vmscsi_request.data_in: guest memory -> device */
#define STORVSP_SRB_DATA_IN   1     /* device -> guest memory */
#define STORVSP_SRB_DATA_NONE 2

#define STORVSP_CDB_AREA 20         /* CDB in the request, sense data in the reply */
#define STORVSP_MAX_CDB  16

/** vmscsi_request (SRB), 0x34 bytes from WIN8; 0x24 before (no fields from `reserve` on). */
struct storvsp_vmscsi_request {
	uint16_t length;
	uint8_t srb_status;
	uint8_t scsi_status;
	uint8_t port_number;
	uint8_t path_id;
	uint8_t target_id;
	uint8_t lun;
	uint8_t cdb_length;
	uint8_t sense_info_length;
	uint8_t data_in;
	uint8_t reserved;
	uint32_t data_transfer_length;
	uint8_t cdb[STORVSP_CDB_AREA];    /* request: CDB; reply: sense data */
	/* WIN8 extension */
	uint16_t reserve;
	uint8_t queue_tag;
	uint8_t queue_action;
	uint32_t srb_flags;
	uint32_t timeout;
	uint32_t queue_sort_key;
};
_Static_assert(sizeof(struct storvsp_vmscsi_request) == 0x34, "hyperv-abi-facts 3.8: SRB 0x34 B");
_Static_assert(offsetof(struct storvsp_vmscsi_request, length) == 0, "hyperv-abi-facts 3.8: length at 0");
_Static_assert(offsetof(struct storvsp_vmscsi_request, srb_status) == 2, "hyperv-abi-facts 3.8: srb_status at 2");
_Static_assert(offsetof(struct storvsp_vmscsi_request, scsi_status) == 3, "hyperv-abi-facts 3.8: scsi_status at 3");
_Static_assert(offsetof(struct storvsp_vmscsi_request, port_number) == 4, "hyperv-abi-facts 3.8: port at 4");
_Static_assert(offsetof(struct storvsp_vmscsi_request, path_id) == 5, "hyperv-abi-facts 3.8: path_id at 5");
_Static_assert(offsetof(struct storvsp_vmscsi_request, target_id) == 6, "hyperv-abi-facts 3.8: target_id at 6");
_Static_assert(offsetof(struct storvsp_vmscsi_request, lun) == 7, "hyperv-abi-facts 3.8: lun at 7");
_Static_assert(offsetof(struct storvsp_vmscsi_request, cdb_length) == 8, "hyperv-abi-facts 3.8: cdb_length at 8");
_Static_assert(offsetof(struct storvsp_vmscsi_request, sense_info_length) == 9, "hyperv-abi-facts 3.8: sense_info_length at 9");
_Static_assert(offsetof(struct storvsp_vmscsi_request, data_in) == 10, "hyperv-abi-facts 3.8: data_in at 10");
_Static_assert(offsetof(struct storvsp_vmscsi_request, data_transfer_length) == 12, "hyperv-abi-facts 3.8: data_transfer_length at 12");
_Static_assert(offsetof(struct storvsp_vmscsi_request, cdb) == 16, "hyperv-abi-facts 3.8: cdb/sense at 16");
_Static_assert(offsetof(struct storvsp_vmscsi_request, reserve) == 0x24, "hyperv-abi-facts 3.8: pre-WIN8 SRB ends at 0x24");
_Static_assert(offsetof(struct storvsp_vmscsi_request, queue_tag) == 38, "hyperv-abi-facts 3.8: queue_tag at 38");
_Static_assert(offsetof(struct storvsp_vmscsi_request, queue_action) == 39, "hyperv-abi-facts 3.8: queue_action at 39");
_Static_assert(offsetof(struct storvsp_vmscsi_request, srb_flags) == 40, "hyperv-abi-facts 3.8: srb_flags at 40");
_Static_assert(offsetof(struct storvsp_vmscsi_request, timeout) == 44, "hyperv-abi-facts 3.8: timeout at 44");
_Static_assert(offsetof(struct storvsp_vmscsi_request, queue_sort_key) == 48, "hyperv-abi-facts 3.8: queue_sort_key at 48");

/** QUERY_PROPERTIES reply (union of the vstor_packet). */
struct storvsp_channel_properties {
	uint32_t reserved;
	uint16_t max_sub_channels;
	uint16_t reserved1;
	uint32_t flags;                 /* bit 0: multi-channel */
	uint32_t max_transfer_bytes;
	uint32_t reserved2[2];          /* a u64 on the wire; u32s keep the packet unpadded */
};
_Static_assert(sizeof(struct storvsp_channel_properties) == 24, "hyperv-abi-facts 3.8: properties 24 B");
_Static_assert(offsetof(struct storvsp_channel_properties, max_sub_channels) == 4, "hyperv-abi-facts 3.8: max_sub_channels at 4");
_Static_assert(offsetof(struct storvsp_channel_properties, flags) == 8, "hyperv-abi-facts 3.8: flags at 8");
_Static_assert(offsetof(struct storvsp_channel_properties, max_transfer_bytes) == 12, "hyperv-abi-facts 3.8: max_transfer_bytes at 12");
_Static_assert(offsetof(struct storvsp_channel_properties, reserved2) == 16, "hyperv-abi-facts 3.8: reserved u64 at 16");

/** QUERY_PROTOCOL_VERSION union. */
struct storvsp_protocol_version {
	uint16_t major_minor;
	uint16_t revision;
};
_Static_assert(sizeof(struct storvsp_protocol_version) == 4, "hyperv-abi-facts 3.8: version 4 B");
_Static_assert(offsetof(struct storvsp_protocol_version, revision) == 2, "hyperv-abi-facts 3.8: revision at 2");

/** vstor_packet: every storvsp message. */
struct storvsp_vstor_packet {
	uint32_t operation;
	uint32_t flags;
	uint32_t status;
	union {
		struct storvsp_vmscsi_request srb;
		struct storvsp_channel_properties properties;
		struct storvsp_protocol_version version;
		uint16_t sub_channel_count;
		uint8_t raw[52];
	} u;
};
_Static_assert(sizeof(struct storvsp_vstor_packet) == 64, "hyperv-abi-facts 3.8: vstor_packet 64 B");
_Static_assert(offsetof(struct storvsp_vstor_packet, flags) == 4, "hyperv-abi-facts 3.8: flags at 4");
_Static_assert(offsetof(struct storvsp_vstor_packet, status) == 8, "hyperv-abi-facts 3.8: status at 8");
_Static_assert(offsetof(struct storvsp_vstor_packet, u) == 12, "hyperv-abi-facts 3.8: union at 12");

#define STORVSP_PACKET_SIZE          64u
#define STORVSP_PACKET_SIZE_PRE_WIN8 48u    /* 12 + the 0x24-byte pre-WIN8 SRB */

/* ---- API -------------------------------------------------------------------------------- */

/** Upper bound on the disk's maximum transfer length storvsp accepts (bounce buffer size). */
#define STORVSP_MAX_TRANSFER_LIMIT (16u << 20)

/**
 * Guest memory access: copy len bytes between buf and guest physical address gpa (to_guest:
 * buf -> guest). storvsp never crosses a page boundary in one call. 0 or -errno (e.g. -EFAULT
 * for a GPA outside guest RAM or not accessible to the guest).
 */
struct storvsp_guest_mem {
	int (*copy)(void *ctx, uint64_t gpa, void *buf, size_t len, bool to_guest);
	/*
	 * Optional: a host pointer to all of [gpa, gpa + len) when it is guest RAM the guest may
	 * access, mapped contiguously; NULL otherwise. READ and WRITE data then moves between
	 * the disk and guest memory directly (no bounce copy), as a device's DMA would: the
	 * guest changing the pages meanwhile only changes its own data.
	 */
	void *(*map)(void *ctx, uint64_t gpa, size_t len);
	void *ctx;
};

/** One GPA range of a GPA-direct packet (§3.6), as read from the ring (unvalidated). */
struct storvsp_gpa_range {
	uint32_t byte_count;
	uint32_t byte_offset;           /* into the first page */
	const uint64_t *pfns;
	size_t pfn_count;
};

/** One received packet. */
struct storvsp_request {
	uint16_t type;                  /* STORVSP_PKT_INBAND or STORVSP_PKT_GPA_DIRECT */
	uint64_t transaction_id;
	const void *payload;            /* the vstor_packet bytes */
	size_t payload_len;
	const struct storvsp_gpa_range *ranges;    /* GPA direct only */
	size_t range_count;
};

/** The completion to send: packet type STORVSP_PKT_COMPLETION, this transaction id. */
struct storvsp_reply {
	uint64_t transaction_id;
	size_t len;                     /* STORVSP_PACKET_SIZE or STORVSP_PACKET_SIZE_PRE_WIN8 */
	union {                         /* the first len bytes are sent */
		uint8_t payload[STORVSP_PACKET_SIZE];
		struct storvsp_vstor_packet packet;
	};
};

enum storvsp_state {
	STORVSP_WAIT_BEGIN,
	STORVSP_WAIT_VERSION,
	STORVSP_WAIT_PROPERTIES,
	STORVSP_WAIT_END,
	STORVSP_READY,
};

struct storvsp_config {
	struct scsi_disk *disk;         /* path 0 target 0 LUN 0; not owned */
	struct storvsp_guest_mem mem;   /* copy is required */
};

struct storvsp_stats {
	uint64_t packets;               /* handled with a reply */
	uint64_t bad_packets;           /* -EPROTO: not inband / GPA direct */
	uint64_t errors;                /* replies with an NTSTATUS error */
	uint64_t srbs;                  /* SRBs that reached the disk */
	uint64_t invalid_lun;
	uint64_t bytes_to_guest;
	uint64_t bytes_from_guest;
	uint64_t in_place;              /* READ/WRITE data moved in guest memory, no bounce */
};

struct storvsp;

/**
 * 0, -EINVAL (no disk or copy callback, or the disk's maximum transfer length is above
 * STORVSP_MAX_TRANSFER_LIMIT) or -ENOMEM. Starts in STORVSP_WAIT_BEGIN.
 */
int storvsp_create(const struct storvsp_config *cfg, struct storvsp **out);
/** NULL is accepted. The disk is left alone. */
void storvsp_destroy(struct storvsp *s);
/** Channel (re)opened: back to STORVSP_WAIT_BEGIN, no version. */
void storvsp_reset(struct storvsp *s);

/**
 * Handle one packet. 0: `reply` holds the completion to send (the caller sends it when the
 * packet descriptor asked for one, VMBus flags bit 0). -EPROTO: the packet type is neither
 * inband nor GPA direct, no reply. -EINVAL: NULL arguments.
 */
int storvsp_handle(struct storvsp *s, const struct storvsp_request *rq,
		   struct storvsp_reply *reply);

/** Packets storvsp_handle_batch takes at once. */
#define STORVSP_BATCH_MAX 32u

/**
 * Handle n packets (n <= STORVSP_BATCH_MAX) in order, each with the result storvsp_handle
 * would give it (rcs[i], replies[i]), except that SRBs whose READ/WRITE data moves in place
 * go to the disk together (scsi_disk_execute_batch: a backend with a queue overlaps them)
 * and run in no defined order among themselves, like simple-tagged commands; every other
 * packet runs after all before it and before all after it. 0, or -EINVAL (NULL arguments,
 * n too large: nothing ran).
 */
int storvsp_handle_batch(struct storvsp *s, const struct storvsp_request *rqs, size_t n,
			 struct storvsp_reply *replies, int *rcs);

/** rcs[i] of storvsp_handle_batch_async: the packet's answer comes with storvsp_finish. */
#define STORVSP_PENDING 1

/** An SRB of an asynchronous batch (storvsp's own fields). */
struct storvsp_deferred {
	uint8_t cdb[STORVSP_MAX_CDB];
	uint8_t cdb_len;
	bool data_in;
	uint8_t *direct;                /* the data in guest memory */
	uint32_t len;
	uint64_t transaction_id;
	size_t payload_len;
	size_t at;                      /* its index in the batch */
};

/**
 * A batch whose in-place transfers complete later (storvsp_handle_batch_async): owned by the
 * caller, with the batch's replies array, until storvsp_finish; the fields are storvsp's.
 */
struct storvsp_async {
	size_t n;
	struct storvsp_reply *replies;
	struct storvsp_deferred df[STORVSP_BATCH_MAX];
	struct scsi_disk_cmd cmds[STORVSP_BATCH_MAX];
	struct scsi_disk_async disk;
};

/**
 * storvsp_handle_batch, except that the SRBs of the batch's last run of in-place READ/WRITEs
 * go to the disk without waiting for it (scsi_disk_submit) when the disk's backend allows it.
 * 0: every packet is answered (rcs, replies), as storvsp_handle_batch. 1: those SRBs are
 * outstanding: rcs[i] is STORVSP_PENDING for each; done(arg) runs once they are (any thread,
 * see scsi_disk_submit), then storvsp_finish(s, a) writes their replies[i] (and rcs stay
 * as they are: the caller knows which were pending); all other packets are answered now. The
 * outstanding SRBs run in no defined order with anything handled meanwhile, as simple-tagged
 * commands do. -EINVAL: as storvsp_handle_batch. The caller serialises storvsp_finish with
 * the instance's other calls.
 */
int storvsp_handle_batch_async(struct storvsp *s, const struct storvsp_request *rqs, size_t n,
			       struct storvsp_reply *replies, int *rcs, struct storvsp_async *a,
			       void (*done)(void *arg), void *arg);
/** After done(arg): the outstanding SRBs' replies. */
void storvsp_finish(struct storvsp *s, struct storvsp_async *a);

enum storvsp_state storvsp_get_state(const struct storvsp *s);
/** The negotiated protocol version, 0 before one was accepted. */
uint16_t storvsp_version(const struct storvsp *s);
uint32_t storvsp_max_transfer_bytes(const struct storvsp *s);
void storvsp_get_stats(const struct storvsp *s, struct storvsp_stats *st);

#endif
