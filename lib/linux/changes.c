/*
 * changes.c: the calls that change a writable tree (trees.c): names made
 * and removed (mkdir, unlink, rmdir, rename, link), sizes, modes, times and
 * syncs.  Each resolves its directory with lx_path_parent(), as opens do,
 * and acts relative to it on the host: no host path is ever used.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "personality.h"

#define LX_AT_REMOVEDIR		0x200
#define LX_AT_SYMLINK_NOFOLLOW	0x100
#define LX_AT_EMPTY_PATH	0x1000
#define LX_AT_SYMLINK_FOLLOW	0x400
#define LX_RENAME_FLAGS		7	/* RENAME_NOREPLACE, RENAME_EXCHANGE, RENAME_WHITEOUT */
#define LX_UTIME_NOW		((1L << 30) - 1)
#define LX_UTIME_OMIT		((1L << 30) - 2)
#define LX_MODE_BITS		01777	/* no set-user-ID nor set-group-ID: nosuid */

/* The guest path at @gva, and its directory in a writable tree. */
static int parent_of(struct pkvm_vm *vm, struct pkvm_linux *lx, int64_t dirfd, uint64_t gva,
		     struct lx_parent *p)
{
	char path[LX_PATH_MAX];
	long len = lx_read_string(vm, path, gva, sizeof(path));

	if (len < 0)
		return (int)len;
	return lx_path_parent(lx, dirfd, path, p);
}

static int64_t do_mkdir(struct pkvm_vm *vm, struct pkvm_linux *lx, int64_t dirfd, uint64_t path,
			uint64_t mode)
{
	struct lx_parent p;
	int err = parent_of(vm, lx, dirfd, path, &p);

	if (err)
		return err == -EBUSY ? -EEXIST : err;
	if (p.root->tmpfs)
		err = lx_tmpfs_directory(p.root->tmpfs, 1);
	if (!err && mkdirat(p.dirfd, p.name,
			    (mode_t)(mode & LX_MODE_BITS & ~(uint64_t)lx->umask)) < 0) {
		err = -errno;
		if (p.root->tmpfs)
			lx_tmpfs_directory(p.root->tmpfs, -1);
	}
	close(p.dirfd);
	return err;
}

LX_HANDLER_DEF(lx_sys_mkdir)
{
	return lx_ret(result, do_mkdir(vm, lx, AT_FDCWD, args[0], args[1]));
}

LX_HANDLER_DEF(lx_sys_mkdirat)
{
	return lx_ret(result, do_mkdir(vm, lx, (int)args[0], args[1], args[2]));
}

static int64_t do_unlink(struct pkvm_vm *vm, struct pkvm_linux *lx, int64_t dirfd, uint64_t path,
			 uint64_t flags)
{
	struct lx_tmpfs_name gone;
	struct lx_parent p;
	int err;

	if (flags & ~(uint64_t)LX_AT_REMOVEDIR)
		return -EINVAL;
	err = parent_of(vm, lx, dirfd, path, &p);
	if (err)
		return err;
	if (!strcmp(p.name, ".") || !strcmp(p.name, ".."))
		err = flags ? -EINVAL : -EISDIR;	/* (normalized away; kept for safety) */
	lx_tmpfs_look(p.root, p.dirfd, p.name, &gone);
	if (!err && unlinkat(p.dirfd, p.name, (flags & LX_AT_REMOVEDIR) ? AT_REMOVEDIR : 0) < 0)
		err = -errno;
	if (!err)
		lx_tmpfs_gone(&gone);
	close(p.dirfd);
	return err;
}

LX_HANDLER_DEF(lx_sys_unlink)
{
	return lx_ret(result, do_unlink(vm, lx, AT_FDCWD, args[0], 0));
}

LX_HANDLER_DEF(lx_sys_rmdir)
{
	return lx_ret(result, do_unlink(vm, lx, AT_FDCWD, args[0], LX_AT_REMOVEDIR));
}

