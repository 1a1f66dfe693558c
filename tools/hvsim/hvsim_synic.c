/*
 * VTL2's SynIC SINT 7 as /dev/mshv_sint shows it (hyperv-abi-facts 1.9): a message stream that
 * starts paused, reads that return EOF when paused and empty, a poll fd, post message / signal
 * event towards the host and one eventfd per event flag. The "host" side queues messages and
 * observes what VTL2 posts. Locking: hvsim_priv.h (sint.lock for the stream, sim->lock for the
 * host queue).
 */
#include "tools/hvsim/hvsim_synic.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "tools/hvsim/hvsim_priv.h"

#define SINT_FLAGS 2048u

/* sint.lock held: make the poll eventfd readable iff a message is queued or paused. */
static void update_poll(struct hvsim_sint *s)
{
	uint64_t v;
	bool want = s->count > 0 || s->paused;
	/* Drain, then re-arm: the eventfd counter is 0 or 1. */
	while (read(s->poll_efd, &v, 8) == 8)
		;
	if (want) {
		v = 1;
		if (write(s->poll_efd, &v, 8) != 8)
			return; /* counter overflow cannot happen with 0/1 */
	}
}

/* sint.lock held: deliver pending flags to their eventfds (stream running). */
static void deliver_flags(struct hvsim_sint *s, uint8_t *pending)
{
	if (s->paused)
		return;
	for (unsigned f = 0; f < SINT_FLAGS; f++) {
		if (!(pending[f / 8] & (1u << (f % 8))))
			continue;
		pending[f / 8] &= (uint8_t)~(1u << (f % 8));
		if (s->flag_fd[f] >= 0) {
			uint64_t one = 1;
			if (write(s->flag_fd[f], &one, 8) != 8)
				continue; /* eventfd saturated: already signalled */
		}
	}
}

int hvsim_synic_init(struct hvsim *sim)
{
	struct hvsim_sint *s = &sim->sint;
	pthread_mutex_init(&s->lock, NULL);
	pthread_cond_init(&s->cond, NULL);
	s->paused = true;  /* SINT 7 starts masked */
	for (unsigned i = 0; i < SINT_FLAGS; i++)
		s->flag_fd[i] = -1;
	memset(s->pending_flags, 0, sizeof(s->pending_flags));
	s->poll_efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (s->poll_efd < 0)
		return -errno;
	update_poll(s);
	return 0;
}

void hvsim_synic_fini(struct hvsim *sim)
{
	struct hvsim_sint *s = &sim->sint;
	if (s->poll_efd > 0)
		close(s->poll_efd);
	s->poll_efd = -1;
	for (unsigned i = 0; i < SINT_FLAGS; i++)
		if (s->flag_fd[i] >= 0)
			close(s->flag_fd[i]);
	pthread_mutex_destroy(&s->lock);
	pthread_cond_destroy(&s->cond);
}

int hvsim_sint_pause(struct hvsim *sim, bool pause)
{
	struct hvsim_sint *s = &sim->sint;
	pthread_mutex_lock(&s->lock);
	s->paused = pause;
	update_poll(s);
	deliver_flags(s, s->pending_flags);
	pthread_cond_broadcast(&s->cond);  /* pausing wakes blocked readers (EOF) */
	pthread_mutex_unlock(&s->lock);
	return 0;
}

int hvsim_sint_read(struct hvsim *sim, void *msg256, bool block)
{
	if (!msg256)
		return -EINVAL;
	struct hvsim_sint *s = &sim->sint;
	pthread_mutex_lock(&s->lock);
	while (s->count == 0) {
		if (s->paused) {
			pthread_mutex_unlock(&s->lock);
			return 0;
		}
		if (!block) {
			pthread_mutex_unlock(&s->lock);
			return -EAGAIN;
		}
		pthread_cond_wait(&s->cond, &s->lock);
	}
	memcpy(msg256, s->queue[s->head], 256);
	s->head = (s->head + 1) % HVSIM_SINT_QUEUE_LEN;
	s->count--;
	update_poll(s);
	pthread_mutex_unlock(&s->lock);
	return 1;
}

int hvsim_sint_poll_fd(const struct hvsim *sim)
{
	return sim->sint.poll_efd;
}

int hvsim_sint_set_eventfd(struct hvsim *sim, uint32_t flag, int fd)
{
	if (flag >= SINT_FLAGS || fd < -1)
		return -EINVAL;
	int nfd = -1;
	if (fd >= 0) {
		nfd = fcntl(fd, F_DUPFD_CLOEXEC, 0);
		if (nfd < 0)
			return -errno;
	}
	struct hvsim_sint *s = &sim->sint;
	pthread_mutex_lock(&s->lock);
	if (s->flag_fd[flag] >= 0)
		close(s->flag_fd[flag]);
	s->flag_fd[flag] = nfd;
	pthread_mutex_unlock(&s->lock);
	return 0;
}

