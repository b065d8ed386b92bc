/* files.c: the file system calls, served on the personality's fd table and the --ro policy. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "personality.h"

#define LX_FIOCLEX		0x5451
#define LX_FIONCLEX		0x5450
#define LX_TERMIOS_SIZE		36	/* the kernel's struct termios, not libc's */
#define LX_WINSIZE_SIZE		8
#define LX_STAT_SIZE		144	/* struct stat on x86-64 */
#define LX_STATX_SIZE		256
#define LX_AT_EMPTY_PATH	0x1000
#define LX_AT_SYMLINK_NOFOLLOW	0x100
#define LX_AT_NO_AUTOMOUNT	0x800
#define LX_AT_STATX_SYNC_MASK	0x6000
#define LX_NR_READ		0
#define LX_NR_WRITE		1
#define LX_NR_READV		19
#define LX_NR_WRITEV		20
#define LX_NR_VMSPLICE		278
#define LX_SPLICE_F_NONBLOCK	0x02
#define LX_SPLICE_F_ALL		0x0f	/* MOVE, NONBLOCK, MORE, GIFT */

/* x86-64's struct stat as the guest's libc expects it, built field by field: no host padding. */
struct lx_stat {
	uint64_t dev, ino, nlink;
	uint32_t mode, uid, gid, pad0;
	uint64_t rdev;
	int64_t size, blksize, blocks;
	int64_t atime, atime_nsec, mtime, mtime_nsec, ctime, ctime_nsec;
	int64_t unused[3];
};
_Static_assert(sizeof(struct lx_stat) == LX_STAT_SIZE, "struct lx_stat is not x86-64's");

static uint64_t cap_len(uint64_t len)
{
	return len > LX_MAX_RW ? LX_MAX_RW : len;
}

/*
 * A write to a stream: a pipe whose reader is gone raises SIGPIPE in the
 * process, which would end the embedder.  It is blocked around the write,
 * and taken back if it came, so that the program alone gets it (EPIPE, and
 * SIGPIPE from the personality: write_from_guest()).
 */
static ssize_t stream_write(int fd, const void *buf, size_t len)
{
	const struct timespec now = { 0, 0 };
	sigset_t pipe_sig, old;
	ssize_t n;
	int e;

	sigemptyset(&pipe_sig);
	sigaddset(&pipe_sig, SIGPIPE);
	if (pthread_sigmask(SIG_BLOCK, &pipe_sig, &old))
		return -EINVAL;
	n = write(fd, buf, len);
	e = errno;
	if (n < 0 && e == EPIPE && !sigismember(&old, SIGPIPE))
		sigtimedwait(&pipe_sig, NULL, &now);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	errno = e;
	return n;
}

/* Whether host @fd is ready for @events now, without waiting: 1, 0 or -errno. */
static int ready_now(int fd, short events)
{
	const struct timespec now = { 0, 0 };
	struct pollfd p = { .fd = fd, .events = events };
	int n = ppoll(&p, 1, &now, NULL);	/* the lockdown allows ppoll, not poll */

	return n < 0 ? -errno : n;
}

/*
 * One host read or write, waiting first on a stream that may block (a pipe,
 * a terminal) so that pkvm_interrupt() and the time limit end the wait:
 * -EINTR then means "stop the run", never the host's own EINTR.  With
 * @nonblock (the guest's O_NONBLOCK, or SPLICE_F_NONBLOCK) a stream that is
 * not ready is -EAGAIN instead; so is one the host made non-blocking, such
 * as the guest's own pipes, when it turns out not ready after all.
 */
static ssize_t host_io(struct pkvm_vm *vm, struct lx_file *f, void *buf, size_t len,
		       int64_t offset, bool writing, bool nonblock)
{
	const short events = writing ? POLLOUT : POLLIN;
	const bool stream = f->may_block && offset < 0;

	for (;;) {
		ssize_t n;
		int err = 0;

		if (stream && nonblock)
			err = ready_now(f->host_fd, events) ?: -EAGAIN;
		else if (stream)
			err = lx_wait(vm, f->host_fd, events, CLOCK_MONOTONIC, NULL);
		if (err < 0)
			return err;
		if (writing && offset >= 0)
			n = pwrite(f->host_fd, buf, len, offset);
		else if (writing)
			n = f->may_block ? stream_write(f->host_fd, buf, len) :
					   write(f->host_fd, buf, len);
		else
			n = offset < 0 ? read(f->host_fd, buf, len) : pread(f->host_fd, buf, len, offset);
		if (n >= 0)
			return n;
		if (errno == EAGAIN && stream && nonblock)
			return -EAGAIN;
		/* A kick during the call, or a stream the host made non-blocking: wait again. */
		if (errno != EINTR && !(errno == EAGAIN && stream))
			return -errno;
	}
}

