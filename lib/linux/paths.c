/* paths.c: the --ro policy: which guest paths name which host files, and opening them safely. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/openat2.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "pathnorm.h"
#include "personality.h"

int lx_paths_init(struct pkvm_linux *lx, const char *const *ro_paths)
{
	size_t n = 0;

	while (ro_paths && ro_paths[n])
		n++;
	if (n > 4096)
		return -E2BIG;
	lx->roots = calloc(n ? n : 1, sizeof(*lx->roots));
	if (!lx->roots)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		struct stat st;
		/* Canonical once, here: later opens refuse every symbolic link on the way. */
		char *path = realpath(ro_paths[i], NULL);

		if (!path)
			return -errno;
		if (stat(path, &st) < 0) {
			free(path);
			return -errno;
		}
		lx->roots[lx->nroots++] = (struct lx_root){ path, strlen(path), S_ISDIR(st.st_mode) };
	}
	return 0;
}

void lx_paths_destroy(struct pkvm_linux *lx)
{
	for (unsigned i = 0; i < lx->nroots; i++)
		free(lx->roots[i].path);
	free(lx->roots);
	lx->roots = NULL;
	lx->nroots = 0;
}

/* The root that contains @path, and where the rest of the path starts, or NULL. */
static const struct lx_root *find_root(const struct pkvm_linux *lx, const char *path,
				       const char **rest)
{
	for (unsigned i = 0; i < lx->nroots; i++) {
		const struct lx_root *r = &lx->roots[i];

		if (r->len == 1) {	/* "/" itself */
			*rest = path + 1;
			return r;
		}
		if (strncmp(path, r->path, r->len) || (path[r->len] != '/' && path[r->len] != '\0'))
			continue;
		if (path[r->len] == '/' && !r->is_dir)
			continue;
		*rest = path + r->len + (path[r->len] == '/');
		return r;
	}
	return NULL;
}

int lx_path_open(struct pkvm_vm *vm, struct pkvm_linux *lx, int64_t dirfd, uint64_t path_gva,
		 int flags, bool path_only, char **guest_path)
{
	char path[LX_PATH_MAX], *norm;
	const char *base = "/", *rest;
	const struct lx_root *root;
	struct open_how how = { 0 };
	bool want_dir;
	long n = lx_read_string(vm, path, path_gva, sizeof(path));
	int fd, rootfd, err;

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
	/*
	 * Open beneath the root with no symbolic link anywhere (RESOLVE_BENEATH
	 * also stops a directory renamed on the host from leading outside).
	 */
	/* openat2() refuses O_PATH with anything but these few flags. */
	how.flags = O_CLOEXEC | (path_only ? O_PATH : O_RDONLY | O_NOCTTY) |
		    (flags & (O_DIRECTORY | O_NOFOLLOW)) | (want_dir ? O_DIRECTORY : 0);
	how.resolve = RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS;
	if (root->is_dir) {
		struct open_how root_how = { .flags = O_PATH | O_DIRECTORY | O_CLOEXEC,
					     .resolve = RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS };

		rootfd = syscall(SYS_openat2, AT_FDCWD, root->path, &root_how, sizeof(root_how));
		if (rootfd < 0) {
			free(norm);
			return -errno;
		}
		how.resolve |= RESOLVE_BENEATH;
		fd = syscall(SYS_openat2, rootfd, *rest ? rest : ".", &how, sizeof(how));
		err = fd < 0 ? -errno : 0;
		close(rootfd);
	} else {
		fd = syscall(SYS_openat2, AT_FDCWD, root->path, &how, sizeof(how));
		err = fd < 0 ? -errno : 0;
	}
	if (err == -ELOOP || err == -EXDEV)
		err = -EACCES;		/* a symbolic link, or a way out of the root */
	if (err || !guest_path)
		free(norm);
	else
		*guest_path = norm;
	return err ? err : fd;
}
