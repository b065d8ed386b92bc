/* personality.c: dispatch of the guest's Linux system calls through the allow-list table. */
#include <errno.h>
#include <stdlib.h>

#include "personality.h"

int pkvm_linux_attach(struct pkvm_vm *vm, const struct pkvm_linux_config *config)
{
	struct pkvm_linux *lx;

	if (!config || config->stdout_fd < 0 || config->stderr_fd < 0)
		return -EINVAL;
	lx = calloc(1, sizeof(*lx));
	if (!lx)
		return -ENOMEM;
	lx->config = *config;
	pkvm_linux_destroy(vm->linux_personality);
	vm->linux_personality = lx;
	return 0;
}

void pkvm_linux_destroy(struct pkvm_linux *lx)
{
	free(lx);
}

int pkvm_linux_syscall(struct pkvm_vm *vm, struct pkvm_exit *exit)
{
	struct pkvm_linux *lx = vm->linux_personality;
	const struct pkvm_linux_call *call = pkvm_linux_lookup(exit->syscall.nr);
	enum pkvm_linux_action action = PKVM_LINUX_RETURN;
	int64_t result = -ENOSYS;

	if (call)
		action = call->handler(vm, lx, exit->syscall.args, &result);
	if (lx->config.trace)
		lx->config.trace(lx->config.trace_ctx, call ? call->name : NULL, exit->syscall.args,
				 action == PKVM_LINUX_EXIT ? lx->exit_status : result);
	if (action == PKVM_LINUX_EXIT) {
		exit->reason = PKVM_EXIT_EXIT;
		exit->exit.status = lx->exit_status;
		return 0;
	}
	pkvm_syscall_return(vm, (uint64_t)result);
	return 1;
}