/*
 * One bounded host read into the guest buffer: short counts are the caller's
 * to accept.  No more is read than the buffer can take, so a pipe keeps
 * what a bad buffer could not receive, as Linux's pipe_read() keeps it.
 */
static int64_t read_into_guest(struct pkvm_vm *vm, struct pkvm_linux *lx, struct lx_file *f,
			       uint64_t gva, uint64_t len, int64_t offset, bool nonblock)
{
	size_t chunk = len < LX_BOUNCE ? len : LX_BOUNCE;
	size_t room = lx_accessible(vm, gva, chunk, true);
	ssize_t n;
	int err;

	if (!f->readable)
		return -EBADF;
	if (f->is_dir)
		return -EISDIR;
	if (chunk && !room)
		return -EFAULT;
	n = host_io(vm, f, lx->bounce, room, offset, false, nonblock);
	if (n < 0)
		return n;
	err = lx_write(vm, gva, lx->bounce, n);
	return err ? err : n;
}

/*
 * Host writes in bounded steps from the guest buffer, as far as it can be
 * read.  A regular file's short write ends the call; a blocking stream's
 * does not: Linux's pipe_write() waits for room until all is written or a
 * signal comes.
 */
/* Where a write of @f at @offset (< 0: the file position) starts. */
static int64_t write_position(const struct lx_file *f, int64_t offset)
{
	struct stat st;
	off_t pos;

	if (offset >= 0)
		return offset;
	if (f->append)
		return fstat(f->host_fd, &st) < 0 ? -errno : st.st_size;
	pos = lseek(f->host_fd, 0, SEEK_CUR);
	return pos < 0 ? -errno : pos;
}

static int64_t write_from_guest(struct pkvm_vm *vm, struct pkvm_linux *lx, struct lx_file *f,
				uint64_t gva, uint64_t len, int64_t offset, bool nonblock)
{
	const bool write_all = f->may_block && !nonblock;
	uint64_t done = 0;

	if (!f->writable)
		return -EBADF;
	while (done < len) {
		size_t chunk = len - done < LX_BOUNCE ? len - done : LX_BOUNCE, put = 0;
		size_t avail = lx_accessible(vm, gva + done, chunk, false);
		int err = avail ? lx_read(vm, lx->bounce, gva + done, avail) : -EFAULT;

		/* A tmpfs file grows only as far as its tmpfs has room. */
		if (!err && f->root && f->root->tmpfs) {
			int64_t at = write_position(f, offset < 0 ? offset : offset + (int64_t)done);

			err = at < 0 ? (int)at : lx_tmpfs_file_grows(f, at + (int64_t)avail);
		}
		if (err)
			return done ? (int64_t)done : err;
		while (put < avail) {
			ssize_t n = host_io(vm, f, lx->bounce + put, avail - put,
					    offset < 0 ? -1 : offset + (int64_t)(done + put), true,
					    nonblock);

			if (n == -EPIPE) {
				/* No reader: SIGPIPE, as Linux's pipe_write() sends it. */
				struct lx_siginfo info = { .signo = SIGPIPE, .code = 0 /* SI_USER */,
							   .kill = { lx->pid, LX_UID } };

				lx_signal_send(lx, SIGPIPE, &info);
			}
			if (n < 0)
				return done + put ? (int64_t)(done + put) : n;
			put += n;
			if (!write_all && put < avail)
				return done + put;
		}
		done += avail;
		if (avail < chunk)
			break;		/* the rest of the buffer cannot be read: a short write */
	}
	return done;
}

LX_HANDLER_DEF(lx_sys_read)
{
	struct lx_file *f = lx_fd_get(lx, args[0]);

	if (!f)
		return lx_ret(result, -EBADF);
	return lx_interruptible(vm, lx, LX_NR_READ,
			 read_into_guest(vm, lx, f, args[1], cap_len(args[2]), -1, f->nonblock),
			 result);
}

