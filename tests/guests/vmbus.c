/*
 * vmbus: a minimal VMBus + storvsc client in VTL0 (run with --disk IMAGE, the host's disk the
 * paravisor relays, or --vtl2-disk IMAGE, one VTL2 serves; single VP, polling).
 *
 * Hypercall page and SynIC (SIMP, SIEFP, SINT2, SCONTROL); InitiateContact 5.3 on connection
 * id 4; RequestOffers until AllOffersDelivered, keeping the SCSI offer (a relayed disk may be
 * offered later, once VTL2 has opened the host's: then the next offers are awaited); an 8-page ring
 * (4 pages client->server, 4 server->client) described by a one-range GPADL; OpenChannel;
 * the storvsp init sequence; READ CAPACITY(10); WRITE(10) of 8 sectors at LBA 100 from a page
 * holding byte i = (i * 7 + 3) & 0xFF, READ(10) of them into another page, compared.
 * Server messages are polled in SINT 2's SIMP slot (message type set to 0 and EOM after each),
 * completions in the server-to-client ring; the channel is signalled with fast HvSignalEvent.
 */
#include "tests/guests/rt.h"

#include "devices/vmbus/storvsp.h"
#include "hvcall/hv.h"
#include "hvcall/vmbus_abi.h"
#include "hvcall/vmbus_ring_abi.h"

#define PAGE 4096u
#define SINT 2u
#define SINT_VECTOR 0x40u
#define RING_PAGES 8u
#define RING_OUT_PAGES 4u
#define GPADL_ID 0x1001u
#define OPEN_ID 0x77u
#define DISK_LBA 100u
#define DISK_SECTORS 8u

static _Alignas(4096) uint8_t hypercall_page[PAGE];
static _Alignas(4096) uint8_t simp_page[PAGE];
static _Alignas(4096) uint8_t siefp_page[PAGE];
static _Alignas(4096) uint8_t post_page[PAGE];
static _Alignas(4096) uint8_t ring[RING_PAGES * PAGE];
static _Alignas(4096) uint8_t write_buf[PAGE];
static _Alignas(4096) uint8_t read_buf[PAGE];
static _Alignas(4096) uint8_t cap_buf[PAGE];

static uint8_t pattern_byte(uint32_t i) { return (uint8_t)((i * 7u + 3u) & 0xFFu); }

static inline uint64_t rdtsc(void)
{
	uint32_t lo, hi;
	__asm__ volatile("rdtsc" : "=a"(lo), "=d"(hi));
	return ((uint64_t)hi << 32) | lo;
}
/* hvsim's TSC runs at 2 GHz: a few seconds per wait, well inside the run's timeout. */
#define WAIT_TICKS (6ull * 2000000000ull)

/* Through the hypercall page (VMCALL; RET): RCX control, RDX input, R8 output -> RAX. */
static uint64_t hypercall(uint64_t control, uint64_t in, uint64_t out)
{
	uint64_t rax;
	register uint64_t rcx __asm__("rcx") = control;
	register uint64_t rdx __asm__("rdx") = in;
	register uint64_t r8 __asm__("r8") = out;
	__asm__ volatile("call *%[page]"
			 : "=a"(rax), "+r"(rcx), "+r"(rdx), "+r"(r8)
			 : [page] "r"((uint64_t)(uintptr_t)hypercall_page)
			 : "memory", "r9", "r10", "r11", "cc");
	return rax;
}

static void sint_isr(struct rt_frame *f)
{
	(void)f;
	rt_eoi();
}

/* ---- channel messages ---- */

static uint32_t msg_conn_id = VMBUS_CONN_ID_MESSAGE_4;

