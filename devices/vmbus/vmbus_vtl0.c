/* vmbus_vtl0: the VMBus server on the bus and on VTL0's SynIC (vmbus_vtl0.h). */
#include "devices/vmbus/vmbus_vtl0.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#include "hvcall/vmbus_abi.h"

#define RETRY_NS 1000000ull /* busy message slot: try again after 1 ms */

struct vmbus_vtl0 {
	struct devctx dc;
	struct vmbus_server *srv;
	struct vclock_timer retry;
};

static int post_message(void *ctx, const struct vmbus_server_target *t, const void *msg,
			size_t len)
{
	struct vmbus_vtl0 *v = ctx;
	if (t->vtl != 0)
		return -EINVAL; /* the server never targets another VTL; defence in depth */
	int rc = v->dc.post_message(v->dc.ctx, t->vp, t->sint, VMBUS_MESSAGE_TYPE, msg,
				    (uint32_t)len);
	if (rc == -EAGAIN && !vclock_armed(v->dc.clock, &v->retry))
		vclock_arm(v->dc.clock, &v->retry, vclock_now(v->dc.clock) + RETRY_NS);
	return rc;
}

static int signal_event(void *ctx, const struct vmbus_server_target *t, uint16_t flag)
{
	struct vmbus_vtl0 *v = ctx;
	return t->vtl == 0 ? v->dc.signal_event(v->dc.ctx, t->vp, t->sint, flag) : -EINVAL;
}

static int check_pages(void *ctx, gpn_t first, uint64_t count)
{
	struct vmbus_vtl0 *v = ctx;
	for (uint64_t i = 0; i < count; i++)
		if (!v->dc.ram_ptr(v->dc.ctx, gpn_to_gpa(gpn(first.v + i)), ADDR_PAGE_SIZE))
			return -EINVAL;
	return 0;
}

static void log_line(void *ctx, const char *line)
{
	struct vmbus_vtl0 *v = ctx;
	fprintf(v->dc.log ? v->dc.log : stderr, "%s\n", line);
}

static const struct vmbus_server_ops server_ops = {
	.post_message = post_message,
	.signal_event = signal_event,
	.check_pages = check_pages,
	.log = log_line,
};

static void retry_fire(void *ctx, uint64_t now_ns)
{
	struct vmbus_vtl0 *v = ctx;
	vmbus_server_flush(v->srv);
	/* post_message re-arms on -EAGAIN; a queue that moved on needs nothing more. */
	if (vmbus_server_pending(v->srv) && !vclock_armed(v->dc.clock, &v->retry))
		vclock_arm(v->dc.clock, &v->retry, now_ns + RETRY_NS);
}

static int on_message(void *dev, const struct iobus_access *a, uint32_t conn, uint32_t type,
		      const void *payload, uint32_t len)
{
	(void)a;
	struct vmbus_vtl0 *v = dev;
	if (type != VMBUS_MESSAGE_TYPE)
		return -EINVAL;
	/*
	 * The bus routes only our message ids here, so the hypercall succeeded; what the server
	 * makes of the message (refused, counted, maybe answered) is the protocol's business.
	 */
	vmbus_server_handle_message(v->srv, conn, payload, len);
	return 0;
}

static int on_event(void *dev, const struct iobus_access *a, uint32_t conn, uint16_t flag)
{
	(void)a;
	(void)flag; /* channels signal with flag 0; the connection id names the channel */
	struct vmbus_vtl0 *v = dev;
	int rc = vmbus_server_signal(v->srv, conn);
	return rc == -ENOENT ? -ENOENT : 0;
}

static const struct iobus_ops conn_ops = {
	.message = on_message,
	.event = on_event,
};

int vmbus_vtl0_create(struct iobus *bus, const struct devctx *dc, uint32_t vp_count,
		      struct vmbus_vtl0 **out)
{
	if (!bus || !dc || !dc->post_message || !dc->signal_event || !dc->ram_ptr || !dc->clock ||
	    !out || vp_count == 0)
		return -EINVAL;
	struct vmbus_vtl0 *v = calloc(1, sizeof(*v));
	if (!v)
		return -ENOMEM;
	v->dc = *dc;
	vclock_timer_init(&v->retry, retry_fire, v);
	struct vmbus_server_config cfg = {
		.vp_count = vp_count,
		.client_vtl = 0,
		.conn_id_base = VMBUS_SERVER_CONN_ID_BASE,
	};
	int rc = vmbus_server_create(&server_ops, v, &cfg, &v->srv);
	if (rc == 0)
		rc = iobus_register(bus, IOBUS_CONN, VMBUS_CONN_ID_MESSAGE, 1, &conn_ops, v,
				    "vmbus-msg");
	if (rc == 0)
		rc = iobus_register(bus, IOBUS_CONN, VMBUS_CONN_ID_MESSAGE_4, 1, &conn_ops, v,
				    "vmbus-msg4");
	if (rc == 0)
		rc = iobus_register(bus, IOBUS_CONN, VMBUS_SERVER_CONN_ID_BASE + 1,
				    VMBUS_SERVER_MAX_CHANNELS, &conn_ops, v, "vmbus-events");
	if (rc) {
		vmbus_vtl0_destroy(v);
		return rc;
	}
	*out = v;
	return 0;
}

void vmbus_vtl0_destroy(struct vmbus_vtl0 *v)
{
	if (!v)
		return;
	vclock_cancel(v->dc.clock, &v->retry);
	vmbus_server_destroy(v->srv);
	free(v);
}

struct vmbus_server *vmbus_vtl0_server(struct vmbus_vtl0 *v)
{
	return v->srv;
}
