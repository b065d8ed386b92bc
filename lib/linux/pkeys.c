/* pkeys.c: pkey_alloc, pkey_free and pkey_mprotect with Linux's semantics. */
#include <errno.h>
#include <sys/mman.h>

#include "personality.h"

#define LX_PKEY_DISABLE_ACCESS	0x1
#define LX_PKEY_DISABLE_WRITE	0x2

/*
 * As Linux: the new key's rights in the caller's PKRU are set from
 * @init_rights; ENOSPC where keys are not enforced (no PKU) or all are taken.
 */
LX_HANDLER_DEF(lx_sys_pkey_alloc)
{
	uint32_t pkru;
	int key, err;

	if (args[0] || (args[1] & ~(uint64_t)(LX_PKEY_DISABLE_ACCESS | LX_PKEY_DISABLE_WRITE)))
		return lx_ret(result, -EINVAL);
	if (!lx->pkeys)
		return lx_ret(result, -ENOSPC);
	key = pkvm_pkey_alloc(vm);
	if (key < 0)
		return lx_ret(result, key);
	err = pkvm_get_pkru(vm, &pkru);
	if (!err) {
		pkru &= ~(3U << (2 * key));
		pkru |= (uint32_t)args[1] << (2 * key);
		err = pkvm_set_pkru(vm, pkru);
	}
	if (err) {
		pkvm_pkey_free(vm, key);
		return lx_ret(result, err);
	}
	return lx_ret(result, key);
}

LX_HANDLER_DEF(lx_sys_pkey_free)
{
	(void)lx;
	if ((int64_t)args[0] <= 0 || args[0] >= PKVM_NR_PKEYS)
		return lx_ret(result, -EINVAL);
	return lx_ret(result, pkvm_pkey_free(vm, (int)args[0]));
}

LX_HANDLER_DEF(lx_sys_pkey_mprotect)
{
	uint64_t addr = args[0], len = (args[1] + PAGE_SIZE - 1) & PAGE_MASK;
	unsigned prot = args[2];
	int pkey = (int)args[3], err;

	if (prot & ~(unsigned)(PROT_READ | PROT_WRITE | PROT_EXEC) || addr % PAGE_SIZE ||
	    args[1] > PKVM_USER_TOP)
		return lx_ret(result, -EINVAL);
	/* -1 is plain mprotect(); any other key must be allocated. */
	if (pkey != -1 && (pkey < 0 || pkey >= PKVM_NR_PKEYS ||
			   (pkey && !pkvm_pkeys_is_allocated(&vm->pkeys, pkey))))
		return lx_ret(result, -EINVAL);
	if (!len)
		return lx_ret(result, 0);
	if (addr >= PKVM_USER_TOP || len > PKVM_USER_TOP - addr ||
	    !lx_vma_covered(&lx->vmas, addr, addr + len))
		return lx_ret(result, -ENOMEM);
	err = lx_protect(vm, addr, len, prot);
	if (!err && pkey != -1)
		err = pkvm_set_pkey(vm, addr, len, pkey);
	return lx_ret(result, err);
}
