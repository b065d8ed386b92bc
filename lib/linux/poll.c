/*
 * poll.c: poll(), ppoll(), select() and pselect6(): waiting for any of
 * several descriptors.  Each guest descriptor is its file's host fd, so the
 * host's poll() says what is ready; the wait itself is lx_wait_fds(), which
 * a signal for the program, another process's doorbell or a stop ends.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>

#include "personality.h"

#define LX_NR_POLL		7
#define LX_NR_SELECT		23
#define LX_NR_PSELECT6		270
#define LX_NR_PPOLL		271
#define LX_RESTART_CALL		(1LL << 40)	/* not a count: make the call again */
#define NSEC_PER_USEC		1000LL
#define NSEC_PER_MSEC		1000000LL
#define NSEC_PER_SEC		1000000000LL

/* struct pollfd as the guest has it (the same as the host's on x86-64). */
struct lx_pollfd {
	int32_t fd;
	int16_t events, revents;
};

/* How many entries the host says are ready now, without waiting; -errno. */
static int look_now(struct pollfd *fds, unsigned n)
{
	const struct timespec zero = { 0, 0 };
	int ready = ppoll(fds, n, &zero, NULL);

	return ready < 0 ? -errno : ready;
}

/*
 * Until an entry of @fds is ready (>= 0: how many), @timeout_ns passes
 * (< 0: never; 0), a signal for the program comes (-EINTR), or the run
 * stops (LX_RESTART_CALL: the caller makes the call again, for the time
 * left).  @mask (NULL: none) is the thread's mask during the wait; a
 * signal's handler frame gets the one from before, as sigsuspend's does.
 */
static int64_t wait_ready(struct pkvm_vm *vm, struct pkvm_linux *lx, const uint64_t args[6],
			  struct pollfd *fds, unsigned n, int64_t timeout_ns, const uint64_t *mask,
			  int64_t *left_ns)
{
	uint64_t before = lx->sig.t.blocked;
	struct timespec until, now;
	int64_t ret;

	if (mask)
		lx_signal_set_blocked(lx, *mask);
	if (timeout_ns > 0)
		lx_relative_deadline(vm, lx, args, timeout_ns, &until);
	for (;;) {
		ret = look_now(fds, n);
		if (ret != 0 || timeout_ns == 0)
			break;
		if (timeout_ns > 0 && lx_deadline_passed(&until))
			break;
		ret = lx_wait_fds(vm, fds, n, CLOCK_MONOTONIC, timeout_ns > 0 ? &until : NULL);
		if (ret == -EINTR && !lx_signal_interrupts(vm, lx)) {
			if (timeout_ns > 0)
				lx_remember_deadline(vm, lx, args, &until);
			ret = LX_RESTART_CALL;
		}
		if (ret)
			break;
	}
	if (ret == -EINTR && mask && lx_signal_pending(lx)) {
		lx->sig.t.saved_mask = before;
		lx->sig.t.mask_saved = true;
	} else {
		lx_signal_set_blocked(lx, before);
	}
	/* What is left of the timeout: select() and pselect6() tell it (Linux's way). */
	*left_ns = timeout_ns;
	if (timeout_ns > 0) {
		clock_gettime(CLOCK_MONOTONIC, &now);
		*left_ns = (until.tv_sec - now.tv_sec) * NSEC_PER_SEC + (until.tv_nsec - now.tv_nsec);
		if (*left_ns < 0)
			*left_ns = 0;
	}
	return ret;
}

/* A wait's result: an error, a count, or the call made again (LX_RESTART_CALL). */
static enum lx_action finish(struct pkvm_vm *vm, uint64_t nr, int err, int64_t ret,
			     int64_t *result)
{
	if (err)
		return lx_ret(result, err);
	if (ret == LX_RESTART_CALL)
		return lx_restart(vm, nr, result);
	return lx_ret(result, ret);
}

/* ppoll()'s and pselect6()'s sigset, if @gva is not NULL: *@out points at it then. */
static int read_mask(struct pkvm_vm *vm, uint64_t gva, uint64_t size, uint64_t *mask,
		     const uint64_t **out)
{
	int err = gva ? lx_read_sigmask(vm, gva, size, mask) : 0;

	*out = gva && !err ? mask : NULL;
	return err;
}

