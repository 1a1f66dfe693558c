/*
 * kif_mshv: the kernel-interface seam (vtl2/kif.h) over the real Linux mshv_vtl driver.
 *
 * Every request is exactly the one of ../shared/docs/hyperv-abi-facts.md section 1, with the
 * argument structs of hvcall/mshv_abi.h, issued through the replaceable system-call table of
 * vtl2/kif_sys.h (so the unit test can check the bytes without a driver).
 */
#include "vtl2/kif.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "hvcall/mshv_abi.h"
#include "vtl2/kif_sys.h"

/* kif_default_hvcall_allow[] lives in vtl2/kif_allow.c, shared by both seam implementations. */

/* HV status codes this file interprets (hyperv-abi-facts 2.1). */
#define KIF_HV_STATUS_INSUFFICIENT_BUFFERS 0x13u
/* Hypercall input value: the fast bit (2.1); the driver passes memory GPAs, never registers. */
#define KIF_HVCALL_FAST_BIT (1ull << 16)
/* The run-page mmap offset has 16 bits of CPU index (1.4). */
#define KIF_MAX_VPS (MSHV_ABI_MMAP_CPU_MASK + 1u)
/* 52-bit guest-physical addresses: page numbers are below 2^40. */
#define KIF_GPN_LIMIT (1ull << 40)

struct kif_vp {
	void *run;            /* run page (kind 0), NULL until bound */
	void *reg_page;       /* register page (kind 1) or NULL */
	pthread_t thread;     /* the bound VP thread, target of kif_vp_cancel's signal */
	int bound;            /* published with release once run/thread are set */
};

struct kif {
	const struct kif_sys_ops *ops;
	int mshv_fd;
	int vtl_fd;
	int hvcall_fd;
	int sint_fd;       /* ioctls */
	int sint_read_fd;  /* blocking reads / poll */
	int low_fd;        /* /dev/mshv_vtl_low */
	struct kif_caps caps;
	enum kif_run_layout layout;
	uint32_t vp_count;
	struct kif_vp *vps;
	uint8_t allow[MSHV_ABI_HVCALL_BITMAP_MAX]; /* the bitmap given to HVCALL_SETUP */
	size_t allow_size;
	uint64_t gen;      /* tells a new kif from a freed one at the same address */
};

/* The VP the calling thread is bound to (the driver acts on the current CPU). */
static _Thread_local struct {
	const struct kif *kif;
	uint64_t gen;
	uint32_t vp;
} kif_self;

static uint64_t kif_next_gen;

/* The kick handler is process-wide: install it once per system-call table. */
static const struct kif_sys_ops *kif_kick_installed;

/* ---- helpers ---- */

/* Open dir/name read-write into *fd (left -1 on failure): 0 or -errno. */
static int kif_open_node(const struct kif_sys_ops *ops, const char *dir, const char *name,
			 int *fd)
{
	char path[PATH_MAX];
	int n = snprintf(path, sizeof(path), "%s/%s", dir, name);
	if (n < 0 || (size_t)n >= sizeof(path))
		return -ENAMETOOLONG;
	int r = ops->open(path, O_RDWR);
	if (r < 0)
		return r;
	*fd = r;
	return 0;
}

static void kif_close_fd(const struct kif_sys_ops *ops, int *fd)
{
	if (*fd >= 0) {
		(void)ops->close(*fd);
		*fd = -1;
	}
}

/* Check one capability: true/false, or -errno when the driver does not answer sensibly. */
static int kif_check_cap(const struct kif_sys_ops *ops, int mshv_fd, uint32_t cap, bool *out)
{
	uint32_t id = cap;
	int r = ops->ioctl(mshv_fd, MSHV_ABI_CHECK_EXTENSION, &id);
	if (r == -EOPNOTSUPP || r == -EINVAL) {
		*out = false; /* an older driver that does not know the capability */
		return 0;
	}
	if (r < 0)
		return r;
	*out = r > 0;
	return 0;
}

