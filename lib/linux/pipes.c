/* pipes.c: pipe() and pipe2(): the guest's pipes are host pipes its fd table holds. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <unistd.h>

#include "personality.h"

#define LX_PIPE2_FLAGS	(O_CLOEXEC | O_NONBLOCK | O_DIRECT)

/* One end of a new pipe, owned by the file and counted among the guest's host fds. */
static struct lx_file *pipe_end(struct pkvm_linux *lx, int host_fd, bool writing, uint64_t flags)
{
	struct lx_file *f = lx_file_new(host_fd, true, !writing, writing);

	if (!f) {
		close(host_fd);
		return NULL;
	}
	f->may_block = true;
	f->is_pipe = true;
	f->nonblock = flags & O_NONBLOCK;
	lx_file_hold(lx, f);
	return f;
}

/*
 * The host side is always non-blocking: a guest that would wait waits in
 * lx_wait() (block.c), where signals, pkvm_interrupt() and the time limit
 * reach it, never in the host's read() or write().  O_DIRECT (packet mode)
 * is the host's too.  As in Linux, the fds are installed only once the
 * guest's int[2] took them: a bad pointer is EFAULT and leaves no fds.
 */
static int64_t do_pipe2(struct pkvm_vm *vm, struct pkvm_linux *lx, uint64_t fds_gva,
			uint64_t flags)
{
	struct lx_file *ends[2] = { NULL, NULL };
	int host[2], guest[2] = { -1, -1 }, err = 0;

	if (flags & ~(uint64_t)LX_PIPE2_FLAGS)
		return -EINVAL;
	if (lx->host_fds + 2 > lx->config.max_fds)
		return -EMFILE;
	if (pipe2(host, O_CLOEXEC | O_NONBLOCK | (flags & O_DIRECT)) < 0)
		return -errno;
	ends[0] = pipe_end(lx, host[0], false, flags);
	ends[1] = pipe_end(lx, host[1], true, flags);
	if (!ends[0] || !ends[1])
		err = -ENOMEM;
	for (unsigned i = 0; i < 2 && !err; i++) {
		guest[i] = lx_fd_install(lx, ends[i], 0, flags & O_CLOEXEC);
		if (guest[i] < 0)
			err = guest[i];
	}
	if (!err)
		err = lx_write(vm, fds_gva, guest, sizeof(guest));
	for (unsigned i = 0; i < 2; i++) {
		if (err && guest[i] >= 0)
			lx_fd_close(lx, guest[i]);
		lx_file_put(ends[i]);	/* the table holds them now, or nobody does */
	}
	return err;
}

LX_HANDLER_DEF(lx_sys_pipe)
{
	return lx_ret(result, do_pipe2(vm, lx, args[0], 0));
}

LX_HANDLER_DEF(lx_sys_pipe2)
{
	return lx_ret(result, do_pipe2(vm, lx, args[0], args[1]));
}