/* A guest struct timespec as a timeout in ns (NULL: -1, none). */
static int read_timeout(struct pkvm_vm *vm, uint64_t gva, int64_t *ns)
{
	struct timespec ts;
	int err;

	*ns = -1;
	if (!gva)
		return 0;
	err = lx_read_timespec(vm, gva, &ts);
	if (!err)
		*ns = ts.tv_sec * NSEC_PER_SEC + ts.tv_nsec;
	return err;
}

static enum lx_action do_poll(struct pkvm_vm *vm, struct pkvm_linux *lx, const uint64_t args[6],
			      uint64_t nr, int64_t timeout_ns, const uint64_t *mask,
			      int64_t *result)
{
	uint64_t nfds = args[1];
	struct lx_pollfd *g = NULL;
	struct pollfd *h = NULL;
	int64_t ret = 0, left;
	int err;

	if (nfds > lx->config.max_fds)
		return lx_ret(result, -EINVAL);
	g = calloc(nfds + 1, sizeof(*g));
	h = calloc(nfds + LX_WAIT_EXTRA_FDS, sizeof(*h));
	err = g && h ? lx_read(vm, g, args[0], nfds * sizeof(*g)) : -ENOMEM;
	for (uint64_t i = 0; i < nfds && !err; i++) {
		struct lx_file *f = g[i].fd >= 0 ? lx_fd_get(lx, (uint64_t)g[i].fd) : NULL;

		/* A negative fd is skipped; a closed one is POLLNVAL, ready at once. */
		h[i] = (struct pollfd){ .fd = f ? f->host_fd : -1, .events = g[i].events };
		if (g[i].fd >= 0 && !f)
			timeout_ns = 0;
	}
	if (!err)
		ret = wait_ready(vm, lx, args, h, (unsigned)nfds, timeout_ns, mask, &left);
	if (!err && ret >= 0 && ret != LX_RESTART_CALL) {
		ret = 0;
		for (uint64_t i = 0; i < nfds; i++) {
			bool closed = g[i].fd >= 0 && !lx_fd_get(lx, (uint64_t)g[i].fd);

			g[i].revents = closed ? POLLNVAL : h[i].revents;
			ret += g[i].revents != 0;
		}
		err = lx_write(vm, args[0], g, nfds * sizeof(*g));
	}
	free(g);
	free(h);
	return finish(vm, nr, err, ret, result);
}

LX_HANDLER_DEF(lx_sys_poll)
{
	int timeout = (int)args[2];

	return do_poll(vm, lx, args, LX_NR_POLL, timeout < 0 ? -1 : timeout * NSEC_PER_MSEC, NULL,
		       result);
}

LX_HANDLER_DEF(lx_sys_ppoll)
{
	uint64_t mask;
	const uint64_t *maskp;
	int64_t timeout_ns;
	int err = read_timeout(vm, args[2], &timeout_ns);

	if (!err)
		err = read_mask(vm, args[3], args[4], &mask, &maskp);
	if (err)
		return lx_ret(result, err);
	return do_poll(vm, lx, args, LX_NR_PPOLL, timeout_ns, maskp, result);
}

/* select()'s three sets, as words of 64 descriptors each. */
struct lx_fdsets {
	uint64_t *set[3];	/* read, write, except; NULL: not given */
	size_t words;
};

static const short select_events[3] = { POLLIN, POLLOUT, POLLPRI };
/* What makes a descriptor ready for each set (Linux's POLLIN_SET, POLLOUT_SET, POLLEX_SET). */
static const short select_ready[3] = { POLLIN | POLLHUP | POLLERR, POLLOUT | POLLERR, POLLPRI };

/* The time left, into select()'s struct timeval or pselect6()'s struct timespec at @gva. */
static int write_left(struct pkvm_vm *vm, uint64_t nr, uint64_t gva, int64_t left_ns)
{
	int64_t t[2] = { left_ns / NSEC_PER_SEC, left_ns % NSEC_PER_SEC };

	if (nr == LX_NR_SELECT)
		t[1] /= NSEC_PER_USEC;
	return lx_write(vm, gva, t, sizeof(t));
}

