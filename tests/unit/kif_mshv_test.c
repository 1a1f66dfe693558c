/*
 * kif_mshv over a recording fake of the system-call table (vtl2/kif_sys.h): every request to
 * the mshv_vtl driver is checked against hyperv-abi-facts section 1 - paths, ioctl numbers,
 * argument bytes, mmap offsets, the hypercall allow bitmap, error propagation and fd leaks.
 * A few tests also exercise the real Linux table (kick signal interrupts a blocking call).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "hvcall/mshv_abi.h"
#include "vtl2/kif.h"
#include "vtl2/kif_sys.h"

/* ---- the fake ---- */

enum call_kind {
	C_OPEN = 1, C_CLOSE, C_IOCTL, C_MMAP, C_MUNMAP, C_READ, C_POLL, C_PIN, C_KILL, C_KICK,
};

struct call {
	enum call_kind kind;
	int fd;
	unsigned long req;
	uint8_t arg[64];     /* copy of the ioctl argument struct */
	uint8_t ptr[8192];   /* copy of what the argument points to (bitmap, assoc, payload) */
	size_t ptr_len;
	char path[256];
	uint64_t off;
	size_t len;
	int prot, flags, sig;
	pthread_t thread;
};

#define MAX_CALLS 64
#define FAKE_FD_BASE 100

static struct fake {
	struct call calls[MAX_CALLS];
	int ncalls;
	int nsys;            /* system calls so far (for failure injection) */
	int fail_at;         /* 1-based system call number to fail, 0 = never */
	int fail_errno;
	int next_fd;
	int opens, closes;
	int maps, unmaps;
	int online;
	int cap[4];          /* CHECK_EXTENSION answer per cap id */
	int ioctl_ret;       /* return of the "plain" ioctls */
	int mmap_fail_kind;  /* fail mmaps of this kind (1-based kind+1), 0 = none */
	uint8_t reg_value[16];
	uint64_t hv_status;
	/* read queue */
	uint8_t msg[256];
	ssize_t read_ret;    /* bytes to return, 0 = EOF, <0 = -errno */
	int poll_ready;
	int kill_ret;
} F;

static struct call *rec(enum call_kind k)
{
	assert_true(F.ncalls < MAX_CALLS);
	struct call *c = &F.calls[F.ncalls++];
	memset(c, 0, sizeof(*c));
	c->kind = k;
	return c;
}

static int inject(void)
{
	F.nsys++;
	return F.fail_at && F.nsys == F.fail_at ? -F.fail_errno : 0;
}

static int f_open(const char *path, int flags)
{
	struct call *c = rec(C_OPEN);
	snprintf(c->path, sizeof(c->path), "%s", path);
	c->flags = flags;
	int r = inject();
	if (r)
		return r;
	F.opens++;
	return F.next_fd++;
}

static int f_close(int fd)
{
	rec(C_CLOSE)->fd = fd;
	F.closes++;
	return 0;
}

static int f_ioctl(int fd, unsigned long req, void *arg)
{
	struct call *c = rec(C_IOCTL);
	c->fd = fd;
	c->req = req;
	size_t sz = _IOC_SIZE(req);
	if (arg && sz <= sizeof(c->arg))
		memcpy(c->arg, arg, sz);
	int r = inject();
	if (r)
		return r;
	switch (req) {
	case MSHV_ABI_CHECK_EXTENSION: {
		uint32_t id;
		memcpy(&id, arg, 4);
		return id < 4 ? F.cap[id] : -EOPNOTSUPP;
	}
	case MSHV_ABI_CREATE_VTL:
		F.opens++;
		return F.next_fd++;
	case MSHV_ABI_HVCALL_SETUP: {
		struct mshv_abi_hvcall_setup *s = arg;
		c->ptr_len = s->bitmap_array_size;
		assert_true(c->ptr_len <= sizeof(c->ptr));
		memcpy(c->ptr, (void *)(uintptr_t)s->allow_bitmap_ptr, c->ptr_len);
		break;
	}
	case MSHV_ABI_GET_VP_REGISTERS:
	case MSHV_ABI_SET_VP_REGISTERS: {
		struct mshv_abi_vp_registers *v = arg;
		struct mshv_abi_register_assoc *a = (void *)(uintptr_t)v->regs_ptr;
		c->ptr_len = sizeof(*a);
		memcpy(c->ptr, a, sizeof(*a));
		if (req == MSHV_ABI_GET_VP_REGISTERS && F.ioctl_ret >= 0)
			memcpy(a->value, F.reg_value, 16);
		break;
	}
	case MSHV_ABI_SINT_POST_MESSAGE: {
		struct mshv_abi_sint_post_msg *m = arg;
		c->ptr_len = m->payload_size;
		if (m->payload_size)
			memcpy(c->ptr, (void *)(uintptr_t)m->payload_ptr, m->payload_size);
		break;
	}
	case MSHV_ABI_HVCALL: {
		struct mshv_abi_hvcall *h = arg;
		c->ptr_len = h->input_size;
		if (h->input_size)
			memcpy(c->ptr, (void *)(uintptr_t)h->input_ptr, h->input_size);
		if (h->output_size)
			memset((void *)(uintptr_t)h->output_ptr, 0xAB, h->output_size);
		h->status = F.hv_status;
		break;
	}
	default:
		break;
	}
	return F.ioctl_ret;
}

