/*
 * VMBus channel messages (hyperv-abi-facts §3.1-3.5, 3.7): the control protocol a VMBus client
 * and server exchange as SynIC messages of type HVMSG_VMBUS (1) posted with HvPostMessage,
 * payload <= 240 bytes, each starting with struct vmbus_msg_header. Pure ABI: no state.
 *
 * Every struct below is a whole message (header included), so sizeof() is the wire size and
 * the layout checks give each field's offset as "8 + offset in the spec's payload table".
 * Messages whose later protocol versions appended fields have a *_SIZE_* constant per form.
 * All integers little-endian (the only byte order this project builds for); no bitfields.
 * Variable parts (GPA ranges, PFN arrays) are not C members: they start at an offset that is
 * not 8-aligned in GpadlHeader, so parsers memcpy them out of the byte buffer.
 *
 * The ring buffer (§3.6) is in hvcall/vmbus_ring_abi.h.
 */
#ifndef MEZZ_HVCALL_VMBUS_ABI_H
#define MEZZ_HVCALL_VMBUS_ABI_H

#include <stddef.h>
#include <stdint.h>

#include "hvcall/hv.h"

/*
 * Layout checks: VMBUS_ABI_SIZE(section, struct, bytes), VMBUS_ABI_AT(section, struct, field,
 * offset), the section being the one of hyperv-abi-facts.md that states the layout.
 */