LX_HANDLER_DEF(lx_sys_pread64)
{
	struct lx_file *f = lx_fd_get(lx, args[0]);

	if (!f)
		return lx_ret(result, -EBADF);
	if ((int64_t)args[3] < 0)
		return lx_ret(result, -EINVAL);
	return lx_ret(result, read_into_guest(vm, lx, f, args[1], cap_len(args[2]), args[3], false));
}

LX_HANDLER_DEF(lx_sys_pwrite64)
{
	struct lx_file *f = lx_fd_get(lx, args[0]);

	if (!f)
		return lx_ret(result, -EBADF);
	/* As Linux's rw_verify_area(): the end must not pass the largest offset either. */
	if ((int64_t)args[3] < 0 || cap_len(args[2]) > (uint64_t)INT64_MAX - args[3])
		return lx_ret(result, -EINVAL);
	if (f->may_block)
		return lx_ret(result, -ESPIPE);
	return lx_ret(result, write_from_guest(vm, lx, f, args[1], cap_len(args[2]), args[3], false));
}

LX_HANDLER_DEF(lx_sys_write)
{
	struct lx_file *f = lx_fd_get(lx, args[0]);

	if (!f)
		return lx_ret(result, -EBADF);
	return lx_interruptible(vm, lx, LX_NR_WRITE,
			 write_from_guest(vm, lx, f, args[1], cap_len(args[2]), -1, f->nonblock),
			 result);
}

struct lx_iovec {
	uint64_t base, len;
};

/* The guest's iovec array, copied in once (at most UIO_MAXIOV entries). */
static int read_iov(struct pkvm_vm *vm, uint64_t gva, uint64_t count, struct lx_iovec **iov)
{
	int err;

	if (count > LX_MAX_IOV)
		return -EINVAL;
	*iov = calloc(count ? count : 1, sizeof(**iov));
	if (!*iov)
		return -ENOMEM;
	err = lx_read(vm, *iov, gva, count * sizeof(**iov));
	for (uint64_t i = 0; !err && i < count; i++)
		if ((int64_t)(*iov)[i].len < 0)
			err = -EINVAL;
	if (err)
		free(*iov);
	return err;
}

/* Read or write through the guest's iovec array at @iov_gva, as readv()/writev() do. */
static int64_t vectored(struct pkvm_vm *vm, struct pkvm_linux *lx, struct lx_file *f,
			uint64_t iov_gva, uint64_t count, bool writing, bool nonblock)
{
	struct lx_iovec *iov;
	uint64_t total = 0;
	int64_t err = read_iov(vm, iov_gva, count, &iov);

	if (err)
		return err;
	for (uint64_t i = 0; i < count && total < LX_MAX_RW; i++) {
		uint64_t want = iov[i].len < LX_MAX_RW - total ? iov[i].len : LX_MAX_RW - total;
		int64_t n;

		if (!want)
			continue;
		n = writing ? write_from_guest(vm, lx, f, iov[i].base, want, -1, nonblock) :
			      read_into_guest(vm, lx, f, iov[i].base, want, -1, nonblock);
		if (n < 0) {
			err = n;
			break;
		}
		total += n;
		if ((uint64_t)n < want)
			break;
	}
	free(iov);
	return total ? (int64_t)total : err;
}

LX_HANDLER_DEF(lx_sys_readv)
{
	struct lx_file *f = lx_fd_get(lx, args[0]);

	if (!f)
		return lx_ret(result, -EBADF);
	return lx_interruptible(vm, lx, LX_NR_READV, vectored(vm, lx, f, args[1], args[2], false, f->nonblock),
			 result);
}

LX_HANDLER_DEF(lx_sys_writev)
{
	struct lx_file *f = lx_fd_get(lx, args[0]);

	if (!f)
		return lx_ret(result, -EBADF);
	return lx_interruptible(vm, lx, LX_NR_WRITEV, vectored(vm, lx, f, args[1], args[2], true, f->nonblock),
			 result);
}