/* Map a positive HV status returned by the SINT ioctls (1.9) to -errno. */
static int kif_hv_status_errno(int status)
{
	switch (status) {
	case 0x02: /* INVALID_HYPERCALL_CODE */
	case 0x1E: /* FEATURE_UNAVAILABLE */
		return -EOPNOTSUPP;
	case 0x03: /* INVALID_HYPERCALL_INPUT */
	case 0x04: /* INVALID_ALIGNMENT */
	case 0x05: /* INVALID_PARAMETER */
		return -EINVAL;
	case 0x06: /* ACCESS_DENIED */
	case 0x08: /* OPERATION_DENIED */
		return -EACCES;
	case 0x0B: /* INSUFFICIENT_MEMORY */
		return -ENOMEM;
	case 0x11: /* INVALID_PORT_ID */
	case 0x12: /* INVALID_CONNECTION_ID */
		return -ENOENT;
	case KIF_HV_STATUS_INSUFFICIENT_BUFFERS: /* back off and retry */
	case 0x1D: /* NO_RESOURCES */
		return -EAGAIN;
	case 0x78: /* TIME_OUT */
		return -ETIMEDOUT;
	default:
		return -EIO;
	}
}

static int kif_sint_result(int r)
{
	if (r > 0)
		return kif_hv_status_errno(r);
	return r;
}

static bool kif_is_self(const struct kif *kif)
{
	return kif && kif_self.kif == kif && kif_self.gen == kif->gen &&
	       kif_self.vp < kif->vp_count &&
	       __atomic_load_n(&kif->vps[kif_self.vp].bound, __ATOMIC_ACQUIRE);
}

/* ---- open / close ---- */

static int kif_build_allow(struct kif *kif, const struct kif_params *p)
{
	const uint16_t *list = p->hvcall_allow;
	size_t count = p->hvcall_allow_count;
	if (!list && count)
		return -EINVAL;
	if (!list) {
		list = kif_default_hvcall_allow;
		count = kif_default_hvcall_allow_count;
	}
	memset(kif->allow, 0, sizeof(kif->allow));
	/* An empty list still sends one zero byte: "nothing allowed" (setup is once per fd). */
	size_t size = 1;
	for (size_t i = 0; i < count; i++) {
		uint16_t code = list[i];
		kif->allow[code / 8] |= (uint8_t)(1u << (code % 8));
		if ((size_t)code / 8 + 1 > size)
			size = (size_t)code / 8 + 1;
	}
	kif->allow_size = size;
	return 0;
}

static void kif_release(struct kif *kif)
{
	const struct kif_sys_ops *ops = kif->ops;
	if (kif->vps) {
		for (uint32_t i = 0; i < kif->vp_count; i++) {
			struct kif_vp *v = &kif->vps[i];
			if (v->reg_page)
				(void)ops->munmap(v->reg_page, MSHV_ABI_PAGE_SIZE);
			if (v->run)
				(void)ops->munmap(v->run, MSHV_ABI_PAGE_SIZE);
		}
		free(kif->vps);
	}
	kif_close_fd(ops, &kif->low_fd);
	kif_close_fd(ops, &kif->sint_read_fd);
	kif_close_fd(ops, &kif->sint_fd);
	kif_close_fd(ops, &kif->hvcall_fd);
	kif_close_fd(ops, &kif->vtl_fd);
	kif_close_fd(ops, &kif->mshv_fd);
	if (kif_self.kif == kif)
		kif_self.kif = NULL;
	free(kif);
}

