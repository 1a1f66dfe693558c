/*
 * vmbus_ring: one direction of a VMBus channel ring (../shared/docs/hyperv-abi-facts.md 3.6) seen
 * from one end, the producer (we send) or the consumer (we receive). Layouts are in
 * hvcall/vmbus_ring_abi.h.
 *
 * Memory: a control page and a data area of `size` bytes (a multiple of 4096, 4096..2 GiB), both
 * shared with the peer and given as host pointers; the caller maps the GPADL pages and provides a
 * contiguous view of the data area. This module never reads or writes outside
 * [control, control + 4096) and [data, data + size).
 *
 * The peer is hostile. It may write any field of the control page and any byte of the data area
 * at any time. So:
 *   - our own position (write index for a producer, read index for a consumer) is a private copy
 *     taken at init; we publish it but never read it back;
 *   - each shared field is read at most once per step into a local and validated before use;
 *     every ring offset we compute comes from private state or a validated local;
 *   - a received descriptor is copied out of shared memory once, validated, and only the copy is
 *     used afterwards (struct vmbus_ring_packet);
 *   - any violation (index out of range or not a multiple of 8, a descriptor that is not
 *     well formed or claims more than is available, a wrong trailer) puts the view in a sticky
 *     broken state: that call and every later one return -EPROTO. Nothing is repaired.
 *     One exception in timing, not in outcome: after a send or a commit has published our
 *     index, the peer's index is loaded once more only to decide whether to signal; a bad
 *     value there means "no signal" and the call still reports what it did; the next load of
 *     that index for use (every send that needs space, every peek that needs data, unmask,
 *     the space/available queries) finds it and breaks the view.
 *
 * Threads: one view is used by one thread at a time; the producer view and the consumer view of
 * the same ring (as in tests) may run on two threads concurrently. Shared indices use __atomic
 * builtins: acquire loads of the peer's index before touching data, release stores of ours after,
 * and a full fence between publishing and the signalling decision (doc 3.6 "Signalling rules").
 *
 * Errors are 0 / positive / -errno:
 *   -EINVAL    bad arguments (nothing changed)
 *   -EMSGSIZE  the packet can never fit this ring or a descriptor (nothing changed)
 *   -EAGAIN    producer: no room now; consumer: no packet now
 *   -EPROTO    the peer broke the protocol; the view is broken for good
 */
#ifndef MEZZ_DEVICES_VMBUS_VMBUS_RING_H
#define MEZZ_DEVICES_VMBUS_VMBUS_RING_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "hvcall/vmbus_ring_abi.h"

/** Largest data area accepted, so that index arithmetic never overflows 32 bits. */
#define VMBUS_RING_MAX_DATA_SIZE 0x80000000u

/** Positive result of a send or a commit: the peer must be signalled (doc 3.6). */
#define VMBUS_RING_SIGNAL 1

enum vmbus_ring_role {
	VMBUS_RING_PRODUCER, /* we write packets and own write_index / pending_send_sz */
	VMBUS_RING_CONSUMER, /* we read packets and own read_index / interrupt_mask */
};

/** One view of one ring direction. Fields are private: use the functions below. */
struct vmbus_ring {
	struct vmbus_ring_control *ctl; /* shared */
	uint8_t *data;                  /* shared, `size` bytes */
	uint32_t size;
	enum vmbus_ring_role role;
	/* Producer: next write offset. Consumer: next read offset (after advanced packets). */
	uint32_t pos;
	/* The index we last published (start of the current batch). */
	uint32_t committed;
	/* Last validated value of the peer's index (producer: read_index, consumer: write_index). */
	uint32_t peer_cache;
	/* Consumer: bytes (packet + trailer) of the last peeked packet, 0 if none. */
	uint32_t peeked;
	bool pending_set; /* producer: we wrote pending_send_sz and must clear it after sending */
	bool signal_owed; /* producer: a send published a batch itself and owes its signal */
	/* Producer: packets written since the last publish. Not pos != committed: a consumer that
	 * claims to have read our unpublished batch can make a send wrap pos onto committed. */
	bool unpublished;
	bool broken;
	const char *broken_reason;
};

/** One piece of an outgoing payload (like struct iovec). */
struct vmbus_ring_piece {
	const void *base;
	size_t len;
};

/** An outgoing packet: descriptor fields, descriptor extension, payload pieces. */
struct vmbus_ring_out {
	uint16_t type;           /* VMBUS_PKT_DATA_INBAND, _DATA_XFER_PAGES, _DATA_GPA_DIRECT, _COMPLETION */
	uint16_t flags;          /* 0 or VMBUS_PKT_FLAG_COMPLETION_REQUESTED */
	uint64_t transaction_id;
	/* Bytes between the descriptor and the payload (GPA-direct / transfer-page header and
	 * ranges); a multiple of 8; at least the 8-byte header for types 7 and 9, whose
	 * range_count must fit in it. NULL when ext_len is 0. */
	const void *ext;
	uint32_t ext_len;
	const struct vmbus_ring_piece *pieces;
	uint32_t piece_count;
};