static int f_mmap(void *addr, size_t len, int prot, int flags, int fd, uint64_t off, void **out)
{
	struct call *c = rec(C_MMAP);
	(void)addr;
	c->len = len;
	c->prot = prot;
	c->flags = flags;
	c->fd = fd;
	c->off = off;
	int r = inject();
	if (r)
		return r;
	if (F.mmap_fail_kind && fd == FAKE_FD_BASE + 1 /* the VTL fd */ &&
	    (off / 4096) >> 16 == (uint64_t)(F.mmap_fail_kind - 1))
		return -ENOMEM;
	void *p = aligned_alloc(4096, len);
	assert_non_null(p);
	memset(p, 0, len);
	F.maps++;
	*out = p;
	return 0;
}

static int f_munmap(void *addr, size_t len)
{
	struct call *c = rec(C_MUNMAP);
	c->len = len;
	c->off = (uint64_t)(uintptr_t)addr;
	free(addr);
	F.unmaps++;
	return 0;
}

static ssize_t f_read(int fd, void *buf, size_t len)
{
	struct call *c = rec(C_READ);
	c->fd = fd;
	c->len = len;
	int r = inject();
	if (r)
		return r;
	if (F.read_ret > 0)
		memcpy(buf, F.msg, (size_t)F.read_ret);
	return F.read_ret;
}

static int f_poll(struct pollfd *fds, nfds_t n, int timeout)
{
	struct call *c = rec(C_POLL);
	assert_int_equal(n, 1);
	c->fd = fds[0].fd;
	c->flags = timeout;
	c->prot = fds[0].events;
	fds[0].revents = F.poll_ready ? POLLIN : 0;
	return F.poll_ready;
}

static int f_pin(uint32_t cpu)
{
	rec(C_PIN)->fd = (int)cpu;
	return inject();
}

static int f_online(void)
{
	return F.online;
}

static pthread_t f_self(void)
{
	return pthread_self();
}

static int f_kill(pthread_t t, int sig)
{
	struct call *c = rec(C_KILL);
	c->thread = t;
	c->sig = sig;
	return F.kill_ret;
}

static int f_kick(int sig)
{
	rec(C_KICK)->sig = sig;
	return inject();
}

static const struct kif_sys_ops fake_ops = {
	.open = f_open, .close = f_close, .ioctl = f_ioctl, .mmap = f_mmap, .munmap = f_munmap,
	.read = f_read, .poll = f_poll, .pin_cpu = f_pin, .online_cpus = f_online,
	.thread_self = f_self, .thread_kill = f_kill, .install_kick_handler = f_kick,
};
/* A second identical table: kif_mshv installs the kick handler once per table. */
static const struct kif_sys_ops fake_ops2 = {
	.open = f_open, .close = f_close, .ioctl = f_ioctl, .mmap = f_mmap, .munmap = f_munmap,
	.read = f_read, .poll = f_poll, .pin_cpu = f_pin, .online_cpus = f_online,
	.thread_self = f_self, .thread_kill = f_kill, .install_kick_handler = f_kick,
};

/* fds handed out in kif_open order */
enum { FD_MSHV = FAKE_FD_BASE, FD_VTL, FD_HVCALL, FD_SINT, FD_SINT_READ, FD_LOW };

static int setup(void **state)
{
	(void)state;
	memset(&F, 0, sizeof(F));
	F.next_fd = FAKE_FD_BASE;
	F.online = 4;
	F.cap[1] = 1;
	F.cap[2] = 1;
	F.cap[3] = 0;
	kif_sys_set_ops(&fake_ops);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	kif_sys_set_ops(NULL);
	/* no leaks, whatever the test did */
	assert_int_equal(F.opens, F.closes);
	assert_int_equal(F.maps, F.unmaps);
	return 0;
}

static struct kif *open_default(void)
{
	struct kif_params p = { .dev_dir = "/fake/dev" };
	struct kif *kif = NULL;
	assert_int_equal(kif_open(&p, &kif), 0);
	assert_non_null(kif);
	F.ncalls = 0;
	return kif;
}

static const struct call *last(enum call_kind k)
{
	for (int i = F.ncalls - 1; i >= 0; i--)
		if (F.calls[i].kind == k)
			return &F.calls[i];
	fail_msg("no call of kind %d", k);
	return NULL;
}

static int count(enum call_kind k)
{
	int n = 0;
	for (int i = 0; i < F.ncalls; i++)
		n += F.calls[i].kind == k;
	return n;
}

static uint64_t u64_at(const uint8_t *p, size_t off)
{
	uint64_t v;
	memcpy(&v, p + off, 8);
	return v;
}

static uint32_t u32_at(const uint8_t *p, size_t off)
{
	uint32_t v;
	memcpy(&v, p + off, 4);
	return v;
}

/* ---- kif_open ---- */