/*
 * vmsplice(): the guest's pages into a pipe's write end, or a pipe's read end
 * into them.  Linux moves page references, not bytes; here the bytes are
 * copied when the call is made, as if every page were SPLICE_F_GIFT and never
 * written again (pksandbox(1) says so).  What a program can check is the
 * same: the pages are read under its PKRU, and an access-disabled buffer
 * fails with EFAULT before anything moves, as the kernel's GUP refuses it.
 */
LX_HANDLER_DEF(lx_sys_vmsplice)
{
	struct lx_file *f = lx_fd_get(lx, args[0]);
	bool nonblock;

	if (!f)
		return lx_ret(result, -EBADF);
	if (args[3] & ~(uint64_t)LX_SPLICE_F_ALL)
		return lx_ret(result, -EINVAL);
	if (!f->is_pipe || f->readable == f->writable)
		return lx_ret(result, -EBADF);
	if (args[2] > LX_MAX_IOV)
		return lx_ret(result, -EINVAL);
	nonblock = f->nonblock || (args[3] & LX_SPLICE_F_NONBLOCK);
	return lx_interruptible(vm, lx, LX_NR_VMSPLICE,
			 vectored(vm, lx, f, args[1], args[2], f->writable, nonblock), result);
}

LX_HANDLER_DEF(lx_sys_lseek)
{
	struct lx_file *f = lx_fd_get(lx, args[0]);
	off_t off;

	(void)vm;
	if (!f)
		return lx_ret(result, -EBADF);
	if (args[2] > SEEK_HOLE)
		return lx_ret(result, -EINVAL);
	off = lseek(f->host_fd, (off_t)args[1], (int)args[2]);
	return lx_ret(result, off < 0 ? -errno : off);
}

/* O_TRUNC in a writable tree: done here, so that a tmpfs gets the bytes back. */
static int truncate_opened(struct lx_file *f)
{
	struct stat st;

	if (fstat(f->host_fd, &st) < 0)
		return -errno;
	if (!S_ISREG(st.st_mode) || !st.st_size)
		return 0;
	if (ftruncate(f->host_fd, 0) < 0)
		return -errno;
	return f->tmpfs_ino ? lx_tmpfs_resize(f->root->tmpfs, f->tmpfs_ino, 0) : 0;
}

/* A regular file of a tmpfs: counted open, so that its bytes outlive its name while open. */
static int count_tmpfs_open(struct lx_file *f, const struct stat *st)
{
	int err;

	if (!f->root || !f->root->tmpfs || !S_ISREG(st->st_mode))
		return 0;
	err = lx_tmpfs_open(f->root->tmpfs, st->st_ino);
	if (!err)
		f->tmpfs_ino = st->st_ino;
	return err;
}

static int64_t do_open(struct pkvm_vm *vm, struct pkvm_linux *lx, int64_t dirfd, uint64_t path,
		       uint64_t flags, uint64_t mode)
{
	const bool path_only = flags & O_PATH;
	const struct lx_root *root = NULL;
	char given[LX_PATH_MAX], *guest_path = NULL;
	long len = lx_read_string(vm, given, path, sizeof(given));
	struct lx_file *f;
	struct stat st;
	int fd, gfd, err;

	if (len < 0)
		return len;
	/*
	 * Each open file holds one host fd: max_fds bounds what one guest takes
	 * from the host.  And as Linux takes the descriptor first, a file is not
	 * made or truncated for an open that would fail with EMFILE.
	 */
	if (lx->host_fds >= lx->config.max_fds || !lx_fd_room(lx))
		return -EMFILE;
	/* O_TRUNC is done below, once the file is known to be in a writable tree. */
	fd = lx_path_create(lx, dirfd, given, (int)(flags & ~(uint64_t)O_TRUNC), (mode_t)mode,
			    path_only, &guest_path, &root);
	if (fd >= 0 && (flags & O_TRUNC) && root && !root->writable) {
		close(fd);
		fd = -EACCES;
	}
	if (fd < 0) {
		free(guest_path);
		return fd;
	}
	if (fstat(fd, &st) < 0) {
		err = -errno;
		close(fd);
		free(guest_path);
		return err;
	}
	f = lx_file_new(fd, true, !path_only && (flags & O_ACCMODE) != O_WRONLY,
			!path_only && (flags & O_ACCMODE) != O_RDONLY);
	if (!f) {
		close(fd);
		free(guest_path);
		return -ENOMEM;
	}
	f->is_dir = S_ISDIR(st.st_mode);
	f->may_block = !S_ISREG(st.st_mode) && !f->is_dir;
	f->is_pipe = S_ISFIFO(st.st_mode);
	f->nonblock = flags & O_NONBLOCK;
	f->append = flags & O_APPEND;
	f->path = guest_path;
	f->root = root;
	lx_file_hold(lx, f);
	err = count_tmpfs_open(f, &st);
	if (!err && (flags & O_TRUNC) && root && f->writable)
		err = truncate_opened(f);
	gfd = err ? err : lx_fd_install(lx, f, 0, flags & O_CLOEXEC);
	lx_file_put(f);		/* the table holds it now, or nobody does */
	return gfd;
}