/** A received packet, as validated by vmbus_ring_peek(). Everything here is a private copy. */
struct vmbus_ring_packet {
	struct vmbus_pkt_desc desc; /* copied once from the ring, validated */
	uint32_t offset;            /* ring offset of the descriptor */
	uint32_t len;               /* desc.len8 * 8: descriptor .. end of padding (no trailer) */
	uint32_t data_offset;       /* desc.offset8 * 8: payload starts here (relative to offset) */
	/*
	 * The `len` bytes in the shared data area: seg[0] then seg[1] (seg_len[1] is 0 unless the
	 * packet wraps). The peer can still change these bytes: copy before you validate them
	 * (vmbus_ring_packet_copy() does).
	 */
	const uint8_t *seg[2];
	uint32_t seg_len[2];
};

/**
 * Set up a view. `control` is the 4 KiB control page and `data` the data area of `data_size`
 * bytes; both 8-byte aligned. Our own index is read once from the control page (0 on a fresh
 * ring) and kept privately. A producer sets VMBUS_RING_FEAT_PENDING_SEND_SZ in feature_bits.
 * Returns 0, -EINVAL (NULL, misaligned, size not a multiple of 4096 in 4096..2 GiB, bad role),
 * or -EPROTO (our index on the control page is out of range; `r` is then a broken view).
 */
int vmbus_ring_init(struct vmbus_ring *r, enum vmbus_ring_role role, void *control, void *data,
		    size_t data_size);

/** Host address of one guest page (NULL: not memory the caller may use), for map_channel. */
typedef void *(*vmbus_ring_page_fn)(void *ctx, uint64_t pfn);

/**
 * The server's two views of a channel's ring GPADL (doc 3.6): pages [0, downstream) are the
 * client's outgoing ring, which the server consumes (`in`), pages [downstream, count) the
 * server's own, which it produces (`out`); each half a control page, then data pages that must
 * follow each other in the caller's mapping (the data area is one contiguous view). PFNs at or
 * above 2^40 are refused without asking `page`. 0, -EINVAL (a half under 2 pages, a page not
 * mapped, data pages not contiguous) or vmbus_ring_init's error.
 */
int vmbus_ring_map_channel(struct vmbus_ring *in, struct vmbus_ring *out, const uint64_t *pfns,
			   uint32_t count, uint32_t downstream, vmbus_ring_page_fn page, void *ctx);

/** True once the view is broken; `vmbus_ring_broken_reason()` says why (NULL if not broken). */
bool vmbus_ring_is_broken(const struct vmbus_ring *r);
const char *vmbus_ring_broken_reason(const struct vmbus_ring *r);

/** Bytes on the ring (packet + trailer) of a packet with this extension and payload length. */
size_t vmbus_ring_packet_size(size_t ext_len, size_t payload_len);

/** Largest vmbus_ring_packet_size() that fits this ring: size - 8, and at most len8's limit + 8. */
uint32_t vmbus_ring_max_packet_size(const struct vmbus_ring *r);

/* ---- producer ---- */

/** vmbus_ring_send() option: on -EAGAIN, set pending_send_sz to the packet's size (and the
 * feature bit) so the consumer signals us when that much is free; cleared by the next send. */
#define VMBUS_RING_SEND_SET_PENDING 0x1u
/** vmbus_ring_send() option: write the packet but do not publish write_index yet (returns 0);
 * vmbus_ring_publish() or the next send without this flag publishes every packet written so
 * far, with one fence and one signalling decision for the batch. Publish before waiting for
 * space: unpublished packets are invisible to the consumer and never free up. */
#define VMBUS_RING_SEND_NO_PUBLISH 0x2u

/**
 * Write one packet: descriptor, ext, payload pieces, zero padding to 8, trailer; then publish
 * write_index. Returns VMBUS_RING_SIGNAL when the consumer must be signalled (it had
 * interrupt_mask == 0 and the ring was empty before this packet, both read after publishing),
 * 0 when not, or -EINVAL / -EMSGSIZE / -EAGAIN / -EPROTO; a negative result means this packet
 * was not written (see SET_PENDING below for earlier unpublished ones).
 * With VMBUS_RING_SEND_SET_PENDING, a send that does not fit sets pending_send_sz, then
 * re-reads read_index once (the consumer may have freed space meanwhile) before giving up;
 * packets written before with VMBUS_RING_SEND_NO_PUBLISH are published first (the consumer
 * must see them to judge pending_send_sz), and the signal they need is reported by the next
 * vmbus_ring_publish(), which a producer calls before it waits anyway.
 */