static void test_open_sequence(void **state)
{
	(void)state;
	kif_sys_set_ops(&fake_ops2);
	F.cap[3] = -EOPNOTSUPP; /* an older driver without DR6_SHARED */
	struct kif_params p = { .dev_dir = "/fake/dev" };
	struct kif *kif = NULL;
	assert_int_equal(kif_open(&p, &kif), 0);

	static const struct {
		enum call_kind kind;
		const char *path;
		int fd;
		unsigned long req;
	} want[] = {
		{ C_OPEN, "/fake/dev/mshv", 0, 0 },
		{ C_IOCTL, NULL, FD_MSHV, 0x4004B800 },
		{ C_IOCTL, NULL, FD_MSHV, 0x4004B800 },
		{ C_IOCTL, NULL, FD_MSHV, 0x4004B800 },
		{ C_IOCTL, NULL, FD_MSHV, 0x8001B81D },
		{ C_OPEN, "/fake/dev/mshv_hvcall", 0, 0 },
		{ C_IOCTL, NULL, FD_HVCALL, 0x4010B81E },
		{ C_OPEN, "/fake/dev/mshv_sint", 0, 0 },
		{ C_OPEN, "/fake/dev/mshv_sint", 0, 0 },
		{ C_OPEN, "/fake/dev/mshv_vtl_low", 0, 0 },
		{ C_KICK, NULL, 0, 0 },
	};
	assert_int_equal(F.ncalls, sizeof(want) / sizeof(want[0]));
	for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
		const struct call *c = &F.calls[i];
		assert_int_equal(c->kind, want[i].kind);
		if (want[i].path) {
			assert_string_equal(c->path, want[i].path);
			assert_int_equal(c->flags & O_ACCMODE, O_RDWR);
		}
		if (want[i].kind == C_IOCTL) {
			assert_int_equal(c->fd, want[i].fd);
			assert_int_equal(c->req, want[i].req);
		}
	}
	/* capability ids 1, 2, 3 in that order (cap 0 answers 0 and means nothing) */
	assert_int_equal(u32_at(F.calls[1].arg, 0), 1);
	assert_int_equal(u32_at(F.calls[2].arg, 0), 2);
	assert_int_equal(u32_at(F.calls[3].arg, 0), 3);
	assert_int_equal(F.calls[10].sig, SIGRTMIN);

	const struct kif_caps *caps = kif_get_caps(kif);
	assert_true(caps->register_page);
	assert_true(caps->vtl_return_action);
	assert_false(caps->dr6_shared);
	assert_int_equal(kif_vp_count(kif), 4);
	assert_int_equal(kif_sint_poll_fd(kif), FD_SINT_READ);

	/* The default allow bitmap: exactly the codes of the list, size highest/8 + 1. */
	const struct call *s = &F.calls[6];
	uint16_t hi = 0;
	for (size_t i = 0; i < kif_default_hvcall_allow_count; i++)
		if (kif_default_hvcall_allow[i] > hi)
			hi = kif_default_hvcall_allow[i];
	assert_int_equal(u64_at(s->arg, 0), hi / 8 + 1);
	assert_int_equal(s->ptr_len, hi / 8 + 1);
	int bits = 0;
	for (size_t b = 0; b < s->ptr_len * 8; b++) {
		if (!(s->ptr[b / 8] & (1u << (b % 8))))
			continue;
		bits++;
		bool listed = false;
		for (size_t i = 0; i < kif_default_hvcall_allow_count; i++)
			listed |= kif_default_hvcall_allow[i] == b;
		assert_true(listed);
	}
	assert_int_equal(bits, kif_default_hvcall_allow_count);
	assert_true(s->ptr[0x50 / 8] & (1u << (0x50 % 8))); /* GetVpRegisters */

	F.ncalls = 0;
	kif_close(kif);
	assert_int_equal(count(C_CLOSE), 6);
	kif_close(NULL);
}

static void test_open_default_dir_and_no_second_kick(void **state)
{
	(void)state;
	kif_sys_set_ops(&fake_ops2); /* installed already by test_open_sequence or now */
	struct kif *kif = NULL;
	assert_int_equal(kif_open(NULL, &kif), 0);
	assert_string_equal(F.calls[0].path, "/dev/mshv");
	kif_close(kif);
	F.ncalls = 0;
	assert_int_equal(kif_open(NULL, &kif), 0);
	assert_int_equal(count(C_KICK), 0);
	kif_close(kif);
}

static void test_open_allow_list(void **state)
{
	(void)state;
	const uint16_t codes[] = { 0x0000, 0x0007, 0x0008, 0xFFFF };
	struct kif_params p = { .hvcall_allow = codes, .hvcall_allow_count = 4 };
	struct kif *kif = NULL;
	assert_int_equal(kif_open(&p, &kif), 0);
	const struct call *s = NULL;
	for (int i = 0; i < F.ncalls; i++)
		if (F.calls[i].kind == C_IOCTL && F.calls[i].req == MSHV_ABI_HVCALL_SETUP)
			s = &F.calls[i];
	assert_non_null(s);
	assert_int_equal(u64_at(s->arg, 0), 8192);
	assert_int_equal(s->ptr[0], 0x81);
	assert_int_equal(s->ptr[1], 0x01);
	assert_int_equal(s->ptr[8191], 0x80);
	for (size_t i = 2; i < 8191; i++)
		assert_int_equal(s->ptr[i], 0);

	/* not on the list: refused locally, no system call */
	uint64_t res;
	F.ncalls = 0;
	assert_int_equal(kif_hvcall(kif, 0x50, NULL, 0, NULL, 0, &res), -EPERM);
	assert_int_equal(F.ncalls, 0);
	assert_int_equal(kif_hvcall(kif, 0xFFFF, NULL, 0, NULL, 0, &res), 0);
	kif_close(kif);

	/* an empty list allows nothing */
	struct kif_params e = { .hvcall_allow = codes, .hvcall_allow_count = 0 };
	F.ncalls = 0;
	assert_int_equal(kif_open(&e, &kif), 0);
	s = NULL;
	for (int i = 0; i < F.ncalls; i++)
		if (F.calls[i].kind == C_IOCTL && F.calls[i].req == MSHV_ABI_HVCALL_SETUP)
			s = &F.calls[i];
	assert_non_null(s);
	assert_int_equal(u64_at(s->arg, 0), 1);
	assert_int_equal(s->ptr[0], 0);
	assert_int_equal(kif_hvcall(kif, 0, NULL, 0, NULL, 0, &res), -EPERM);
	kif_close(kif);

	/* bad parameters: nothing opened */
	struct kif_params bad = { .hvcall_allow = NULL, .hvcall_allow_count = 3 };
	F.ncalls = 0;
	assert_int_equal(kif_open(&bad, &kif), -EINVAL);
	assert_null(kif);
	struct kif_params badl = { .run_layout = (enum kif_run_layout)7 };
	assert_int_equal(kif_open(&badl, &kif), -EINVAL);
	assert_int_equal(kif_open(NULL, NULL), -EINVAL);
	assert_int_equal(count(C_OPEN), 0);
}

