/*
 * vmbus_ring: one direction of a VMBus ring, producer or consumer end (doc 3.6 of
 * ../shared/docs/hyperv-abi-facts.md). The rules this file keeps are in vmbus_ring.h; in short:
 *
 *   - r->pos (our index) and r->committed are private and only ever computed from validated
 *     values, so every data-area access below is at `offset < size` for `len <= size` bytes and
 *     goes through ring_put()/ring_get(), which split at the end of the area;
 *   - a shared field is loaded once into a local, validated, then used; r->peer_cache keeps the
 *     last validated value of the peer's index so the common path does not touch the peer's
 *     cache line. A stale cache only ever understates what is there (free space for the
 *     producer, available bytes for the consumer), because an honest peer only moves forward;
 *   - memory orders (doc 3.6 "Signalling rules"): the peer's index is loaded with acquire
 *     before we read (consumer) or overwrite (producer) the data it covers; ours is stored with
 *     release after; between publishing and reading the other side's flag for the signalling
 *     decision there is a seq_cst fence, and the other side (unmask, pending_send_sz) fences the
 *     same way, so of two racing sides at least one sees the other's store.
 */
#include <errno.h>
#include <string.h>

#include "devices/vmbus/vmbus_ring.h"

#define DESC_SIZE ((uint32_t)sizeof(struct vmbus_pkt_desc))
#define TRAILER_SIZE ((uint32_t)sizeof(struct vmbus_pkt_trailer))
#define EXT_HDR_SIZE 8u /* GPA-direct and transfer-page headers */
#define MIN_PACKET (DESC_SIZE + TRAILER_SIZE)

_Static_assert(sizeof(struct vmbus_pkt_gpa_direct_hdr) == EXT_HDR_SIZE, "GPA-direct header size");
_Static_assert(sizeof(struct vmbus_pkt_xfer_page_hdr) == EXT_HDR_SIZE, "transfer-page header size");

static inline uint32_t load_acquire(uint32_t *p)
{
	return __atomic_load_n(p, __ATOMIC_ACQUIRE);
}

static inline uint32_t load_relaxed(uint32_t *p)
{
	return __atomic_load_n(p, __ATOMIC_RELAXED);
}

static inline void store_release(uint32_t *p, uint32_t v)
{
	__atomic_store_n(p, v, __ATOMIC_RELEASE);
}

static inline void store_relaxed(uint32_t *p, uint32_t v)
{
	__atomic_store_n(p, v, __ATOMIC_RELAXED);
}

static inline void full_fence(void)
{
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
}

static int ring_break(struct vmbus_ring *r, const char *why)
{
	if (!r->broken) {
		r->broken = true;
		r->broken_reason = why;
	}
	return -EPROTO;
}

static inline bool index_ok(const struct vmbus_ring *r, uint32_t idx)
{
	return idx < r->size && (idx & (VMBUS_RING_ALIGN - 1)) == 0;
}

/* Bytes from `from` forward to `to` (both < size). */
static inline uint32_t ring_dist(const struct vmbus_ring *r, uint32_t from, uint32_t to)
{
	return to >= from ? to - from : to + r->size - from;
}

/* off < size, n <= size: off + n < 2^32 because size <= 2^31. */
static inline uint32_t ring_add(const struct vmbus_ring *r, uint32_t off, uint32_t n)
{
	uint32_t v = off + n;
	return v >= r->size ? v - r->size : v;
}

/* Free bytes for a producer at `wr` when the consumer is at `rd` (doc 3.6: size - used - 8). */
static inline uint32_t ring_free(const struct vmbus_ring *r, uint32_t wr, uint32_t rd)
{
	return r->size - ring_dist(r, rd, wr) - VMBUS_RING_RESERVED_BYTES;
}

