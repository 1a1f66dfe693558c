/*
 * VMBus ring buffer wire layouts, restated from ../shared/docs/hyperv-abi-facts.md section 3.6
 * ("doc 3.6" below): the control page of one ring direction, the 16-byte packet descriptor, the
 * packet types and flags, the 8-byte trailer after every packet, and the descriptor extensions of
 * GPA-direct (type 9) and transfer-page (type 7) packets.
 *
 * Header only; no state. All integers little-endian. Every layout is pinned with _Static_assert.
 * The ring logic (indices, wrap, validation of a hostile peer) is devices/vmbus/vmbus_ring.h.
 */
#ifndef MEZZ_HVCALL_VMBUS_RING_ABI_H
#define MEZZ_HVCALL_VMBUS_RING_ABI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* ---- sizes (doc 3.6) ---- */

/** Ring memory comes in 4 KiB pages: one control page, then N >= 1 data pages. */
#define VMBUS_RING_PAGE_SIZE 4096u
/** Indices and packet lengths are multiples of 8. */
#define VMBUS_RING_ALIGN 8u
/** Usable bytes of a data area of size S are S - 8: a full ring would look empty. */
#define VMBUS_RING_RESERVED_BYTES 8u

/* ---- control page (doc 3.6 "Control page") ---- */

/** Feature bit 0 of `feature_bits`, set by the producer of the ring: it honours pending_send_sz. */
#define VMBUS_RING_FEAT_PENDING_SEND_SZ 0x1u

/**
 * The control page of one ring direction. `write_index` and `pending_send_sz` (and
 * `feature_bits`) belong to the producer, `read_index` and `interrupt_mask` to the consumer; both
 * sides may write any of them at any time, so each is accessed with atomics, never trusted.
 */
struct vmbus_ring_control {
	uint32_t write_index;     /* producer position: byte offset into the data area */
	uint32_t read_index;      /* consumer position */
	uint32_t interrupt_mask;  /* consumer: non-zero = "don't signal me" */
	uint32_t pending_send_sz; /* producer: free bytes it waits for; 0 = none (low 3 bits ignored) */
	uint32_t reserved1[12];
	uint32_t feature_bits;    /* VMBUS_RING_FEAT_* */
	uint8_t reserved2[VMBUS_RING_PAGE_SIZE - 68];
};
_Static_assert(sizeof(struct vmbus_ring_control) == 4096, "doc 3.6: the control page is one page");
_Static_assert(offsetof(struct vmbus_ring_control, write_index) == 0, "doc 3.6: write_index at 0");
_Static_assert(offsetof(struct vmbus_ring_control, read_index) == 4, "doc 3.6: read_index at 4");
_Static_assert(offsetof(struct vmbus_ring_control, interrupt_mask) == 8, "doc 3.6: interrupt_mask at 8");
_Static_assert(offsetof(struct vmbus_ring_control, pending_send_sz) == 12, "doc 3.6: pending_send_sz at 12");
_Static_assert(offsetof(struct vmbus_ring_control, reserved1) == 16, "doc 3.6: reserved[12] at 16");
_Static_assert(offsetof(struct vmbus_ring_control, feature_bits) == 64, "doc 3.6: feature_bits at 64");
_Static_assert(offsetof(struct vmbus_ring_control, reserved2) == 68, "doc 3.6: reserved from 68");

/* ---- packet descriptor (doc 3.6 "Descriptor") ---- */

/** `vmpacket_descriptor`: the first 16 bytes of every packet. */
struct vmbus_pkt_desc {
	uint16_t type;           /* VMBUS_PKT_* */
	uint16_t offset8;        /* descriptor + extension length in 8-byte units: payload starts here */
	uint16_t len8;           /* whole packet (descriptor, extension, payload, padding; no trailer) / 8 */
	uint16_t flags;          /* VMBUS_PKT_FLAG_*; other bits must be 0 */
	uint64_t transaction_id; /* echoed by the completion (type 0xB) */
};
_Static_assert(sizeof(struct vmbus_pkt_desc) == 16, "doc 3.6: descriptor is 16 bytes");
_Static_assert(offsetof(struct vmbus_pkt_desc, type) == 0, "doc 3.6: type at 0");
_Static_assert(offsetof(struct vmbus_pkt_desc, offset8) == 2, "doc 3.6: offset8 at 2");
_Static_assert(offsetof(struct vmbus_pkt_desc, len8) == 4, "doc 3.6: len8 at 4");
_Static_assert(offsetof(struct vmbus_pkt_desc, flags) == 6, "doc 3.6: flags at 6");
_Static_assert(offsetof(struct vmbus_pkt_desc, transaction_id) == 8, "doc 3.6: transaction_id at 8");

/** The descriptor alone, in 8-byte units: the smallest legal offset8. */
#define VMBUS_PKT_DESC_SIZE8 (sizeof(struct vmbus_pkt_desc) / 8u)
/** Largest packet a descriptor can describe (len8 is 16 bits), without the trailer. */
#define VMBUS_PKT_MAX_LEN (0xFFFFu * 8u)