static void test_open_each_failure(void **state)
{
	(void)state;
	/* Fail the n-th system call of kif_open for every n: the error comes back, nothing leaks. */
	struct kif *k2 = NULL;
	kif_sys_set_ops(&fake_ops2); /* make fake_ops2 the table with the handler installed */
	assert_int_equal(kif_open(NULL, &k2), 0);
	kif_close(k2);
	kif_sys_set_ops(&fake_ops);  /* so every round below must install it: call 11 */
	for (int n = 1;; n++) {
		memset(&F, 0, sizeof(F));
		F.next_fd = FAKE_FD_BASE;
		F.online = 2;
		F.cap[1] = 1;
		F.fail_at = n;
		F.fail_errno = n % 2 ? EIO : EACCES;
		struct kif *kif = (struct kif *)&F; /* must be reset to NULL */
		int r = kif_open(NULL, &kif);
		if (r == 0) {
			assert_int_equal(n, 12); /* 5 opens, 5 ioctls, the kick handler */
			kif_close(kif);
			assert_int_equal(F.opens, F.closes);
			break;
		}
		assert_int_equal(r, -F.fail_errno);
		assert_null(kif);
		assert_int_equal(F.opens, F.closes);
		assert_true(n < 20);
	}
}

static void test_open_online_cpus_failure(void **state)
{
	(void)state;
	struct kif *kif;
	F.online = -ENOSYS;
	assert_int_equal(kif_open(NULL, &kif), -ENOSYS);
	F.online = 0;
	assert_int_equal(kif_open(NULL, &kif), -ENODEV);
	assert_int_equal(F.opens, 0);
	F.online = 100000; /* more than the 16-bit CPU field of the mmap offset can name */
	assert_int_equal(kif_open(NULL, &kif), 0);
	assert_int_equal(kif_vp_count(kif), 65536);
	kif_close(kif);
	/* CHECK_EXTENSION with an unknown-ioctl answer is not a mshv_vtl driver */
	F.online = 1;
	F.cap[2] = -ENOTTY;
	assert_int_equal(kif_open(NULL, &kif), -ENOTTY);
}

/* ---- VPs ---- */

static void test_bind_maps_and_pins(void **state)
{
	(void)state;
	struct kif *kif = open_default();
	assert_null(kif_vp_run_page(kif, 2));
	assert_int_equal(kif_vp_run(kif), -EINVAL); /* not bound: no ioctl */
	assert_int_equal(F.ncalls, 0);
	assert_int_equal(kif_vp_bind(kif, 4), -EINVAL);

	assert_int_equal(kif_vp_bind(kif, 2), 0);
	assert_int_equal(F.ncalls, 3);
	assert_int_equal(F.calls[0].kind, C_PIN);
	assert_int_equal(F.calls[0].fd, 2);
	const struct call *m = &F.calls[1];
	assert_int_equal(m->kind, C_MMAP);
	assert_int_equal(m->fd, FD_VTL);
	assert_int_equal(m->off, 2 * 4096);
	assert_int_equal(m->len, 4096);
	assert_int_equal(m->prot, PROT_READ | PROT_WRITE);
	assert_int_equal(m->flags, MAP_SHARED);
	m = &F.calls[2];
	assert_int_equal(m->fd, FD_VTL);
	assert_int_equal(m->off, ((1ull << 16) | 2) * 4096);
	assert_non_null(kif_vp_run_page(kif, 2));
	assert_non_null(kif_vp_register_page(kif, 2));
	assert_null(kif_vp_run_page(kif, 1));
	assert_null(kif_vp_run_page(kif, 99));

	/* one VP per thread, one thread per VP */
	assert_int_equal(kif_vp_bind(kif, 2), -EBUSY);
	assert_int_equal(kif_vp_bind(kif, 3), -EBUSY);

	F.ncalls = 0;
	F.ioctl_ret = 0;
	assert_int_equal(kif_vp_run(kif), 0);
	assert_int_equal(F.ncalls, 1);
	assert_int_equal(F.calls[0].fd, FD_VTL);
	assert_int_equal(F.calls[0].req, 0xB827);
	F.ioctl_ret = -EINTR;
	assert_int_equal(kif_vp_run(kif), -EINTR);
	F.ioctl_ret = 0;

	F.ncalls = 0;
	kif_close(kif);
	assert_int_equal(count(C_MUNMAP), 2);
	/* the thread's binding died with the kif */
	assert_int_equal(kif_vp_run(NULL), -EINVAL);
}