/* Copy `n` bytes (n <= size) into the data area at off (< size), wrapping; returns the end. */
static inline __attribute__((always_inline)) uint32_t ring_put(struct vmbus_ring *r, uint32_t off,
							 const void *src, uint32_t n)
{
	uint32_t first = r->size - off;
	if (n <= first) {
		memcpy(r->data + off, src, n);
	} else {
		memcpy(r->data + off, src, first);
		memcpy(r->data, (const uint8_t *)src + first, n - first);
	}
	return ring_add(r, off, n);
}

/* n < 8 zero bytes of padding. */
static uint32_t ring_zero(struct vmbus_ring *r, uint32_t off, uint32_t n)
{
	static const uint8_t zeros[VMBUS_RING_ALIGN];
	return ring_put(r, off, zeros, n);
}

/* Copy `n` bytes (n <= size) out of the data area from off (< size), wrapping. */
static inline __attribute__((always_inline)) void ring_get(const struct vmbus_ring *r, uint32_t off,
							 void *dst, uint32_t n)
{
	uint32_t first = r->size - off;
	if (n <= first) {
		memcpy(dst, r->data + off, n);
	} else {
		memcpy(dst, r->data + off, first);
		memcpy((uint8_t *)dst + first, r->data, n - first);
	}
}

static uint8_t *map_page(vmbus_ring_page_fn page, void *ctx, uint64_t pfn)
{
	return pfn < (1ull << 40) ? page(ctx, pfn) : NULL;
}

/* The host view of `n` pages that must follow each other, or NULL. */
static uint8_t *map_run(vmbus_ring_page_fn page, void *ctx, const uint64_t *pfns, uint32_t n)
{
	uint8_t *first = map_page(page, ctx, pfns[0]);
	for (uint32_t i = 1; first && i < n; i++)
		if (map_page(page, ctx, pfns[i]) != first + (uint64_t)i * VMBUS_RING_PAGE_SIZE)
			return NULL;
	return first;
}

int vmbus_ring_map_channel(struct vmbus_ring *in, struct vmbus_ring *out, const uint64_t *pfns,
			   uint32_t count, uint32_t downstream, vmbus_ring_page_fn page, void *ctx)
{
	if (!in || !out || !pfns || !page || downstream < 2 || count < downstream ||
	    count - downstream < 2)
		return -EINVAL;
	uint8_t *in_ctl = map_page(page, ctx, pfns[0]);
	uint8_t *in_data = map_run(page, ctx, pfns + 1, downstream - 1);
	uint8_t *out_ctl = map_page(page, ctx, pfns[downstream]);
	uint8_t *out_data = map_run(page, ctx, pfns + downstream + 1, count - downstream - 1);
	if (!in_ctl || !in_data || !out_ctl || !out_data)
		return -EINVAL;
	int rc = vmbus_ring_init(in, VMBUS_RING_CONSUMER, in_ctl, in_data,
				 (size_t)(downstream - 1) * VMBUS_RING_PAGE_SIZE);
	if (rc == 0)
		rc = vmbus_ring_init(out, VMBUS_RING_PRODUCER, out_ctl, out_data,
				     (size_t)(count - downstream - 1) * VMBUS_RING_PAGE_SIZE);
	return rc;
}

