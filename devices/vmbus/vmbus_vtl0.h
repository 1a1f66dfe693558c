/*
 * vmbus_vtl0: the paravisor's VMBus for VTL0 - a vmbus_server (vmbus_server.h) put on the I/O
 * bus and on VTL0's SynIC through the partition's services (devctx.h).
 *
 * - VTL0's HvPostMessage to connection id 1 (protocols below 5.0) or 4 (5.0 and newer) reaches
 *   the server as a channel message (message type 1 only; others are refused with
 *   INVALID_PARAMETER); HvSignalEvent on a channel's connection id (conn_id_base + relid, 64
 *   ids) signals that channel. Both are IOBUS_CONN ranges, so they are checked against every
 *   other device's ids at registration.
 * - The server's messages go to VTL0 with HvPostMessageDirect, its events with
 *   HvSignalEventDirect. When VTL0's message slot is busy (it has not consumed the previous
 *   message) the server keeps the message first in line and a 1 ms clock timer retries until
 *   the queue is empty (the hypervisor's EOM is not visible to VTL2 here).
 * - GPADL pages must be ordinary VTL0 RAM (devctx ram_ptr): VTL2's memory and withheld pages
 *   are refused when the client describes them.
 *
 * Devices offer channels with vmbus_vtl0_server() + vmbus_server_offer().
 */
#ifndef MEZZ_DEVICES_VMBUS_VMBUS_VTL0_H
#define MEZZ_DEVICES_VMBUS_VMBUS_VTL0_H

#include <stdint.h>

#include "devices/vmbus/vmbus_server.h"
#include "vtl2/devctx.h"
#include "vtl2/iobus.h"

struct vmbus_vtl0;

/**
 * Create the server for a VTL0 of `vp_count` VPs and register its connection ids on `bus`
 * (before the bus is frozen). -EINVAL: devctx lacks the SynIC services; -EEXIST: an id is
 * taken; -ENOMEM.
 */
int vmbus_vtl0_create(struct iobus *bus, const struct devctx *dc, uint32_t vp_count,
		      struct vmbus_vtl0 **out);
/** After the partition is stopped (no VP, no clock callback running). */
void vmbus_vtl0_destroy(struct vmbus_vtl0 *v);
struct vmbus_server *vmbus_vtl0_server(struct vmbus_vtl0 *v);

#endif