/* Packet types (doc 3.6 "Packet types"). */
#define VMBUS_PKT_INVALID             0x0u
#define VMBUS_PKT_SYNCH               0x1u
#define VMBUS_PKT_ADD_XFER_PAGESET    0x2u
#define VMBUS_PKT_RM_XFER_PAGESET     0x3u
#define VMBUS_PKT_ESTABLISH_GPADL     0x4u
#define VMBUS_PKT_TEARDOWN_GPADL      0x5u
#define VMBUS_PKT_DATA_INBAND         0x6u
#define VMBUS_PKT_DATA_XFER_PAGES     0x7u
#define VMBUS_PKT_DATA_GPADL          0x8u
#define VMBUS_PKT_DATA_GPA_DIRECT     0x9u
#define VMBUS_PKT_CANCEL_REQUEST      0xAu
#define VMBUS_PKT_COMPLETION          0xBu
#define VMBUS_PKT_DATA_ADDITIONAL_PKT 0xCu
#define VMBUS_PKT_ADDITIONAL_DATA     0xDu

/** Descriptor flag bit 0: the receiver must answer with a completion. */
#define VMBUS_PKT_FLAG_COMPLETION_REQUESTED 0x1u
#define VMBUS_PKT_FLAGS_VALID               0x1u

/** True for every type the doc defines (1..0xD; 0 is "invalid"). */
static inline bool vmbus_pkt_type_defined(uint16_t type)
{
	return type >= VMBUS_PKT_SYNCH && type <= VMBUS_PKT_ADDITIONAL_DATA;
}

/** True for the four types modern devices use (doc 3.6): 6, 7, 9, 0xB. */
static inline bool vmbus_pkt_type_modern(uint16_t type)
{
	return type == VMBUS_PKT_DATA_INBAND || type == VMBUS_PKT_DATA_XFER_PAGES ||
	       type == VMBUS_PKT_DATA_GPA_DIRECT || type == VMBUS_PKT_COMPLETION;
}

/* ---- trailer (doc 3.6: 8 bytes after the padded packet) ---- */

/** u64 = (ring offset of this packet's descriptor) << 32: u32 reserved 0, then u32 offset. */
struct vmbus_pkt_trailer {
	uint32_t reserved;
	uint32_t offset;
};
_Static_assert(sizeof(struct vmbus_pkt_trailer) == 8, "doc 3.6: trailer is 8 bytes");
_Static_assert(offsetof(struct vmbus_pkt_trailer, reserved) == 0, "doc 3.6: trailer low half reserved");
_Static_assert(offsetof(struct vmbus_pkt_trailer, offset) == 4, "doc 3.6: trailer high half = offset");

/** The trailer as the u64 the doc describes. */
static inline uint64_t vmbus_pkt_trailer_value(uint32_t packet_offset)
{
	return (uint64_t)packet_offset << 32;
}

/* ---- GPA direct, type 9 (doc 3.6) ---- */

/** Follows the descriptor of a type-9 packet; then range_count GPA ranges; offset8 points past them. */
struct vmbus_pkt_gpa_direct_hdr {
	uint32_t reserved;
	uint32_t range_count;
};
_Static_assert(sizeof(struct vmbus_pkt_gpa_direct_hdr) == 8, "doc 3.6: GPA-direct header is 8 bytes");
_Static_assert(offsetof(struct vmbus_pkt_gpa_direct_hdr, range_count) == 4, "doc 3.6: range_count at 4");

/** One GPA range: byte_count bytes from byte_offset into the first page, then the PFN list. */
struct vmbus_pkt_gpa_range {
	uint32_t byte_count;
	uint32_t byte_offset;
	uint64_t pfn[]; /* vmbus_pkt_gpa_range_pfns(byte_offset, byte_count) entries */
};
_Static_assert(sizeof(struct vmbus_pkt_gpa_range) == 8, "doc 3.6: GPA range header is 8 bytes");
_Static_assert(offsetof(struct vmbus_pkt_gpa_range, byte_offset) == 4, "doc 3.6: byte_offset at 4");
_Static_assert(offsetof(struct vmbus_pkt_gpa_range, pfn) == 8, "doc 3.6: pfn[] at 8");

/** Number of PFNs of a GPA range: ceil((offset + count) / 4096), computed without overflow. */
static inline uint64_t vmbus_pkt_gpa_range_pfns(uint32_t byte_offset, uint32_t byte_count)
{
	return ((uint64_t)byte_offset + byte_count + VMBUS_RING_PAGE_SIZE - 1) / VMBUS_RING_PAGE_SIZE;
}

/* ---- transfer pages, type 7 (doc 3.6) ---- */

/** Follows the descriptor of a type-7 packet; then range_count transfer-page ranges. */
struct vmbus_pkt_xfer_page_hdr {
	uint16_t transfer_page_set_id;
	uint8_t sender_owns_set;
	uint8_t reserved;
	uint32_t range_count;
};
_Static_assert(sizeof(struct vmbus_pkt_xfer_page_hdr) == 8, "doc 3.6: transfer-page header is 8 bytes");
_Static_assert(offsetof(struct vmbus_pkt_xfer_page_hdr, sender_owns_set) == 2, "doc 3.6: sender_owns_set at 2");
_Static_assert(offsetof(struct vmbus_pkt_xfer_page_hdr, range_count) == 4, "doc 3.6: range_count at 4");

/** One range of a pre-registered transfer-page buffer. */
struct vmbus_pkt_xfer_page_range {
	uint32_t byte_count;
	uint32_t byte_offset;
};
_Static_assert(sizeof(struct vmbus_pkt_xfer_page_range) == 8, "doc 3.6: transfer-page range is 8 bytes");
_Static_assert(offsetof(struct vmbus_pkt_xfer_page_range, byte_offset) == 4, "doc 3.6: byte_offset at 4");

#endif /* MEZZ_HVCALL_VMBUS_RING_ABI_H */