static void test_bind_without_register_page(void **state)
{
	(void)state;
	F.cap[1] = 0;
	struct kif *kif = open_default();
	assert_false(kif_get_caps(kif)->register_page);
	assert_int_equal(kif_vp_bind(kif, 0), 0);
	assert_int_equal(count(C_MMAP), 1);
	assert_null(kif_vp_register_page(kif, 0));
	assert_non_null(kif_vp_run_page(kif, 0));
	kif_close(kif);
}

static void test_bind_failures(void **state)
{
	(void)state;
	struct kif *kif = open_default();
	F.mmap_fail_kind = 2; /* register page */
	assert_int_equal(kif_vp_bind(kif, 1), -ENOMEM);
	assert_int_equal(F.maps, F.unmaps); /* run page given back */
	assert_null(kif_vp_run_page(kif, 1));
	F.mmap_fail_kind = 1; /* run page */
	assert_int_equal(kif_vp_bind(kif, 1), -ENOMEM);
	F.mmap_fail_kind = 0;
	F.fail_at = F.nsys + 1; /* pin */
	F.fail_errno = EPERM;
	assert_int_equal(kif_vp_bind(kif, 1), -EPERM);
	assert_int_equal(kif_vp_bind(kif, 1), 0); /* and it can still be bound afterwards */
	kif_close(kif);
}

struct bind_arg {
	struct kif *kif;
	uint32_t vp;
	int r;
	pthread_t self;
};

static void *bind_thread(void *p)
{
	struct bind_arg *a = p;
	a->self = pthread_self();
	a->r = kif_vp_bind(a->kif, a->vp);
	return NULL;
}

static void test_cancel(void **state)
{
	(void)state;
	struct kif *kif = open_default();
	assert_int_equal(kif_vp_cancel(kif, 1), -EINVAL); /* not bound */
	assert_int_equal(kif_vp_cancel(kif, 9), -EINVAL);

	struct bind_arg a = { .kif = kif, .vp = 1 };
	pthread_t t;
	assert_int_equal(pthread_create(&t, NULL, bind_thread, &a), 0);
	assert_int_equal(pthread_join(t, NULL), 0);
	assert_int_equal(a.r, 0);

	struct mshv_abi_run *run = kif_vp_run_page(kif, 1);
	assert_non_null(run);
	assert_int_equal(run->cancel, 0);
	F.ncalls = 0;
	assert_int_equal(kif_vp_cancel(kif, 1), 0);
	assert_int_equal(run->cancel, 1);
	const struct call *k = last(C_KILL);
	assert_int_equal(k->sig, SIGRTMIN);
	assert_true(pthread_equal(k->thread, a.self));
	/* the thread already exited: the flag is set, nothing else to do */
	F.kill_ret = -ESRCH;
	assert_int_equal(kif_vp_cancel(kif, 1), 0);
	F.kill_ret = -EINVAL;
	assert_int_equal(kif_vp_cancel(kif, 1), -EINVAL);
	F.kill_ret = 0;

	/* cancelling the calling thread's own VP: flag only */
	assert_int_equal(kif_vp_bind(kif, 0), 0);
	F.ncalls = 0;
	assert_int_equal(kif_vp_cancel(kif, 0), 0);
	assert_int_equal(((struct mshv_abi_run *)kif_vp_run_page(kif, 0))->cancel, 1);
	assert_int_equal(count(C_KILL), 0);
	kif_close(kif);
}

static void test_registers(void **state)
{
	(void)state;
	struct kif *kif = open_default();
	uint8_t v[16];
	assert_int_equal(kif_vp_get_register(kif, 0x50000, (union hv_register_value *)v), -EINVAL);
	assert_int_equal(kif_vp_bind(kif, 3), 0);
	F.ncalls = 0;
	for (int i = 0; i < 16; i++)
		F.reg_value[i] = (uint8_t)(0xC0 + i);
	memset(v, 0, sizeof(v));
	assert_int_equal(kif_vp_get_register(kif, 0x50004, (union hv_register_value *)v), 0);
	const struct call *c = last(C_IOCTL);
	assert_int_equal(c->fd, FD_VTL);
	assert_int_equal(c->req, 0xC010B805);
	assert_int_equal(u32_at(c->arg, 0), 1);  /* count */
	assert_int_equal(u32_at(c->arg, 4), 0);  /* reserved */
	assert_int_equal(u32_at(c->ptr, 0), 0x50004);
	assert_int_equal(u32_at(c->ptr, 4), 0);
	assert_int_equal(u64_at(c->ptr, 8), 0);
	assert_memory_equal(v, F.reg_value, 16);

	for (int i = 0; i < 16; i++)
		v[i] = (uint8_t)i;
	assert_int_equal(kif_vp_set_register(kif, 0x8000E, (union hv_register_value *)v), 0);
	c = last(C_IOCTL);
	assert_int_equal(c->req, 0x4010B806);
	assert_int_equal(u32_at(c->arg, 0), 1);
	assert_int_equal(u32_at(c->ptr, 0), 0x8000E);
	assert_memory_equal(c->ptr + 16, v, 16);

	F.ioctl_ret = -EIO;
	memset(v, 0x77, sizeof(v));
	assert_int_equal(kif_vp_get_register(kif, 0x50000, (union hv_register_value *)v), -EIO);
	assert_int_equal(v[0], 0x77); /* untouched on failure */
	assert_int_equal(kif_vp_set_register(kif, 0x50000, (union hv_register_value *)v), -EIO);
	F.ioctl_ret = 0;
	assert_int_equal(kif_vp_get_register(kif, 0x50000, NULL), -EINVAL);
	kif_close(kif);
}

