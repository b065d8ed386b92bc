/* paths.c: the --ro policy: which guest paths name which host files, and opening them safely. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <unistd.h>

#include "pathnorm.h"
#include "personality.h"

/* Kernel file systems: their files are views of the host (/proc/self/mem), not data. */
static bool special_fs(int fd)
{
	static const unsigned long magic[] = {
		0x9fa0,		/* proc */
		0x62656572,	/* sysfs */
		0x1cd1,		/* devpts */
		0x64626720,	/* debugfs */
		0x74726163,	/* tracefs */
		0x73636673,	/* securityfs */
		0x27e0eb,	/* cgroup */
		0x63677270,	/* cgroup2 */
		0xcafe4a11,	/* bpf */
		0x62656570,	/* configfs */
		0xde5e81e4,	/* efivarfs */
		0xf97cff8c,	/* selinuxfs */
		0x43415d53,	/* smackfs */
		0x6165676c,	/* pstore */
		0x42494e4d,	/* binfmt_misc */
		0x6e736673,	/* nsfs */
		0x65735543,	/* fusectl */
		0x19800202,	/* mqueue */
		0x50494446,	/* pidfs */
	};
	struct statfs sfs;

	if (fstatfs(fd, &sfs) < 0)
		return true;		/* unknown: not trusted */
	for (size_t i = 0; i < sizeof(magic) / sizeof(magic[0]); i++)
		if ((unsigned long)sfs.f_type == magic[i])
			return true;
	return false;
}

/* /proc, /sys and /dev by name (devtmpfs says "tmpfs" to fstatfs), for roots. */
static bool special_name(const char *path)
{
	static const char *const dirs[] = { "/proc", "/sys", "/dev" };

	for (size_t i = 0; i < sizeof(dirs) / sizeof(dirs[0]); i++) {
		size_t n = strlen(dirs[i]);

		if (!strncmp(path, dirs[i], n) && (path[n] == '\0' || path[n] == '/'))
			return true;
	}
	return false;
}

/*
 * Whether the file @fd (its @st) may be reached under @root: never a symbolic
 * link (no way out of the root), and outside special roots only regular files
 * and directories of ordinary file systems: no device (opening one can act),
 * FIFO (opening one blocks), socket, nor kernel file system.
 */
static int check_file(const struct lx_root *root, int fd, const struct stat *st)
{
	if (S_ISLNK(st->st_mode))
		return -EACCES;
	if (root->special)
		return 0;
	if (!S_ISREG(st->st_mode) && !S_ISDIR(st->st_mode))
		return -EACCES;
	return special_fs(fd) ? -EACCES : 0;
}

static int add_root(struct pkvm_linux *lx, const char *given, bool special)
{
	struct lx_root *r = &lx->roots[lx->nroots];
	struct stat st;
	/* Canonical once, here: later opens refuse every symbolic link on the way. */
	char *path = realpath(given, NULL), *slash;
	int fd, err;

	if (!path)
		return -errno;
	fd = open(path, O_PATH | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0 || fstat(fd, &st) < 0) {
		err = -errno;
		if (fd >= 0)
			close(fd);
		free(path);
		return err;
	}
	if (!special && (special_name(path) || check_file(&(struct lx_root){ 0 }, fd, &st))) {
		close(fd);
		free(path);
		return -EPERM;
	}
	*r = (struct lx_root){ .path = path, .len = strlen(path), .is_dir = S_ISDIR(st.st_mode),
			       .special = special, .fd = fd };
	lx->nroots++;
	if (r->is_dir)
		return 0;
	/*
	 * A file is held as its directory and its name: every open, of a file
	 * or below a directory, is then relative to a descriptor taken here,
	 * and the lockdown can refuse opens of absolute paths (seccomp.c).
	 */
	close(fd);
	slash = strrchr(path, '/');
	r->name = slash + 1;
	*slash = '\0';
	r->fd = open(slash == path ? "/" : path, O_PATH | O_DIRECTORY | O_CLOEXEC);
	*slash = '/';
	return r->fd < 0 ? -errno : 0;
}

int lx_paths_init(struct pkvm_linux *lx, const char *const *ro_paths)
{
	const char *const *special = lx->config.ro_special_paths;
	size_t n = 0, nspecial = 0;
	int err = 0;

	/* The caller's arrays may go after attaching: everything is copied into lx->roots. */
	lx->config.ro_special_paths = NULL;
	while (ro_paths && ro_paths[n])
		n++;
	while (special && special[nspecial])
		nspecial++;
	if (n > 4096 || nspecial > 4096)
		return -E2BIG;
	lx->roots = calloc(n + nspecial ? n + nspecial : 1, sizeof(*lx->roots));
	if (!lx->roots)
		return -ENOMEM;
	for (size_t i = 0; i < n && !err; i++)
		err = add_root(lx, ro_paths[i], false);
	for (size_t i = 0; i < nspecial && !err; i++)
		err = add_root(lx, special[i], true);
	return err;
}

void lx_paths_destroy(struct pkvm_linux *lx)
{
	for (unsigned i = 0; i < lx->nroots; i++) {
		if (lx->roots[i].fd >= 0)
			close(lx->roots[i].fd);
		free(lx->roots[i].path);
	}
	free(lx->roots);
	lx->roots = NULL;
	lx->nroots = 0;
}

