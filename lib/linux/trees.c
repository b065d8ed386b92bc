/*
 * trees.c: the writable trees.  An rw root is a host directory the guest
 * may change beneath it (paths.c walks it as it walks an ro root: one
 * component at a time, no symbolic link followed, never above it).  A tmpfs
 * root is a private host directory in memory (/dev/shm where it can be)
 * that only the guest sees, at a guest path of its own, with a size of its
 * own; it is removed when the guest's first process ends.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "pathnorm.h"
#include "personality.h"

#define LX_TMPFS_DEFAULT_SIZE	(64ULL << 20)
#define LX_MAX_TMPFS		64
#define LX_TMPFS_DIRS		"/dev/shm", "/tmp"	/* where the host side is made, in order */

int lx_tmpfs_charge(struct lx_tmpfs *t, int64_t delta)
{
	uint64_t used;

	if (!t || !delta)
		return 0;
	used = atomic_load(t->used);
	do {
		uint64_t next = delta < 0 ? (used > (uint64_t)-delta ? used + delta : 0) :
					    used + (uint64_t)delta;

		if (delta > 0 && (next > t->size || next < used))
			return -ENOSPC;
		if (atomic_compare_exchange_weak(t->used, &used, next))
			return 0;
	} while (1);
}

int lx_tmpfs_file_grows(struct lx_file *f, int64_t end)
{
	struct stat st;

	if (!f->root || !f->root->tmpfs || end <= 0)
		return 0;
	if (fstat(f->host_fd, &st) < 0)
		return -errno;
	return end > st.st_size ? lx_tmpfs_charge(f->root->tmpfs, end - st.st_size) : 0;
}

