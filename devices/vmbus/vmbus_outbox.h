/*
 * vmbus_outbox: the ordered queue of outgoing channel messages that both ends of the protocol
 * keep (vmbus_server toward its client, vmbus_client toward the host). Messages are queued under
 * the owner's lock and posted without it, in order, by one drainer at a time; a post answered
 * -EAGAIN (the peer's message slot or queue is full) stays first in line until the next drain.
 * Each message carries an opaque destination of up to 8 bytes (a connection id, a target).
 */
#ifndef MEZZ_DEVICES_VMBUS_VMBUS_OUTBOX_H
#define MEZZ_DEVICES_VMBUS_VMBUS_OUTBOX_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "hvcall/vmbus_abi.h"

struct vmbus_outbox_msg {
	uint8_t dest[8];
	uint16_t len;
	uint8_t data[VMBUS_MSG_MAX_SIZE];
};

struct vmbus_outbox {
	struct vmbus_outbox_msg *slot;
	unsigned cap, head, count;
	bool draining;
	uint64_t posted, retries, errors, overflows;
};

/** Post one message: 0, -EAGAIN (keep it, retry at the next drain), other -errno (dropped). */
typedef int (*vmbus_outbox_post_fn)(void *ctx, const void *dest, const void *data, size_t len);

/** `cap` slots (> 0): 0 or -ENOMEM. */
int vmbus_outbox_init(struct vmbus_outbox *o, unsigned cap);
void vmbus_outbox_fini(struct vmbus_outbox *o);
/**
 * What every VMBus endpoint (client, server) owns together: its lock, the condition its
 * callers wait on for a busy count to drop, and its outbox. All or nothing: 0 or -ENOMEM.
 */
int vmbus_outbox_init_owner(struct vmbus_outbox *o, unsigned cap, pthread_mutex_t *lock,
			    pthread_cond_t *idle);
void vmbus_outbox_fini_owner(struct vmbus_outbox *o, pthread_mutex_t *lock,
			     pthread_cond_t *idle);
/**
 * Owner's lock held. Write `type` into the message's header and queue a copy for `dest`
 * (dest_len <= 8, len <= 240). False (counted in overflows) when every slot is taken.
 */
bool vmbus_outbox_put(struct vmbus_outbox *o, const void *dest, size_t dest_len, void *msg,
		      size_t len, uint32_t type);
/**
 * Owner's lock NOT held: post queued messages in order until the queue is empty or a post
 * answers -EAGAIN. `lock` (the owner's) guards the queue; `post` runs without it. A drain that
 * finds another one running returns at once (that one posts what was queued meanwhile).
 */
void vmbus_outbox_drain(struct vmbus_outbox *o, pthread_mutex_t *lock, vmbus_outbox_post_fn post,
			void *ctx);

#endif