LX_HANDLER_DEF(lx_sys_openat)
{
	return lx_ret(result, do_open(vm, lx, (int)args[0], args[1], args[2], args[3]));
}

LX_HANDLER_DEF(lx_sys_creat)
{
	return lx_ret(result, do_open(vm, lx, AT_FDCWD, args[0], O_CREAT | O_WRONLY | O_TRUNC,
				      args[1]));
}

LX_HANDLER_DEF(lx_sys_open)
{
	return lx_ret(result, do_open(vm, lx, AT_FDCWD, args[0], args[1], args[2]));
}

LX_HANDLER_DEF(lx_sys_close)
{
	(void)vm;
	return lx_ret(result, lx_fd_close(lx, args[0]));
}

/* Stat a guest path, or the fd itself for AT_EMPTY_PATH with "", into host @st or @stx. */
static int stat_at(struct pkvm_vm *vm, struct pkvm_linux *lx, int64_t dirfd, uint64_t path,
		   uint64_t flags, struct stat *st, struct statx *stx, unsigned mask)
{
	char first;
	int fd, err = 0;
	bool own = false;

	if (flags & ~(uint64_t)(LX_AT_EMPTY_PATH | LX_AT_SYMLINK_NOFOLLOW | LX_AT_NO_AUTOMOUNT |
				LX_AT_STATX_SYNC_MASK))
		return -EINVAL;
	if ((flags & LX_AT_EMPTY_PATH) && (!path || (!lx_read(vm, &first, path, 1) && !first))) {
		struct lx_file *f;

		if ((int)dirfd == AT_FDCWD) {	/* the working directory itself */
			fd = lx_path_open_host(lx, AT_FDCWD, ".", 0, true, NULL);
			if (fd < 0)
				return fd;
			own = true;
		} else {
			f = lx_fd_get(lx, (uint64_t)(int)dirfd);
			if (!f)
				return -EBADF;
			fd = f->host_fd;
		}
	} else {
		fd = lx_path_open(vm, lx, dirfd, path,
				  (flags & LX_AT_SYMLINK_NOFOLLOW) ? O_NOFOLLOW : 0, true, NULL);
		if (fd < 0)
			return fd;
		own = true;
	}
	if (stx) {
		if (syscall(SYS_statx, fd, "", AT_EMPTY_PATH, mask, stx) < 0)
			err = -errno;
	} else if (fstat(fd, st) < 0) {
		err = -errno;
	}
	if (own)
		close(fd);
	return err;
}

static enum lx_action stat_to_guest(struct pkvm_vm *vm, struct pkvm_linux *lx, int64_t dirfd,
				    uint64_t path, uint64_t flags, uint64_t buf, int64_t *result)
{
	struct stat st;
	struct lx_stat out;
	int err = stat_at(vm, lx, dirfd, path, flags, &st, NULL, 0);

	if (err)
		return lx_ret(result, err);
	memset(&out, 0, sizeof(out));
	out.dev = st.st_dev;
	out.ino = st.st_ino;
	out.nlink = st.st_nlink;
	out.mode = st.st_mode;
	out.uid = st.st_uid;
	out.gid = st.st_gid;
	out.rdev = st.st_rdev;
	out.size = st.st_size;
	out.blksize = st.st_blksize;
	out.blocks = st.st_blocks;
	out.atime = st.st_atim.tv_sec;
	out.atime_nsec = st.st_atim.tv_nsec;
	out.mtime = st.st_mtim.tv_sec;
	out.mtime_nsec = st.st_mtim.tv_nsec;
	out.ctime = st.st_ctim.tv_sec;
	out.ctime_nsec = st.st_ctim.tv_nsec;
	return lx_ret(result, lx_write(vm, buf, &out, sizeof(out)));
}

