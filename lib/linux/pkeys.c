/* pkeys.c: pkey_alloc, pkey_free and pkey_mprotect with Linux's semantics, on keys the host lent. */
#include <errno.h>
#include <sys/mman.h>

#include "../x86.h"
#include "personality.h"

#define LX_PKEY_DISABLE_ACCESS	0x1
#define LX_PKEY_DISABLE_WRITE	0x2
#define ALL_KEYS		0xfffe	/* 1..15; key 0 is everyone's */

/*
 * The host and the guest share the VM's sixteen keys, and a key protects the
 * host's data only while the guest cannot own it.  So the guest allocates
 * from a pool (pkvm_linux_config.guest_pkeys, by default the keys no one had
 * allocated when the personality was attached), frees only what it
 * allocated, and never names another key in pkey_mprotect(): to the guest,
 * the host's keys are keys that were never allocated.
 */
void lx_pkeys_init(struct pkvm_vm *vm, struct pkvm_linux *lx)
{
	uint16_t pool = lx->config.guest_pkeys ? lx->config.guest_pkeys & ALL_KEYS : ALL_KEYS;

	for (int key = 1; key < PKVM_NR_PKEYS; key++)
		if (pkvm_pkeys_is_allocated(&vm->pkeys, key))
			pool &= ~(1U << key);
	lx->pkey_pool = lx->pkeys ? pool : 0;
	lx->pkeys_held = 0;
	lx->exec_only_key = -1;
}

bool lx_pkey_is_guests(const struct pkvm_linux *lx, int pkey)
{
	return pkey == 0 || (pkey > 0 && pkey < PKVM_NR_PKEYS && (lx->pkeys_held & (1U << pkey)));
}

/* The lowest key of the guest's pool that is free in the VM, or -ENOSPC. */
static int alloc_from_pool(struct pkvm_vm *vm, struct pkvm_linux *lx)
{
	for (int key = 1; key < PKVM_NR_PKEYS; key++) {
		if (!(lx->pkey_pool & (1U << key)) || pkvm_pkeys_is_allocated(&vm->pkeys, key))
			continue;
		return pkvm_pkeys_claim(&vm->pkeys, key);
	}
	return -ENOSPC;
}

/*
 * As Linux: the new key's rights in the caller's PKRU are set from
 * @init_rights; ENOSPC where keys are not enforced (no PKU) or all are taken.
 * The PKRU change is the guest's own, so the PKRU policy rules it: a locked
 * PKRU (or one the allow-list refuses) makes the call fail with ENOSPC, the
 * answer a program already handles, and leaves no key allocated.
 */
LX_HANDLER_DEF(lx_sys_pkey_alloc)
{
	uint32_t pkru, old;
	int key, err;

	if (args[0] || (args[1] & ~(uint64_t)(LX_PKEY_DISABLE_ACCESS | LX_PKEY_DISABLE_WRITE)))
		return lx_ret(result, -EINVAL);
	key = alloc_from_pool(vm, lx);
	if (key < 0)
		return lx_ret(result, key);
	err = pkvm_get_pkru(vm, &old);
	if (!err) {
		pkru = (old & ~(3U << (2 * key))) | (uint32_t)args[1] << (2 * key);
		if (pkru != old)
			err = pkvm_pkru_guest_may_set(vm, pkru) ? pkvm_set_pkru(vm, pkru) : -ENOSPC;
	}
	if (err) {
		pkvm_pkey_free(vm, key);
		return lx_ret(result, err);
	}
	lx->pkeys_held |= 1U << key;
	return lx_ret(result, key);
}

/* Linux: EINVAL for a key the caller has not allocated (the host's keys included). */
LX_HANDLER_DEF(lx_sys_pkey_free)
{
	int key = (int64_t)args[0] > 0 && args[0] < PKVM_NR_PKEYS ? (int)args[0] : -1;
	int err;

	if (key <= 0 || !lx_pkey_is_guests(lx, key))
		return lx_ret(result, -EINVAL);
	err = pkvm_pkey_free(vm, key);
	if (!err)
		lx->pkeys_held &= ~(1U << key);
	return lx_ret(result, err);
}

