/* fdtable.c: the guest's file descriptors, mapped onto open files the personality holds. */
#include <errno.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "personality.h"

struct lx_file *lx_file_new(int host_fd, bool owned, bool readable, bool writable)
{
	struct lx_file *f = calloc(1, sizeof(*f));

	if (!f)
		return NULL;
	f->refs = 1;
	f->host_fd = host_fd;
	f->owned = owned;
	f->readable = readable;
	f->writable = writable;
	return f;
}

void lx_file_hold(struct pkvm_linux *lx, struct lx_file *f)
{
	f->held = &lx->host_fds;
	lx->host_fds++;
}

void lx_file_put(struct lx_file *f)
{
	struct stat st;

	if (!f || --f->refs)
		return;
	/* A tmpfs file: unlinked and closed by every process, its bytes go (space.c). */
	if (f->tmpfs_ino)
		lx_tmpfs_close(f->root->tmpfs, f->tmpfs_ino,
			       fstat(f->host_fd, &st) == 0 && st.st_nlink == 0);
	if (f->owned)
		close(f->host_fd);
	if (f->held)
		(*f->held)--;
	free(f->path);
	free(f);
}

/*
 * The standard streams: the host's descriptors, which the guest may use but
 * never closes.  max_fds (0: LX_DEFAULT_FDS) is the guest's RLIMIT_NOFILE:
 * its fd numbers stay below it, and so does the number of host fds it holds.
 */
int lx_fdtable_init(struct pkvm_linux *lx)
{
	const int host[3] = { lx->config.stdin_fd, lx->config.stdout_fd, lx->config.stderr_fd };

	if (lx->config.max_fds == 0)
		lx->config.max_fds = LX_DEFAULT_FDS;
	if (lx->config.max_fds < 3 || lx->config.max_fds > LX_NR_FDS)
		return -EINVAL;
	for (unsigned i = 0; i < 3; i++) {
		struct stat st;

		if (host[i] < 0)
			continue;
		lx->fds[i].file = lx_file_new(host[i], false, i == 0, i != 0);
		if (!lx->fds[i].file)
			return -ENOMEM;
		/* A pipe or a terminal may block: its reads and writes wait in lx_wait(). */
		if (fstat(host[i], &st) < 0)
			st.st_mode = 0;
		lx->fds[i].file->may_block = !S_ISREG(st.st_mode);
		lx->fds[i].file->is_pipe = S_ISFIFO(st.st_mode);
	}
	return 0;
}

void lx_fdtable_destroy(struct pkvm_linux *lx)
{
	for (unsigned i = 0; i < LX_NR_FDS; i++) {
		lx_file_put(lx->fds[i].file);
		lx->fds[i].file = NULL;
	}
}

struct lx_file *lx_fd_get(struct pkvm_linux *lx, uint64_t fd)
{
	return fd < lx->config.max_fds ? lx->fds[fd].file : NULL;
}

bool lx_fd_room(const struct pkvm_linux *lx)
{
	for (unsigned fd = 0; fd < lx->config.max_fds; fd++)
		if (!lx->fds[fd].file)
			return true;
	return false;
}

/* Install @file (taking a reference) at the lowest free fd >= @lowest; returns it or -EMFILE. */
int lx_fd_install(struct pkvm_linux *lx, struct lx_file *file, unsigned lowest, bool cloexec)
{
	for (unsigned fd = lowest; fd < lx->config.max_fds; fd++) {
		if (lx->fds[fd].file)
			continue;
		file->refs++;
		lx->fds[fd].file = file;
		lx->fds[fd].cloexec = cloexec;
		return fd;
	}
	return -EMFILE;
}

int lx_fd_close(struct pkvm_linux *lx, uint64_t fd)
{
	struct lx_file *f = lx_fd_get(lx, fd);

	if (!f)
		return -EBADF;
	lx->fds[fd].file = NULL;
	lx_file_put(f);
	return 0;
}

void lx_fds_close_on_exec(struct pkvm_linux *lx)
{
	for (unsigned fd = 0; fd < LX_NR_FDS; fd++)
		if (lx->fds[fd].file && lx->fds[fd].cloexec)
			lx_fd_close(lx, fd);
}