static void post_msg(const void *msg, uint32_t size)
{
	GUEST_ASSERT(size <= HV_MESSAGE_PAYLOAD_SIZE);
	uint64_t deadline = rdtsc() + WAIT_TICKS;
	for (;;) {
		volatile uint32_t *hdr = (volatile uint32_t *)post_page;
		hdr[0] = msg_conn_id;
		hdr[1] = 0;
		hdr[2] = 1; /* HVMSG_VMBUS */
		hdr[3] = size;
		memcpy(post_page + 16, msg, size);
		uint64_t st = hypercall(HVCALL_POST_MESSAGE, (uintptr_t)post_page, 0) & 0xFFFF;
		if (st == 0)
			return;
		if (st != 0x13 || rdtsc() > deadline) { /* INSUFFICIENT_BUFFERS: retry */
			rt_printf("vmbus: HvPostMessage status 0x%lx\n", (unsigned long)st);
			GUEST_ASSERT_EQ(st, 0);
		}
		cpu_pause();
	}
}

/* Wait for the next message in SINT 2's slot; copies it out, frees the slot, EOM. */
static uint32_t recv_msg(uint8_t *buf)
{
	volatile uint8_t *slot = simp_page + SINT * 256u;
	uint64_t deadline = rdtsc() + WAIT_TICKS;
	while (*(volatile uint32_t *)slot == 0) {
		if (rdtsc() > deadline) {
			rt_printf("vmbus: no message on SINT %u\n", SINT);
			GUEST_ASSERT(0);
		}
		cpu_pause();
	}
	__asm__ volatile("" ::: "memory");
	uint32_t type = *(volatile uint32_t *)slot;
	uint32_t size = slot[4];
	GUEST_ASSERT_EQ(type, 1);
	GUEST_ASSERT(size <= HV_MESSAGE_PAYLOAD_SIZE && size >= 8);
	memset(buf, 0, HV_MESSAGE_PAYLOAD_SIZE);
	for (uint32_t i = 0; i < size; i++)
		buf[i] = slot[16 + i];
	__asm__ volatile("" ::: "memory");
	*(volatile uint32_t *)slot = 0;
	__asm__ volatile("mfence" ::: "memory");
	wrmsr(HV_X64_MSR_EOM, 0);
	return ((struct vmbus_msg_header *)buf)->msgtype;
}

static bool guid_eq(const struct vmbus_guid *a, const struct vmbus_guid *b)
{
	const uint8_t *x = (const uint8_t *)a, *y = (const uint8_t *)b;
	for (unsigned i = 0; i < sizeof(*a); i++)
		if (x[i] != y[i])
			return false;
	return true;
}

/* ---- the ring ---- */

#define OUT_CTRL ((volatile struct vmbus_ring_control *)ring)
#define OUT_DATA (ring + PAGE)
#define OUT_SIZE ((RING_OUT_PAGES - 1) * PAGE)
#define IN_CTRL ((volatile struct vmbus_ring_control *)(ring + RING_OUT_PAGES * PAGE))
#define IN_DATA (ring + (RING_OUT_PAGES + 1) * PAGE)
#define IN_SIZE ((RING_PAGES - RING_OUT_PAGES - 1) * PAGE)

static uint32_t channel_conn_id;
static uint64_t next_tid = 1;

static void ring_put(uint32_t *off, const void *src, uint32_t len)
{
	const uint8_t *s = src;
	for (uint32_t i = 0; i < len; i++) {
		((volatile uint8_t *)OUT_DATA)[*off] = s[i];
		*off = (*off + 1) % OUT_SIZE;
	}
}

/* One packet: descriptor+extension `head` (head_len, multiple of 8), then payload, padding,
 * trailer. Signals the channel. */
static void ring_send(const void *head, uint32_t head_len, const void *payload, uint32_t len)
{
	uint32_t padded = (head_len + len + 7u) & ~7u;
	uint32_t total = padded + 8u;
	uint32_t w = OUT_CTRL->write_index, r = OUT_CTRL->read_index;
	uint32_t used = (w + OUT_SIZE - r) % OUT_SIZE;
	GUEST_ASSERT(used + total < OUT_SIZE);
	uint32_t start = w, off = w;
	ring_put(&off, head, head_len);
	ring_put(&off, payload, len);
	static const uint8_t zeros[8];
	ring_put(&off, zeros, padded - head_len - len);
	uint64_t trailer = vmbus_pkt_trailer_value(start);
	ring_put(&off, &trailer, 8);
	__asm__ volatile("mfence" ::: "memory");
	OUT_CTRL->write_index = off;
	__asm__ volatile("mfence" ::: "memory");
	uint64_t st = hypercall(HVCALL_SIGNAL_EVENT | (1ull << 16), channel_conn_id, 0) & 0xFFFF;
	GUEST_ASSERT_EQ(st, 0);
}