int vmbus_ring_init(struct vmbus_ring *r, enum vmbus_ring_role role, void *control, void *data,
		    size_t data_size)
{
	if (r == NULL || control == NULL || data == NULL)
		return -EINVAL;
	if (((uintptr_t)control | (uintptr_t)data) & (VMBUS_RING_ALIGN - 1))
		return -EINVAL;
	if (data_size < VMBUS_RING_PAGE_SIZE || data_size % VMBUS_RING_PAGE_SIZE != 0 ||
	    data_size > VMBUS_RING_MAX_DATA_SIZE)
		return -EINVAL;
	if (role != VMBUS_RING_PRODUCER && role != VMBUS_RING_CONSUMER)
		return -EINVAL;

	memset(r, 0, sizeof(*r));
	r->ctl = control;
	r->data = data;
	r->size = (uint32_t)data_size;
	r->role = role;

	uint32_t own = load_relaxed(role == VMBUS_RING_PRODUCER ? &r->ctl->write_index
								  : &r->ctl->read_index);
	if (!index_ok(r, own))
		return ring_break(r, role == VMBUS_RING_PRODUCER ? "init: write_index out of range or unaligned"
								 : "init: read_index out of range or unaligned");
	r->pos = own;
	r->committed = own;
	if (role == VMBUS_RING_PRODUCER) {
		/* Unknown read_index: a cache 8 bytes ahead of us reads as "no free space", which
		 * makes the first send load the real one. */
		r->peer_cache = ring_add(r, own, VMBUS_RING_ALIGN);
		__atomic_fetch_or(&r->ctl->feature_bits, VMBUS_RING_FEAT_PENDING_SEND_SZ, __ATOMIC_RELAXED);
	} else {
		r->peer_cache = own; /* "nothing available": the first peek loads write_index */
	}
	return 0;
}

bool vmbus_ring_is_broken(const struct vmbus_ring *r)
{
	return r->broken;
}

const char *vmbus_ring_broken_reason(const struct vmbus_ring *r)
{
	return r->broken ? r->broken_reason : NULL;
}

size_t vmbus_ring_packet_size(size_t ext_len, size_t payload_len)
{
	size_t body = ext_len + payload_len;
	if (body < ext_len || body > SIZE_MAX - DESC_SIZE - TRAILER_SIZE - VMBUS_RING_ALIGN)
		return SIZE_MAX;
	return DESC_SIZE + ((body + VMBUS_RING_ALIGN - 1) & ~(size_t)(VMBUS_RING_ALIGN - 1)) + TRAILER_SIZE;
}

uint32_t vmbus_ring_max_packet_size(const struct vmbus_ring *r)
{
	uint32_t by_ring = r->size - VMBUS_RING_RESERVED_BYTES;
	uint32_t by_desc = VMBUS_PKT_MAX_LEN + TRAILER_SIZE;
	return by_ring < by_desc ? by_ring : by_desc;
}

/* ------------------------------------------------------------------------------------------ */
/* Producer                                                                                   */
/* ------------------------------------------------------------------------------------------ */

/* Range counts of types 7 and 9 must fit the extension: each range is at least 8 bytes. */
static bool ext_ranges_fit(uint32_t range_count, uint32_t ext_len)
{
	return (uint64_t)range_count * 8u <= ext_len - EXT_HDR_SIZE;
}

/* Checks the caller's packet; on success *len is descriptor + ext + payload (unpadded). */
static int check_out(const struct vmbus_ring *r, const struct vmbus_ring_out *pkt, uint32_t *len)
{
	if (!vmbus_pkt_type_modern(pkt->type) || (pkt->flags & ~VMBUS_PKT_FLAGS_VALID) != 0)
		return -EINVAL;
	if (pkt->ext_len % VMBUS_RING_ALIGN != 0 || (pkt->ext_len != 0 && pkt->ext == NULL))
		return -EINVAL;
	if (pkt->piece_count != 0 && pkt->pieces == NULL)
		return -EINVAL;
	if (pkt->type == VMBUS_PKT_DATA_GPA_DIRECT || pkt->type == VMBUS_PKT_DATA_XFER_PAGES) {
		uint32_t count;
		if (pkt->ext_len < EXT_HDR_SIZE)
			return -EINVAL;
		/* range_count is at offset 4 in both headers */
		memcpy(&count, (const uint8_t *)pkt->ext + 4, sizeof(count));
		if (!ext_ranges_fit(count, pkt->ext_len))
			return -EINVAL;
	}
	if (pkt->ext_len > VMBUS_PKT_MAX_LEN)
		return -EMSGSIZE;
	size_t total = DESC_SIZE + pkt->ext_len;
	for (uint32_t i = 0; i < pkt->piece_count; i++) {
		if (pkt->pieces[i].len != 0 && pkt->pieces[i].base == NULL)
			return -EINVAL;
		if (pkt->pieces[i].len > VMBUS_PKT_MAX_LEN)
			return -EMSGSIZE;
		total += pkt->pieces[i].len; /* both terms <= VMBUS_PKT_MAX_LEN: no overflow */
		if (total > VMBUS_PKT_MAX_LEN)
			return -EMSGSIZE;
	}
	if (((total + VMBUS_RING_ALIGN - 1) & ~(size_t)(VMBUS_RING_ALIGN - 1)) + TRAILER_SIZE >
	    vmbus_ring_max_packet_size(r))
		return -EMSGSIZE;
	*len = (uint32_t)total;
	return 0;
}