/* The most specific root that contains @path, and where the rest of the path starts, or NULL. */
static const struct lx_root *find_root(const struct pkvm_linux *lx, const char *path,
				       const char **rest)
{
	const struct lx_root *best = NULL;

	for (unsigned i = 0; i < lx->nroots; i++) {
		const struct lx_root *r = &lx->roots[i];

		if (best && r->len <= best->len)
			continue;
		if (r->len == 1) {	/* "/" itself */
			*rest = path + 1;
			best = r;
			continue;
		}
		if (strncmp(path, r->path, r->len) || (path[r->len] != '/' && path[r->len] != '\0'))
			continue;
		if (path[r->len] == '/' && !r->is_dir)
			continue;
		*rest = path + r->len + (path[r->len] == '/');
		best = r;
	}
	return best;
}

/* Open @name in @dir as O_PATH without following a link, with its stat: no side effect yet. */
static int step(int dir, const char *name, struct stat *st)
{
	int fd = openat(dir, name, O_PATH | O_NOFOLLOW | O_CLOEXEC);

	if (fd < 0)
		return -errno;
	if (fstat(fd, st) < 0) {
		int err = -errno;

		close(fd);
		return err;
	}
	return fd;
}

/*
 * Walk @rest (normalized: no ".", "..", nor empty component) beneath @root
 * one component at a time with openat(O_NOFOLLOW), checking each (see
 * check_file()): RESOLVE_BENEATH and RESOLVE_NO_SYMLINKS by construction,
 * no crossing into procfs or sysfs, and flags that seccomp can check
 * (openat2 hides its flags from it).  Only a file that passed is opened for
 * reading, O_NONBLOCK (block.c does the waiting), and must still be the
 * same file.
 */
static int walk(const struct lx_root *root, char *rest, bool want_dir, bool path_only)
{
	const char *name = root->is_dir ? (*rest ? rest : ".") : root->name;
	int dir = root->fd, held = -1, fd, err;
	struct stat st, again;
	char *slash;

	while (root->is_dir && (slash = strchr(name, '/'))) {
		*slash = '\0';
		fd = step(dir, name, &st);
		err = fd < 0 ? fd : check_file(root, fd, &st);
		if (!err && !S_ISDIR(st.st_mode))
			err = -ENOTDIR;
		if (held >= 0)
			close(held);
		if (err) {
			if (fd >= 0)
				close(fd);
			return err;
		}
		dir = held = fd;
		name = slash + 1;
	}
	fd = step(dir, name, &st);
	err = fd < 0 ? fd : check_file(root, fd, &st);
	if (!err && want_dir && !S_ISDIR(st.st_mode))
		err = -ENOTDIR;
	if (!err && !path_only) {
		int real = openat(dir, name, O_RDONLY | O_NOFOLLOW | O_NOCTTY | O_NONBLOCK | O_CLOEXEC);

		if (real < 0)
			err = -errno;
		else if (fstat(real, &again) < 0 || again.st_dev != st.st_dev ||
			 again.st_ino != st.st_ino)
			err = -EACCES;	/* replaced on the host meanwhile */
		close(fd);
		fd = real;
	}
	if (held >= 0)
		close(held);
	if (err && fd >= 0)
		close(fd);
	return err ? err : fd;
}

int lx_path_open(struct pkvm_vm *vm, struct pkvm_linux *lx, int64_t dirfd, uint64_t path_gva,
		 int flags, bool path_only, char **guest_path)
{
	char path[LX_PATH_MAX], *norm;
	const char *base = "/", *rest;
	const struct lx_root *root;
	bool want_dir;
	long n = lx_read_string(vm, path, path_gva, sizeof(path));
	int fd, err;

	if (n < 0)
		return (int)n;
	if (n == 0)
		return -ENOENT;
	if (path[0] != '/' && (int)dirfd != AT_FDCWD) {
		struct lx_file *f = lx_fd_get(lx, (uint64_t)(int)dirfd);

		if (!f)
			return -EBADF;
		if (!f->is_dir || !f->path)
			return -ENOTDIR;
		base = f->path;
	}
	norm = malloc(LX_PATH_MAX);
	if (!norm)
		return -ENOMEM;
	err = lx_path_normalize(base, path, norm, LX_PATH_MAX, &want_dir);
	root = err ? NULL : find_root(lx, norm, &rest);
	if (!err && !root)
		err = -ENOENT;		/* outside every root: it does not exist for the guest */
	if (!err && ((flags & O_ACCMODE) != O_RDONLY || (flags & (O_CREAT | O_TRUNC)) ||
		     (flags & O_TMPFILE) == O_TMPFILE))
		err = -EACCES;		/* read-only, whatever the host would allow */
	if (err) {
		free(norm);
		return err;
	}
	/* walk() cuts its path into components: a copy, norm may become *guest_path. */
	memmove(path, rest, strlen(rest) + 1);
	fd = walk(root, path, want_dir || (flags & O_DIRECTORY), path_only);
	err = fd < 0 ? fd : 0;
	if (err == -ELOOP)
		err = -EACCES;		/* a symbolic link */
	if (err || !guest_path)
		free(norm);
	else
		*guest_path = norm;
	return err ? err : fd;
}