int kif_open(const struct kif_params *params, struct kif **out)
{
	static const struct kif_params defaults = { 0 };
	const struct kif_params *p = params ? params : &defaults;
	if (!out)
		return -EINVAL;
	*out = NULL;
	if (p->run_layout != KIF_RUN_UPSTREAM && p->run_layout != KIF_RUN_OPENHCL)
		return -EINVAL;

	struct kif *kif = calloc(1, sizeof(*kif));
	if (!kif)
		return -ENOMEM;
	kif->ops = kif_sys_get_ops();
	kif->gen = __atomic_add_fetch(&kif_next_gen, 1, __ATOMIC_RELAXED);
	kif->mshv_fd = kif->vtl_fd = kif->hvcall_fd = -1;
	kif->sint_fd = kif->sint_read_fd = kif->low_fd = -1;
	kif->layout = p->run_layout;
	const struct kif_sys_ops *ops = kif->ops;
	const char *dir = p->dev_dir ? p->dev_dir : MSHV_ABI_DEV_DIR;

	int r = kif_build_allow(kif, p);
	if (r < 0)
		goto fail;

	/* VTL2 CPU n runs VTL0 VP n (1.4), so there is one VP per online CPU. */
	r = ops->online_cpus();
	if (r < 0)
		goto fail;
	if (r == 0) {
		r = -ENODEV;
		goto fail;
	}
	kif->vp_count = (uint32_t)r > KIF_MAX_VPS ? KIF_MAX_VPS : (uint32_t)r;
	kif->vps = calloc(kif->vp_count, sizeof(*kif->vps));
	if (!kif->vps) {
		r = -ENOMEM;
		goto fail;
	}

	if ((r = kif_open_node(ops, dir, MSHV_ABI_DEV_MSHV, &kif->mshv_fd)) < 0)
		goto fail;
	if ((r = kif_check_cap(ops, kif->mshv_fd, MSHV_ABI_CAP_REGISTER_PAGE,
			       &kif->caps.register_page)) < 0 ||
	    (r = kif_check_cap(ops, kif->mshv_fd, MSHV_ABI_CAP_VTL_RETURN_ACTION,
			       &kif->caps.vtl_return_action)) < 0 ||
	    (r = kif_check_cap(ops, kif->mshv_fd, MSHV_ABI_CAP_DR6_SHARED,
			       &kif->caps.dr6_shared)) < 0)
		goto fail;

	/* The argument of CREATE_VTL is ignored; the result is the new fd. */
	r = ops->ioctl(kif->mshv_fd, MSHV_ABI_CREATE_VTL, NULL);
	if (r < 0)
		goto fail;
	kif->vtl_fd = r;

	if ((r = kif_open_node(ops, dir, MSHV_ABI_DEV_HVCALL, &kif->hvcall_fd)) < 0)
		goto fail;
	struct mshv_abi_hvcall_setup setup = {
		.bitmap_array_size = kif->allow_size,
		.allow_bitmap_ptr = (uint64_t)(uintptr_t)kif->allow,
	};
	r = ops->ioctl(kif->hvcall_fd, MSHV_ABI_HVCALL_SETUP, &setup);
	if (r < 0)
		goto fail;

	if ((r = kif_open_node(ops, dir, MSHV_ABI_DEV_SINT, &kif->sint_fd)) < 0 ||
	    (r = kif_open_node(ops, dir, MSHV_ABI_DEV_SINT, &kif->sint_read_fd)) < 0 ||
	    (r = kif_open_node(ops, dir, MSHV_ABI_DEV_VTL_LOW, &kif->low_fd)) < 0)
		goto fail;

	if (__atomic_load_n(&kif_kick_installed, __ATOMIC_ACQUIRE) != ops) {
		r = ops->install_kick_handler(kif_sys_kick_signal());
		if (r < 0)
			goto fail;
		__atomic_store_n(&kif_kick_installed, ops, __ATOMIC_RELEASE);
	}

	*out = kif;
	return 0;
fail:
	kif_release(kif);
	return r;
}

void kif_close(struct kif *kif)
{
	if (kif)
		kif_release(kif);
}

const struct kif_caps *kif_get_caps(const struct kif *kif)
{
	return &kif->caps;
}

uint32_t kif_vp_count(const struct kif *kif)
{
	return kif->vp_count;
}