static void test_set_poll_file(void **state)
{
	(void)state;
	struct kif *kif = open_default();
	assert_int_equal(kif_vp_set_poll_file(kif, 3, 42), 0);
	const struct call *c = last(C_IOCTL);
	assert_int_equal(c->fd, FD_VTL);
	assert_int_equal(c->req, 0x4008B825);
	assert_int_equal(u32_at(c->arg, 0), 3);
	assert_int_equal(u32_at(c->arg, 4), 42);
	assert_int_equal(kif_vp_set_poll_file(kif, 4, 42), -EINVAL);
	assert_int_equal(kif_vp_set_poll_file(kif, 0, -1), -EINVAL);
	F.ioctl_ret = -EBADF;
	assert_int_equal(kif_vp_set_poll_file(kif, 0, 5), -EBADF);
	F.ioctl_ret = 0;
	kif_close(kif);
}

/* ---- hypercalls ---- */

static void test_hvcall(void **state)
{
	(void)state;
	struct kif *kif = open_default();
	uint8_t in[24] = { 1, 2, 3 };
	uint8_t out[32];
	uint64_t res = 0;
	F.hv_status = 0x0000000300000000ull; /* success, 3 reps completed */
	uint64_t control = 0x50 | (3ull << 32);
	assert_int_equal(kif_hvcall(kif, control, in, sizeof(in), out, sizeof(out), &res), 0);
	assert_int_equal(res, F.hv_status);
	const struct call *c = last(C_IOCTL);
	assert_int_equal(c->fd, FD_HVCALL);
	assert_int_equal(c->req, 0xC030B81F);
	assert_int_equal(u64_at(c->arg, 0), control);
	assert_int_equal(u64_at(c->arg, 8), sizeof(in));
	assert_int_equal(u64_at(c->arg, 16), (uint64_t)(uintptr_t)in);
	assert_int_equal(u64_at(c->arg, 32), sizeof(out));
	assert_int_equal(u64_at(c->arg, 40), (uint64_t)(uintptr_t)out);
	assert_memory_equal(c->ptr, in, sizeof(in));
	assert_int_equal(out[31], 0xAB);

	F.ncalls = 0;
	assert_int_equal(kif_hvcall(kif, 0x50 | (1ull << 16), in, 8, NULL, 0, &res), -EINVAL);
	assert_int_equal(kif_hvcall(kif, 0x50, in, 4097, NULL, 0, &res), -EINVAL);
	assert_int_equal(kif_hvcall(kif, 0x50, in, 8, out, 4097, &res), -EINVAL);
	assert_int_equal(kif_hvcall(kif, 0x50, NULL, 8, NULL, 0, &res), -EINVAL);
	assert_int_equal(kif_hvcall(kif, 0x50, in, 8, NULL, 8, &res), -EINVAL);
	assert_int_equal(kif_hvcall(kif, 0x50, in, 8, NULL, 0, NULL), -EINVAL);
	assert_int_equal(kif_hvcall(kif, 0x0001, NULL, 0, NULL, 0, &res), -EPERM);
	assert_int_equal(kif_hvcall(kif, 0x8001, NULL, 0, NULL, 0, &res), -EPERM);
	assert_int_equal(F.ncalls, 0);
	F.ioctl_ret = -EFAULT;
	res = 7;
	assert_int_equal(kif_hvcall(kif, 0x51, in, 8, NULL, 0, &res), -EFAULT);
	assert_int_equal(res, 7);
	F.ioctl_ret = 0;
	kif_close(kif);
}

/* ---- SINT ---- */

static void test_sint_pause_and_read(void **state)
{
	(void)state;
	struct kif *kif = open_default();
	assert_int_equal(kif_sint_pause(kif, false), 0);
	const struct call *c = last(C_IOCTL);
	assert_int_equal(c->fd, FD_SINT);
	assert_int_equal(c->req, 0x4008B825);
	static const uint8_t unmask[8] = { 0 };
	assert_memory_equal(c->arg, unmask, 8);
	assert_int_equal(kif_sint_pause(kif, true), 0);
	assert_int_equal(last(C_IOCTL)->arg[0], 1);

	_Alignas(16) uint8_t msg[256];
	for (int i = 0; i < 256; i++)
		F.msg[i] = (uint8_t)i;
	F.read_ret = 256;
	F.ncalls = 0;
	assert_int_equal(kif_sint_read(kif, (struct hv_message *)msg, true), 1);
	assert_int_equal(F.ncalls, 1);
	assert_int_equal(F.calls[0].fd, FD_SINT_READ);
	assert_true(F.calls[0].len >= 256);
	assert_memory_equal(msg, F.msg, 256);

	F.read_ret = 0;
	assert_int_equal(kif_sint_read(kif, (struct hv_message *)msg, true), 0);
	F.read_ret = 100;
	assert_int_equal(kif_sint_read(kif, (struct hv_message *)msg, true), -EIO);
	F.read_ret = -EINTR;
	assert_int_equal(kif_sint_read(kif, (struct hv_message *)msg, true), -EINTR);

	/* non-blocking: poll first, with a zero timeout; nothing queued means no read */
	F.read_ret = 256;
	F.poll_ready = 0;
	F.ncalls = 0;
	assert_int_equal(kif_sint_read(kif, (struct hv_message *)msg, false), -EAGAIN);
	assert_int_equal(F.ncalls, 1);
	assert_int_equal(F.calls[0].kind, C_POLL);
	assert_int_equal(F.calls[0].fd, FD_SINT_READ);
	assert_int_equal(F.calls[0].flags, 0);
	assert_true(F.calls[0].prot & POLLIN);
	F.poll_ready = 1;
	assert_int_equal(kif_sint_read(kif, (struct hv_message *)msg, false), 1);
	assert_int_equal(kif_sint_read(kif, NULL, false), -EINVAL);
	kif_close(kif);
}

