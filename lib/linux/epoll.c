/*
 * epoll.c: epoll_create1, epoll_ctl, epoll_wait and epoll_pwait on a host
 * epoll instance per guest one.  The guest names its own fds; they are
 * registered by their host fds, with the guest's 64 bits of data given back
 * untouched.  A wait waits in lx_wait() on the instance's host fd, so that
 * signals, pkvm_interrupt(), the time limit and other threads' time slices
 * reach it, then takes what is ready without blocking.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "personality.h"

#define LX_NR_EPOLL_WAIT	232
#define LX_NR_EPOLL_PWAIT	281
#define LX_EPOLL_EVENT_SIZE	12	/* x86-64's struct epoll_event is packed */
#define LX_EP_MAX_EVENTS	(0x7fffffff / LX_EPOLL_EVENT_SIZE)
#define NSEC_PER_MSEC		1000000LL

struct lx_epoll_event {
	uint32_t events;
	uint64_t data;
} __attribute__((packed));
_Static_assert(sizeof(struct lx_epoll_event) == LX_EPOLL_EVENT_SIZE, "not x86-64's layout");

static int64_t do_create(struct pkvm_linux *lx, uint64_t flags)
{
	struct lx_file *f;
	int fd, gfd;

	if (flags & ~(uint64_t)EPOLL_CLOEXEC)
		return -EINVAL;
	if (lx->host_fds >= lx->config.max_fds)
		return -EMFILE;
	fd = epoll_create1(EPOLL_CLOEXEC);
	if (fd < 0)
		return -errno;
	f = lx_file_new(fd, true, false, false);
	if (!f) {
		close(fd);
		return -ENOMEM;
	}
	f->is_epoll = true;
	lx_file_hold(lx, f);
	gfd = lx_fd_install(lx, f, 0, flags & EPOLL_CLOEXEC);
	lx_file_put(f);		/* the table holds it now, or nobody does */
	return gfd;
}

LX_HANDLER_DEF(lx_sys_epoll_create)
{
	(void)vm;
	return lx_ret(result, (int)args[0] <= 0 ? -EINVAL : do_create(lx, 0));
}

LX_HANDLER_DEF(lx_sys_epoll_create1)
{
	(void)vm;
	return lx_ret(result, do_create(lx, args[0]));
}

LX_HANDLER_DEF(lx_sys_epoll_ctl)
{
	struct lx_file *ep = lx_fd_get(lx, args[0]), *target = lx_fd_get(lx, args[2]);
	struct lx_epoll_event gev = { 0 };
	struct epoll_event hev;
	int op = (int)args[1], err;

	if (!ep || !target)
		return lx_ret(result, -EBADF);
	if (!ep->is_epoll || ep == target)
		return lx_ret(result, -EINVAL);
	if (op != EPOLL_CTL_ADD && op != EPOLL_CTL_MOD && op != EPOLL_CTL_DEL)
		return lx_ret(result, -EINVAL);
	if (op != EPOLL_CTL_DEL) {
		err = lx_read(vm, &gev, args[3], sizeof(gev));
		if (err)
			return lx_ret(result, err);
	}
	hev.events = gev.events;
	hev.data.u64 = gev.data;
	/* The host judges the rest as Linux would (EPERM for a regular file, EEXIST, ENOENT). */
	return lx_ret(result, epoll_ctl(ep->host_fd, op, target->host_fd, &hev) < 0 ? -errno : 0);
}

/* What is ready now, up to @max events, into the guest's array: a count or -errno. */
static int64_t take_ready(struct pkvm_vm *vm, struct pkvm_linux *lx, struct lx_file *ep,
			  uint64_t events_gva, int max)
{
	struct epoll_event *hev = (struct epoll_event *)lx->bounce;
	struct lx_epoll_event *gev = (struct lx_epoll_event *)lx->bounce;
	int cap = LX_BOUNCE / sizeof(*hev), n, err;

	n = epoll_wait(ep->host_fd, hev, max < cap ? max : cap, 0);
	if (n <= 0)
		return n < 0 ? -errno : 0;
	/* In place: the packed guest entries are shorter than the host's. */
	for (int i = 0; i < n; i++) {
		struct lx_epoll_event e = { hev[i].events, hev[i].data.u64 };

		gev[i] = e;
	}
	err = lx_write(vm, events_gva, gev, (size_t)n * sizeof(*gev));
	return err ? err : n;
}

/*
 * epoll_wait() and epoll_pwait(): -1 waits without end, 0 not at all.  A
 * signal for the program ends the wait with EINTR (never restarted, as on
 * Linux); a stop of the run or a time slice makes the call again, for the
 * time that was left.  epoll_pwait()'s mask is the thread's during the wait.
 */
static enum lx_action do_wait(struct pkvm_vm *vm, struct pkvm_linux *lx, const uint64_t args[6],
			      uint64_t nr, uint64_t mask_gva, int64_t *result)
{
	struct lx_file *ep = lx_fd_get(lx, args[0]);
	int max = (int)args[2], timeout = (int)args[3];
	uint64_t mask, before = lx->sig.t.blocked;
	struct timespec until;
	int64_t n;
	int err;

	if (!ep)
		return lx_ret(result, -EBADF);
	if (!ep->is_epoll || max <= 0 || max > LX_EP_MAX_EVENTS)
		return lx_ret(result, -EINVAL);
	if (mask_gva) {
		err = lx_read_sigmask(vm, mask_gva, args[5], &mask);
		if (err)
			return lx_ret(result, err);
		lx_signal_set_blocked(lx, mask);
	}
	if (timeout > 0)
		lx_relative_deadline(vm, lx, args, timeout * NSEC_PER_MSEC, &until);
	for (;;) {
		n = take_ready(vm, lx, ep, args[1], max);
		if (n != 0 || timeout == 0)
			break;
		err = lx_wait(vm, ep->host_fd, POLLIN, CLOCK_MONOTONIC, timeout > 0 ? &until : NULL);
		if (err == -EINTR) {
			if (lx_signal_interrupts(vm, lx)) {
				n = -EINTR;
				break;
			}
			lx_signal_set_blocked(lx, before);
			if (timeout > 0)
				lx_remember_deadline(vm, lx, args, &until);
			return lx_restart(vm, nr, result);
		}
		if (err) {
			n = err;
			break;
		}
		if (timeout > 0 && lx_deadline_passed(&until)) {
			n = take_ready(vm, lx, ep, args[1], max);
			break;
		}
	}
	lx_signal_set_blocked(lx, before);
	return lx_ret(result, n);
}

LX_HANDLER_DEF(lx_sys_epoll_wait)
{
	return do_wait(vm, lx, args, LX_NR_EPOLL_WAIT, 0, result);
}

LX_HANDLER_DEF(lx_sys_epoll_pwait)
{
	return do_wait(vm, lx, args, LX_NR_EPOLL_PWAIT, args[4], result);
}