LX_HANDLER_DEF(lx_sys_unlinkat)
{
	return lx_ret(result, do_unlink(vm, lx, (int)args[0], args[1], args[2]));
}

/*
 * rename() and link() stay inside one tree: a file of a read-only tree must
 * not become writable under another name, and trees are separate file
 * systems to the guest (EXDEV, as between mounts).
 */
static int64_t do_rename(struct pkvm_vm *vm, struct pkvm_linux *lx, const uint64_t a[5],
			 bool link)
{
	struct lx_tmpfs_name replaced, source;
	struct lx_parent from, to;
	int err = parent_of(vm, lx, (int)a[0], a[1], &from);

	if (err)
		return err;
	err = parent_of(vm, lx, (int)a[2], a[3], &to);
	if (err) {
		close(from.dirfd);
		return err;
	}
	/* What a rename replaces goes, unless it is the very file renamed (a link of it). */
	lx_tmpfs_look(to.root, to.dirfd, to.name, &replaced);
	lx_tmpfs_look(from.root, from.dirfd, from.name, &source);
	if (from.root != to.root)
		err = -EXDEV;
	else if (link)
		err = linkat(from.dirfd, from.name, to.dirfd, to.name, 0) < 0 ? -errno : 0;
	else
		err = syscall(SYS_renameat2, from.dirfd, from.name, to.dirfd, to.name,
			      (unsigned)a[4]) < 0 ? -errno : 0;
	if (!err && !link && !(a[4] & 2 /* RENAME_EXCHANGE */) && replaced.ino != source.ino)
		lx_tmpfs_gone(&replaced);
	close(from.dirfd);
	close(to.dirfd);
	return err;
}

LX_HANDLER_DEF(lx_sys_rename)
{
	const uint64_t a[5] = { (uint64_t)AT_FDCWD, args[0], (uint64_t)AT_FDCWD, args[1], 0 };

	return lx_ret(result, do_rename(vm, lx, a, false));
}

LX_HANDLER_DEF(lx_sys_renameat)
{
	const uint64_t a[5] = { args[0], args[1], args[2], args[3], 0 };

	return lx_ret(result, do_rename(vm, lx, a, false));
}

LX_HANDLER_DEF(lx_sys_renameat2)
{
	if (args[4] & ~(uint64_t)LX_RENAME_FLAGS)
		return lx_ret(result, -EINVAL);
	return lx_ret(result, do_rename(vm, lx, args, false));
}

LX_HANDLER_DEF(lx_sys_link)
{
	const uint64_t a[5] = { (uint64_t)AT_FDCWD, args[0], (uint64_t)AT_FDCWD, args[1], 0 };

	return lx_ret(result, do_rename(vm, lx, a, true));
}

LX_HANDLER_DEF(lx_sys_linkat)
{
	/* AT_SYMLINK_FOLLOW has nothing to follow: no link is ever made or followed. */
	if (args[4] & ~(uint64_t)LX_AT_SYMLINK_FOLLOW)
		return lx_ret(result, -EINVAL);
	return lx_ret(result, do_rename(vm, lx, args, true));
}

/* Symbolic links are never followed in the sandbox, so none is made: EPERM, as on vfat. */
LX_HANDLER_DEF(lx_sys_symlink)
{
	return lx_ret(result, -EPERM);
}

/*
 * The file at a guest path (AT_EMPTY_PATH with "": @dirfd's own), opened
 * for reading, in a writable tree: what chmod, truncate and utimensat act
 * on.  A file of a read-only tree is EROFS.
 */
