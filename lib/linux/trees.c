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
#define LX_TMPFS_DIRS		"/dev/shm", "/tmp"	/* where the host side is made, in order */

int lx_tmpfs_file_grows(struct lx_file *f, int64_t end)
{
	struct stat st;

	if (!f->root || !f->root->tmpfs || end <= 0)
		return 0;
	if (fstat(f->host_fd, &st) < 0)
		return -errno;
	return end > st.st_size ? lx_tmpfs_resize(f->root->tmpfs, st.st_ino, (uint64_t)end) : 0;
}

/* A file the forked child holds open, once: it may sit in several fds and mappings. */
static bool counted_before(const struct pkvm_linux *lx, const struct lx_file *f, unsigned fd,
			   unsigned vma)
{
	for (unsigned i = 0; i < fd; i++)
		if (lx->fds[i].file == f)
			return true;
	for (unsigned i = 0; i < vma; i++)
		if (lx->filemaps.v[i].file == f)
			return true;
	return false;
}

void lx_tmpfs_forked(struct pkvm_linux *lx)
{
	for (unsigned i = 0; i < LX_NR_FDS + lx->filemaps.n; i++) {
		const bool is_fd = i < LX_NR_FDS;
		struct lx_file *f = is_fd ? lx->fds[i].file : lx->filemaps.v[i - LX_NR_FDS].file;

		if (!f || !f->tmpfs_ino ||
		    counted_before(lx, f, is_fd ? i : LX_NR_FDS, is_fd ? 0 : i - LX_NR_FDS))
			continue;
		lx_tmpfs_open(f->root->tmpfs, f->tmpfs_ino);	/* its entry is there: cannot fail */
	}
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

/*
 * Empty the directory @top (an fd it takes) and everything below it, with two
 * descriptors and no recursion, whatever the guest made there: a directory
 * found inside another is first moved up to @top under a fresh name, and a
 * directory's mode is made 0700 before it is read, so that neither depth nor
 * modes keep anything behind.
 */
static void remove_below(int top)
{
	char buf[4096], fresh[32];
	unsigned long moved = 0;
	bool removed = true;
	long n;

	while (removed && (n = syscall(SYS_getdents64, top, buf, sizeof(buf))) > 0) {
		removed = false;
		for (long off = 0; off < n;) {
			struct dirent64 *d = (struct dirent64 *)(buf + off);
			int sub;

			off += d->d_reclen;
			if (!strcmp(d->d_name, ".") || !strcmp(d->d_name, ".."))
				continue;
			if (d->d_type != DT_DIR) {
				removed |= unlinkat(top, d->d_name, 0) == 0;
				continue;
			}
			fchmodat(top, d->d_name, 0700, 0);
			sub = openat(top, d->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
			if (sub >= 0) {
				char inner[4096];
				long m;

				/* Its entries go up to @top: the next passes remove them. */
				while ((m = syscall(SYS_getdents64, sub, inner, sizeof(inner))) > 0) {
					for (long o = 0; o < m;) {
						struct dirent64 *e = (struct dirent64 *)(inner + o);

						o += e->d_reclen;
						if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
							continue;
						snprintf(fresh, sizeof(fresh), ".pksandbox-%lu", moved++);
						removed |= renameat(sub, e->d_name, top, fresh) == 0;
					}
				}
				close(sub);
			}
			removed |= unlinkat(top, d->d_name, AT_REMOVEDIR) == 0;
		}
		lseek(top, 0, SEEK_SET);
	}
	close(top);
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
		     unsigned index)
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
	t->index = index;
	t->space = lx->tmpfs_space;
	*r = (struct lx_root){ .path = path, .len = strlen(path), .is_dir = true, .fd = -1,
			       .writable = true, .tmpfs = t };
	lx->nroots++;		/* lx_paths_destroy() frees it from here on */
	r->fd = make_host_dir(t);
	return r->fd < 0 ? r->fd : 0;
}

/*
 * A read-only root inside a writable one would not stay read-only: renaming
 * a directory above it in the writable tree brings its files under a
 * writable name.  Such a configuration is refused (-EINVAL).
 */
static int no_ro_inside_rw(const struct pkvm_linux *lx)
{
	for (unsigned i = 0; i < lx->nroots; i++) {
		const struct lx_root *ro = &lx->roots[i];

		for (unsigned k = 0; !ro->writable && k < lx->nroots; k++) {
			const struct lx_root *rw = &lx->roots[k];

			if (rw->writable && !rw->tmpfs && ro->len > rw->len &&
			    !strncmp(ro->path, rw->path, rw->len) &&
			    (ro->path[rw->len] == '/' || rw->len == 1))
				return -EINVAL;
		}
	}
	return 0;
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
	if (!err)
		err = no_ro_inside_rw(lx);
	while (tmpfs && tmpfs[ntmpfs].path)
		ntmpfs++;
	if (err || !ntmpfs)
		return err;
	if (ntmpfs > LX_MAX_TMPFS)
		return -E2BIG;
	/* Shared by the guest's processes: a tmpfs is one, whoever writes in it. */
	lx->tmpfs_space = lx_tmpfs_space_new();
	if (!lx->tmpfs_space)
		return -ENOMEM;
	for (size_t i = 0; i < ntmpfs && !err; i++)
		err = add_tmpfs(lx, &tmpfs[i], (unsigned)i);
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
	lx_tmpfs_space_free(lx->tmpfs_space);
	lx->tmpfs_space = NULL;
}