/* sim->lock held: append to the host queue. */
static int host_queue(struct hvsim *sim, const struct hvsim_host_msg *m)
{
	if (sim->host_count == HVSIM_SINT_QUEUE_LEN)
		return -EAGAIN;
	sim->host_q[(sim->host_head + sim->host_count) % HVSIM_SINT_QUEUE_LEN] = *m;
	sim->host_count++;
	return 0;
}

int hvsim_sint_post_message(struct hvsim *sim, uint32_t connection_id, uint32_t message_type,
			    const void *payload, size_t size)
{
	if (size > 240 || (size && !payload) || message_type == 0 ||
	    (message_type & 0x80000000u))
		return -EINVAL;
	struct hvsim_host_msg m = { .connection_id = connection_id,
				    .message_type = message_type, .size = (uint32_t)size };
	if (size)
		memcpy(m.payload, payload, size);
	pthread_mutex_lock(&sim->lock);
	int rc;
	if (sim->host_ops.post_message) {
		int (*cb)(void *, const struct hvsim_host_msg *) = sim->host_ops.post_message;
		void *ctx = sim->host_ctx;
		pthread_mutex_unlock(&sim->lock);
		rc = cb(ctx, &m);
		return rc == -EAGAIN ? -EAGAIN : rc ? -EIO : 0;
	}
	rc = host_queue(sim, &m);
	pthread_mutex_unlock(&sim->lock);
	return rc;
}

int hvsim_sint_signal_event(struct hvsim *sim, uint32_t connection_id, uint32_t flag)
{
	if (flag >= SINT_FLAGS)
		return -EINVAL;
	pthread_mutex_lock(&sim->lock);
	if (sim->host_ops.signal_event) {
		void (*cb)(void *, uint32_t, uint32_t) = sim->host_ops.signal_event;
		void *ctx = sim->host_ctx;
		pthread_mutex_unlock(&sim->lock);
		cb(ctx, connection_id, flag);
		return 0;
	}
	struct hvsim_host_msg m = { .connection_id = connection_id, .flag = flag,
				    .is_event = true };
	int rc = host_queue(sim, &m);
	pthread_mutex_unlock(&sim->lock);
	return rc;
}

int hvsim_host_send_message(struct hvsim *sim, uint32_t message_type, uint32_t sender,
			    const void *payload, size_t size)
{
	if (size > 240 || (size && !payload) || message_type == 0)
		return -EINVAL;
	struct hvsim_sint *s = &sim->sint;
	pthread_mutex_lock(&s->lock);
	if (s->count == HVSIM_SINT_QUEUE_LEN) {
		pthread_mutex_unlock(&s->lock);
		return -EAGAIN;
	}
	uint8_t *m = s->queue[(s->head + s->count) % HVSIM_SINT_QUEUE_LEN];
	memset(m, 0, 256);
	memcpy(m, &message_type, 4);
	m[4] = (uint8_t)size;
	uint64_t snd = sender & 0xFFFFFF;
	memcpy(m + 8, &snd, 8);
	if (size)
		memcpy(m + 16, payload, size);
	s->count++;
	update_poll(s);
	pthread_cond_broadcast(&s->cond);
	pthread_mutex_unlock(&s->lock);
	return 0;
}

int hvsim_host_signal_flag(struct hvsim *sim, uint32_t flag)
{
	if (flag >= SINT_FLAGS)
		return -EINVAL;
	struct hvsim_sint *s = &sim->sint;
	pthread_mutex_lock(&s->lock);
	s->pending_flags[flag / 8] |= (uint8_t)(1u << (flag % 8));
	deliver_flags(s, s->pending_flags);
	pthread_mutex_unlock(&s->lock);
	return 0;
}

void hvsim_set_host_ops(struct hvsim *sim, const struct hvsim_host_ops *ops, void *ctx)
{
	pthread_mutex_lock(&sim->lock);
	sim->host_ops = ops ? *ops : (struct hvsim_host_ops){ 0 };
	sim->host_ctx = ctx;
	pthread_mutex_unlock(&sim->lock);
}

void hvsim_set_host_io(struct hvsim *sim, const struct hvsim_host_io_ops *ops, void *ctx)
{
	pthread_mutex_lock(&sim->lock);
	sim->io_ops = ops ? *ops : (struct hvsim_host_io_ops){ 0 };
	sim->io_ctx = ctx;
	pthread_mutex_unlock(&sim->lock);
}

int hvsim_host_take(struct hvsim *sim, struct hvsim_host_msg *msg)
{
	pthread_mutex_lock(&sim->lock);
	if (sim->host_count == 0) {
		pthread_mutex_unlock(&sim->lock);
		return 0;
	}
	*msg = sim->host_q[sim->host_head];
	sim->host_head = (sim->host_head + 1) % HVSIM_SINT_QUEUE_LEN;
	sim->host_count--;
	pthread_mutex_unlock(&sim->lock);
	return 1;
}
