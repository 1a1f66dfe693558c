/* kif_sys: the Linux system-call table under kif_mshv (see kif_sys.h). */
#include "vtl2/kif_sys.h"

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

static int linux_open(const char *path, int flags)
{
	int fd = open(path, flags | O_CLOEXEC);
	return fd < 0 ? -errno : fd;
}

static int linux_close(int fd)
{
	/* Linux always releases the fd, even on EINTR: never retry close. */
	return close(fd) < 0 ? -errno : 0;
}

static int linux_ioctl(int fd, unsigned long request, void *arg)
{
	int r = ioctl(fd, request, arg);
	return r < 0 ? -errno : r;
}

static int linux_mmap(void *addr, size_t len, int prot, int flags, int fd, uint64_t offset,
		      void **out)
{
	if (offset > (uint64_t)INT64_MAX)
		return -EINVAL;
	void *p = mmap(addr, len, prot, flags, fd, (off_t)offset);
	if (p == MAP_FAILED)
		return -errno;
	*out = p;
	return 0;
}

static int linux_munmap(void *addr, size_t len)
{
	return munmap(addr, len) < 0 ? -errno : 0;
}

static ssize_t linux_read(int fd, void *buf, size_t len)
{
	ssize_t r = read(fd, buf, len);
	return r < 0 ? -errno : r;
}

static int linux_poll(struct pollfd *fds, nfds_t nfds, int timeout_ms)
{
	int r = poll(fds, nfds, timeout_ms);
	return r < 0 ? -errno : r;
}

static int linux_pin_cpu(uint32_t cpu)
{
	if (cpu >= CPU_SETSIZE)
		return -EINVAL;
	cpu_set_t set;
	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	/* pid 0 = the calling thread (Linux affinity is per thread). */
	return sched_setaffinity(0, sizeof(set), &set) < 0 ? -errno : 0;
}

static int linux_online_cpus(void)
{
	long n = sysconf(_SC_NPROCESSORS_ONLN);
	if (n < 1)
		return -ENODEV;
	return n > INT32_MAX ? INT32_MAX : (int)n;
}

static pthread_t linux_thread_self(void)
{
	return pthread_self();
}

static int linux_thread_kill(pthread_t thread, int sig)
{
	return -pthread_kill(thread, sig);
}

static void kick_handler(int sig)
{
	(void)sig; /* the point is the interrupted system call, not the handler */
}

static int linux_install_kick_handler(int sig)
{
	struct sigaction sa;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = kick_handler;
	sigemptyset(&sa.sa_mask);
	sa.sa_flags = 0; /* no SA_RESTART: RETURN_TO_LOWER_VTL must come back with EINTR */
	return sigaction(sig, &sa, NULL) < 0 ? -errno : 0;
}

const struct kif_sys_ops kif_sys_linux_ops = {
	.open = linux_open,
	.close = linux_close,
	.ioctl = linux_ioctl,
	.mmap = linux_mmap,
	.munmap = linux_munmap,
	.read = linux_read,
	.poll = linux_poll,
	.pin_cpu = linux_pin_cpu,
	.online_cpus = linux_online_cpus,
	.thread_self = linux_thread_self,
	.thread_kill = linux_thread_kill,
	.install_kick_handler = linux_install_kick_handler,
};

static const struct kif_sys_ops *kif_sys_current = &kif_sys_linux_ops;

const struct kif_sys_ops *kif_sys_get_ops(void)
{
	return kif_sys_current;
}

void kif_sys_set_ops(const struct kif_sys_ops *ops)
{
	kif_sys_current = ops ? ops : &kif_sys_linux_ops;
}

int kif_sys_kick_signal(void)
{
	return SIGRTMIN;
}
