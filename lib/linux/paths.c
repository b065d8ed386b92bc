/* paths.c: which guest paths name which host files (--ro, --rw, tmpfs), and opening them safely. */
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

int lx_root_add(struct pkvm_linux *lx, const char *given, bool special)
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

/*
 * A directory that is empty and stays so: made and removed at once, open.
 * Nothing can be created in a removed directory, and nothing is left behind.
 */
static int empty_directory(void)
{
	char tmpl[] = "/tmp/pksandbox-empty-XXXXXX";
	char *dir = mkdtemp(tmpl);
	int fd;

	if (!dir)
		return -1;
	chmod(dir, 0755);
	fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	rmdir(dir);
	return fd;
}

int lx_paths_init(struct pkvm_linux *lx, const char *const *ro_paths)
{
	const char *const *special = lx->config.ro_special_paths;
	const char *const *rw = lx->config.rw_paths;
	const struct pkvm_linux_tmpfs *tmpfs = lx->config.tmpfs;
	size_t n = 0, nspecial = 0, nwritable = 0;
	int err = 0;

	lx->devnull = open("/dev/null", O_RDWR | O_CLOEXEC);
	lx->emptydir = empty_directory();
	/* The caller's arrays may go after attaching: everything is copied into lx->roots. */
	lx->config.ro_special_paths = NULL;
	while (ro_paths && ro_paths[n])
		n++;
	while (special && special[nspecial])
		nspecial++;
	while (rw && rw[nwritable])
		nwritable++;
	for (size_t i = 0; tmpfs && tmpfs[i].path && nwritable <= 4096; i++)
		nwritable++;
	if (n > 4096 || nspecial > 4096 || nwritable > 4096)
		return -E2BIG;
	lx->roots = calloc(n + nspecial + nwritable + 1, sizeof(*lx->roots));
	if (!lx->roots)
		return -ENOMEM;
	for (size_t i = 0; i < n && !err; i++)
		err = lx_root_add(lx, ro_paths[i], false);
	for (size_t i = 0; i < nspecial && !err; i++)
		err = lx_root_add(lx, special[i], true);
	if (!err)
		err = lx_trees_init(lx);
	if (!err && lx->config.cwd) {
		/* Where the program starts: an allowed directory, or attaching fails. */
		char *cwd = NULL;
		int fd = lx->config.cwd[0] == '/' ?
			 lx_path_open_host(lx, AT_FDCWD, lx->config.cwd, O_DIRECTORY, true, &cwd) :
			 -EINVAL;

		lx->config.cwd = NULL;
		if (fd < 0)
			return fd;
		close(fd);
		lx->cwd = cwd;
	}
	return err;
}