static int open_target(struct pkvm_vm *vm, struct pkvm_linux *lx, int64_t dirfd, uint64_t gva,
		       uint64_t flags, int how, const struct lx_root **root)
{
	char path[LX_PATH_MAX];
	long len = gva ? lx_read_string(vm, path, gva, sizeof(path)) : 0;
	int fd;

	if (len < 0)
		return (int)len;
	if (len == 0 && (!gva || (flags & LX_AT_EMPTY_PATH))) {
		struct lx_file *f = lx_fd_get(lx, (uint64_t)(int)dirfd);

		if ((int)dirfd == AT_FDCWD)
			return lx_path_create(lx, AT_FDCWD, ".", O_RDONLY, 0, false, NULL, root);
		if (!f)
			return -EBADF;
		*root = f->root;
		fd = dup(f->host_fd);
		return fd < 0 ? -errno : fd;
	}
	fd = lx_path_create(lx, dirfd, path, how, 0, false, NULL, root);
	if (fd >= 0 && !*root) {
		close(fd);		/* /dev/null: nothing to change */
		fd = -EPERM;
	}
	return fd;
}

/*
 * chmod() and utimensat() of a name act relative to its directory, as Linux
 * does them: only ownership counts, so a file the guest may not read still
 * changes.  A link is never acted through (EACCES, as opens say).  1: not a
 * name there (a descriptor, the top of a tree, a directory above one): the
 * caller opens the target instead.
 */
static int by_name(struct pkvm_vm *vm, struct pkvm_linux *lx, int64_t dirfd, uint64_t path,
		   uint64_t flags, int (*op)(int dirfd, const char *name, const void *arg),
		   const void *arg)
{
	struct lx_parent p;
	struct stat st;
	int err = path ? parent_of(vm, lx, dirfd, path, &p) : -ENOENT;

	if (err == -EBUSY || err == -EEXIST || (err == -ENOENT && (!path ||
						  (flags & LX_AT_EMPTY_PATH))))
		return 1;
	if (err)
		return err;
	if (fstatat(p.dirfd, p.name, &st, AT_SYMLINK_NOFOLLOW) < 0)
		err = -errno;
	else if (S_ISLNK(st.st_mode))
		err = -EACCES;
	else
		err = op(p.dirfd, p.name, arg);
	close(p.dirfd);
	return err;
}

static int chmod_name(int dirfd, const char *name, const void *arg)
{
	return fchmodat(dirfd, name, *(const mode_t *)arg, 0) < 0 ? -errno : 0;
}

static int64_t do_chmod(struct pkvm_vm *vm, struct pkvm_linux *lx, int64_t dirfd, uint64_t path,
			uint64_t mode, uint64_t flags)
{
	const mode_t bits = (mode_t)(mode & LX_MODE_BITS);
	const struct lx_root *root = NULL;
	int fd, err;

	if (flags & ~(uint64_t)(LX_AT_SYMLINK_NOFOLLOW | LX_AT_EMPTY_PATH))
		return -EINVAL;
	err = by_name(vm, lx, dirfd, path, flags, chmod_name, &bits);
	if (err != 1)
		return err;
	fd = open_target(vm, lx, dirfd, path, flags, O_RDONLY, &root);
	if (fd < 0)
		return fd;
	err = root && root->writable ? (fchmod(fd, bits) < 0 ? -errno : 0) : -EROFS;
	close(fd);
	return err;
}

LX_HANDLER_DEF(lx_sys_chmod)
{
	return lx_ret(result, do_chmod(vm, lx, AT_FDCWD, args[0], args[1], 0));
}

LX_HANDLER_DEF(lx_sys_fchmod)
{
	return lx_ret(result, do_chmod(vm, lx, (int)args[0], 0, args[1], LX_AT_EMPTY_PATH));
}

LX_HANDLER_DEF(lx_sys_fchmodat)
{
	return lx_ret(result, do_chmod(vm, lx, (int)args[0], args[1], args[2], 0));
}

/*
 * chown() and friends: the guest is one unprivileged user, so giving a file
 * away is EPERM, and "no change" (-1, or its own ids) is all it may ask.
 */
