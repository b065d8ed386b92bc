/* syscalls.c: the Linux system calls the personality serves, one small handler each. */
#include <errno.h>
#include <stddef.h>
#include <unistd.h>

#include "personality.h"

/* One bounce buffer's worth per host write: a guest length never sizes a host allocation. */
#define WRITE_CHUNK	65536

static enum pkvm_linux_action sys_write(struct pkvm_vm *vm, struct pkvm_linux *lx,
					const uint64_t args[6], int64_t *result)
{
	static _Thread_local char buf[WRITE_CHUNK];
	uint64_t fd = args[0], gva = args[1], len = args[2], done = 0;
	int host_fd;

	if (fd == 1)
		host_fd = lx->config.stdout_fd;
	else if (fd == 2)
		host_fd = lx->config.stderr_fd;
	else {
		*result = -EBADF;
		return PKVM_LINUX_RETURN;
	}
	if (len > 0x7ffff000)	/* Linux's MAX_RW_COUNT */
		len = 0x7ffff000;
	while (done < len) {
		size_t chunk = len - done < WRITE_CHUNK ? len - done : WRITE_CHUNK;
		ssize_t n;
		int err = pkvm_read_guest(vm, buf, gva + done, chunk);

		if (err) {
			*result = done ? (int64_t)done : err;
			return PKVM_LINUX_RETURN;
		}
		n = write(host_fd, buf, chunk);
		if (n < 0) {
			*result = done ? (int64_t)done : -errno;
			return PKVM_LINUX_RETURN;
		}
		done += n;
		if ((size_t)n < chunk)
			break;
	}
	*result = done;
	return PKVM_LINUX_RETURN;
}

static enum pkvm_linux_action sys_exit(struct pkvm_vm *vm, struct pkvm_linux *lx,
				       const uint64_t args[6], int64_t *result)
{
	(void)vm;
	lx->exit_status = (int)(args[0] & 0xff);
	*result = 0;
	return PKVM_LINUX_EXIT;
}

static const struct pkvm_linux_call calls[] = {
	[1] = { "write", sys_write },
	[60] = { "exit", sys_exit },
	[231] = { "exit_group", sys_exit },
};

const struct pkvm_linux_call *pkvm_linux_lookup(uint64_t nr)
{
	if (nr >= sizeof(calls) / sizeof(calls[0]) || !calls[nr].handler)
		return NULL;
	return &calls[nr];
}