/* Load read_index once, validate, cache. */
static int producer_refresh(struct vmbus_ring *r)
{
	uint32_t rd = load_acquire(&r->ctl->read_index);
	if (!index_ok(r, rd))
		return ring_break(r, "read_index out of range or unaligned");
	r->peer_cache = rd;
	return 0;
}

int vmbus_ring_send(struct vmbus_ring *r, const struct vmbus_ring_out *pkt, unsigned opts)
{
	if (r->broken)
		return -EPROTO;
	if (r->role != VMBUS_RING_PRODUCER || pkt == NULL ||
	    (opts & ~(VMBUS_RING_SEND_SET_PENDING | VMBUS_RING_SEND_NO_PUBLISH)) != 0)
		return -EINVAL;
	uint32_t len;
	int rc = check_out(r, pkt, &len);
	if (rc < 0)
		return rc;
	uint32_t padded = (len + VMBUS_RING_ALIGN - 1) & ~(VMBUS_RING_ALIGN - 1);
	uint32_t total = padded + TRAILER_SIZE;

	if (ring_free(r, r->pos, r->peer_cache) < total) {
		if ((rc = producer_refresh(r)) < 0)
			return rc;
		if (ring_free(r, r->pos, r->peer_cache) < total) {
			if (!(opts & VMBUS_RING_SEND_SET_PENDING))
				return -EAGAIN;
			if (r->unpublished) {
				/*
				 * Publish the batch first: the consumer judges pending_send_sz
				 * against the published write_index and would count our unpublished
				 * bytes as free space - "it had room already", no signal, both sides
				 * asleep. The signal this publish decides goes to the caller's next
				 * vmbus_ring_publish().
				 */
				rc = vmbus_ring_publish(r);
				if (rc < 0)
					return rc;
				if (rc == VMBUS_RING_SIGNAL)
					r->signal_owed = true;
			}
			store_relaxed(&r->ctl->pending_send_sz, total);
			__atomic_fetch_or(&r->ctl->feature_bits, VMBUS_RING_FEAT_PENDING_SEND_SZ,
					  __ATOMIC_RELAXED);
			r->pending_set = true;
			/* Pairs with the consumer's fence between publishing read_index and reading
			 * pending_send_sz: either it sees our size or we see its new index. */
			full_fence();
			if ((rc = producer_refresh(r)) < 0)
				return rc;
			if (ring_free(r, r->pos, r->peer_cache) < total)
				return -EAGAIN;
		}
	}

	const uint32_t start = r->pos;
	struct vmbus_pkt_desc d = {
		.type = pkt->type,
		.offset8 = (uint16_t)((DESC_SIZE + pkt->ext_len) / 8u),
		.len8 = (uint16_t)(padded / 8u),
		.flags = pkt->flags,
		.transaction_id = pkt->transaction_id,
	};
	uint32_t off = ring_put(r, start, &d, DESC_SIZE);
	if (pkt->ext_len)
		off = ring_put(r, off, pkt->ext, pkt->ext_len);
	for (uint32_t i = 0; i < pkt->piece_count; i++)
		if (pkt->pieces[i].len)
			off = ring_put(r, off, pkt->pieces[i].base, (uint32_t)pkt->pieces[i].len);
	if (padded != len)
		off = ring_zero(r, off, padded - len);
	uint64_t trailer = vmbus_pkt_trailer_value(start);
	r->pos = ring_put(r, off, &trailer, TRAILER_SIZE);
	r->unpublished = true;

	if (r->pending_set) {
		store_relaxed(&r->ctl->pending_send_sz, 0);
		r->pending_set = false;
	}
	if (opts & VMBUS_RING_SEND_NO_PUBLISH)
		return 0;
	return vmbus_ring_publish(r);
}