static int64_t do_chown(struct pkvm_vm *vm, struct pkvm_linux *lx, int64_t dirfd, uint64_t path,
			uint64_t uid, uint64_t gid, uint64_t flags)
{
	struct stat st;
	const struct lx_root *root = NULL;
	int fd = open_target(vm, lx, dirfd, path, flags, O_RDONLY, &root), err = 0;

	if (fd < 0)
		return fd;
	if ((uint32_t)uid != (uint32_t)-1 && (uint32_t)uid != LX_UID)
		err = -EPERM;
	else if ((uint32_t)gid != (uint32_t)-1 && (uint32_t)gid != LX_GID)
		err = -EPERM;
	else if (fstat(fd, &st) < 0)
		err = -errno;
	else if (!root || !root->writable)
		err = -EROFS;
	close(fd);
	return err;
}

LX_HANDLER_DEF(lx_sys_chown)
{
	return lx_ret(result, do_chown(vm, lx, AT_FDCWD, args[0], args[1], args[2], 0));
}

LX_HANDLER_DEF(lx_sys_fchown)
{
	return lx_ret(result, do_chown(vm, lx, (int)args[0], 0, args[1], args[2],
				       LX_AT_EMPTY_PATH));
}

LX_HANDLER_DEF(lx_sys_fchownat)
{
	return lx_ret(result, do_chown(vm, lx, (int)args[0], args[1], args[2], args[3], args[4]));
}

/* A file's new size: a tmpfs is charged the growth or given back the rest. */
static int resize(int fd, const struct lx_root *root, int64_t length)
{
	struct stat st;
	int err = 0;

	if (length < 0)
		return -EINVAL;
	if (fstat(fd, &st) < 0)
		return -errno;
	if (S_ISDIR(st.st_mode))
		return -EISDIR;
	if (!S_ISREG(st.st_mode))
		return -EINVAL;
	if (root->tmpfs)
		err = lx_tmpfs_resize(root->tmpfs, st.st_ino, (uint64_t)length);
	if (!err && ftruncate(fd, length) < 0) {
		err = -errno;
		if (root->tmpfs)
			lx_tmpfs_resize(root->tmpfs, st.st_ino, (uint64_t)st.st_size);
	}
	return err;
}

LX_HANDLER_DEF(lx_sys_truncate)
{
	const struct lx_root *root = NULL;
	int fd = open_target(vm, lx, AT_FDCWD, args[0], 0, O_WRONLY, &root), err;

	if (fd < 0)
		return lx_ret(result, fd == -EACCES && root && !root->writable ? -EROFS : fd);
	err = resize(fd, root, (int64_t)args[1]);
	close(fd);
	return lx_ret(result, err);
}

LX_HANDLER_DEF(lx_sys_ftruncate)
{
	struct lx_file *f = lx_fd_get(lx, args[0]);

	if (!f)
		return lx_ret(result, -EBADF);
	if (!f->writable || !f->root)
		return lx_ret(result, -EINVAL);		/* Linux: not open for writing */
	return lx_ret(result, resize(f->host_fd, f->root, (int64_t)args[1]));
}

/* fsync(), fdatasync(): the host's, for a file of a tree; a stream has nothing to sync. */
LX_HANDLER_DEF(lx_sys_fsync)
{
	struct lx_file *f = lx_fd_get(lx, args[0]);

	if (!f)
		return lx_ret(result, -EBADF);
	if (!f->root || !f->root->writable)
		return lx_ret(result, f->is_pipe ? -EINVAL : 0);
	return lx_ret(result, fdatasync(f->host_fd) < 0 ? -errno : 0);
}

LX_HANDLER_DEF(lx_sys_sync)
{
	return lx_ret(result, 0);	/* each fsync() is the host's: nothing else is held */
}