/* Wait for the next packet from the server: returns its type, copies the payload. */
static uint16_t ring_recv(uint64_t *tid, void *payload, uint32_t *len, uint32_t max)
{
	uint64_t deadline = rdtsc() + WAIT_TICKS;
	while (IN_CTRL->read_index == IN_CTRL->write_index) {
		if (rdtsc() > deadline) {
			rt_printf("vmbus: no completion in the ring\n");
			GUEST_ASSERT(0);
		}
		cpu_pause();
	}
	__asm__ volatile("mfence" ::: "memory");
	uint32_t r = IN_CTRL->read_index;
	uint8_t raw[256];
	for (uint32_t i = 0; i < 16; i++)
		raw[i] = ((volatile uint8_t *)IN_DATA)[(r + i) % IN_SIZE];
	struct vmbus_pkt_desc d;
	memcpy(&d, raw, sizeof(d));
	uint32_t plen = (uint32_t)d.len8 * 8u, poff = (uint32_t)d.offset8 * 8u;
	GUEST_ASSERT(plen <= sizeof(raw) && poff >= 16 && poff <= plen);
	for (uint32_t i = 16; i < plen; i++)
		raw[i] = ((volatile uint8_t *)IN_DATA)[(r + i) % IN_SIZE];
	*len = plen - poff < max ? plen - poff : max;
	memcpy(payload, raw + poff, *len);
	*tid = d.transaction_id;
	__asm__ volatile("mfence" ::: "memory");
	IN_CTRL->read_index = (r + plen + 8u) % IN_SIZE;
	return d.type;
}

/* ---- storvsp ---- */

static struct storvsp_vstor_packet vstor_exchange(const struct storvsp_vstor_packet *rq,
						  const void *buf, uint32_t buf_len)
{
	uint64_t tid = next_tid++;
	if (buf == NULL) {
		struct vmbus_pkt_desc d = {
			.type = VMBUS_PKT_DATA_INBAND, .offset8 = 2,
			.len8 = (uint16_t)((16u + STORVSP_PACKET_SIZE + 7u) / 8u),
			.flags = VMBUS_PKT_FLAG_COMPLETION_REQUESTED, .transaction_id = tid,
		};
		ring_send(&d, sizeof(d), rq, STORVSP_PACKET_SIZE);
	} else {
		struct {
			struct vmbus_pkt_desc d;
			struct vmbus_pkt_gpa_direct_hdr g;
			uint32_t byte_count, byte_offset;
			uint64_t pfn;
		} h = {
			.d = { .type = VMBUS_PKT_DATA_GPA_DIRECT, .offset8 = 5,
			       .len8 = (uint16_t)((40u + STORVSP_PACKET_SIZE) / 8u),
			       .flags = VMBUS_PKT_FLAG_COMPLETION_REQUESTED, .transaction_id = tid },
			.g = { .reserved = 0, .range_count = 1 },
			.byte_count = buf_len,
			.byte_offset = (uint32_t)((uintptr_t)buf & (PAGE - 1)),
			.pfn = (uintptr_t)buf / PAGE,
		};
		_Static_assert(sizeof(h) == 40, "GPA-direct head: descriptor, header, one 1-PFN range");
		GUEST_ASSERT(((uintptr_t)buf & (PAGE - 1)) + buf_len <= PAGE);
		ring_send(&h, sizeof(h), rq, STORVSP_PACKET_SIZE);
	}
	struct storvsp_vstor_packet rp;
	memset(&rp, 0, sizeof(rp));
	uint64_t rtid;
	uint32_t len;
	uint16_t type = ring_recv(&rtid, &rp, &len, sizeof(rp));
	GUEST_ASSERT_EQ(type, VMBUS_PKT_COMPLETION);
	GUEST_ASSERT_EQ(rtid, tid);
	GUEST_ASSERT_EQ(len, STORVSP_PACKET_SIZE);
	return rp;
}