int vmbus_ring_send(struct vmbus_ring *r, const struct vmbus_ring_out *pkt, unsigned opts);

/**
 * Publish the packets written with VMBUS_RING_SEND_NO_PUBLISH. Returns VMBUS_RING_SIGNAL when
 * the consumer must be signalled (interrupt_mask == 0 and read_index at the start of the
 * batch, both read after publishing; or a failed send published a batch that needed it), 0
 * when not (or nothing to publish), -EPROTO.
 */
int vmbus_ring_publish(struct vmbus_ring *r);

/** Set pending_send_sz (rounded up to 8; 0 clears it) and the feature bit. -EINVAL if larger
 * than vmbus_ring_max_packet_size(), -EPROTO if broken. */
int vmbus_ring_set_pending_send(struct vmbus_ring *r, uint32_t bytes);

/** Free bytes now (size - used - 8), reading read_index once; or -EPROTO. */
int32_t vmbus_ring_write_space(struct vmbus_ring *r);

/* ---- consumer ---- */

/**
 * Validate the next packet and describe it in `pkt` without consuming it: 0, -EAGAIN (empty),
 * -EPROTO. Peeking again without vmbus_ring_advance() reads and validates the same position
 * again (the peer may have rewritten it meanwhile).
 * Checks: write_index in range and a multiple of 8; at least 24 bytes available; type one of the
 * four modern types; flags only bit 0; 2 <= offset8 <= len8; len8 * 8 + 8 <= available; for
 * types 7/9 the 8-byte header fits before the payload and range_count * 8 fits after it; the
 * trailer is (offset << 32).
 */
int vmbus_ring_peek(struct vmbus_ring *r, struct vmbus_ring_packet *pkt);

/** Copy bytes [off, off + len) of a peeked packet (0 = the descriptor) into `buf`, following
 * the wrap. 0, or -EINVAL when the range is not inside the packet. Uses only the private
 * copy in `pkt` for bounds. */
int vmbus_ring_packet_copy(const struct vmbus_ring *r, const struct vmbus_ring_packet *pkt,
			   uint32_t off, void *buf, size_t len);

/** Copy the payload (data_offset .. len) into `buf`: its length, or -ENOBUFS if `cap` is too
 * small, -EINVAL for a bad `pkt`. */
int32_t vmbus_ring_packet_payload(const struct vmbus_ring *r, const struct vmbus_ring_packet *pkt,
				  void *buf, size_t cap);

/** Step past the last peeked packet privately (read_index is not published yet). 0, -EINVAL
 * if nothing was peeked, -EPROTO. */
int vmbus_ring_advance(struct vmbus_ring *r);

/**
 * Publish read_index (all packets advanced so far). Returns VMBUS_RING_SIGNAL when the producer
 * must be signalled: it set the feature bit and a pending_send_sz (low 3 bits ignored), and the
 * free space went from below it to at least it (write_index read once after publishing);
 * 0 when not; -EPROTO only when the view was already broken (nothing is published then).
 */
int vmbus_ring_commit(struct vmbus_ring *r);

/** Positive bit of vmbus_ring_finish(): packets arrived meanwhile, drain again. */
#define VMBUS_RING_MORE 2

/**
 * The end of a drain by a consumer that waits for signals: vmbus_ring_commit(), then, after
 * its fence, a second look at write_index. A producer that wrote while the drain was ending
 * read the old read_index, took the ring for non-empty and did not signal: without this look
 * its packet would wait for some later signal (the lost wake-up; Linux's consumers unmask and
 * look again for the same reason). Returns the bits VMBUS_RING_SIGNAL (signal the producer)
 * and VMBUS_RING_MORE (drain again, then finish again), or -EPROTO.
 */
int vmbus_ring_finish(struct vmbus_ring *r);

/** vmbus_ring_advance() then vmbus_ring_commit(). */
int vmbus_ring_consume(struct vmbus_ring *r);

/** Bytes available to read now (beyond what was advanced), reading write_index once; or -EPROTO. */
int32_t vmbus_ring_bytes_to_read(struct vmbus_ring *r);

/** Batching: set interrupt_mask = 1 before draining (the producer stops signalling). */
int vmbus_ring_mask_interrupts(struct vmbus_ring *r);

/**
 * Batching: set interrupt_mask = 0, full fence, re-read write_index once. Returns 1 when data
 * arrived meanwhile (drain again: no signal will come for it), 0 when the ring is empty,
 * -EPROTO.
 */
int vmbus_ring_unmask_interrupts(struct vmbus_ring *r);

#endif /* MEZZ_DEVICES_VMBUS_VMBUS_RING_H */