int vmbus_ring_publish(struct vmbus_ring *r)
{
	if (r->broken)
		return -EPROTO;
	if (r->role != VMBUS_RING_PRODUCER)
		return -EINVAL;
	const uint32_t old = r->committed, end = r->pos;
	const bool owed = r->signal_owed;
	r->signal_owed = false;
	if (!r->unpublished)
		return owed ? VMBUS_RING_SIGNAL : 0;
	r->unpublished = false;
	r->committed = end;
	store_release(&r->ctl->write_index, end);
	/* Pairs with the consumer's fence between clearing interrupt_mask and re-reading
	 * write_index: either it sees our index or we see its mask. */
	full_fence();
	/* The packets are out: this load only decides the signal. A bad value compares unequal
	 * (no signal) and is not cached, so the next load for use finds it and breaks the view. */
	uint32_t mask = load_relaxed(&r->ctl->interrupt_mask);
	uint32_t rd = load_acquire(&r->ctl->read_index);
	if (index_ok(r, rd))
		r->peer_cache = rd;
	return (owed || (mask == 0 && rd == old)) ? VMBUS_RING_SIGNAL : 0;
}

int vmbus_ring_set_pending_send(struct vmbus_ring *r, uint32_t bytes)
{
	if (r->broken)
		return -EPROTO;
	if (r->role != VMBUS_RING_PRODUCER || bytes > vmbus_ring_max_packet_size(r))
		return -EINVAL;
	bytes = (bytes + VMBUS_RING_ALIGN - 1) & ~(VMBUS_RING_ALIGN - 1);
	store_relaxed(&r->ctl->pending_send_sz, bytes);
	__atomic_fetch_or(&r->ctl->feature_bits, VMBUS_RING_FEAT_PENDING_SEND_SZ, __ATOMIC_RELAXED);
	r->pending_set = bytes != 0;
	full_fence(); /* a following vmbus_ring_write_space() is the re-check */
	return 0;
}

int32_t vmbus_ring_write_space(struct vmbus_ring *r)
{
	if (r->broken)
		return -EPROTO;
	if (r->role != VMBUS_RING_PRODUCER)
		return -EINVAL;
	int rc = producer_refresh(r);
	if (rc < 0)
		return rc;
	return (int32_t)ring_free(r, r->pos, r->peer_cache);
}

/* ------------------------------------------------------------------------------------------ */
/* Consumer                                                                                   */
/* ------------------------------------------------------------------------------------------ */

/* Load write_index once (acquire), validate, cache. */
static int consumer_refresh(struct vmbus_ring *r)
{
	uint32_t wr = load_acquire(&r->ctl->write_index);
	if (!index_ok(r, wr))
		return ring_break(r, "write_index out of range or unaligned");
	r->peer_cache = wr;
	return 0;
}