/* Set @key's rights in the PKRU to @rights (PKEY_DISABLE_*), if the PKRU policy lets the guest. */
static int set_key_rights(struct pkvm_vm *vm, int key, uint32_t rights)
{
	uint32_t pkru, old;
	int err = pkvm_get_pkru(vm, &old);

	if (err)
		return err;
	pkru = (old & ~(3U << (2 * key))) | rights << (2 * key);
	if (pkru == old)
		return 0;
	return pkvm_pkru_guest_may_set(vm, pkru) ? pkvm_set_pkru(vm, pkru) : -EPERM;
}

/*
 * Linux's execute_only_pkey(): allocated once, so that pkey_alloc() sees it
 * taken, but not the program's to name: pkey_free() and pkey_mprotect() of
 * it are EINVAL, as for a key never allocated (mm_pkey_is_allocated()).
 * Its access is disabled in PKRU again whenever the PKRU lets it be read.
 * -1 when there is none to have.
 */
static int exec_only_key(struct pkvm_vm *vm, struct pkvm_linux *lx)
{
	int key = lx->exec_only_key;
	bool fresh;
	uint32_t pkru;

	fresh = key < 0;

	if (fresh) {
		key = alloc_from_pool(vm, lx);
		if (key < 0)
			return -1;
	}
	if (!fresh && !pkvm_get_pkru(vm, &pkru) && (pkru & (LX_PKEY_DISABLE_ACCESS << (2 * key))))
		return key;
	if (set_key_rights(vm, key, LX_PKEY_DISABLE_ACCESS)) {
		if (fresh)
			pkvm_pkey_free(vm, key);
		return -1;
	}
	if (fresh)
		lx->exec_only_key = key;
	return key;
}

struct exec_only_leaves {
	struct pkvm_vm *vm;
	int key;
	int err;
};

static int drop_exec_only(void *ctx, uint64_t start, uint64_t end, uint64_t leaf)
{
	struct exec_only_leaves *x = ctx;

	if ((int)((leaf & PTE_PKEY_MASK) >> PTE_PKEY_SHIFT) == x->key)
		x->err = pkvm_set_pkey(x->vm, start, end - start, 0);
	return x->err;
}

int lx_pkey_apply_exec_only(struct pkvm_vm *vm, struct pkvm_linux *lx, uint64_t addr,
			    uint64_t len, unsigned prot)
{
	struct exec_only_leaves x = { vm, lx->exec_only_key, 0 };
	int key;

	/* Only hw has execute-only pages; on soft PROT_EXEC stays readable, as without PKU. */
	if (vm->backend != PKVM_PKEYS_HW)
		return 0;
	if (prot == PROT_EXEC) {
		key = exec_only_key(vm, lx);
		return key > 0 ? pkvm_set_pkey(vm, addr, len, key) : 0;
	}
	if (x.key <= 0)
		return 0;
	return pkvm_for_each_mapping(vm, addr, len, drop_exec_only, &x);
}

LX_HANDLER_DEF(lx_sys_pkey_mprotect)
{
	uint64_t addr = args[0], len = (args[1] + PAGE_SIZE - 1) & PAGE_MASK;
	unsigned prot = args[2];
	int pkey = (int)args[3], err;

	if (prot & ~(unsigned)(PROT_READ | PROT_WRITE | PROT_EXEC) || addr % PAGE_SIZE ||
	    args[1] > PKVM_USER_TOP)
		return lx_ret(result, -EINVAL);
	/* -1 is plain mprotect(); any other key must be one the guest allocated. */
	if ((int64_t)args[3] != pkey || (pkey != -1 && !lx_pkey_is_guests(lx, pkey)))
		return lx_ret(result, -EINVAL);
	if (!len)
		return lx_ret(result, 0);
	if (addr >= PKVM_USER_TOP || len > PKVM_USER_TOP - addr ||
	    !lx_vma_covered(&lx->vmas, addr, addr + len))
		return lx_ret(result, -ENOMEM);
	err = lx_protect(vm, addr, len, prot);
	if (!err && pkey != -1)
		err = pkvm_set_pkey(vm, addr, len, pkey);
	else if (!err)
		err = lx_pkey_apply_exec_only(vm, lx, addr, len, prot);
	return lx_ret(result, err);
}