static void vstor_simple(uint32_t op, uint16_t version)
{
	struct storvsp_vstor_packet p;
	memset(&p, 0, sizeof(p));
	p.operation = op;
	p.flags = STORVSP_FLAG_REQUEST_COMPLETION;
	if (op == STORVSP_OP_QUERY_PROTOCOL_VERSION)
		p.u.version.major_minor = version;
	struct storvsp_vstor_packet rp = vstor_exchange(&p, NULL, 0);
	GUEST_ASSERT_EQ(rp.operation, STORVSP_OP_COMPLETE_IO);
	if (rp.status != 0)
		rt_printf("vmbus: storvsp operation %u status 0x%x\n", op, rp.status);
	GUEST_ASSERT_EQ(rp.status, 0);
	if (op == STORVSP_OP_QUERY_PROPERTIES)
		rt_printf("vmbus: storvsp max_transfer_bytes 0x%x\n", rp.u.properties.max_transfer_bytes);
}

static struct storvsp_vstor_packet scsi(const uint8_t *cdb, uint8_t cdb_len, uint8_t data_in,
					void *buf, uint32_t len)
{
	struct storvsp_vstor_packet p;
	memset(&p, 0, sizeof(p));
	p.operation = STORVSP_OP_EXECUTE_SRB;
	p.flags = STORVSP_FLAG_REQUEST_COMPLETION;
	p.u.srb.length = sizeof(struct storvsp_vmscsi_request);
	p.u.srb.cdb_length = cdb_len;
	p.u.srb.sense_info_length = STORVSP_CDB_AREA;
	p.u.srb.data_in = data_in;
	p.u.srb.data_transfer_length = len;
	memcpy(p.u.srb.cdb, cdb, cdb_len);
	struct storvsp_vstor_packet rp = vstor_exchange(&p, buf, len);
	if (rp.status != 0 || rp.u.srb.srb_status != STORVSP_SRB_SUCCESS || rp.u.srb.scsi_status)
		rt_printf("vmbus: SCSI op 0x%x: status 0x%x srb 0x%x scsi 0x%x\n", cdb[0], rp.status,
			  rp.u.srb.srb_status, rp.u.srb.scsi_status);
	GUEST_ASSERT_EQ(rp.status, 0);
	GUEST_ASSERT_EQ(rp.u.srb.srb_status, STORVSP_SRB_SUCCESS);
	GUEST_ASSERT_EQ(rp.u.srb.scsi_status, 0);
	GUEST_ASSERT_EQ(rp.u.srb.data_transfer_length, len);
	return rp;
}

static void rw10(uint8_t opcode, uint32_t lba, uint16_t blocks, void *buf)
{
	uint8_t cdb[10] = { opcode, 0, (uint8_t)(lba >> 24), (uint8_t)(lba >> 16),
			    (uint8_t)(lba >> 8), (uint8_t)lba, 0, (uint8_t)(blocks >> 8),
			    (uint8_t)blocks, 0 };
	scsi(cdb, 10, opcode == 0x28 ? STORVSP_SRB_DATA_IN : STORVSP_SRB_DATA_OUT, buf,
	     (uint32_t)blocks * 512u);
}

