/*
 * landlock.c: the roots, told to the kernel too.  seccomp sees only a
 * call's registers: it can hold opens to "relative to a descriptor,
 * O_NOFOLLOW, read-only unless a tree is writable", but not which file an
 * absolute path names.  Landlock can: once the process is locked down, what
 * it may read is beneath the read-only roots, and what it may change is
 * beneath the writable ones, whatever a compromised host process asks.
 * Where the kernel has no Landlock (before 5.13, or not enabled at boot)
 * seccomp alone holds, as before.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/landlock.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "personality.h"

#ifndef LANDLOCK_ACCESS_FS_REFER
#define LANDLOCK_ACCESS_FS_REFER	(1ULL << 13)	/* ABI 2, Linux 5.19 */
#endif
#ifndef LANDLOCK_ACCESS_FS_TRUNCATE
#define LANDLOCK_ACCESS_FS_TRUNCATE	(1ULL << 14)	/* ABI 3, Linux 6.2 */
#endif

#define READS	(LANDLOCK_ACCESS_FS_READ_FILE | LANDLOCK_ACCESS_FS_READ_DIR)
#define CHANGES	(LANDLOCK_ACCESS_FS_WRITE_FILE | LANDLOCK_ACCESS_FS_REMOVE_FILE | \
		 LANDLOCK_ACCESS_FS_MAKE_DIR | LANDLOCK_ACCESS_FS_MAKE_REG | \
		 LANDLOCK_ACCESS_FS_REFER | LANDLOCK_ACCESS_FS_TRUNCATE)
/*
 * Not handled, so not restricted: removing an empty directory.  The tmpfs's
 * own directory is removed from its parent (/dev/shm) at the end, which no
 * rule beneath a root could allow; an empty directory is all it could cost.
 */
#define REFUSED	(LANDLOCK_ACCESS_FS_EXECUTE | LANDLOCK_ACCESS_FS_MAKE_CHAR | \
		 LANDLOCK_ACCESS_FS_MAKE_SOCK | LANDLOCK_ACCESS_FS_MAKE_FIFO | \
		 LANDLOCK_ACCESS_FS_MAKE_BLOCK | LANDLOCK_ACCESS_FS_MAKE_SYM)

/* What this kernel's ABI @abi knows of the rights above. */
static uint64_t known(int abi, uint64_t rights)
{
	if (abi < 2)
		rights &= ~LANDLOCK_ACCESS_FS_REFER;
	if (abi < 3)
		rights &= ~LANDLOCK_ACCESS_FS_TRUNCATE;
	return rights;
}

/* @root's rights: a file root on the file itself (not its directory, which holds others). */
static int add_root(int ruleset, const struct lx_root *root, int abi)
{
	struct landlock_path_beneath_attr rule = {
		.allowed_access = known(abi, root->writable ? READS | CHANGES : READS),
	};
	int fd = root->is_dir ? root->fd :
		 openat(root->fd, root->name, O_PATH | O_NOFOLLOW | O_CLOEXEC);
	int err = 0;

	if (fd < 0)
		return -errno;
	if (!root->is_dir)
		rule.allowed_access &= LANDLOCK_ACCESS_FS_READ_FILE;
	rule.parent_fd = fd;
	if (syscall(SYS_landlock_add_rule, ruleset, LANDLOCK_RULE_PATH_BENEATH, &rule, 0) < 0)
		err = -errno;
	if (!root->is_dir)
		close(fd);
	return err;
}

int lx_landlock(const struct pkvm_linux *lx)
{
	int abi = (int)syscall(SYS_landlock_create_ruleset, NULL, 0,
			       LANDLOCK_CREATE_RULESET_VERSION);
	struct landlock_ruleset_attr attr;
	bool writable = false;
	int ruleset, err = 0;

	for (unsigned i = 0; i < lx->nroots; i++)
		writable |= lx->roots[i].writable;
	/* ABI 1 refuses every rename across directories: not for a writable tree. */
	if (abi < 1 || (abi < 2 && writable))
		return 0;
	attr.handled_access_fs = known(abi, READS | CHANGES | REFUSED);
	ruleset = (int)syscall(SYS_landlock_create_ruleset, &attr, sizeof(attr), 0);
	if (ruleset < 0)
		return errno == EOPNOTSUPP || errno == ENOSYS ? 0 : -errno;
	for (unsigned i = 0; i < lx->nroots && !err; i++)
		err = add_root(ruleset, &lx->roots[i], abi);
	if (!err && prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
		err = -errno;
	if (!err && syscall(SYS_landlock_restrict_self, ruleset, 0) < 0)
		err = -errno;
	close(ruleset);
	return err;
}