/* ---- per-VP ---- */

int kif_vp_bind(struct kif *kif, uint32_t vp)
{
	if (!kif || vp >= kif->vp_count)
		return -EINVAL;
	struct kif_vp *v = &kif->vps[vp];
	if (__atomic_load_n(&v->bound, __ATOMIC_ACQUIRE) ||
	    (kif_self.kif == kif && kif_self.gen == kif->gen))
		return -EBUSY; /* one thread per VP, one VP per thread */
	const struct kif_sys_ops *ops = kif->ops;

	int r = ops->pin_cpu(vp);
	if (r < 0)
		return r;
	void *run = NULL, *reg = NULL;
	r = ops->mmap(NULL, MSHV_ABI_PAGE_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, kif->vtl_fd,
		      mshv_abi_mmap_offset(MSHV_ABI_MMAP_KIND_RUN, vp), &run);
	if (r < 0)
		return r;
	if (kif->caps.register_page) {
		r = ops->mmap(NULL, MSHV_ABI_PAGE_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED,
			      kif->vtl_fd, mshv_abi_mmap_offset(MSHV_ABI_MMAP_KIND_REG_PAGE, vp),
			      &reg);
		if (r < 0) {
			(void)ops->munmap(run, MSHV_ABI_PAGE_SIZE);
			return r;
		}
	}
	v->run = run;
	v->reg_page = reg;
	v->thread = ops->thread_self();
	__atomic_store_n(&v->bound, 1, __ATOMIC_RELEASE);
	kif_self.kif = kif;
	kif_self.gen = kif->gen;
	kif_self.vp = vp;
	return 0;
}

void *kif_vp_run_page(struct kif *kif, uint32_t vp)
{
	if (!kif || vp >= kif->vp_count || !__atomic_load_n(&kif->vps[vp].bound, __ATOMIC_ACQUIRE))
		return NULL;
	return kif->vps[vp].run;
}

void *kif_vp_register_page(struct kif *kif, uint32_t vp)
{
	if (!kif || vp >= kif->vp_count || !__atomic_load_n(&kif->vps[vp].bound, __ATOMIC_ACQUIRE))
		return NULL;
	return kif->vps[vp].reg_page;
}

int kif_vp_run(struct kif *kif)
{
	/* The driver runs whatever CPU we are on: refuse unless this thread is pinned to a VP. */
	if (!kif_is_self(kif))
		return -EINVAL;
	int r = kif->ops->ioctl(kif->vtl_fd, MSHV_ABI_RETURN_TO_LOWER_VTL, NULL);
	return r < 0 ? r : 0;
}

int kif_vp_cancel(struct kif *kif, uint32_t vp)
{
	if (!kif || vp >= kif->vp_count)
		return -EINVAL;
	struct kif_vp *v = &kif->vps[vp];
	if (!__atomic_load_n(&v->bound, __ATOMIC_ACQUIRE))
		return -EINVAL;
	/* cancel is the first u32 of both run-page layouts (1.4). */
	uint32_t *cancel = &((struct mshv_abi_run *)v->run)->cancel;
	__atomic_store_n(cancel, 1, __ATOMIC_SEQ_CST);
	/*
	 * The flag alone is only seen before the next entry; the signal gets VTL0 out now. The VP
	 * thread must not have been joined yet (pthread_kill on a joined thread is undefined).
	 */
	if (kif_is_self(kif) && kif_self.vp == vp)
		return 0; /* cancelling ourselves: the next kif_vp_run sees the flag */
	int r = kif->ops->thread_kill(v->thread, kif_sys_kick_signal());
	return r == -ESRCH ? 0 : r; /* the thread is gone: nothing left to kick */
}

int kif_vp_set_poll_file(struct kif *kif, uint32_t vp, int fd)
{
	if (!kif || vp >= kif->vp_count || fd < 0)
		return -EINVAL;
	struct mshv_abi_set_poll_file arg = { .cpu = vp, .fd = (uint32_t)fd };
	int r = kif->ops->ioctl(kif->vtl_fd, MSHV_ABI_SET_POLL_FILE, &arg);
	return r < 0 ? r : 0;
}

