/* vmbus_outbox: ordered outgoing channel messages (vmbus_outbox.h). */
#include "devices/vmbus/vmbus_outbox.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

int vmbus_outbox_init(struct vmbus_outbox *o, unsigned cap)
{
	memset(o, 0, sizeof(*o));
	if (cap == 0)
		return -EINVAL;
	o->slot = calloc(cap, sizeof(*o->slot));
	if (!o->slot)
		return -ENOMEM;
	o->cap = cap;
	return 0;
}

void vmbus_outbox_fini(struct vmbus_outbox *o)
{
	free(o->slot);
	o->slot = NULL;
	o->cap = o->count = 0;
}

bool vmbus_outbox_put(struct vmbus_outbox *o, const void *dest, size_t dest_len, void *msg,
		      size_t len, uint32_t type)
{
	struct vmbus_msg_header *h = msg;
	h->msgtype = type;
	h->padding = 0;
	if (o->count == o->cap || dest_len > sizeof(o->slot->dest) || len > VMBUS_MSG_MAX_SIZE) {
		o->overflows++;
		return false;
	}
	struct vmbus_outbox_msg *m = &o->slot[(o->head + o->count) % o->cap];
	memset(m->dest, 0, sizeof(m->dest));
	memcpy(m->dest, dest, dest_len);
	m->len = (uint16_t)len;
	memcpy(m->data, msg, len);
	o->count++;
	return true;
}

void vmbus_outbox_drain(struct vmbus_outbox *o, pthread_mutex_t *lock, vmbus_outbox_post_fn post,
			void *ctx)
{
	struct vmbus_outbox_msg m;

	pthread_mutex_lock(lock);
	if (o->draining) {
		/* The drainer posts what we queued: order needs a single poster. */
		pthread_mutex_unlock(lock);
		return;
	}
	o->draining = true;
	while (o->count) {
		m = o->slot[o->head];
		pthread_mutex_unlock(lock);
		int rc = post(ctx, m.dest, m.data, m.len);
		pthread_mutex_lock(lock);
		if (rc == -EAGAIN) {
			o->retries++;
			break;
		}
		if (rc)
			o->errors++;
		else
			o->posted++;
		o->head = (o->head + 1) % o->cap;
		o->count--;
	}
	o->draining = false;
	pthread_mutex_unlock(lock);
}

int vmbus_outbox_init_owner(struct vmbus_outbox *o, unsigned cap, pthread_mutex_t *lock,
			    pthread_cond_t *idle)
{
	if (pthread_mutex_init(lock, NULL))
		return -ENOMEM;
	if (pthread_cond_init(idle, NULL)) {
		pthread_mutex_destroy(lock);
		return -ENOMEM;
	}
	if (vmbus_outbox_init(o, cap)) {
		pthread_cond_destroy(idle);
		pthread_mutex_destroy(lock);
		return -ENOMEM;
	}
	return 0;
}

void vmbus_outbox_fini_owner(struct vmbus_outbox *o, pthread_mutex_t *lock, pthread_cond_t *idle)
{
	vmbus_outbox_fini(o);
	pthread_cond_destroy(idle);
	pthread_mutex_destroy(lock);
}
