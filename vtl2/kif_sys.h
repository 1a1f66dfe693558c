/*
 * kif_sys: the operating-system calls under vtl2/kif_mshv.c, as a replaceable table.
 *
 * kif_mshv talks to the mshv_vtl driver only through these functions, so its unit tests can
 * swap in a recording fake (kif_sys_set_ops) and check every request byte for byte without
 * the driver. The default table is plain Linux.
 *
 * Convention: every operation returns 0 / a non-negative value, or -errno (never -1 + errno).
 */
#ifndef MEZZ_VTL2_KIF_SYS_H
#define MEZZ_VTL2_KIF_SYS_H

#include <poll.h>
#include <pthread.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct kif_sys_ops {
	/** open(2) with O_CLOEXEC added: fd or -errno. */
	int (*open)(const char *path, int flags);
	/** close(2): 0 or -errno. */
	int (*close)(int fd);
	/** ioctl(2): the driver's non-negative return value, or -errno. */
	int (*ioctl)(int fd, unsigned long request, void *arg);
	/** mmap(2): 0 with *out set, or -errno. */
	int (*mmap)(void *addr, size_t len, int prot, int flags, int fd, uint64_t offset,
		    void **out);
	/** munmap(2): 0 or -errno. */
	int (*munmap)(void *addr, size_t len);
	/** read(2): bytes read (0 at EOF) or -errno. */
	ssize_t (*read)(int fd, void *buf, size_t len);
	/** poll(2): number of ready fds (0 on timeout) or -errno. */
	int (*poll)(struct pollfd *fds, nfds_t nfds, int timeout_ms);
	/** Pin the calling thread to one CPU (sched_setaffinity): 0 or -errno. */
	int (*pin_cpu)(uint32_t cpu);
	/** Number of online CPUs (> 0) or -errno. */
	int (*online_cpus)(void);
	/** pthread_self(). */
	pthread_t (*thread_self)(void);
	/** pthread_kill(): 0 or -errno. */
	int (*thread_kill)(pthread_t thread, int sig);
	/**
	 * Install a handler for `sig` that does nothing and does not restart system calls, so a
	 * signal aimed at a VP thread makes its blocking ioctl return -EINTR: 0 or -errno.
	 */
	int (*install_kick_handler)(int sig);
};

/** The Linux implementation. */
extern const struct kif_sys_ops kif_sys_linux_ops;

/** The table in use (kif_sys_linux_ops unless replaced). */
const struct kif_sys_ops *kif_sys_get_ops(void);
/**
 * Replace the table (tests); NULL restores the Linux one. Not thread-safe: call before
 * kif_open. A struct kif keeps the table that was current when it was opened.
 */
void kif_sys_set_ops(const struct kif_sys_ops *ops);

/** The signal kif_vp_cancel sends to a VP thread (SIGRTMIN, resolved at run time). */
int kif_sys_kick_signal(void);

#endif