static int kif_vp_register_ioctl(struct kif *kif, unsigned long request,
				 struct mshv_abi_register_assoc *assoc)
{
	if (!kif_is_self(kif))
		return -EINVAL;
	struct mshv_abi_vp_registers arg = {
		.count = 1, /* the driver takes exactly one register per call (1.6) */
		.regs_ptr = (uint64_t)(uintptr_t)assoc,
	};
	int r = kif->ops->ioctl(kif->vtl_fd, request, &arg);
	return r < 0 ? r : 0;
}

int kif_vp_get_register(struct kif *kif, uint32_t name, union hv_register_value *value)
{
	if (!value)
		return -EINVAL;
	struct mshv_abi_register_assoc assoc = { .name = name };
	int r = kif_vp_register_ioctl(kif, MSHV_ABI_GET_VP_REGISTERS, &assoc);
	if (r == 0)
		memcpy(value, assoc.value, sizeof(assoc.value)); /* 16-byte hv_register_value */
	return r;
}

int kif_vp_set_register(struct kif *kif, uint32_t name, const union hv_register_value *value)
{
	if (!value)
		return -EINVAL;
	struct mshv_abi_register_assoc assoc = { .name = name };
	memcpy(assoc.value, value, sizeof(assoc.value));
	return kif_vp_register_ioctl(kif, MSHV_ABI_SET_VP_REGISTERS, &assoc);
}

/* ---- hypercalls ---- */

int kif_hvcall(struct kif *kif, uint64_t control, const void *in, size_t in_size, void *out,
	       size_t out_size, uint64_t *result)
{
	if (!kif || !result || in_size > MSHV_ABI_HVCALL_DATA_MAX ||
	    out_size > MSHV_ABI_HVCALL_DATA_MAX || (in_size && !in) || (out_size && !out) ||
	    (control & KIF_HVCALL_FAST_BIT))
		return -EINVAL;
	uint16_t code = (uint16_t)(control & 0xFFFF);
	/* The driver would say -EPERM too; answering here saves the system call. */
	if ((size_t)code / 8 >= kif->allow_size || !(kif->allow[code / 8] & (1u << (code % 8))))
		return -EPERM;
	struct mshv_abi_hvcall arg = {
		.control = control,
		.input_size = in_size,
		.input_ptr = (uint64_t)(uintptr_t)in,
		.output_size = out_size,
		.output_ptr = (uint64_t)(uintptr_t)out,
	};
	int r = kif->ops->ioctl(kif->hvcall_fd, MSHV_ABI_HVCALL, &arg);
	if (r < 0)
		return r;
	*result = arg.status;
	return 0;
}

/* ---- SINT 7 ---- */

int kif_sint_pause(struct kif *kif, bool pause)
{
	if (!kif)
		return -EINVAL;
	struct mshv_abi_sint_mask arg = { .mask = pause ? 1 : 0 };
	int r = kif->ops->ioctl(kif->sint_fd, MSHV_ABI_SINT_PAUSE_MESSAGE_STREAM, &arg);
	return r < 0 ? r : 0;
}

int kif_sint_read(struct kif *kif, struct hv_message *msg, bool block)
{
	if (!kif || !msg)
		return -EINVAL;
	const struct kif_sys_ops *ops = kif->ops;
	if (!block) {
		/* One reader per kif (documented in kif.h): a ready fd stays ready for us. */
		struct pollfd pfd = { .fd = kif->sint_read_fd, .events = POLLIN };
		int r = ops->poll(&pfd, 1, 0);
		if (r < 0)
			return r;
		if (r == 0 || !(pfd.revents & (POLLIN | POLLERR | POLLHUP)))
			return -EAGAIN;
	}
	_Alignas(16) uint8_t buf[MSHV_ABI_MSG_SIZE];
	ssize_t n = ops->read(kif->sint_read_fd, buf, sizeof(buf));
	if (n < 0)
		return (int)n;
	if (n == 0)
		return 0; /* paused and empty */
	if ((size_t)n != sizeof(buf))
		return -EIO; /* the driver always hands over whole messages */
	memcpy(msg, buf, sizeof(buf));
	return 1;
}

