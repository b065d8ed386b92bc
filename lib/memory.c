/* memory.c: the public mapping calls: user regions, their rights and their keys. */
#include <errno.h>
#include <string.h>
#include <sys/mman.h>

#include "layout.h"
#include "vm.h"

static int prot_to_flags(int prot, uint64_t *flags)
{
	if (prot & ~(PKVM_PROT_READ | PKVM_PROT_WRITE | PKVM_PROT_EXEC))
		return -EINVAL;
	/*
	 * x86 pages are readable whenever present; no access at all (PROT_NONE)
	 * keeps the page and its contents but makes it a supervisor page, which
	 * CPL3 cannot touch and host copies refuse.
	 */
	if (!prot) {
		*flags = PTE_NX;
		return 0;
	}
	*flags = PTE_U | ((prot & PKVM_PROT_WRITE) ? PTE_W : 0) |
		 ((prot & PKVM_PROT_EXEC) ? 0 : PTE_NX);
	return 0;
}

static int check_user_range(uint64_t gva, uint64_t len)
{
	if (len == 0 || gva % PAGE_SIZE || len % PAGE_SIZE || gva >= PKVM_USER_TOP ||
	    len > PKVM_USER_TOP - gva)
		return -EINVAL;
	return 0;
}

static int check_pkey(const struct pkvm_vm *vm, int pkey)
{
	return pkvm_pkeys_is_allocated(&vm->pkeys, pkey) ? 0 : -EINVAL;
}

/*
 * Every change of the master tables makes the soft backend's views stale; drop
 * them first, which also returns their pages to the pool the change may need.
 */
static void master_will_change(struct pkvm_vm *vm)
{
	if (vm->backend == PKVM_PKEYS_SOFT)
		pkvm_soft_drop_views(&vm->soft, &vm->pt);
}

/*
 * Free frames are always zero: give their pages back to the host kernel
 * (which also makes them read as zeros), so that a new mapping need not touch
 * what it does not fill, and an idle sandbox costs only what it uses.
 */
static void release_frames(void *ctx, uint64_t gpa, uint64_t size)
{
	struct pkvm_vm *vm = ctx;

	if (madvise(vm->mem.base + gpa, size, MADV_DONTNEED) < 0)
		memset(vm->mem.base + gpa, 0, size);
	pkvm_mark_dirty(vm, gpa, size);
	pkvm_frames_release(&vm->frames, gpa, size);
}

/*
 * Map one piece that never crosses a 2 MiB boundary of @gva: it gets its own
 * contiguous frames, filled with @src_len bytes of @src and zeros after.
 */
static int map_piece(struct pkvm_vm *vm, uint64_t gva, uint64_t len, uint64_t flags, int pkey,
		     const uint8_t *src, uint64_t src_len)
{
	uint64_t gpa;
	int err = pkvm_frames_alloc(&vm->frames, len, &gpa);

	if (err)
		return err;
	if (src_len > len)
		src_len = len;
	/* The frames are zero already (see release_frames()): copy, never clear. */
	if (src_len) {
		memcpy(vm->mem.base + gpa, src, src_len);
		pkvm_mark_dirty(vm, gpa, src_len);
	}
	err = pkvm_pt_map(&vm->pt, gva, gpa, len, flags, pkey);
	if (err)
		release_frames(vm, gpa, len);
	return err;
}

int pkvm_map(struct pkvm_vm *vm, uint64_t gva, const void *data, size_t data_len, uint64_t len,
	     int prot, int pkey)
{
	uint64_t flags, done = 0;
	int err = check_user_range(gva, len);

	if (!err && gva < PKVM_USER_BOTTOM)
		err = -EINVAL;
	if (!err)
		err = prot_to_flags(prot, &flags);
	if (!err)
		err = check_pkey(vm, pkey);
	if (err)
		return err;
	if (data_len > len || (!data && data_len))
		return -EINVAL;
	/* W^X first: an empty range scans nothing but still checks the rights. */
	err = pkvm_wx_check(vm, gva, 0, prot & PKVM_PROT_WRITE ? prot : 0);
	if (err)
		return err;
	/*
	 * Refuse overlap up front, so that a failure half way only undoes our own
	 * pieces, and a request larger than all free memory before any work:
	 * a guest-sized length must never cost host time in proportion to it.
	 */
	err = pkvm_pt_check_free(&vm->pt, gva, len);
	if (err)
		return err;
	if (len / PAGE_SIZE > vm->frames.free)
		return -ENOMEM;
	master_will_change(vm);
	while (done < len) {
		uint64_t piece = HPAGE_SIZE - ((gva + done) & (HPAGE_SIZE - 1));

		if (piece > len - done)
			piece = len - done;
		err = map_piece(vm, gva + done, piece, flags, pkey, data ? (const uint8_t *)data + done : NULL,
				data_len > done ? data_len - done : 0);
		if (err) {
			if (done)
				pkvm_pt_unmap(&vm->pt, gva, done, release_frames, vm);
			return err;
		}
		done += piece;
	}
	/* The bytes are in place now: a locked hw VM scans them before running them. */
	err = pkvm_wx_check(vm, gva, len, prot);
	if (err)
		pkvm_pt_unmap(&vm->pt, gva, len, release_frames, vm);
	return err;
}

int pkvm_unmap(struct pkvm_vm *vm, uint64_t gva, uint64_t len)
{
	int err = check_user_range(gva, len);

	if (err)
		return err;
	master_will_change(vm);
	return pkvm_pt_unmap(&vm->pt, gva, len, release_frames, vm);
}

int pkvm_protect(struct pkvm_vm *vm, uint64_t gva, uint64_t len, int prot)
{
	uint64_t flags;
	int err = check_user_range(gva, len);

	if (!err)
		err = prot_to_flags(prot, &flags);
	if (!err)
		err = pkvm_wx_check(vm, gva, len, prot);
	if (err)
		return err;
	master_will_change(vm);
	return pkvm_pt_protect(&vm->pt, gva, len, flags);
}

int pkvm_set_pkey(struct pkvm_vm *vm, uint64_t gva, uint64_t len, int pkey)
{
	int err = check_user_range(gva, len);

	if (!err)
		err = check_pkey(vm, pkey);
	if (err)
		return err;
	master_will_change(vm);
	return pkvm_pt_set_pkey(&vm->pt, gva, len, pkey);
}

int pkvm_pkey_alloc(struct pkvm_vm *vm)
{
	return pkvm_pkeys_alloc(&vm->pkeys);
}

int pkvm_pkey_free(struct pkvm_vm *vm, int pkey)
{
	return pkvm_pkeys_free(&vm->pkeys, pkey);
}