LX_HANDLER_DEF(lx_sys_fstat)
{
	return stat_to_guest(vm, lx, (int)args[0], 0, LX_AT_EMPTY_PATH, args[1], result);
}

LX_HANDLER_DEF(lx_sys_stat)
{
	return stat_to_guest(vm, lx, AT_FDCWD, args[0], 0, args[1], result);
}

LX_HANDLER_DEF(lx_sys_lstat)
{
	return stat_to_guest(vm, lx, AT_FDCWD, args[0], LX_AT_SYMLINK_NOFOLLOW, args[1], result);
}

LX_HANDLER_DEF(lx_sys_newfstatat)
{
	return stat_to_guest(vm, lx, (int)args[0], args[1], args[3], args[2], result);
}

LX_HANDLER_DEF(lx_sys_statx)
{
	struct statx stx;
	int err;

	memset(&stx, 0, sizeof(stx));
	err = stat_at(vm, lx, (int)args[0], args[1], args[2], NULL, &stx, (unsigned)args[3]);
	if (!err)
		err = lx_write(vm, args[4], &stx, LX_STATX_SIZE);
	return lx_ret(result, err);
}

static int64_t do_access(struct pkvm_vm *vm, struct pkvm_linux *lx, int64_t dirfd, uint64_t path,
			 uint64_t mode)
{
	struct stat st;
	int err;

	if (mode & ~(uint64_t)(R_OK | W_OK | X_OK))
		return -EINVAL;
	err = stat_at(vm, lx, dirfd, path, 0, &st, NULL, 0);
	if (err)
		return err;
	if (mode & W_OK) {
		/* Writable only in a writable tree (and /dev/null), whatever the host's modes say. */
		char given[LX_PATH_MAX];
		const struct lx_root *root = NULL;
		long len = lx_read_string(vm, given, path, sizeof(given));
		int fd = len < 0 ? (int)len :
			 lx_path_create(lx, dirfd, given, O_PATH, 0, true, NULL, &root);

		if (fd < 0)
			return fd;
		close(fd);
		if (root && !root->writable)
			return -EACCES;
	}
	if ((mode & X_OK) && !(st.st_mode & 0111))
		return -EACCES;
	return 0;
}

LX_HANDLER_DEF(lx_sys_access)
{
	return lx_ret(result, do_access(vm, lx, AT_FDCWD, args[0], args[1]));
}

LX_HANDLER_DEF(lx_sys_faccessat)
{
	return lx_ret(result, do_access(vm, lx, (int)args[0], args[1], args[2]));
}

/* Terminal queries go to the host only for a stream that is a terminal; the rest is ENOTTY. */
LX_HANDLER_DEF(lx_sys_ioctl)
{
	struct lx_file *f = lx_fd_get(lx, args[0]);
	uint8_t buf[64];
	size_t size;

	if (!f)
		return lx_ret(result, -EBADF);
	switch (args[1]) {
	case LX_FIOCLEX:
	case LX_FIONCLEX:
		lx->fds[args[0]].cloexec = args[1] == LX_FIOCLEX;
		return lx_ret(result, 0);
	case LX_TCGETS:
		size = LX_TERMIOS_SIZE;
		break;
	case LX_TIOCGWINSZ:
		size = LX_WINSIZE_SIZE;
		break;
	default:
		return lx_ret(result, -ENOTTY);
	}
	if (f->owned || !isatty(f->host_fd))
		return lx_ret(result, -ENOTTY);
	memset(buf, 0, sizeof(buf));
	if (ioctl(f->host_fd, (unsigned long)args[1], buf) < 0)
		return lx_ret(result, -errno);
	return lx_ret(result, lx_write(vm, args[2], buf, size));
}