static void test_sint_post(void **state)
{
	(void)state;
	struct kif *kif = open_default();
	uint8_t payload[240];
	for (int i = 0; i < 240; i++)
		payload[i] = (uint8_t)(255 - i);
	assert_int_equal(kif_sint_post_message(kif, 0x2000, 1, payload, 240), 0);
	const struct call *c = last(C_IOCTL);
	assert_int_equal(c->fd, FD_SINT);
	assert_int_equal(c->req, 0x4018B823);
	assert_int_equal(u64_at(c->arg, 0), 1);
	assert_int_equal(u32_at(c->arg, 8), 0x2000);
	assert_int_equal(u32_at(c->arg, 12), 240);
	assert_int_equal(c->ptr_len, 240);
	assert_memory_equal(c->ptr, payload, 240);

	F.ncalls = 0;
	assert_int_equal(kif_sint_post_message(kif, 1, 1, payload, 241), -EINVAL);
	assert_int_equal(kif_sint_post_message(kif, 1, 1, NULL, 4), -EINVAL);
	assert_int_equal(F.ncalls, 0);
	assert_int_equal(kif_sint_post_message(kif, 1, 1, NULL, 0), 0);

	/* positive returns are raw HV status values */
	static const struct { int status; int err; } map[] = {
		{ 0x13, -EAGAIN }, { 0x12, -ENOENT }, { 0x05, -EINVAL }, { 0x06, -EACCES },
		{ 0x0B, -ENOMEM }, { 0x78, -ETIMEDOUT }, { 0x02, -EOPNOTSUPP }, { 0x71, -EIO },
		{ 0x1D, -EAGAIN }, { 0x4242, -EIO },
	};
	for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++) {
		F.ioctl_ret = map[i].status;
		assert_int_equal(kif_sint_post_message(kif, 1, 1, payload, 8), map[i].err);
	}
	F.ioctl_ret = -ENODEV;
	assert_int_equal(kif_sint_post_message(kif, 1, 1, payload, 8), -ENODEV);
	F.ioctl_ret = 0;
	kif_close(kif);
}

static void test_sint_events(void **state)
{
	(void)state;
	struct kif *kif = open_default();
	assert_int_equal(kif_sint_signal_event(kif, 0x1234, 2047), 0);
	const struct call *c = last(C_IOCTL);
	assert_int_equal(c->fd, FD_SINT);
	assert_int_equal(c->req, 0x4008B822);
	assert_int_equal(u32_at(c->arg, 0), 0x1234);
	assert_int_equal(u32_at(c->arg, 4), 2047);
	assert_int_equal(kif_sint_signal_event(kif, 1, 2048), -EINVAL);
	F.ioctl_ret = 0x12;
	assert_int_equal(kif_sint_signal_event(kif, 1, 0), -ENOENT);
	F.ioctl_ret = 0;

	assert_int_equal(kif_sint_set_eventfd(kif, 5, 77), 0);
	c = last(C_IOCTL);
	assert_int_equal(c->fd, FD_SINT);
	assert_int_equal(c->req, 0x4008B824);
	assert_int_equal((int32_t)u32_at(c->arg, 0), 77);
	assert_int_equal(u32_at(c->arg, 4), 5);
	assert_int_equal(kif_sint_set_eventfd(kif, 5, -1), 0);
	assert_int_equal((int32_t)u32_at(last(C_IOCTL)->arg, 0), -1);
	assert_int_equal(kif_sint_set_eventfd(kif, 5, -2), -EINVAL);
	assert_int_equal(kif_sint_set_eventfd(kif, 2048, 3), -EINVAL);
	F.ioctl_ret = -EBADF;
	assert_int_equal(kif_sint_set_eventfd(kif, 0, 3), -EBADF);
	F.ioctl_ret = 0;
	kif_close(kif);
}

/* ---- VTL0 memory ---- */

