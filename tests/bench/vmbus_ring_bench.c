/*
 * vmbus_ring throughput: a producer thread and a consumer thread on one ring in ordinary memory
 * (1 MiB data area, each thread pinned to its own CPU when there are two), polling (the
 * consumer keeps interrupt_mask set; the signalling decisions are still computed). The
 * producer sends in-band packets of 64 bytes or 4 KiB; the consumer peeks, validates, copies the
 * payload out (a consumer of a hostile ring must copy before use) and consumes. Two ways each:
 *   per packet  every send publishes write_index and every consume publishes read_index (a
 *               seq_cst fence and a trip of the shared control cache line per packet, per side)
 *   batched     the producer publishes every 32 packets (VMBUS_RING_SEND_NO_PUBLISH +
 *               vmbus_ring_publish), the consumer commits every 32; both also when they stall
 *
 * Peers measured in the same run, on the same buffers:
 *   memcpy      one thread copies the same size from the producer's source buffer into the
 *               ring's data area (walking it like the producer): the reference
 *   handoff     the same two CPUs moving the same sizes through the same data area with plain
 *               memcpy in and out and nothing else (two counters on their own cache lines, no
 *               descriptors, no validation, no fences, no signalling): what crossing cores costs
 *               here
 *
 * Each figure is the best of 3 short runs (other work on the machine only ever slows a run).
 * Prints packets/s for 64 bytes, GB/s of payload for 4 KiB, and the ratios. The goal:
 * 4 KiB through the ring at least half of memcpy. Runs about 8 s. Exit status 1 only if the ring
 * misbehaves (wrong data or an error code), not for a missed goal.
 */
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "devices/vmbus/vmbus_ring.h"

#define RING_SIZE (1u << 20)
#define RING_SECONDS 0.4
#define HANDOFF_SECONDS 0.3
#define MEMCPY_SECONDS 0.15
#define TRIES 3
#define BATCH 32

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void nap(double seconds)
{
	struct timespec ts = { (time_t)seconds, (long)((seconds - (double)(time_t)seconds) * 1e9) };
	nanosleep(&ts, NULL);
}

static inline void cpu_relax(void)
{
	__asm__ volatile("pause" ::: "memory");
}

/* Spin politely; on a single CPU yield so the other side can run. */
static inline void backoff(unsigned *spins)
{
	if (++*spins > 4096)
		sched_yield();
	else
		cpu_relax();
}

static struct {
	struct vmbus_ring_control *ctl;
	uint8_t *data;
	uint8_t *src, *dst;
	int cpu_p, cpu_c;
} g;

struct run {
	struct vmbus_ring p, c;
	size_t payload;
	unsigned batch;
	volatile int stop;
	volatile int done; /* producer finished; `sent` is final */
	uint64_t sent, received;
	int error;
};

static void pin(int cpu)
{
	if (cpu < 0)
		return;
	cpu_set_t set;
	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	pthread_setaffinity_np(pthread_self(), sizeof(set), &set);
}

static void *producer(void *arg)
{
	struct run *r = arg;
	pin(g.cpu_p);
	struct vmbus_ring_piece pc = { g.src, r->payload };
	struct vmbus_ring_out o = { .type = VMBUS_PKT_DATA_INBAND, .pieces = &pc, .piece_count = 1 };
	const unsigned opts = r->batch > 1 ? VMBUS_RING_SEND_NO_PUBLISH : 0;
	uint64_t n = 0;
	unsigned spins = 0, unpublished = 0;
	while (!r->stop) {
		o.transaction_id = n;
		int rc = vmbus_ring_send(&r->p, &o, opts);
		if (rc >= 0) {
			n++;
			spins = 0;
			if (opts && ++unpublished == r->batch) {
				rc = vmbus_ring_publish(&r->p);
				unpublished = 0;
			}
		} else if (rc == -EAGAIN) {
			if (unpublished) {
				rc = vmbus_ring_publish(&r->p);
				unpublished = 0;
			}
			backoff(&spins);
		}
		if (rc < 0 && rc != -EAGAIN) {
			r->error = 1;
			break;
		}
	}
	if (vmbus_ring_publish(&r->p) < 0)
		r->error = 1;
	r->sent = n;
	__atomic_store_n(&r->done, 1, __ATOMIC_RELEASE);
	return NULL;
}