int lx_tmpfs_forget(const struct lx_root *root, int dirfd, const char *name)
{
	struct stat st;

	if (!root->tmpfs)
		return 0;
	if (fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return errno == ENOENT ? 0 : -errno;
	/* Its bytes are freed with its last name (an open descriptor may keep them a while). */
	if (S_ISREG(st.st_mode) && st.st_nlink == 1)
		lx_tmpfs_charge(root->tmpfs, -(int64_t)st.st_size);
	return 0;
}

/* A private directory for a tmpfs, in the first of LX_TMPFS_DIRS that can hold one. */
static int make_host_dir(struct lx_tmpfs *t)
{
	static const char *const where[] = { LX_TMPFS_DIRS };

	for (size_t i = 0; i < sizeof(where) / sizeof(where[0]); i++) {
		char tmpl[64], *dir;

		snprintf(tmpl, sizeof(tmpl), "%s/pksandbox-XXXXXX", where[i]);
		dir = mkdtemp(tmpl);
		if (!dir)
			continue;
		t->parent_fd = open(where[i], O_PATH | O_DIRECTORY | O_CLOEXEC);
		t->name = strdup(strrchr(dir, '/') + 1);
		if (t->parent_fd < 0 || !t->name) {
			rmdir(dir);
			return -ENOMEM;
		}
		return open(dir, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	}
	return -errno;
}

/* Empty the directory @dir (an fd it takes) and everything below it. */
static void remove_below(int dir)
{
	char buf[4096];
	bool removed = true;
	long n;

	/* Names move while we remove them: read again from the start until nothing is left. */
	while (removed && (n = syscall(SYS_getdents64, dir, buf, sizeof(buf))) > 0) {
		removed = false;
		for (long off = 0; off < n;) {
			struct dirent64 *d = (struct dirent64 *)(buf + off);

			off += d->d_reclen;
			if (!strcmp(d->d_name, ".") || !strcmp(d->d_name, ".."))
				continue;
			if (d->d_type == DT_DIR) {
				int sub = openat(dir, d->d_name,
						 O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);

				if (sub >= 0)
					remove_below(sub);
				removed |= unlinkat(dir, d->d_name, AT_REMOVEDIR) == 0;
			} else {
				removed |= unlinkat(dir, d->d_name, 0) == 0;
			}
		}
		lseek(dir, 0, SEEK_SET);
	}
	close(dir);
}

static void tmpfs_remove(struct lx_tmpfs *t)
{
	if (t->parent_fd >= 0 && t->name) {
		int dir = openat(t->parent_fd, t->name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);

		if (dir >= 0)
			remove_below(dir);
		unlinkat(t->parent_fd, t->name, AT_REMOVEDIR);
	}
}

/* "PATH" of a tmpfs as a root: its guest path normalized, absolute. */
static int add_tmpfs(struct pkvm_linux *lx, const struct pkvm_linux_tmpfs *spec,
		     _Atomic uint64_t *used)
{
	struct lx_root *r = &lx->roots[lx->nroots];
	struct lx_tmpfs *t = calloc(1, sizeof(*t));
	char *path = malloc(LX_PATH_MAX);
	bool want_dir;
	int err = t && path ? 0 : -ENOMEM;

	if (!err && spec->path[0] != '/')
		err = -EINVAL;
	if (!err)
		err = lx_path_normalize("/", spec->path, path, LX_PATH_MAX, &want_dir);
	if (err) {
		free(t);
		free(path);
		return err;
	}
	t->parent_fd = -1;
	t->size = spec->size ? spec->size : LX_TMPFS_DEFAULT_SIZE;
	t->used = used;
	*r = (struct lx_root){ .path = path, .len = strlen(path), .is_dir = true, .fd = -1,
			       .writable = true, .tmpfs = t };
	lx->nroots++;		/* lx_paths_destroy() frees it from here on */
	r->fd = make_host_dir(t);
	return r->fd < 0 ? r->fd : 0;
}

int lx_trees_init(struct pkvm_linux *lx)
{
	const char *const *rw = lx->config.rw_paths;
	const struct pkvm_linux_tmpfs *tmpfs = lx->config.tmpfs;
	size_t ntmpfs = 0;
	int err = 0;

	lx->config.rw_paths = NULL;
	lx->config.tmpfs = NULL;
	for (size_t i = 0; rw && rw[i] && !err; i++) {
		err = lx_root_add(lx, rw[i], false);
		if (!err && !lx->roots[lx->nroots - 1].is_dir)
			err = -ENOTDIR;		/* a tree: files are made and removed in it */
		if (!err)
			lx->roots[lx->nroots - 1].writable = true;
	}
	while (tmpfs && tmpfs[ntmpfs].path)
		ntmpfs++;
	if (err || !ntmpfs)
		return err;
	if (ntmpfs > LX_MAX_TMPFS)
		return -E2BIG;
	/* Shared by the guest's processes: a tmpfs is one, whoever writes in it. */
	lx->tmpfs_used = mmap(NULL, ntmpfs * sizeof(*lx->tmpfs_used), PROT_READ | PROT_WRITE,
			      MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (lx->tmpfs_used == MAP_FAILED) {
		lx->tmpfs_used = NULL;
		return -ENOMEM;
	}
	lx->ntmpfs = ntmpfs;
	for (size_t i = 0; i < ntmpfs && !err; i++)
		err = add_tmpfs(lx, &tmpfs[i], &lx->tmpfs_used[i]);
	return err;
}

void lx_trees_destroy(struct pkvm_linux *lx)
{
	for (unsigned i = 0; i < lx->nroots; i++) {
		struct lx_tmpfs *t = lx->roots[i].tmpfs;

		if (!t)
			continue;
		/* The first process's: a child's end leaves the tree to the others. */
		if (!lx->procs || lx->slot == 0)
			tmpfs_remove(t);
		if (t->parent_fd >= 0)
			close(t->parent_fd);
		free(t->name);
		free(t);
		lx->roots[i].tmpfs = NULL;
	}
	if (lx->tmpfs_used)
		munmap(lx->tmpfs_used, lx->ntmpfs * sizeof(*lx->tmpfs_used));
	lx->tmpfs_used = NULL;
}