static void test_vtl0_memory(void **state)
{
	(void)state;
	struct kif *kif = open_default();
	void *p = NULL;
	assert_int_equal(kif_vtl0_map(kif, gpa(0x100000), 0x3000, &p), 0);
	assert_non_null(p);
	const struct call *c = last(C_MMAP);
	assert_int_equal(c->fd, FD_LOW);
	assert_int_equal(c->off, 0x100000);
	assert_int_equal(c->len, 0x3000);
	assert_int_equal(c->prot, PROT_READ | PROT_WRITE);
	assert_int_equal(c->flags, MAP_SHARED);
	assert_int_equal(kif_vtl0_unmap(kif, p, 0x3000), 0);
	assert_int_equal(last(C_MUNMAP)->len, 0x3000);

	F.ncalls = 0;
	assert_int_equal(kif_vtl0_map(kif, gpa(0x100800), 0x1000, &p), -EINVAL);
	assert_int_equal(kif_vtl0_map(kif, gpa(0x100000), 0x800, &p), -EINVAL);
	assert_int_equal(kif_vtl0_map(kif, gpa(0x100000), 0, &p), -EINVAL);
	assert_int_equal(kif_vtl0_map(kif, gpa(0xFFFFFFFFFFFFF000ull), 0x2000, &p), -EINVAL);
	assert_int_equal(kif_vtl0_map(kif, gpa(0), 0x1000, NULL), -EINVAL);
	assert_int_equal(kif_vtl0_unmap(kif, NULL, 0x1000), -EINVAL);
	assert_int_equal(F.ncalls, 0);

	assert_int_equal(kif_vtl0_add_memory(kif, gpn(0x100), gpn(0x200)), 0);
	c = last(C_IOCTL);
	assert_int_equal(c->fd, FD_VTL);
	assert_int_equal(c->req, 0x4010B821);
	assert_int_equal(u64_at(c->arg, 0), 0x100);
	assert_int_equal(u64_at(c->arg, 8), 0x200);
	F.ncalls = 0;
	assert_int_equal(kif_vtl0_add_memory(kif, gpn(0x200), gpn(0x200)), -EINVAL);
	assert_int_equal(kif_vtl0_add_memory(kif, gpn(0x201), gpn(0x200)), -EINVAL);
	assert_int_equal(kif_vtl0_add_memory(kif, gpn(0), gpn(1ull << 41)), -EINVAL);
	assert_int_equal(F.ncalls, 0);
	F.ioctl_ret = -ENOMEM;
	assert_int_equal(kif_vtl0_add_memory(kif, gpn(0), gpn(1)), -ENOMEM);
	F.ioctl_ret = 0;
	kif_close(kif);
}

/* ---- the real Linux table ---- */

static void test_linux_ops_basics(void **state)
{
	(void)state;
	const struct kif_sys_ops *o = &kif_sys_linux_ops;
	assert_ptr_equal(kif_sys_get_ops(), o);
	assert_int_equal(o->open("/nonexistent/mshv", O_RDWR), -ENOENT);
	int fd = o->open("/dev/null", O_RDWR);
	assert_true(fd >= 0);
	assert_int_equal(o->ioctl(fd, MSHV_ABI_RETURN_TO_LOWER_VTL, NULL), -ENOTTY);
	uint8_t b[4];
	assert_int_equal(o->read(fd, b, sizeof(b)), 0);
	assert_int_equal(o->close(fd), 0);
	assert_int_equal(o->close(fd), -EBADF);
	assert_true(o->online_cpus() > 0);
	void *p = NULL;
	assert_int_equal(o->mmap(NULL, 4096, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0, &p), 0);
	assert_int_equal(o->munmap(p, 4096), 0);
	assert_int_equal(o->mmap(NULL, 4096, PROT_READ, MAP_SHARED, -1, 0, &p), -EBADF);
	assert_int_equal(o->pin_cpu(1u << 20), -EINVAL);

	/* kif_open without the driver: the missing node, and no leaked fd */
	struct kif *kif = NULL;
	struct kif_params prm = { .dev_dir = "/nonexistent" };
	assert_int_equal(kif_open(&prm, &kif), -ENOENT);
	assert_null(kif);
}

static int kick_pipe[2];
static volatile int kick_result = 1;

static void *blocked_reader(void *arg)
{
	(void)arg;
	uint8_t b;
	kick_result = (int)kif_sys_linux_ops.read(kick_pipe[0], &b, 1);
	return NULL;
}

static void test_linux_kick_interrupts(void **state)
{
	(void)state;
	/* The handler must not restart system calls: the blocked VP thread sees -EINTR. */
	const struct kif_sys_ops *o = &kif_sys_linux_ops;
	assert_int_equal(o->install_kick_handler(kif_sys_kick_signal()), 0);
	assert_int_equal(pipe(kick_pipe), 0);
	pthread_t t;
	assert_int_equal(pthread_create(&t, NULL, blocked_reader, NULL), 0);
	/* keep kicking until the reader has come back (the first kick may land before read) */
	for (int i = 0; i < 2000 && kick_result == 1; i++) {
		assert_int_equal(o->thread_kill(t, kif_sys_kick_signal()), 0);
		usleep(1000);
	}
	assert_int_equal(pthread_join(t, NULL), 0);
	assert_int_equal(kick_result, -EINTR);
	close(kick_pipe[0]);
	close(kick_pipe[1]);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_open_sequence, setup, teardown),
		cmocka_unit_test_setup_teardown(test_open_default_dir_and_no_second_kick, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_open_allow_list, setup, teardown),
		cmocka_unit_test_setup_teardown(test_open_each_failure, setup, teardown),
		cmocka_unit_test_setup_teardown(test_open_online_cpus_failure, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bind_maps_and_pins, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bind_without_register_page, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bind_failures, setup, teardown),
		cmocka_unit_test_setup_teardown(test_cancel, setup, teardown),
		cmocka_unit_test_setup_teardown(test_registers, setup, teardown),
		cmocka_unit_test_setup_teardown(test_set_poll_file, setup, teardown),
		cmocka_unit_test_setup_teardown(test_hvcall, setup, teardown),
		cmocka_unit_test_setup_teardown(test_sint_pause_and_read, setup, teardown),
		cmocka_unit_test_setup_teardown(test_sint_post, setup, teardown),
		cmocka_unit_test_setup_teardown(test_sint_events, setup, teardown),
		cmocka_unit_test_setup_teardown(test_vtl0_memory, setup, teardown),
		cmocka_unit_test(test_linux_ops_basics),
		cmocka_unit_test(test_linux_kick_interrupts),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
