/* personality.c: attaching the Linux personality to a VM and dispatching each system call. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "personality.h"

int pkvm_linux_attach(struct pkvm_vm *vm, const struct pkvm_linux_config *config)
{
	struct pkvm_linux *lx;
	int err;

	if (!vm || !config)
		return -EINVAL;
	lx = calloc(1, sizeof(*lx));
	if (!lx)
		return -ENOMEM;
	lx->config = *config;
	lx->config.ro_paths = NULL;	/* copied into lx->roots; the caller's array may go */
	lx->bounce = malloc(LX_BOUNCE);
	err = lx->bounce ? 0 : -ENOMEM;
	if (!err)
		err = lx_fdtable_init(lx);
	if (!err)
		err = lx_paths_init(lx, config->ro_paths);
	if (!err)
		err = lx_memory_init(vm, lx);
	/*
	 * A new Linux process starts with every key but 0 access-disabled
	 * (init_pkru_value); a program that allocates keys expects that.
	 */
	lx->pkeys = vm->backend != PKVM_PKEYS_NONE;
	lx_pkeys_init(vm, lx);
	if (!err && lx->pkeys)
		err = pkvm_set_pkru(vm, LX_INIT_PKRU);
	if (err) {
		pkvm_linux_destroy(lx);
		return err;
	}
	pkvm_linux_destroy(vm->linux_personality);
	vm->linux_personality = lx;
	return 0;
}

void pkvm_linux_destroy(struct pkvm_linux *lx)
{
	if (!lx)
		return;
	lx_fdtable_destroy(lx);
	lx_paths_destroy(lx);
	lx_memory_destroy(lx);
	free(lx->bounce);
	free(lx);
}

int pkvm_linux_get_stats(struct pkvm_vm *vm, struct pkvm_linux_stats *stats)
{
	if (!vm || !vm->linux_personality || !stats)
		return -EINVAL;
	*stats = vm->linux_personality->stats;
	return 0;
}

const char *pkvm_linux_syscall_name(uint64_t nr)
{
	const struct lx_call *call = lx_lookup(nr);

	return call ? call->name : NULL;
}

int pkvm_linux_syscall(struct pkvm_vm *vm, struct pkvm_exit *exit)
{
	struct pkvm_linux *lx = vm->linux_personality;
	uint64_t nr = exit->syscall.nr, start = pkvm_now_ns();
	const struct lx_call *call = lx_lookup(nr);
	enum lx_action action = LX_RETURN;
	int64_t result = -ENOSYS;

	if (call && call->handler)
		action = call->handler(vm, lx, exit->syscall.args, &result);
	else
		lx->stats.unknown++;
	lx->stats.calls++;
	if (nr < PKVM_LINUX_NR_MAX)
		lx->stats.by_nr[nr]++;
	if (action == LX_EXIT)
		result = lx->exit_status;
	if (lx->config.trace) {
		struct pkvm_linux_trace t = { .nr = nr, .name = call ? call->name : NULL,
					      .result = result, .line = lx->trace_line };

		memcpy(t.args, exit->syscall.args, sizeof(t.args));
		lx_format_trace(vm, lx, nr, call, exit->syscall.args, result);
		lx->config.trace(lx->config.trace_ctx, &t);
	}
	lx->stats.host_ns += pkvm_now_ns() - start;
	if (action == LX_EXIT) {
		exit->reason = PKVM_EXIT_EXIT;
		exit->exit.status = lx->exit_status;
		return 0;
	}
	pkvm_syscall_return(vm, (uint64_t)result);
	return 1;
}