void lx_paths_destroy(struct pkvm_linux *lx)
{
	if (lx->devnull >= 0)
		close(lx->devnull);
	if (lx->emptydir >= 0)
		close(lx->emptydir);
	lx->devnull = lx->emptydir = -1;
	free(lx->cwd);
	lx->cwd = NULL;
	lx_trees_destroy(lx);
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

/* The directories of @rest but its last component, walked as walk() does: an O_PATH fd. */
static int walk_dirs(const struct lx_root *root, char *rest, char **last)
{
	char *name = rest, *slash;
	int dir = root->fd, held = -1, fd, err;
	struct stat st;

	while ((slash = strchr(name, '/'))) {
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
	*last = name;
	return held >= 0 ? held : step(dir, ".", &st);
}

/*
 * Walk @rest (normalized: no ".", "..", nor empty component) beneath @root
 * one component at a time with openat(O_NOFOLLOW), checking each (see
 * check_file()): RESOLVE_BENEATH and RESOLVE_NO_SYMLINKS by construction,
 * no crossing into procfs or sysfs, and flags that seccomp can check
 * (openat2 hides its flags from it).  Only a file that passed is opened,
 * O_NONBLOCK (block.c does the waiting), and must still be the same file.
 * In a writable tree @flags may write, truncate, append and create (with
 * @mode), a new file then being made in the directory walked to.
 */
static int walk(const struct lx_root *root, char *rest, int flags, mode_t mode, bool want_dir,
		bool path_only)
{
	const int how = (flags & (O_ACCMODE | O_TRUNC | O_APPEND)) | O_NOFOLLOW | O_NOCTTY |
			O_NONBLOCK | O_CLOEXEC;
	char *name = (char *)root->name;
	int dir = root->fd, held = -1, fd, err;
	struct stat st, again;

	if (root->is_dir) {
		held = walk_dirs(root, rest, &name);
		if (held < 0)
			return held;
		dir = held;
		if (!*name)
			name = ".";
	}
	fd = step(dir, name, &st);
	if (fd == -ENOENT && (flags & O_CREAT) && want_dir)
		fd = -EISDIR;		/* "name/" cannot be made a file */
	if (fd >= 0 && (flags & O_CREAT) && (flags & O_EXCL)) {
		close(fd);		/* whatever it is, even a link: it exists */
		fd = -EEXIST;
	}
	if (fd == -ENOENT && (flags & O_CREAT) && !path_only) {
		/* O_EXCL: the host refuses a file made meanwhile; no link is ever followed. */
		fd = openat(dir, name, how | O_CREAT | O_EXCL, mode);
		err = fd < 0 ? -errno : 0;
		if (!err && fstat(fd, &st) < 0)
			err = -errno;
		goto out;
	}
	err = fd < 0 ? fd : check_file(root, fd, &st);
	if (!err && (want_dir || (flags & O_DIRECTORY)) && !S_ISDIR(st.st_mode))
		err = -ENOTDIR;
	if (!err && S_ISDIR(st.st_mode) && (flags & O_ACCMODE) != O_RDONLY)
		err = -EISDIR;
	if (!err && !path_only) {
		int real = openat(dir, name, how);

		if (real < 0)
			err = -errno;
		else if (fstat(real, &again) < 0 || again.st_dev != st.st_dev ||
			 again.st_ino != st.st_ino)
			err = -EACCES;	/* replaced on the host meanwhile */
		close(fd);
		fd = real;
	}
out:
	if (held >= 0)
		close(held);
	if (err && fd >= 0)
		close(fd);
	return err ? err : fd;
}

/* A guest path, normalized and placed: its root and what lies below it. */
struct lx_resolved {
	const struct lx_root *root;
	char *norm;		/* malloc'd: the normalized guest path */
	const char *rest;	/* inside norm: the path below the root ("" for the root) */
	bool want_dir;		/* it ended in a slash */
	bool ancestor;		/* no root: a directory on the way to one ("/", "/usr") */
};

/*
 * Is @path (normalized) a directory above a root?  Then it exists for the
 * guest, as an empty directory: "mkdir -p /tmp/t" and "cd /" must work.
 */
static bool is_ancestor(const struct pkvm_linux *lx, const char *path)
{
	size_t len = strlen(path);

	if (len == 1)
		return true;		/* "/": there is always one */
	for (unsigned i = 0; i < lx->nroots; i++) {
		const struct lx_root *r = &lx->roots[i];

		if (r->len > len && !strncmp(r->path, path, len) && r->path[len] == '/')
			return true;
	}
	return false;
}

/* 0 with @r filled (root NULL: /dev/null, the personality's own), or -errno. */
static int resolve(struct pkvm_linux *lx, int64_t dirfd, const char *given,
		   struct lx_resolved *r)
{
	const char *base = lx->cwd ? lx->cwd : "/";
	int err;

	memset(r, 0, sizeof(*r));
	if (!*given)
		return -ENOENT;
	if (strlen(given) >= LX_PATH_MAX)
		return -ENAMETOOLONG;
	if (given[0] != '/' && (int)dirfd != AT_FDCWD) {
		struct lx_file *f = lx_fd_get(lx, (uint64_t)(int)dirfd);

		if (!f)
			return -EBADF;
		if (!f->is_dir || !f->path)
			return -ENOTDIR;
		base = f->path;
	}
	r->norm = malloc(LX_PATH_MAX);
	if (!r->norm)
		return -ENOMEM;
	err = lx_path_normalize(base, given, r->norm, LX_PATH_MAX, &r->want_dir);
	if (!err && !strcmp(r->norm, "/dev/null"))
		return 0;
	r->root = err ? NULL : find_root(lx, r->norm, &r->rest);
	if (!err && !r->root && is_ancestor(lx, r->norm))
		r->ancestor = true;
	else if (!err && !r->root)
		err = -ENOENT;		/* outside every root: it does not exist for the guest */
	if (err) {
		free(r->norm);
		r->norm = NULL;
	}
	return err;
}

/* Opening with @flags changes the file (or makes one). */
static bool writes(int flags)
{
	return (flags & O_ACCMODE) != O_RDONLY || (flags & (O_CREAT | O_TRUNC)) ||
	       (flags & O_TMPFILE) == O_TMPFILE;
}

int lx_path_create(struct pkvm_linux *lx, int64_t dirfd, const char *given, int flags,
		   mode_t mode, bool path_only, char **guest_path, const struct lx_root **root)
{
	char path[LX_PATH_MAX];
	struct lx_resolved r;
	int fd = -1, err = resolve(lx, dirfd, given, &r);

	if (!err && !r.root && r.ancestor) {
		/* An empty directory that cannot change (lx_paths_init()). */
		fd = -EISDIR;
		if (!writes(flags))
			fd = lx->emptydir >= 0 ? dup(lx->emptydir) : -ENOENT;
		err = fd >= 0 ? 0 : fd == -EISDIR || lx->emptydir < 0 ? fd : -errno;
	} else if (!err && !r.root) {
		/* /dev/null: always there, as every program expects. */
		fd = lx->devnull >= 0 ? dup(lx->devnull) : -ENOENT;
		err = fd >= 0 ? 0 : lx->devnull >= 0 ? -errno : fd;
	} else if (!err && writes(flags) && !r.root->writable) {
		err = -EACCES;		/* read-only, whatever the host would allow */
	} else if (!err && (flags & O_TMPFILE) == O_TMPFILE) {
		err = -EOPNOTSUPP;
	} else if (!err) {
		/* walk() cuts its path into components: a copy, norm may become *guest_path. */
		memmove(path, r.rest, strlen(r.rest) + 1);
		/* No set-user-ID or set-group-ID file is ever made: nosuid, as for a mount. */
		fd = walk(r.root, path, flags, mode & ~(mode_t)lx->umask & 01777, r.want_dir,
			  path_only);
		err = fd == -ELOOP ? -EACCES : fd < 0 ? fd : 0;	/* ELOOP: a symbolic link */
	}
	if (!err && root)
		*root = r.root;
	if (err || !guest_path)
		free(r.norm);
	else
		*guest_path = r.norm;
	return err ? err : fd;
}

int lx_path_open_host(struct pkvm_linux *lx, int64_t dirfd, const char *given, int flags,
		      bool path_only, char **guest_path)
{
	return lx_path_create(lx, dirfd, given, flags, 0, path_only, guest_path, NULL);
}

int lx_path_parent(struct pkvm_linux *lx, int64_t dirfd, const char *given,
		   struct lx_parent *parent)
{
	char path[LX_PATH_MAX], *last;
	struct lx_resolved r;
	int err = resolve(lx, dirfd, given, &r);

	if (err)
		return err;
	if (r.ancestor)
		err = -EEXIST;			/* a directory above a root: it stays */
	else if (!r.root)
		err = -EPERM;			/* /dev/null itself */
	else if (!r.root->writable || !r.root->is_dir)
		err = -EROFS;
	else if (!*r.rest)
		err = -EBUSY;			/* the top of a tree: it stays */
	if (!err) {
		memmove(path, r.rest, strlen(r.rest) + 1);
		parent->dirfd = walk_dirs(r.root, path, &last);
		err = parent->dirfd < 0 ? parent->dirfd : 0;
		if (!err && strlen(last) >= sizeof(parent->name))
			err = -ENAMETOOLONG;
		if (err && parent->dirfd >= 0)
			close(parent->dirfd);
		if (!err)
			strcpy(parent->name, last);
		parent->root = r.root;
	}
	free(r.norm);
	return err;
}

int lx_path_open(struct pkvm_vm *vm, struct pkvm_linux *lx, int64_t dirfd, uint64_t path_gva,
		 int flags, bool path_only, char **guest_path)
{
	char path[LX_PATH_MAX];
	long n = lx_read_string(vm, path, path_gva, sizeof(path));

	if (n < 0)
		return (int)n;
	return lx_path_open_host(lx, dirfd, path, flags, path_only, guest_path);
}

/* chdir(), fchdir(): the directory relative paths start from, a normalized guest path. */
static int set_cwd(struct pkvm_linux *lx, const char *path)
{
	char *copy = strdup(path);

	if (!copy)
		return -ENOMEM;
	free(lx->cwd);
	lx->cwd = copy;
	return 0;
}

LX_HANDLER_DEF(lx_sys_chdir)
{
	char *path = NULL;
	int fd = lx_path_open(vm, lx, AT_FDCWD, args[0], O_DIRECTORY, true, &path);

	if (fd < 0)
		return lx_ret(result, fd);
	close(fd);
	fd = set_cwd(lx, path);
	free(path);
	return lx_ret(result, fd);
}

LX_HANDLER_DEF(lx_sys_fchdir)
{
	struct lx_file *f = lx_fd_get(lx, args[0]);

	if (!f)
		return lx_ret(result, -EBADF);
	if (!f->is_dir || !f->path)
		return lx_ret(result, -ENOTDIR);
	return lx_ret(result, set_cwd(lx, f->path));
}

LX_HANDLER_DEF(lx_sys_getcwd)
{
	const char *cwd = lx->cwd ? lx->cwd : "/";
	size_t len = strlen(cwd) + 1;

	if (args[1] < len)
		return lx_ret(result, -ERANGE);
	return lx_ret(result, lx_write(vm, args[0], cwd, len) ?: (int64_t)len);
}