void guest_main(unsigned vp, unsigned vp_count)
{
	(void)vp_count;
	if (vp != 0)
		return;
	uint8_t msg[HV_MESSAGE_PAYLOAD_SIZE];

	/* Hypercall page, SynIC. */
	wrmsr(HV_X64_MSR_GUEST_OS_ID, 0x8100000000000001ull);
	wrmsr(HV_X64_MSR_HYPERCALL, (uintptr_t)hypercall_page | 1u);
	GUEST_ASSERT(rdmsr(HV_X64_MSR_HYPERCALL) & 1u);
	rt_set_handler(SINT_VECTOR, sint_isr);
	wrmsr(HV_X64_MSR_SIMP, (uintptr_t)simp_page | 1u);
	wrmsr(HV_X64_MSR_SIEFP, (uintptr_t)siefp_page | 1u);
	wrmsr(hv_x64_msr_sint(SINT), SINT_VECTOR);
	wrmsr(HV_X64_MSR_SCONTROL, 1);

	/* InitiateContact 5.3. */
	struct vmbus_msg_initiate_contact ic;
	memset(&ic, 0, sizeof(ic));
	ic.hdr.msgtype = VMBUS_MSG_INITIATE_CONTACT;
	ic.version_requested = VMBUS_VERSION_WIN10_V5_3;
	ic.target_vcpu = 0;
	ic.msg_sint = SINT;
	ic.msg_vtl = 0;
	post_msg(&ic, VMBUS_INITIATE_CONTACT_SIZE_V1);
	GUEST_ASSERT_EQ(recv_msg(msg), VMBUS_MSG_VERSION_RESPONSE);
	struct vmbus_msg_version_response vr;
	memcpy(&vr, msg, sizeof(vr));
	GUEST_ASSERT_EQ(vr.version_supported, 1);
	GUEST_ASSERT_EQ(vr.connection_state, VMBUS_CONNECTION_OK);
	if (vr.msg_conn_id)
		msg_conn_id = vr.msg_conn_id;
	rt_printf("vmbus: version 5.3 accepted, message connection id 0x%x\n", msg_conn_id);

	/* Offers. */
	struct vmbus_msg_empty ro = { .hdr = { .msgtype = VMBUS_MSG_REQUEST_OFFERS } };
	post_msg(&ro, sizeof(ro));
	static const struct vmbus_guid scsi_guid = VMBUS_GUID_SCSI;
	bool found = false;
	uint32_t relid = 0, offers = 0;
	for (;;) {
		uint32_t t = recv_msg(msg);
		if (t == VMBUS_MSG_ALL_OFFERS_DELIVERED)
			break;
		GUEST_ASSERT_EQ(t, VMBUS_MSG_OFFER_CHANNEL);
		struct vmbus_msg_offer_channel o;
		memcpy(&o, msg, sizeof(o));
		offers++;
		if (guid_eq(&o.interface_type, &scsi_guid) && !found) {
			found = true;
			relid = o.child_relid;
			channel_conn_id = o.connection_id;
		}
	}
	/* Not offered yet: a relayed disk comes when VTL2 has the host's (recv_msg times out). */
	while (!found) {
		uint32_t t = recv_msg(msg);
		GUEST_ASSERT_EQ(t, VMBUS_MSG_OFFER_CHANNEL);
		struct vmbus_msg_offer_channel o;
		memcpy(&o, msg, sizeof(o));
		offers++;
		if (guid_eq(&o.interface_type, &scsi_guid)) {
			found = true;
			relid = o.child_relid;
			channel_conn_id = o.connection_id;
			rt_printf("vmbus: the SCSI offer came after AllOffersDelivered\n");
		}
	}
	rt_printf("vmbus: %u offer(s); SCSI %s (relid %u, connection id 0x%x)\n", offers,
		  found ? "found" : "missing", relid, channel_conn_id);
	GUEST_ASSERT(found);

	/* GPADL for the ring: one range of 8 pages. */
	uint8_t gh[20 + 8 + RING_PAGES * 8];
	struct vmbus_msg_gpadl_header ghh = {
		.hdr = { .msgtype = VMBUS_MSG_GPADL_HEADER },
		.child_relid = relid, .gpadl = GPADL_ID,
		.range_buflen = 8 + RING_PAGES * 8, .rangecount = 1,
	};
	memcpy(gh, &ghh, sizeof(ghh));
	struct vmbus_gpa_range gr = { .byte_count = RING_PAGES * PAGE, .byte_offset = 0 };
	memcpy(gh + 20, &gr, sizeof(gr));
	for (uint32_t i = 0; i < RING_PAGES; i++) {
		uint64_t pfn = (uintptr_t)ring / PAGE + i;
		memcpy(gh + 28 + 8 * i, &pfn, 8);
	}
	post_msg(gh, sizeof(gh));
	GUEST_ASSERT_EQ(recv_msg(msg), VMBUS_MSG_GPADL_CREATED);
	struct vmbus_msg_gpadl_created gc;
	memcpy(&gc, msg, sizeof(gc));
	GUEST_ASSERT_EQ(gc.gpadl, GPADL_ID);
	GUEST_ASSERT_EQ(gc.creation_status, 0);

	/* OpenChannel. */
	struct vmbus_msg_open_channel oc;
	memset(&oc, 0, sizeof(oc));
	oc.hdr.msgtype = VMBUS_MSG_OPEN_CHANNEL;
	oc.child_relid = relid;
	oc.open_id = OPEN_ID;
	oc.ring_gpadl = GPADL_ID;
	oc.target_vp = 0;
	oc.downstream_ring_page_offset = RING_OUT_PAGES;
	post_msg(&oc, VMBUS_OPEN_CHANNEL_SIZE_V1);
	GUEST_ASSERT_EQ(recv_msg(msg), VMBUS_MSG_OPEN_CHANNEL_RESULT);
	struct vmbus_msg_open_result orr;
	memcpy(&orr, msg, sizeof(orr));
	GUEST_ASSERT_EQ(orr.child_relid, relid);
	GUEST_ASSERT_EQ(orr.open_id, OPEN_ID);
	GUEST_ASSERT_EQ(orr.status, 0);
	rt_printf("vmbus: channel %u open (gpadl 0x%x)\n", relid, GPADL_ID);

	/* storvsp init. */
	vstor_simple(STORVSP_OP_BEGIN_INITIALIZATION, 0);
	vstor_simple(STORVSP_OP_QUERY_PROTOCOL_VERSION, STORVSP_VERSION_WIN10);
	vstor_simple(STORVSP_OP_QUERY_PROPERTIES, 0);
	vstor_simple(STORVSP_OP_END_INITIALIZATION, 0);
	rt_printf("vmbus: storvsp initialized (protocol 0x%x)\n", STORVSP_VERSION_WIN10);

	/* READ CAPACITY(10). */
	static const uint8_t rc10[10] = { 0x25 };
	memset(cap_buf, 0xEE, 8);
	scsi(rc10, 10, STORVSP_SRB_DATA_IN, cap_buf, 8);
	uint32_t last = (uint32_t)cap_buf[0] << 24 | (uint32_t)cap_buf[1] << 16 |
			(uint32_t)cap_buf[2] << 8 | cap_buf[3];
	uint32_t bsize = (uint32_t)cap_buf[4] << 24 | (uint32_t)cap_buf[5] << 16 |
			 (uint32_t)cap_buf[6] << 8 | cap_buf[7];
	rt_printf("vmbus: capacity %u blocks of %u bytes\n", last + 1, bsize);
	GUEST_ASSERT_EQ(bsize, 512);

	/* WRITE(10) then READ(10) of sectors 100..107. */
	for (uint32_t i = 0; i < PAGE; i++) {
		write_buf[i] = pattern_byte(i);
		read_buf[i] = 0x5A;
	}
	rw10(0x2A, DISK_LBA, DISK_SECTORS, write_buf);
	rw10(0x28, DISK_LBA, DISK_SECTORS, read_buf);
	for (uint32_t i = 0; i < DISK_SECTORS * 512u; i++) {
		if (read_buf[i] != pattern_byte(i)) {
			rt_printf("vmbus: byte %u read 0x%x, wrote 0x%x\n", i, read_buf[i],
				  pattern_byte(i));
			GUEST_ASSERT(0);
		}
	}
	rt_printf("vmbus: sectors %u..%u written and read back equal\n", DISK_LBA,
		  DISK_LBA + DISK_SECTORS - 1);
}