int kif_sint_poll_fd(const struct kif *kif)
{
	return kif ? kif->sint_read_fd : -EINVAL;
}

int kif_sint_post_message(struct kif *kif, uint32_t connection_id, uint32_t message_type,
			  const void *payload, size_t size)
{
	if (!kif || size > MSHV_ABI_MSG_PAYLOAD_MAX || (size && !payload))
		return -EINVAL;
	struct mshv_abi_sint_post_msg arg = {
		.message_type = message_type,
		.connection_id = connection_id,
		.payload_size = (uint32_t)size,
		.payload_ptr = (uint64_t)(uintptr_t)payload,
	};
	return kif_sint_result(kif->ops->ioctl(kif->sint_fd, MSHV_ABI_SINT_POST_MESSAGE, &arg));
}

int kif_sint_signal_event(struct kif *kif, uint32_t connection_id, uint32_t flag)
{
	if (!kif || flag >= MSHV_ABI_SINT_FLAG_COUNT)
		return -EINVAL;
	struct mshv_abi_signal_event arg = { .connection_id = connection_id, .flag = flag };
	return kif_sint_result(kif->ops->ioctl(kif->sint_fd, MSHV_ABI_SINT_SIGNAL_EVENT, &arg));
}

int kif_sint_set_eventfd(struct kif *kif, uint32_t flag, int fd)
{
	if (!kif || flag >= MSHV_ABI_SINT_FLAG_COUNT || fd < -1)
		return -EINVAL;
	struct mshv_abi_set_eventfd arg = { .fd = fd, .flag = flag };
	int r = kif->ops->ioctl(kif->sint_fd, MSHV_ABI_SINT_SET_EVENTFD, &arg);
	return r < 0 ? r : 0;
}

/* ---- VTL0 memory ---- */

int kif_shared_alloc(struct kif *kif, size_t pages, void **host, uint64_t *pfns)
{
	(void)pages;
	(void)host;
	(void)pfns;
	/* The driver offers no memory with guest-physical addresses to usermode (kif.h). */
	return kif ? -EOPNOTSUPP : -EINVAL;
}

int kif_vtl0_map(struct kif *kif, gpa_t base, size_t len, void **out)
{
	if (!kif || !out || len == 0 || (base.v & (MSHV_ABI_PAGE_SIZE - 1)) ||
	    (len & (MSHV_ABI_PAGE_SIZE - 1)) || base.v >= (KIF_GPN_LIMIT << 12) ||
	    len > (KIF_GPN_LIMIT << 12) - base.v)
		return -EINVAL;
	/* /dev/mshv_vtl_low: the file offset is the guest-physical address (1.8). */
	return kif->ops->mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, kif->low_fd, base.v,
			      out);
}

int kif_vtl0_unmap(struct kif *kif, void *addr, size_t len)
{
	if (!kif || !addr || len == 0)
		return -EINVAL;
	return kif->ops->munmap(addr, len);
}

int kif_vtl0_add_memory(struct kif *kif, gpn_t start, gpn_t end)
{
	/* The driver answers -EFAULT for an empty range; say what it is. */
	if (!kif || end.v <= start.v || end.v > KIF_GPN_LIMIT)
		return -EINVAL;
	struct mshv_abi_ram_disposition arg = { .start_pfn = start.v, .last_pfn = end.v };
	int r = kif->ops->ioctl(kif->vtl_fd, MSHV_ABI_ADD_VTL0_MEMORY, &arg);
	return r < 0 ? r : 0;
}