static void *consumer(void *arg)
{
	struct run *r = arg;
	pin(g.cpu_c);
	uint64_t n = 0;
	unsigned spins = 0, uncommitted = 0;
	const int32_t expect = (int32_t)((r->payload + 7) & ~(size_t)7);
	for (;;) {
		struct vmbus_ring_packet pk;
		int rc = vmbus_ring_peek(&r->c, &pk);
		if (rc == 0) {
			int32_t got = vmbus_ring_packet_payload(&r->c, &pk, g.dst, r->payload + 8);
			if (got != expect || pk.desc.transaction_id != n || g.dst[0] != g.src[0] ||
			    g.dst[r->payload - 1] != g.src[r->payload - 1] || vmbus_ring_advance(&r->c) != 0) {
				r->error = 2;
				break;
			}
			n++;
			spins = 0;
			if (++uncommitted >= r->batch) {
				if (vmbus_ring_commit(&r->c) < 0)
					r->error = 3;
				uncommitted = 0;
			}
			continue;
		}
		if (rc != -EAGAIN) {
			r->error = 3;
			break;
		}
		if (uncommitted) {
			if (vmbus_ring_commit(&r->c) < 0)
				r->error = 3;
			uncommitted = 0;
		}
		if (__atomic_load_n(&r->done, __ATOMIC_ACQUIRE) && n == r->sent)
			break;
		if (r->error)
			break;
		backoff(&spins);
	}
	r->received = n;
	return NULL;
}

/* Packets per second through the ring, best of TRIES; < 0 on a ring error. */
static double ring_rate(size_t payload, unsigned batch)
{
	double best = 0;
	for (int t = 0; t < TRIES; t++) {
		static struct run r;
		memset(&r, 0, sizeof(r));
		memset(g.ctl, 0, sizeof(*g.ctl));
		if (vmbus_ring_init(&r.p, VMBUS_RING_PRODUCER, g.ctl, g.data, RING_SIZE) != 0 ||
		    vmbus_ring_init(&r.c, VMBUS_RING_CONSUMER, g.ctl, g.data, RING_SIZE) != 0)
			return -1;
		vmbus_ring_mask_interrupts(&r.c); /* polling consumer */
		r.payload = payload;
		r.batch = batch;
		pthread_t tp, tc;
		double t0 = now();
		pthread_create(&tc, NULL, consumer, &r);
		pthread_create(&tp, NULL, producer, &r);
		nap(RING_SECONDS);
		r.stop = 1;
		pthread_join(tp, NULL);
		pthread_join(tc, NULL);
		double dt = now() - t0;
		if (r.error || r.received != r.sent) {
			fprintf(stderr, "vmbus_ring_bench: ring error %d (sent %llu, received %llu)\n", r.error,
				(unsigned long long)r.sent, (unsigned long long)r.received);
			return -1;
		}
		if ((double)r.received / dt > best)
			best = (double)r.received / dt;
	}
	return best;
}

/* Copies per second of `payload` bytes from src into the ring data area, best of TRIES. */
static double memcpy_rate(size_t payload)
{
	const size_t step = vmbus_ring_packet_size(0, payload);
	double best = 0;
	for (int t = 0; t < TRIES; t++) {
		size_t off = 0;
		uint64_t n = 0;
		double t0 = now(), dt;
		do {
			for (int i = 0; i < 256; i++) {
				memcpy(g.data + off, g.src, payload);
				__asm__ volatile("" : : "r"(g.data) : "memory");
				off += step;
				if (off + payload > RING_SIZE)
					off = 0;
			}
			n += 256;
			dt = now() - t0;
		} while (dt < MEMCPY_SECONDS);
		if ((double)n / dt > best)
			best = (double)n / dt;
	}
	return best;
}

/* The handoff peer: fixed slots in the data area, a head and a tail counter on their own cache
 * lines, each side caching the other's counter. */
static struct {
	_Alignas(64) uint64_t head;
	_Alignas(64) uint64_t tail;
	_Alignas(64) size_t size;
	uint64_t slots;
	volatile int stop;
	uint64_t moved;
} h;

static void *handoff_producer(void *arg)
{
	(void)arg;
	pin(g.cpu_p);
	uint64_t head = 0, tail = 0;
	while (!h.stop) {
		if (head - tail >= h.slots) {
			tail = __atomic_load_n(&h.tail, __ATOMIC_ACQUIRE);
			if (head - tail >= h.slots) {
				cpu_relax();
				continue;
			}
		}
		memcpy(g.data + (head % h.slots) * h.size, g.src, h.size);
		__atomic_store_n(&h.head, ++head, __ATOMIC_RELEASE);
	}
	return NULL;
}