LX_HANDLER_DEF(lx_sys_fcntl)
{
	struct lx_file *f = lx_fd_get(lx, args[0]);
	int fl;

	(void)vm;
	if (!f)
		return lx_ret(result, -EBADF);
	switch (args[1]) {
	case F_DUPFD:
	case F_DUPFD_CLOEXEC:
		if (args[2] >= lx->config.max_fds)
			return lx_ret(result, -EINVAL);
		return lx_ret(result, lx_fd_install(lx, f, args[2], args[1] == F_DUPFD_CLOEXEC));
	case F_GETFD:
		return lx_ret(result, lx->fds[args[0]].cloexec ? FD_CLOEXEC : 0);
	case F_SETFD:
		lx->fds[args[0]].cloexec = args[2] & FD_CLOEXEC;
		return lx_ret(result, 0);
	case F_GETFL:
		fl = f->readable && f->writable ? O_RDWR : f->writable ? O_WRONLY : O_RDONLY;
		if (f->owned && !f->readable && !f->writable)
			fl |= O_PATH;
		fl |= f->nonblock ? O_NONBLOCK : 0;
		return lx_ret(result, fl | (f->is_dir ? O_DIRECTORY : 0));
	case F_SETFL:
		/*
		 * The host fd's flags stay as they are (a host stream is the
		 * embedder's): O_NONBLOCK is kept here, on the open file that
		 * dup()s share, as Linux keeps it; the other flags are ignored.
		 */
		f->nonblock = args[2] & O_NONBLOCK;
		return lx_ret(result, 0);
	case F_GETPIPE_SZ:
		return lx_ret(result, f->is_pipe ? LX_PIPE_SIZE : -EBADF);
	default:
		return lx_ret(result, -EINVAL);
	}
}

LX_HANDLER_DEF(lx_sys_dup)
{
	struct lx_file *f = lx_fd_get(lx, args[0]);

	(void)vm;
	return lx_ret(result, f ? lx_fd_install(lx, f, 0, false) : -EBADF);
}

static int64_t do_dup3(struct pkvm_linux *lx, uint64_t oldfd, uint64_t newfd, uint64_t flags)
{
	struct lx_file *f = lx_fd_get(lx, oldfd);

	if (!f || newfd >= lx->config.max_fds)
		return -EBADF;
	lx_fd_close(lx, newfd);
	return lx_fd_install(lx, f, newfd, flags & O_CLOEXEC);
}

LX_HANDLER_DEF(lx_sys_dup2)
{
	(void)vm;
	if (args[0] == args[1])
		return lx_ret(result, lx_fd_get(lx, args[0]) ? (int64_t)args[0] : -EBADF);
	return lx_ret(result, do_dup3(lx, args[0], args[1], 0));
}

LX_HANDLER_DEF(lx_sys_dup3)
{
	(void)vm;
	if (args[0] == args[1] || (args[2] & ~(uint64_t)O_CLOEXEC))
		return lx_ret(result, -EINVAL);
	return lx_ret(result, do_dup3(lx, args[0], args[1], args[2]));
}

LX_HANDLER_DEF(lx_sys_getdents64)
{
	struct lx_file *f = lx_fd_get(lx, args[0]);
	size_t chunk = args[2] < LX_BOUNCE ? args[2] : LX_BOUNCE;
	long n;
	int err;

	if (!f)
		return lx_ret(result, -EBADF);
	if (!f->is_dir || !f->owned)
		return lx_ret(result, -ENOTDIR);
	/*
	 * The kernel writes each record's name and NUL but not the padding up to
	 * d_reclen: without this, earlier contents of the bounce buffer would
	 * reach the guest there.
	 */
	memset(lx->bounce, 0, chunk);
	n = syscall(SYS_getdents64, f->host_fd, lx->bounce, chunk);
	if (n < 0)
		return lx_ret(result, -errno);
	err = lx_write(vm, args[1], lx->bounce, n);
	return lx_ret(result, err ? err : n);
}

static int64_t do_readlink(struct pkvm_vm *vm, struct pkvm_linux *lx, int64_t dirfd, uint64_t path)
{
	/* No symbolic link is ever followed or shown: an existing path is "not a link". */
	int fd = lx_path_open(vm, lx, dirfd, path, O_NOFOLLOW, true, NULL);

	if (fd < 0)
		return fd;
	close(fd);
	return -EINVAL;
}

LX_HANDLER_DEF(lx_sys_readlink)
{
	return lx_ret(result, do_readlink(vm, lx, AT_FDCWD, args[0]));
}

LX_HANDLER_DEF(lx_sys_readlinkat)
{
	return lx_ret(result, do_readlink(vm, lx, (int)args[0], args[1]));
}