/* The guest's struct timespec[2] for utimensat(), checked (EINVAL) as Linux does. */
static int read_times(struct pkvm_vm *vm, uint64_t gva, struct timespec ts[2])
{
	int err;

	if (!gva) {
		ts[0].tv_nsec = ts[1].tv_nsec = UTIME_NOW;
		ts[0].tv_sec = ts[1].tv_sec = 0;
		return 0;
	}
	err = lx_read(vm, ts, gva, 2 * sizeof(*ts));
	for (int i = 0; i < 2 && !err; i++) {
		if (ts[i].tv_nsec == LX_UTIME_NOW)
			ts[i].tv_nsec = UTIME_NOW;
		else if (ts[i].tv_nsec == LX_UTIME_OMIT)
			ts[i].tv_nsec = UTIME_OMIT;
		else if (ts[i].tv_nsec < 0 || ts[i].tv_nsec >= 1000000000L)
			err = -EINVAL;
	}
	return err;
}

static int utimens_name(int dirfd, const char *name, const void *arg)
{
	return utimensat(dirfd, name, arg, AT_SYMLINK_NOFOLLOW) < 0 ? -errno : 0;
}

static int64_t do_utimens(struct pkvm_vm *vm, struct pkvm_linux *lx, int64_t dirfd,
			  uint64_t path, const struct timespec ts[2], uint64_t flags)
{
	const struct lx_root *root = NULL;
	int fd, err;

	if (flags & ~(uint64_t)(LX_AT_SYMLINK_NOFOLLOW | LX_AT_EMPTY_PATH))
		return -EINVAL;
	err = by_name(vm, lx, dirfd, path, flags, utimens_name, ts);
	if (err != 1)
		return err;
	fd = open_target(vm, lx, dirfd, path, path ? flags : LX_AT_EMPTY_PATH, O_RDONLY, &root);
	if (fd < 0)
		return fd;
	err = root && root->writable ? (futimens(fd, ts) < 0 ? -errno : 0) : -EROFS;
	close(fd);
	return err;
}

LX_HANDLER_DEF(lx_sys_utimensat)
{
	struct timespec ts[2];
	int err = read_times(vm, args[2], ts);

	if (err)
		return lx_ret(result, err);
	return lx_ret(result, do_utimens(vm, lx, (int)args[0], args[1], ts, args[3]));
}

/* utimes(): struct timeval[2], or NULL for now. */
LX_HANDLER_DEF(lx_sys_utimes)
{
	struct timespec ts[2];
	int64_t tv[4];
	int err = 0;

	if (args[1]) {
		err = lx_read(vm, tv, args[1], sizeof(tv));
		for (int i = 0; i < 2 && !err; i++) {
			if (tv[2 * i + 1] < 0 || tv[2 * i + 1] >= 1000000) {
				err = -EINVAL;
				break;
			}
			ts[i].tv_sec = tv[2 * i];
			ts[i].tv_nsec = tv[2 * i + 1] * 1000;
		}
	} else {
		err = read_times(vm, 0, ts);
	}
	if (err)
		return lx_ret(result, err);
	return lx_ret(result, do_utimens(vm, lx, AT_FDCWD, args[0], ts, 0));
}

/*
 * What the calls above need from the host after the lockdown, when a tree is
 * writable: opens that write and create (paths.c), and the calls by name.
 */
int lx_changes_lockdown(const struct pkvm_linux *lx, struct pkvm_lockdown *rules)
{
	static const char *const calls[] = { "mkdirat", "unlinkat", "renameat", "renameat2",
					      "linkat", "ftruncate", "fdatasync", "fchmod",
					      "fchmodat", "utimensat" };
	bool writable = false;
	int err = 0;

	for (unsigned i = 0; i < lx->nroots; i++)
		writable |= lx->roots[i].writable;
	if (!writable)
		return 0;
	for (unsigned i = 0; i < sizeof(calls) / sizeof(calls[0]) && !err; i++)
		err = pkvm_lockdown_allow_call(rules, calls[i]);
	if (!err)
		err = pkvm_lockdown_allow_open_flags(rules, O_WRONLY | O_RDWR | O_CREAT | O_EXCL |
						     O_APPEND);
	return err;
}