int vmbus_ring_peek(struct vmbus_ring *r, struct vmbus_ring_packet *pkt)
{
	if (r->broken)
		return -EPROTO;
	if (r->role != VMBUS_RING_CONSUMER || pkt == NULL)
		return -EINVAL;
	r->peeked = 0;
	uint32_t avail = ring_dist(r, r->pos, r->peer_cache);
	if (avail == 0) {
		int rc = consumer_refresh(r);
		if (rc < 0)
			return rc;
		avail = ring_dist(r, r->pos, r->peer_cache);
		if (avail == 0)
			return -EAGAIN;
	}
	if (avail < MIN_PACKET)
		return ring_break(r, "fewer bytes available than the smallest packet");

	const uint32_t start = r->pos;
	struct vmbus_pkt_desc d;
	ring_get(r, start, &d, DESC_SIZE);
	if (!vmbus_pkt_type_modern(d.type))
		return ring_break(r, "descriptor: unknown packet type");
	if ((d.flags & ~VMBUS_PKT_FLAGS_VALID) != 0)
		return ring_break(r, "descriptor: reserved flag bits set");
	if (d.offset8 < VMBUS_PKT_DESC_SIZE8 || d.offset8 > d.len8)
		return ring_break(r, "descriptor: offset8 outside [2, len8]");
	const uint32_t len = (uint32_t)d.len8 * 8u;
	if (len > avail - TRAILER_SIZE)
		return ring_break(r, "descriptor: packet longer than the bytes available");
	if (d.type == VMBUS_PKT_DATA_GPA_DIRECT || d.type == VMBUS_PKT_DATA_XFER_PAGES) {
		uint32_t ext_len = (uint32_t)d.offset8 * 8u - DESC_SIZE;
		uint8_t hdr[EXT_HDR_SIZE];
		uint32_t count;
		if (ext_len < EXT_HDR_SIZE)
			return ring_break(r, "descriptor: no room for the range header");
		ring_get(r, ring_add(r, start, DESC_SIZE), hdr, EXT_HDR_SIZE);
		memcpy(&count, hdr + 4, sizeof(count));
		if (!ext_ranges_fit(count, ext_len))
			return ring_break(r, "descriptor: range_count larger than the header room");
	}
	uint64_t trailer;
	ring_get(r, ring_add(r, start, len), &trailer, TRAILER_SIZE);
	if (trailer != vmbus_pkt_trailer_value(start))
		return ring_break(r, "trailer does not match the packet offset");

	pkt->desc = d;
	pkt->offset = start;
	pkt->len = len;
	pkt->data_offset = (uint32_t)d.offset8 * 8u;
	uint32_t first = r->size - start;
	pkt->seg[0] = r->data + start;
	if (len <= first) {
		pkt->seg_len[0] = len;
		pkt->seg[1] = NULL;
		pkt->seg_len[1] = 0;
	} else {
		pkt->seg_len[0] = first;
		pkt->seg[1] = r->data;
		pkt->seg_len[1] = len - first;
	}
	r->peeked = len + TRAILER_SIZE;
	return 0;
}

static bool packet_ok(const struct vmbus_ring *r, const struct vmbus_ring_packet *pkt)
{
	return pkt != NULL && pkt->offset < r->size && pkt->len <= r->size - TRAILER_SIZE &&
	       pkt->data_offset <= pkt->len;
}

int vmbus_ring_packet_copy(const struct vmbus_ring *r, const struct vmbus_ring_packet *pkt,
			   uint32_t off, void *buf, size_t len)
{
	if (!packet_ok(r, pkt) || off > pkt->len || len > pkt->len - off || (len != 0 && buf == NULL))
		return -EINVAL;
	if (len)
		ring_get(r, ring_add(r, pkt->offset, off), buf, (uint32_t)len);
	return 0;
}

int32_t vmbus_ring_packet_payload(const struct vmbus_ring *r, const struct vmbus_ring_packet *pkt,
				  void *buf, size_t cap)
{
	if (!packet_ok(r, pkt))
		return -EINVAL;
	uint32_t n = pkt->len - pkt->data_offset;
	if (n > cap)
		return -ENOBUFS;
	int rc = vmbus_ring_packet_copy(r, pkt, pkt->data_offset, buf, n);
	return rc < 0 ? rc : (int32_t)n;
}