static enum lx_action do_select(struct pkvm_vm *vm, struct pkvm_linux *lx, const uint64_t args[6],
				uint64_t nr, int64_t timeout_ns, const uint64_t *mask,
				int64_t *result)
{
	uint64_t nfds = args[0];
	struct lx_fdsets s = { .words = (nfds + 63) / 64 };
	struct pollfd *h;
	int64_t ret = 0, left;
	int err = 0;

	if ((int64_t)nfds < 0)
		return lx_ret(result, -EINVAL);
	if (nfds > lx->config.max_fds)
		nfds = lx->config.max_fds;	/* Linux caps it at the descriptors there are */
	s.words = (nfds + 63) / 64;
	h = calloc(nfds + LX_WAIT_EXTRA_FDS, sizeof(*h));
	if (!h)
		return lx_ret(result, -ENOMEM);
	for (int k = 0; k < 3 && !err; k++) {
		if (!args[k + 1])
			continue;
		s.set[k] = calloc(s.words + 1, sizeof(uint64_t));
		err = s.set[k] ? lx_read(vm, s.set[k], args[k + 1], s.words * 8) : -ENOMEM;
	}
	for (uint64_t fd = 0; fd < nfds && !err; fd++) {
		struct lx_file *f = lx_fd_get(lx, fd);

		h[fd].fd = -1;
		for (int k = 0; k < 3; k++) {
			if (!s.set[k] || !(s.set[k][fd / 64] & (1ULL << (fd % 64))))
				continue;
			if (!f) {
				err = -EBADF;
				break;
			}
			h[fd].fd = f->host_fd;
			h[fd].events |= select_events[k];
		}
	}
	if (!err)
		ret = wait_ready(vm, lx, args, h, (unsigned)nfds, timeout_ns, mask, &left);
	if (!err && ret != LX_RESTART_CALL && timeout_ns >= 0)
		err = write_left(vm, nr, args[4], left);
	if (!err && ret >= 0 && ret != LX_RESTART_CALL) {
		ret = 0;
		for (int k = 0; k < 3; k++) {
			if (!s.set[k])
				continue;
			for (uint64_t fd = 0; fd < nfds; fd++) {
				uint64_t bit = 1ULL << (fd % 64);

				if (!(s.set[k][fd / 64] & bit))
					continue;
				if (h[fd].revents & select_ready[k])
					ret++;
				else
					s.set[k][fd / 64] &= ~bit;
			}
			if (!err)
				err = lx_write(vm, args[k + 1], s.set[k], s.words * 8);
		}
	}
	for (int k = 0; k < 3; k++)
		free(s.set[k]);
	free(h);
	return finish(vm, nr, err, ret, result);
}

LX_HANDLER_DEF(lx_sys_select)
{
	int64_t tv[2], timeout_ns = -1;

	if (args[4]) {
		int err = lx_read(vm, tv, args[4], sizeof(tv));

		if (err)
			return lx_ret(result, err);
		if (tv[0] < 0 || tv[1] < 0 || tv[1] >= 1000000)
			return lx_ret(result, -EINVAL);
		/* Far enough is forever: no overflow from a huge guest value. */
		timeout_ns = tv[0] > 1000000000 ? -1 : tv[0] * NSEC_PER_SEC + tv[1] * NSEC_PER_USEC;
	}
	return do_select(vm, lx, args, LX_NR_SELECT, timeout_ns, NULL, result);
}

LX_HANDLER_DEF(lx_sys_pselect6)
{
	struct { uint64_t set, size; } sig = { 0, 0 };
	uint64_t mask;
	const uint64_t *maskp = NULL;
	int64_t timeout_ns;
	int err = read_timeout(vm, args[4], &timeout_ns);

	if (!err && args[5])
		err = lx_read(vm, &sig, args[5], sizeof(sig));
	if (!err)
		err = read_mask(vm, sig.set, sig.size, &mask, &maskp);
	if (err)
		return lx_ret(result, err);
	return do_select(vm, lx, args, LX_NR_PSELECT6, timeout_ns, maskp, result);
}