#define VMBUS_ABI_SIZE(sec, type, size) \
	_Static_assert(sizeof(struct type) == (size), "hyperv-abi-facts " #sec ": " #type " size")
#define VMBUS_ABI_AT(sec, type, field, off) \
	_Static_assert(offsetof(struct type, field) == (off), \
		       "hyperv-abi-facts " #sec ": " #type "." #field " at " #off)

/* ------------------------------------------------------------------------------------------ */
/* 3.1 Transport                                                                              */
/* ------------------------------------------------------------------------------------------ */

/** SynIC message type of every channel message. */
#define VMBUS_MESSAGE_TYPE          HVMSG_VMBUS
/** Largest channel message (header included): the SynIC payload. */
#define VMBUS_MSG_MAX_SIZE          HV_MESSAGE_PAYLOAD_SIZE

/* Connection ids a client posts to / signals. */
#define VMBUS_CONN_ID_MESSAGE       1u          /* messages, protocol < 5.0 */
#define VMBUS_CONN_ID_EVENT         2u          /* legacy shared event */
#define VMBUS_CONN_ID_MONITOR       3u          /* monitor connection */
#define VMBUS_CONN_ID_MESSAGE_4     4u          /* InitiateContact for >= 5.0 */
/** VTL2's own client to the host's VMBus (answers arrive on VTL2 SINT 7). */
#define VMBUS_CONN_ID_VTL2_REDIRECT 0x800074u

/* SINTs: host -> guest messages and events for the guest's own client; VTL2's redirect. */
#define VMBUS_MESSAGE_SINT          2u
#define VMBUS_VTL2_SINT             7u

/** Message connection id carrying vtl/vp/sint: 4 | vtl << 22 | vp << 8 | sint << 4. */
static inline uint32_t vmbus_conn_id_redirect(uint32_t vtl, uint32_t vp, uint32_t sint)
{
	return VMBUS_CONN_ID_MESSAGE_4 | ((vtl & 0x3u) << 22) | ((vp & 0x3FFFu) << 8) |
	       ((sint & 0xFu) << 4);
}
_Static_assert(VMBUS_CONN_ID_VTL2_REDIRECT == (4u | (2u << 22) | (7u << 4)),
	       "hyperv-abi-facts 3.1: 0x800074 = 4 | vtl 2 << 22 | sint 7 << 4");

/** A channel signal connection id as openvmm numbers them: id | sint << 12 | vtl << 16. */
static inline uint32_t vmbus_conn_id_channel(uint32_t channel_id, uint32_t sint, uint32_t vtl)
{
	return (channel_id & 0xFFFu) | ((sint & 0xFu) << 12) | ((vtl & 0xFu) << 16);
}

/* ------------------------------------------------------------------------------------------ */
/* 3.4 Protocol versions (major << 16 | minor)                                                */
/* ------------------------------------------------------------------------------------------ */

#define VMBUS_VERSION_WS2008        0x0000000Du /* 0.13 */
#define VMBUS_VERSION_WIN7          0x00010001u /* 1.1 */
#define VMBUS_VERSION_WIN8          0x00020004u /* 2.4 */
#define VMBUS_VERSION_WIN8_1        0x00030000u /* 3.0 */
#define VMBUS_VERSION_WIN10         0x00040000u /* 4.0 */
#define VMBUS_VERSION_WIN10_V4_1    0x00040001u /* RS3.0: ModifyChannel */
#define VMBUS_VERSION_WIN10_V5      0x00050000u /* RS3.1: InitiateContact names SINT/VTL */
#define VMBUS_VERSION_WIN10_V5_1    0x00050001u /* RS4 */
#define VMBUS_VERSION_WIN10_V5_2    0x00050002u /* RS5 */
#define VMBUS_VERSION_WIN10_V5_3    0x00050003u /* "Iron": ModifyChannelResponse */
#define VMBUS_VERSION_WIN10_V6_0    0x00060000u /* "Copper": feature flags, OpenChannel2 */
#define VMBUS_VERSION_COPPER        VMBUS_VERSION_WIN10_V6_0
#define VMBUS_VERSION_IRON          VMBUS_VERSION_WIN10_V5_3
/* The versions Mezzanine speaks (both ends), oldest first: an array initializer. */
#define VMBUS_VERSIONS_SPOKEN                                                             \
	VMBUS_VERSION_WIN8, VMBUS_VERSION_WIN8_1, VMBUS_VERSION_WIN10, VMBUS_VERSION_WIN10_V4_1, \
	VMBUS_VERSION_WIN10_V5, VMBUS_VERSION_WIN10_V5_1, VMBUS_VERSION_WIN10_V5_2,            \
	VMBUS_VERSION_WIN10_V5_3, VMBUS_VERSION_WIN10_V6_0

static inline uint16_t vmbus_version_major(uint32_t v) { return (uint16_t)(v >> 16); }
static inline uint16_t vmbus_version_minor(uint32_t v) { return (uint16_t)v; }

/* Feature flags (6.0: InitiateContact.feature_flags, VersionResponse.supported_features). */
#define VMBUS_FEATURE_GUEST_SPECIFIED_SIGNAL   0x01u /* OpenChannel2 connection_id/event_flag */
#define VMBUS_FEATURE_CHANNEL_INTR_REDIRECT    0x02u /* OpenChannel2 flags.redirect_interrupt */
#define VMBUS_FEATURE_MODIFY_CONNECTION        0x04u /* ModifyConnection / Response */
#define VMBUS_FEATURE_CLIENT_ID                0x08u /* InitiateContact.client_id */
#define VMBUS_FEATURE_CONFIDENTIAL_CHANNELS    0x10u
#define VMBUS_FEATURE_PAUSE_RESUME             0x20u /* Pause / PauseResponse / Resume */
#define VMBUS_FEATURE_SERVER_MONITOR_PAGES     0x40u /* VersionResponse carries monitor GPAs */
#define VMBUS_FEATURE_GPA_PINNING              0x80u

/* ------------------------------------------------------------------------------------------ */
/* 3.3 / 3.7 GUIDs                                                                            */
/* ------------------------------------------------------------------------------------------ */

/**
 * A GUID on the wire (16 B), Windows mixed-endian: data1..3 little-endian, data4 raw bytes.
 * ba6163d9-04a1-4d29-b605-72e2ffb1dc7f is d9 63 61 ba a1 04 29 4d b6 05 72 e2 ff b1 dc 7f.
 */
struct vmbus_guid {
	uint32_t data1;
	uint16_t data2;
	uint16_t data3;
	uint8_t data4[8];
};
VMBUS_ABI_SIZE(3.3, vmbus_guid, 16);
VMBUS_ABI_AT(3.3, vmbus_guid, data1, 0);
VMBUS_ABI_AT(3.3, vmbus_guid, data2, 4);
VMBUS_ABI_AT(3.3, vmbus_guid, data3, 6);
VMBUS_ABI_AT(3.3, vmbus_guid, data4, 8);

/**
 * Initializer for the GUID d1-d2-d3-b0b1-b2b3b4b5b6b7 (as written in text):
 * `struct vmbus_guid g = VMBUS_GUID_SCSI;` or `(struct vmbus_guid)VMBUS_GUID_SCSI`.
 */
#define VMBUS_GUID_INIT(d1, d2, d3, b0, b1, b2, b3, b4, b5, b6, b7) \
	{ (d1), (d2), (d3), { (b0), (b1), (b2), (b3), (b4), (b5), (b6), (b7) } }

/* Device classes (OfferChannel interface type) and well-known instances, 3.7. */
/** f8615163-df3e-46c5-913f-f2d2f965ed0e: Network (netvsc) */
#define VMBUS_GUID_NETWORK \
	VMBUS_GUID_INIT(0xf8615163, 0xdf3e, 0x46c5, 0x91, 0x3f, 0xf2, 0xd2, 0xf9, 0x65, 0xed, 0x0e)
/** ba6163d9-04a1-4d29-b605-72e2ffb1dc7f: SCSI (storvsc) */
#define VMBUS_GUID_SCSI \
	VMBUS_GUID_INIT(0xba6163d9, 0x04a1, 0x4d29, 0xb6, 0x05, 0x72, 0xe2, 0xff, 0xb1, 0xdc, 0x7f)
/** 32412632-86cb-44a2-9b5c-50d1417354f5: IDE accelerator */
#define VMBUS_GUID_IDE \
	VMBUS_GUID_INIT(0x32412632, 0x86cb, 0x44a2, 0x9b, 0x5c, 0x50, 0xd1, 0x41, 0x73, 0x54, 0xf5)
/** 8b60ccf6-709f-4c11-90b5-229c959a9e6a: VMBus serial (UART) */
#define VMBUS_GUID_SERIAL \
	VMBUS_GUID_INIT(0x8b60ccf6, 0x709f, 0x4c11, 0x90, 0xb5, 0x22, 0x9c, 0x95, 0x9a, 0x9e, 0x6a)
/** 700df40e-b947-4776-b839-d1b0a35af034: serial instance COM1 */
#define VMBUS_GUID_SERIAL_COM1 \
	VMBUS_GUID_INIT(0x700df40e, 0xb947, 0x4776, 0xb8, 0x39, 0xd1, 0xb0, 0xa3, 0x5a, 0xf0, 0x34)
/** 7e55f4b8-af84-4e98-9f1a-8e8d0bde3744: serial instance COM2 */
#define VMBUS_GUID_SERIAL_COM2 \
	VMBUS_GUID_INIT(0x7e55f4b8, 0xaf84, 0x4e98, 0x9f, 0x1a, 0x8e, 0x8d, 0x0b, 0xde, 0x37, 0x44)
/** 3f158fa1-b0aa-45e9-ba54-9fc73f6c59ec: serial instance COM3 */
#define VMBUS_GUID_SERIAL_COM3 \
	VMBUS_GUID_INIT(0x3f158fa1, 0xb0aa, 0x45e9, 0xba, 0x54, 0x9f, 0xc7, 0x3f, 0x6c, 0x59, 0xec)
/** 8688a06f-9b53-48ce-b408-7581626228c5: serial instance COM4 */
#define VMBUS_GUID_SERIAL_COM4 \
	VMBUS_GUID_INIT(0x8688a06f, 0x9b53, 0x48ce, 0xb4, 0x08, 0x75, 0x81, 0x62, 0x62, 0x28, 0xc5)
/** f912ad6d-2b17-48ea-bd65-f927a61c7684: Keyboard */
#define VMBUS_GUID_KEYBOARD \
	VMBUS_GUID_INIT(0xf912ad6d, 0x2b17, 0x48ea, 0xbd, 0x65, 0xf9, 0x27, 0xa6, 0x1c, 0x76, 0x84)
/** d34b2567-b9b6-42b9-8778-0a4ec0b955bf: keyboard instance */
#define VMBUS_GUID_KEYBOARD_INSTANCE \
	VMBUS_GUID_INIT(0xd34b2567, 0xb9b6, 0x42b9, 0x87, 0x78, 0x0a, 0x4e, 0xc0, 0xb9, 0x55, 0xbf)
/** cfa8b69e-5b4a-4cc0-b98b-8ba1a1f3f95a: Mouse */
#define VMBUS_GUID_MOUSE \
	VMBUS_GUID_INIT(0xcfa8b69e, 0x5b4a, 0x4cc0, 0xb9, 0x8b, 0x8b, 0xa1, 0xa1, 0xf3, 0xf9, 0x5a)
/** 58f75a6d-d949-4320-99e1-a2a2576d581c: mouse instance */
#define VMBUS_GUID_MOUSE_INSTANCE \
	VMBUS_GUID_INIT(0x58f75a6d, 0xd949, 0x4320, 0x99, 0xe1, 0xa2, 0xa2, 0x57, 0x6d, 0x58, 0x1c)
/** da0a7802-e377-4aac-8e77-0558eb1073f8: Synthetic video (framebuffer) */
#define VMBUS_GUID_VIDEO \
	VMBUS_GUID_INIT(0xda0a7802, 0xe377, 0x4aac, 0x8e, 0x77, 0x05, 0x58, 0xeb, 0x10, 0x73, 0xf8)
/** a9a0f4e7-5a45-4d96-b827-8a841e8c03e6: KVP */
#define VMBUS_GUID_KVP \
	VMBUS_GUID_INIT(0xa9a0f4e7, 0x5a45, 0x4d96, 0xb8, 0x27, 0x8a, 0x84, 0x1e, 0x8c, 0x03, 0xe6)
/** 9527e630-d0ae-497b-adce-e80ab0175caf: Time sync */
#define VMBUS_GUID_TIMESYNC \
	VMBUS_GUID_INIT(0x9527e630, 0xd0ae, 0x497b, 0xad, 0xce, 0xe8, 0x0a, 0xb0, 0x17, 0x5c, 0xaf)
/** 57164f39-9115-4e78-ab55-382f3bd5422d: Heartbeat */
#define VMBUS_GUID_HEARTBEAT \
	VMBUS_GUID_INIT(0x57164f39, 0x9115, 0x4e78, 0xab, 0x55, 0x38, 0x2f, 0x3b, 0xd5, 0x42, 0x2d)
/** 0e0b6031-5213-4934-818b-38d90ced39db: Shutdown */
#define VMBUS_GUID_SHUTDOWN \
	VMBUS_GUID_INIT(0x0e0b6031, 0x5213, 0x4934, 0x81, 0x8b, 0x38, 0xd9, 0x0c, 0xed, 0x39, 0xdb)
/** 35fa2e29-ea23-4236-96ae-3a6ebacba440: VSS (backup) */
#define VMBUS_GUID_VSS \
	VMBUS_GUID_INIT(0x35fa2e29, 0xea23, 0x4236, 0x96, 0xae, 0x3a, 0x6e, 0xba, 0xcb, 0xa4, 0x40)
/** 34d14be3-dee4-41c8-9ae7-6b174977c192: File copy */
#define VMBUS_GUID_FILE_COPY \
	VMBUS_GUID_INIT(0x34d14be3, 0xdee4, 0x41c8, 0x9a, 0xe7, 0x6b, 0x17, 0x49, 0x77, 0xc1, 0x92)
/** 525074dc-8985-46e2-8057-a307dc18a502: Dynamic memory */
#define VMBUS_GUID_DYNAMIC_MEMORY \
	VMBUS_GUID_INIT(0x525074dc, 0x8985, 0x46e2, 0x80, 0x57, 0xa3, 0x07, 0xdc, 0x18, 0xa5, 0x02)
/** 44c4f61d-4444-4400-9d52-802e27ede19f: PCIe passthrough (vPCI) */
#define VMBUS_GUID_PCIE \
	VMBUS_GUID_INIT(0x44c4f61d, 0x4444, 0x4400, 0x9d, 0x52, 0x80, 0x2e, 0x27, 0xed, 0xe1, 0x9f)
/** 2f9bcc4a-0069-4af3-b76b-6fd0be528cda: Synthetic FC */
#define VMBUS_GUID_SYNTH_FC \
	VMBUS_GUID_INIT(0x2f9bcc4a, 0x0069, 0x4af3, 0xb7, 0x6b, 0x6f, 0xd0, 0xbe, 0x52, 0x8c, 0xda)
/** 8c2eaf3d-32a7-4b09-ab99-bd1f1c86b501: NetworkDirect */
#define VMBUS_GUID_NETWORK_DIRECT \
	VMBUS_GUID_INIT(0x8c2eaf3d, 0x32a7, 0x4b09, 0xab, 0x99, 0xbd, 0x1f, 0x1c, 0x86, 0xb5, 0x01)
/** 276aacf4-ac15-426c-98dd-7521ad3f01fe: RDV */
#define VMBUS_GUID_RDV \
	VMBUS_GUID_INIT(0x276aacf4, 0xac15, 0x426c, 0x98, 0xdd, 0x75, 0x21, 0xad, 0x3f, 0x01, 0xfe)
/** f8e65716-3cb3-4a06-9a60-1889c5cccab5: AVMA1 (inherited activation) */
#define VMBUS_GUID_AVMA1 \
	VMBUS_GUID_INIT(0xf8e65716, 0x3cb3, 0x4a06, 0x9a, 0x60, 0x18, 0x89, 0xc5, 0xcc, 0xca, 0xb5)
/** 3375baf4-9e15-4b30-b765-67acb10d607b: AVMA2 */
#define VMBUS_GUID_AVMA2 \
	VMBUS_GUID_INIT(0x3375baf4, 0x9e15, 0x4b30, 0xb7, 0x65, 0x67, 0xac, 0xb1, 0x0d, 0x60, 0x7b)

/* ------------------------------------------------------------------------------------------ */
/* 3.2 Channel message types                                                                  */
/* ------------------------------------------------------------------------------------------ */

enum vmbus_msgtype {
	VMBUS_MSG_INVALID = 0,
	VMBUS_MSG_OFFER_CHANNEL = 1,
	VMBUS_MSG_RESCIND_CHANNEL_OFFER = 2,
	VMBUS_MSG_REQUEST_OFFERS = 3,
	VMBUS_MSG_ALL_OFFERS_DELIVERED = 4,
	VMBUS_MSG_OPEN_CHANNEL = 5,
	VMBUS_MSG_OPEN_CHANNEL_RESULT = 6,
	VMBUS_MSG_CLOSE_CHANNEL = 7,
	VMBUS_MSG_GPADL_HEADER = 8,
	VMBUS_MSG_GPADL_BODY = 9,
	VMBUS_MSG_GPADL_CREATED = 10,
	VMBUS_MSG_GPADL_TEARDOWN = 11,
	VMBUS_MSG_GPADL_TORNDOWN = 12,
	VMBUS_MSG_RELID_RELEASED = 13,
	VMBUS_MSG_INITIATE_CONTACT = 14,
	VMBUS_MSG_VERSION_RESPONSE = 15,
	VMBUS_MSG_UNLOAD = 16,
	VMBUS_MSG_UNLOAD_RESPONSE = 17,             /* Win7 */
	VMBUS_MSG_OPEN_RESERVED_CHANNEL = 18,       /* Win10 */
	VMBUS_MSG_CLOSE_RESERVED_CHANNEL = 19,
	VMBUS_MSG_CLOSE_RESERVED_RESPONSE = 20,     /* Win10 */
	VMBUS_MSG_TL_CONNECT_REQUEST = 21,          /* Win10 */
	VMBUS_MSG_MODIFY_CHANNEL = 22,              /* 4.1 */
	VMBUS_MSG_TL_CONNECT_RESULT = 23,           /* 4.1 */
	VMBUS_MSG_MODIFY_CHANNEL_RESPONSE = 24,     /* 5.3 */
	VMBUS_MSG_MODIFY_CONNECTION = 25,           /* 6.0 */
	VMBUS_MSG_MODIFY_CONNECTION_RESPONSE = 26,  /* 6.0 */
	VMBUS_MSG_PAUSE = 27,                       /* 6.0 */
	VMBUS_MSG_PAUSE_RESPONSE = 28,              /* 6.0 */
	VMBUS_MSG_RESUME = 29,                      /* 6.0 */
	VMBUS_MSG_COUNT = 30,
};

/** Every channel message starts with this (8 B). */
struct vmbus_msg_header {
	uint32_t msgtype;           /* enum vmbus_msgtype */
	uint32_t padding;
};
VMBUS_ABI_SIZE(3.1, vmbus_msg_header, 8);
VMBUS_ABI_AT(3.1, vmbus_msg_header, msgtype, 0);
VMBUS_ABI_AT(3.1, vmbus_msg_header, padding, 4);

/* Payload offset P of the spec tables is message offset VMBUS_MSG_HDR + P. */
#define VMBUS_MSG_HDR 8u

/** Messages without a payload: RequestOffers, AllOffersDelivered, Unload, UnloadResponse,
 *  Pause, PauseResponse, Resume. */
struct vmbus_msg_empty {
	struct vmbus_msg_header hdr;
};
VMBUS_ABI_SIZE(3.2, vmbus_msg_empty, 8);

/* OfferChannel flags (3.3). */
#define VMBUS_OFFER_FLAG_ENUMERATE_DEVICE_INTERFACE 0x0001u
#define VMBUS_OFFER_FLAG_CONFIDENTIAL_RING          0x0002u /* legacy: transfer pages */
#define VMBUS_OFFER_FLAG_CONFIDENTIAL_EXTERNAL      0x0004u /* legacy: GPADLs */
#define VMBUS_OFFER_FLAG_PINNED_EXTERNAL_MEMORY     0x0008u
#define VMBUS_OFFER_FLAG_NAMED_PIPE_MODE            0x0010u
#define VMBUS_OFFER_FLAG_LOOPBACK                   0x0100u
#define VMBUS_OFFER_FLAG_PARENT_OFFER               0x0200u
#define VMBUS_OFFER_FLAG_REQUEST_MONITORED_NOTIFY   0x0400u
#define VMBUS_OFFER_FLAG_HVSOCK                     0x2000u
#define VMBUS_OFFER_FLAGS_KNOWN                     0x271Fu

#define VMBUS_OFFER_USER_DEFINED_SIZE 120u
/* Named-pipe mode: user_defined starts with a u32 pipe mode. */
#define VMBUS_PIPE_MODE_BYTE    0u
#define VMBUS_PIPE_MODE_MESSAGE 4u

/** 1 OfferChannel (196 B; payload 188). */
struct vmbus_msg_offer_channel {
	struct vmbus_msg_header hdr;
	struct vmbus_guid interface_type;   /* device class */
	struct vmbus_guid instance;
	uint8_t reserved[16];
	uint16_t flags;                     /* VMBUS_OFFER_FLAG_* */
	uint16_t mmio_megabytes;
	uint8_t user_defined[VMBUS_OFFER_USER_DEFINED_SIZE];
	uint16_t subchannel_index;
	uint16_t mmio_megabytes_optional;
	uint32_t child_relid;
	uint8_t monitor_id;
	uint8_t monitor_allocated;          /* bit 0 */
	uint16_t is_dedicated_interrupt;    /* bit 0 */
	uint32_t connection_id;             /* the client signals this with HvSignalEvent */
};
VMBUS_ABI_SIZE(3.3, vmbus_msg_offer_channel, 196);
VMBUS_ABI_AT(3.3, vmbus_msg_offer_channel, interface_type, 8 + 0);
VMBUS_ABI_AT(3.3, vmbus_msg_offer_channel, instance, 8 + 16);
VMBUS_ABI_AT(3.3, vmbus_msg_offer_channel, reserved, 8 + 32);
VMBUS_ABI_AT(3.3, vmbus_msg_offer_channel, flags, 8 + 48);
VMBUS_ABI_AT(3.3, vmbus_msg_offer_channel, mmio_megabytes, 8 + 50);
VMBUS_ABI_AT(3.3, vmbus_msg_offer_channel, user_defined, 8 + 52);
VMBUS_ABI_AT(3.3, vmbus_msg_offer_channel, subchannel_index, 8 + 172);
VMBUS_ABI_AT(3.3, vmbus_msg_offer_channel, mmio_megabytes_optional, 8 + 174);
VMBUS_ABI_AT(3.3, vmbus_msg_offer_channel, child_relid, 8 + 176);
VMBUS_ABI_AT(3.3, vmbus_msg_offer_channel, monitor_id, 8 + 180);
VMBUS_ABI_AT(3.3, vmbus_msg_offer_channel, monitor_allocated, 8 + 181);
VMBUS_ABI_AT(3.3, vmbus_msg_offer_channel, is_dedicated_interrupt, 8 + 182);
VMBUS_ABI_AT(3.3, vmbus_msg_offer_channel, connection_id, 8 + 184);

/** 2 RescindChannelOffer, 7 CloseChannel, 13 RelIdReleased, 20 CloseReservedResponse (12 B). */
struct vmbus_msg_relid {
	struct vmbus_msg_header hdr;
	uint32_t child_relid;
};
VMBUS_ABI_SIZE(3.2, vmbus_msg_relid, 12);
VMBUS_ABI_AT(3.2, vmbus_msg_relid, child_relid, 8 + 0);

#define VMBUS_OPEN_USER_DATA_SIZE 120u
/* OpenChannel2 (6.0) flags. */
#define VMBUS_OPEN_FLAG_REDIRECT_INTERRUPT 0x0001u

/** 5 OpenChannel: 148 B before 6.0, 156 B with the 6.0 ("OpenChannel2") fields. */
struct vmbus_msg_open_channel {
	struct vmbus_msg_header hdr;
	uint32_t child_relid;
	uint32_t open_id;                   /* echoed in OpenChannelResult */
	uint32_t ring_gpadl;
	uint32_t target_vp;                 /* VP index for the channel's interrupts */
	uint32_t downstream_ring_page_offset; /* pages; the incoming ring's control page */
	uint8_t user_data[VMBUS_OPEN_USER_DATA_SIZE];
	/* 6.0 */
	uint32_t connection_id;             /* guest-specified signal connection */
	uint16_t event_flag;                /* guest-specified SIEF bit */
	uint16_t flags;                     /* VMBUS_OPEN_FLAG_* */
};
#define VMBUS_OPEN_CHANNEL_SIZE_V1 148u
#define VMBUS_OPEN_CHANNEL_SIZE_V6 156u
VMBUS_ABI_SIZE(3.2, vmbus_msg_open_channel, VMBUS_OPEN_CHANNEL_SIZE_V6);
VMBUS_ABI_AT(3.2, vmbus_msg_open_channel, connection_id, VMBUS_OPEN_CHANNEL_SIZE_V1);
VMBUS_ABI_AT(3.2, vmbus_msg_open_channel, child_relid, 8 + 0);
VMBUS_ABI_AT(3.2, vmbus_msg_open_channel, open_id, 8 + 4);
VMBUS_ABI_AT(3.2, vmbus_msg_open_channel, ring_gpadl, 8 + 8);
VMBUS_ABI_AT(3.2, vmbus_msg_open_channel, target_vp, 8 + 12);
VMBUS_ABI_AT(3.2, vmbus_msg_open_channel, downstream_ring_page_offset, 8 + 16);
VMBUS_ABI_AT(3.2, vmbus_msg_open_channel, user_data, 8 + 20);
VMBUS_ABI_AT(3.2, vmbus_msg_open_channel, connection_id, 8 + 140);
VMBUS_ABI_AT(3.2, vmbus_msg_open_channel, event_flag, 8 + 144);
VMBUS_ABI_AT(3.2, vmbus_msg_open_channel, flags, 8 + 146);

/** 6 OpenChannelResult (20 B). */
struct vmbus_msg_open_result {
	struct vmbus_msg_header hdr;
	uint32_t child_relid;
	uint32_t open_id;
	uint32_t status;                    /* 0 = opened */
};
VMBUS_ABI_SIZE(3.2, vmbus_msg_open_result, 20);
VMBUS_ABI_AT(3.2, vmbus_msg_open_result, child_relid, 8 + 0);
VMBUS_ABI_AT(3.2, vmbus_msg_open_result, open_id, 8 + 4);
VMBUS_ABI_AT(3.2, vmbus_msg_open_result, status, 8 + 8);

/**
 * One GPA range of a GPADL (8 B), followed on the wire by
 * ceil((byte_offset + byte_count) / 4096) u64 PFNs.
 */
struct vmbus_gpa_range {
	uint32_t byte_count;
	uint32_t byte_offset;               /* into the first page */
};
VMBUS_ABI_SIZE(3.6, vmbus_gpa_range, 8);
VMBUS_ABI_AT(3.6, vmbus_gpa_range, byte_count, 0);
VMBUS_ABI_AT(3.6, vmbus_gpa_range, byte_offset, 4);

/**
 * 8 GpadlHeader (20 B fixed): range data follows at offset 20 (not 8-aligned). range_buflen is
 * the size of the whole range data (every range header and PFN); what does not fit in this
 * message follows in GpadlBody messages.
 */
struct vmbus_msg_gpadl_header {
	struct vmbus_msg_header hdr;
	uint32_t child_relid;
	uint32_t gpadl;
	uint16_t range_buflen;
	uint16_t rangecount;
};
VMBUS_ABI_SIZE(3.2, vmbus_msg_gpadl_header, 20);
VMBUS_ABI_AT(3.2, vmbus_msg_gpadl_header, child_relid, 8 + 0);
VMBUS_ABI_AT(3.2, vmbus_msg_gpadl_header, gpadl, 8 + 4);
VMBUS_ABI_AT(3.2, vmbus_msg_gpadl_header, range_buflen, 8 + 8);
VMBUS_ABI_AT(3.2, vmbus_msg_gpadl_header, rangecount, 8 + 10);

/** 9 GpadlBody (16 B fixed): u64 PFNs (more range data) follow at offset 16. */
struct vmbus_msg_gpadl_body {
	struct vmbus_msg_header hdr;
	uint32_t msgnumber;                 /* reserved */
	uint32_t gpadl;
};
VMBUS_ABI_SIZE(3.2, vmbus_msg_gpadl_body, 16);
VMBUS_ABI_AT(3.2, vmbus_msg_gpadl_body, msgnumber, 8 + 0);
VMBUS_ABI_AT(3.2, vmbus_msg_gpadl_body, gpadl, 8 + 4);

/** PFNs in a GpadlHeader carrying one range, and in one GpadlBody (3.1: 26 and 28). */
#define VMBUS_GPADL_HEADER_MAX_PFNS \
	((VMBUS_MSG_MAX_SIZE - sizeof(struct vmbus_msg_gpadl_header) - \
	  sizeof(struct vmbus_gpa_range)) / 8u)
#define VMBUS_GPADL_BODY_MAX_PFNS \
	((VMBUS_MSG_MAX_SIZE - sizeof(struct vmbus_msg_gpadl_body)) / 8u)
_Static_assert(VMBUS_GPADL_HEADER_MAX_PFNS == 26, "hyperv-abi-facts 3.1: 26 PFNs in the header");
_Static_assert(VMBUS_GPADL_BODY_MAX_PFNS == 28, "hyperv-abi-facts 3.1: 28 PFNs per GPADL body");

/** 10 GpadlCreated (20 B). */
struct vmbus_msg_gpadl_created {
	struct vmbus_msg_header hdr;
	uint32_t child_relid;
	uint32_t gpadl;
	uint32_t creation_status;           /* 0 = created */
};
VMBUS_ABI_SIZE(3.2, vmbus_msg_gpadl_created, 20);
VMBUS_ABI_AT(3.2, vmbus_msg_gpadl_created, child_relid, 8 + 0);
VMBUS_ABI_AT(3.2, vmbus_msg_gpadl_created, gpadl, 8 + 4);
VMBUS_ABI_AT(3.2, vmbus_msg_gpadl_created, creation_status, 8 + 8);

/** 11 GpadlTeardown (16 B). */
struct vmbus_msg_gpadl_teardown {
	struct vmbus_msg_header hdr;
	uint32_t child_relid;
	uint32_t gpadl;
};
VMBUS_ABI_SIZE(3.2, vmbus_msg_gpadl_teardown, 16);
VMBUS_ABI_AT(3.2, vmbus_msg_gpadl_teardown, child_relid, 8 + 0);
VMBUS_ABI_AT(3.2, vmbus_msg_gpadl_teardown, gpadl, 8 + 4);

/** 12 GpadlTorndown (12 B). */
struct vmbus_msg_gpadl_torndown {
	struct vmbus_msg_header hdr;
	uint32_t gpadl;
};
VMBUS_ABI_SIZE(3.2, vmbus_msg_gpadl_torndown, 12);
VMBUS_ABI_AT(3.2, vmbus_msg_gpadl_torndown, gpadl, 8 + 0);

/**
 * 14 InitiateContact: 40 B, 56 B with the 6.0 client id. Offset 8 of the payload is either the
 * interrupt page GPA (requests below 5.0) or msg_sint / msg_vtl / feature_flags (5.0 and up;
 * feature_flags from 6.0): `interrupt_page` and the struct overlay the same 8 bytes.
 */
struct vmbus_msg_initiate_contact {
	struct vmbus_msg_header hdr;
	uint32_t version_requested;
	uint32_t target_vcpu;               /* VP index for control messages */
	union {
		uint64_t interrupt_page;    /* < 5.0 */
		struct {
			uint8_t msg_sint;   /* >= 5.0 */
			uint8_t msg_vtl;
			uint16_t reserved;
			uint32_t feature_flags; /* >= 6.0: VMBUS_FEATURE_* */
		};
	};
	uint64_t monitor_page1;             /* parent -> child */
	uint64_t monitor_page2;             /* child -> parent */
	struct vmbus_guid client_id;        /* 6.0 */
};
#define VMBUS_INITIATE_CONTACT_SIZE_V1 40u
#define VMBUS_INITIATE_CONTACT_SIZE_V6 56u
VMBUS_ABI_SIZE(3.2, vmbus_msg_initiate_contact, VMBUS_INITIATE_CONTACT_SIZE_V6);
VMBUS_ABI_AT(3.2, vmbus_msg_initiate_contact, client_id, VMBUS_INITIATE_CONTACT_SIZE_V1);
VMBUS_ABI_AT(3.2, vmbus_msg_initiate_contact, version_requested, 8 + 0);
VMBUS_ABI_AT(3.2, vmbus_msg_initiate_contact, target_vcpu, 8 + 4);
VMBUS_ABI_AT(3.2, vmbus_msg_initiate_contact, interrupt_page, 8 + 8);
VMBUS_ABI_AT(3.2, vmbus_msg_initiate_contact, msg_sint, 8 + 8);
VMBUS_ABI_AT(3.2, vmbus_msg_initiate_contact, msg_vtl, 8 + 9);
VMBUS_ABI_AT(3.2, vmbus_msg_initiate_contact, feature_flags, 8 + 12);
VMBUS_ABI_AT(3.2, vmbus_msg_initiate_contact, monitor_page1, 8 + 16);
VMBUS_ABI_AT(3.2, vmbus_msg_initiate_contact, monitor_page2, 8 + 24);
VMBUS_ABI_AT(3.2, vmbus_msg_initiate_contact, client_id, 8 + 32);

/* VersionResponse.connection_state. */
#define VMBUS_CONNECTION_OK             0u
#define VMBUS_CONNECTION_LOW_RESOURCES  1u
#define VMBUS_CONNECTION_FAILED_UNKNOWN 2u

/**
 * 15 VersionResponse: 16 B before 6.0, 20 B with supported_features, 40 B with the
 * server-specified monitor pages (VMBUS_FEATURE_SERVER_MONITOR_PAGES).
 */
struct vmbus_msg_version_response {
	struct vmbus_msg_header hdr;
	uint8_t version_supported;          /* 1 = accepted */
	uint8_t connection_state;           /* VMBUS_CONNECTION_* */
	uint16_t padding;
	uint32_t msg_conn_id;               /* >= 5.0: post every later message here */
	uint32_t supported_features;        /* 6.0 */
	uint32_t reserved;
	uint64_t monitor_page_p2c;          /* server-specified monitor pages */
	uint64_t monitor_page_c2p;
};
#define VMBUS_VERSION_RESPONSE_SIZE_V1       16u
#define VMBUS_VERSION_RESPONSE_SIZE_V6       20u
#define VMBUS_VERSION_RESPONSE_SIZE_MONITOR  40u
VMBUS_ABI_SIZE(3.2, vmbus_msg_version_response, VMBUS_VERSION_RESPONSE_SIZE_MONITOR);
VMBUS_ABI_AT(3.2, vmbus_msg_version_response, supported_features, VMBUS_VERSION_RESPONSE_SIZE_V1);
VMBUS_ABI_AT(3.2, vmbus_msg_version_response, reserved, VMBUS_VERSION_RESPONSE_SIZE_V6);
VMBUS_ABI_AT(3.2, vmbus_msg_version_response, version_supported, 8 + 0);
VMBUS_ABI_AT(3.2, vmbus_msg_version_response, connection_state, 8 + 1);
VMBUS_ABI_AT(3.2, vmbus_msg_version_response, msg_conn_id, 8 + 4);
VMBUS_ABI_AT(3.2, vmbus_msg_version_response, supported_features, 8 + 8);
VMBUS_ABI_AT(3.2, vmbus_msg_version_response, monitor_page_p2c, 8 + 16);
VMBUS_ABI_AT(3.2, vmbus_msg_version_response, monitor_page_c2p, 8 + 24);

/** 18 OpenReservedChannel (28 B). */
struct vmbus_msg_open_reserved_channel {
	struct vmbus_msg_header hdr;
	uint32_t child_relid;
	uint32_t target_vp;
	uint32_t target_sint;
	uint32_t ring_gpadl;
	uint32_t downstream_page_offset;
};
VMBUS_ABI_SIZE(3.2, vmbus_msg_open_reserved_channel, 28);
VMBUS_ABI_AT(3.2, vmbus_msg_open_reserved_channel, target_vp, 8 + 4);
VMBUS_ABI_AT(3.2, vmbus_msg_open_reserved_channel, target_sint, 8 + 8);
VMBUS_ABI_AT(3.2, vmbus_msg_open_reserved_channel, ring_gpadl, 8 + 12);
VMBUS_ABI_AT(3.2, vmbus_msg_open_reserved_channel, downstream_page_offset, 8 + 16);

/** 19 CloseReservedChannel (20 B). */
struct vmbus_msg_close_reserved_channel {
	struct vmbus_msg_header hdr;
	uint32_t child_relid;
	uint32_t target_vp;
	uint32_t target_sint;
};
VMBUS_ABI_SIZE(3.2, vmbus_msg_close_reserved_channel, 20);
VMBUS_ABI_AT(3.2, vmbus_msg_close_reserved_channel, target_sint, 8 + 8);

/** 21 TlConnectRequest: 40 B, 56 B with the RS5 silo id. */
struct vmbus_msg_tl_connect_request {
	struct vmbus_msg_header hdr;
	struct vmbus_guid endpoint_id;
	struct vmbus_guid service_id;
	struct vmbus_guid silo_id;          /* RS5 */
};
#define VMBUS_TL_CONNECT_REQUEST_SIZE_V1 40u
#define VMBUS_TL_CONNECT_REQUEST_SIZE_RS5 56u
VMBUS_ABI_SIZE(3.2, vmbus_msg_tl_connect_request, VMBUS_TL_CONNECT_REQUEST_SIZE_RS5);
VMBUS_ABI_AT(3.2, vmbus_msg_tl_connect_request, service_id, 8 + 16);
VMBUS_ABI_AT(3.2, vmbus_msg_tl_connect_request, silo_id, VMBUS_TL_CONNECT_REQUEST_SIZE_V1);

/** 22 ModifyChannel (16 B). */
struct vmbus_msg_modify_channel {
	struct vmbus_msg_header hdr;
	uint32_t child_relid;
	uint32_t target_vp;
};
VMBUS_ABI_SIZE(3.2, vmbus_msg_modify_channel, 16);
VMBUS_ABI_AT(3.2, vmbus_msg_modify_channel, target_vp, 8 + 4);

/** 23 TlConnectResult (44 B). */
struct vmbus_msg_tl_connect_result {
	struct vmbus_msg_header hdr;
	struct vmbus_guid endpoint_id;
	struct vmbus_guid service_id;
	int32_t status;
};
VMBUS_ABI_SIZE(3.2, vmbus_msg_tl_connect_result, 44);
VMBUS_ABI_AT(3.2, vmbus_msg_tl_connect_result, status, 8 + 32);

/** 24 ModifyChannelResponse (16 B). */
struct vmbus_msg_modify_channel_response {
	struct vmbus_msg_header hdr;
	uint32_t child_relid;
	int32_t status;
};
VMBUS_ABI_SIZE(3.2, vmbus_msg_modify_channel_response, 16);
VMBUS_ABI_AT(3.2, vmbus_msg_modify_channel_response, status, 8 + 4);

/** 25 ModifyConnection (24 B). */
struct vmbus_msg_modify_connection {
	struct vmbus_msg_header hdr;
	uint64_t monitor_page_p2c;
	uint64_t monitor_page_c2p;
};
VMBUS_ABI_SIZE(3.2, vmbus_msg_modify_connection, 24);
VMBUS_ABI_AT(3.2, vmbus_msg_modify_connection, monitor_page_c2p, 8 + 8);

/** 26 ModifyConnectionResponse: one meaningful byte (9 B on the wire); padded to 12 here. */
struct vmbus_msg_modify_connection_response {
	struct vmbus_msg_header hdr;
	uint8_t connection_state;           /* VMBUS_CONNECTION_* */
	uint8_t padding[3];
};
#define VMBUS_MODIFY_CONNECTION_RESPONSE_SIZE 9u
VMBUS_ABI_AT(3.2, vmbus_msg_modify_connection_response, connection_state, 8 + 0);
VMBUS_ABI_AT(3.2, vmbus_msg_modify_connection_response, padding,
	     VMBUS_MODIFY_CONNECTION_RESPONSE_SIZE);

/* ------------------------------------------------------------------------------------------ */
/* Status values in GpadlCreated / OpenChannelResult / ModifyChannelResponse / TlConnectResult */
/* ------------------------------------------------------------------------------------------ */

/*
 * The protocol defines only 0 = success; failures are Windows NTSTATUS codes. These are the
 * ones Mezzanine's server answers.
 */
#define VMBUS_STATUS_SUCCESS                 0x00000000u
#define VMBUS_STATUS_UNSUCCESSFUL            0xC0000001u
#define VMBUS_STATUS_INVALID_PARAMETER       0xC000000Du
#define VMBUS_STATUS_OBJECT_NAME_COLLISION   0xC0000035u
#define VMBUS_STATUS_INSUFFICIENT_RESOURCES  0xC000009Au
#define VMBUS_STATUS_NOT_SUPPORTED           0xC00000BBu
#define VMBUS_STATUS_INVALID_DEVICE_STATE    0xC0000184u

/* SIEF event flags per SINT (2.8): a channel's event flag must be below this. */
#define VMBUS_EVENT_FLAGS_PER_SINT 2048u

#endif
