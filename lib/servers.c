/* servers.c: the VM's exit servers (host functions, a personality), in the order they came. */
#include <errno.h>

#include "vm.h"

int pkvm_exit_server_set(struct pkvm_vm *vm, const struct pkvm_exit_server *server, void *ctx)
{
	for (unsigned i = 0; i < vm->nservers; i++) {
		void *old = vm->servers[i].ctx;

		if (vm->servers[i].server != server)
			continue;
		vm->servers[i].ctx = ctx;
		if (server->release && old != ctx)
			server->release(old);
		return 0;
	}
	if (vm->nservers == PKVM_MAX_SERVERS)
		return -ENOSPC;
	vm->servers[vm->nservers].server = server;
	vm->servers[vm->nservers].ctx = ctx;
	vm->nservers++;
	return 0;
}

void *pkvm_exit_server_ctx(const struct pkvm_vm *vm, const struct pkvm_exit_server *server)
{
	for (unsigned i = 0; i < vm->nservers; i++)
		if (vm->servers[i].server == server)
			return vm->servers[i].ctx;
	return NULL;
}

int pkvm_exit_servers_serve(struct pkvm_vm *vm, struct pkvm_exit *exit)
{
	for (unsigned i = 0; i < vm->nservers; i++) {
		int ret = vm->servers[i].server->serve(vm, vm->servers[i].ctx, exit);

		if (ret)
			return ret;
	}
	return 0;
}

int pkvm_exit_servers_wake(struct pkvm_vm *vm, struct pkvm_exit *exit)
{
	for (unsigned i = 0; i < vm->nservers; i++) {
		const struct pkvm_exit_server *s = vm->servers[i].server;
		int ret = s->wake ? s->wake(vm, vm->servers[i].ctx, exit) : 0;

		if (ret)
			return ret;
	}
	return 0;
}

bool pkvm_exit_servers_single_context(const struct pkvm_vm *vm)
{
	for (unsigned i = 0; i < vm->nservers; i++) {
		const struct pkvm_exit_server *s = vm->servers[i].server;

		if (s->single_context && !s->single_context(vm->servers[i].ctx))
			return false;
	}
	return true;
}

int pkvm_exit_servers_lockdown(struct pkvm_vm *vm, struct pkvm_lockdown *rules)
{
	for (unsigned i = 0; i < vm->nservers; i++) {
		const struct pkvm_exit_server *s = vm->servers[i].server;
		int err = s->lockdown ? s->lockdown(vm->servers[i].ctx, rules) : 0;

		if (err)
			return err;
	}
	return 0;
}

void pkvm_exit_servers_release(struct pkvm_vm *vm)
{
	/* Last first: a later server may lean on an earlier one. */
	while (vm->nservers) {
		vm->nservers--;
		if (vm->servers[vm->nservers].server->release)
			vm->servers[vm->nservers].server->release(vm->servers[vm->nservers].ctx);
	}
}