int vmbus_ring_advance(struct vmbus_ring *r)
{
	if (r->broken)
		return -EPROTO;
	if (r->role != VMBUS_RING_CONSUMER || r->peeked == 0)
		return -EINVAL;
	/* peeked <= bytes between pos and peer_cache, both as validated by vmbus_ring_peek() */
	r->pos = ring_add(r, r->pos, r->peeked);
	r->peeked = 0;
	return 0;
}

int vmbus_ring_commit(struct vmbus_ring *r)
{
	if (r->broken)
		return -EPROTO;
	if (r->role != VMBUS_RING_CONSUMER)
		return -EINVAL;
	const uint32_t pos = r->pos;
	if (pos == r->committed)
		return 0;
	const uint32_t released = ring_dist(r, r->committed, pos);
	r->committed = pos;
	store_release(&r->ctl->read_index, pos);
	/* Pairs with the producer's fence between writing pending_send_sz and re-reading
	 * read_index. */
	full_fence();
	uint32_t pending = load_relaxed(&r->ctl->pending_send_sz) & ~(VMBUS_RING_ALIGN - 1);
	uint32_t feat = load_relaxed(&r->ctl->feature_bits);
	if (pending == 0 || !(feat & VMBUS_RING_FEAT_PENDING_SEND_SZ))
		return 0;
	/* read_index is out: this load only decides the signal. A bad value means no signal; the
	 * next load for use (peek, unmask) finds it and breaks the view. */
	uint32_t wr = load_relaxed(&r->ctl->write_index);
	if (!index_ok(r, wr))
		return 0;
	uint32_t free_now = ring_free(r, wr, pos);
	/* free before our publish = free_now - released; if free_now < released the producer has
	 * already written into what we released, so it is running and needs no signal. */
	if (free_now < pending || free_now < released || free_now - released >= pending)
		return 0;
	return VMBUS_RING_SIGNAL;
}

int vmbus_ring_finish(struct vmbus_ring *r)
{
	int rc = vmbus_ring_commit(r);
	if (rc < 0)
		return rc;
	/* commit fenced after publishing read_index (when it moved; else nothing changed for
	   the producer since the last finish, whose look covers it): this load comes after. */
	int32_t n = vmbus_ring_bytes_to_read(r);
	if (n < 0)
		return n;
	return rc | (n > 0 ? VMBUS_RING_MORE : 0);
}

int vmbus_ring_consume(struct vmbus_ring *r)
{
	int rc = vmbus_ring_advance(r);
	return rc < 0 ? rc : vmbus_ring_commit(r);
}

int32_t vmbus_ring_bytes_to_read(struct vmbus_ring *r)
{
	if (r->broken)
		return -EPROTO;
	if (r->role != VMBUS_RING_CONSUMER)
		return -EINVAL;
	int rc = consumer_refresh(r);
	if (rc < 0)
		return rc;
	return (int32_t)ring_dist(r, r->pos, r->peer_cache);
}

int vmbus_ring_mask_interrupts(struct vmbus_ring *r)
{
	if (r->broken)
		return -EPROTO;
	if (r->role != VMBUS_RING_CONSUMER)
		return -EINVAL;
	store_relaxed(&r->ctl->interrupt_mask, 1);
	return 0;
}

int vmbus_ring_unmask_interrupts(struct vmbus_ring *r)
{
	if (r->broken)
		return -EPROTO;
	if (r->role != VMBUS_RING_CONSUMER)
		return -EINVAL;
	store_relaxed(&r->ctl->interrupt_mask, 0);
	/* Pairs with the producer's fence between publishing write_index and reading
	 * interrupt_mask: either it signals us or we see its packet here. */
	full_fence();
	int rc = consumer_refresh(r);
	if (rc < 0)
		return rc;
	return r->peer_cache != r->pos ? 1 : 0;
}