static void *handoff_consumer(void *arg)
{
	(void)arg;
	pin(g.cpu_c);
	uint64_t head = 0, tail = 0;
	while (!h.stop) {
		if (tail == head) {
			head = __atomic_load_n(&h.head, __ATOMIC_ACQUIRE);
			if (tail == head) {
				cpu_relax();
				continue;
			}
		}
		memcpy(g.dst, g.data + (tail % h.slots) * h.size, h.size);
		__atomic_store_n(&h.tail, ++tail, __ATOMIC_RELEASE);
	}
	h.moved = tail;
	return NULL;
}

static double handoff_rate(size_t payload)
{
	double best = 0;
	for (int t = 0; t < TRIES; t++) {
		h.head = h.tail = 0;
		h.stop = 0;
		h.size = payload;
		h.slots = RING_SIZE / payload;
		pthread_t tp, tc;
		double t0 = now();
		pthread_create(&tc, NULL, handoff_consumer, NULL);
		pthread_create(&tp, NULL, handoff_producer, NULL);
		nap(HANDOFF_SECONDS);
		h.stop = 1;
		pthread_join(tp, NULL);
		pthread_join(tc, NULL);
		double rate = (double)h.moved / (now() - t0);
		if (rate > best)
			best = rate;
	}
	return best;
}

int main(void)
{
	g.ctl = aligned_alloc(4096, sizeof(*g.ctl));
	g.data = aligned_alloc(4096, RING_SIZE);
	g.src = aligned_alloc(64, 8192);
	g.dst = aligned_alloc(64, 8192 + 64);
	if (!g.ctl || !g.data || !g.src || !g.dst)
		return 1;
	memset(g.data, 0, RING_SIZE);
	for (int i = 0; i < 8192; i++)
		g.src[i] = (uint8_t)(i * 7 + 1);

	cpu_set_t set;
	int ncpu = 0;
	g.cpu_p = g.cpu_c = -1;
	if (sched_getaffinity(0, sizeof(set), &set) == 0 && (ncpu = CPU_COUNT(&set)) >= 2) {
		for (int i = 0, k = 0; i < CPU_SETSIZE && k < 2; i++)
			if (CPU_ISSET(i, &set))
				*(k++ == 0 ? &g.cpu_p : &g.cpu_c) = i;
	}
	printf("vmbus_ring_bench: %u KiB ring, producer on CPU %d, consumer on CPU %d (%d CPUs), polling, "
	       "best of %d runs\n", RING_SIZE / 1024, g.cpu_p, g.cpu_c, ncpu, TRIES);

	double r64 = ring_rate(64, 1), r64b = ring_rate(64, BATCH);
	double r4k = ring_rate(4096, 1), r4kb = ring_rate(4096, BATCH);
	if (r64 < 0 || r64b < 0 || r4k < 0 || r4kb < 0)
		return 1;
	double m64 = memcpy_rate(64), m4k = memcpy_rate(4096);
	double h64 = handoff_rate(64), h4k = handoff_rate(4096);
	const double kb = 4096.0 / 1e9; /* GB per 4 KiB packet */

	printf("64 B packets/s (M):  ring per packet %.2f, ring batched %.2f | memcpy %.1f, handoff %.1f\n",
	       r64 / 1e6, r64b / 1e6, m64 / 1e6, h64 / 1e6);
	printf("  ratios: per packet / memcpy %.3f, batched / memcpy %.3f; per packet / handoff %.2f, "
	       "batched / handoff %.2f\n", r64 / m64, r64b / m64, r64 / h64, r64b / h64);
	printf("4 KiB GB/s:          ring per packet %.2f, ring batched %.2f | memcpy %.2f, handoff %.2f\n",
	       r4k * kb, r4kb * kb, m4k * kb, h4k * kb);
	printf("  ratios: per packet / memcpy %.2f, batched / memcpy %.2f; per packet / handoff %.2f, "
	       "batched / handoff %.2f\n", r4k / m4k, r4kb / m4k, r4k / h4k, r4kb / h4k);
	double best = r4k > r4kb ? r4k : r4kb;
	printf("goal (4 KiB ring >= 0.5 x memcpy): %s (%.2f; handoff, the cross-CPU copy alone: %.2f)\n",
	       best >= 0.5 * m4k ? "met" : "NOT met", best / m4k, h4k / m4k);
	free(g.ctl);
	free(g.data);
	free(g.src);
	free(g.dst);
	return 0;
}
