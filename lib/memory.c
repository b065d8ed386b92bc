/* memory.c: the public mapping calls: user regions, their rights and their keys. */
#include <errno.h>
#include <string.h>
#include <sys/mman.h>

#include "demand.h"
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

/* What pkvm_map() and pkvm_map_demand() take: a user range, rights and a key; its leaf flags. */
static int check_new_mapping(const struct pkvm_vm *vm, uint64_t gva, uint64_t len, int prot,
			     int pkey, uint64_t *flags)
{
	int err = check_user_range(gva, len);

	if (!err && gva < PKVM_USER_BOTTOM)
		err = -EINVAL;
	if (!err)
		err = prot_to_flags(prot, flags);
	return err ? err : check_pkey(vm, pkey);
}

int pkvm_map(struct pkvm_vm *vm, uint64_t gva, const void *data, size_t data_len, uint64_t len,
	     int prot, int pkey)
{
	uint64_t flags, done = 0;
	int err = check_new_mapping(vm, gva, len, prot, pkey, &flags);

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
	err = pkvm_range_is_free(vm, gva, len);
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

int pkvm_range_is_free(struct pkvm_vm *vm, uint64_t gva, uint64_t len)
{
	int err = pkvm_pt_check_free(&vm->pt, gva, len);

	if (!err && pkvm_demand_overlaps(&vm->demand, gva, gva + len))
		err = -EEXIST;
	return err;
}

int pkvm_map_demand(struct pkvm_vm *vm, uint64_t gva, uint64_t len, int prot, int pkey)
{
	uint64_t flags;
	int err = check_new_mapping(vm, gva, len, prot, pkey, &flags);

	/* The rights alone: there are no bytes to scan, and the pages come zeroed. */
	if (!err)
		err = pkvm_wx_check(vm, gva, 0, prot);
	if (!err)
		err = pkvm_range_is_free(vm, gva, len);
	return err ? err : pkvm_demand_add(&vm->demand, gva, gva + len, flags, (unsigned)pkey);
}

int pkvm_demand_fill(struct pkvm_vm *vm, uint64_t gva)
{
	const struct pkvm_demand_range *r = pkvm_demand_find(&vm->demand, gva);
	uint64_t page = gva & PAGE_MASK, gpa, leaf;
	unsigned level;
	int err;

	if (!r)
		return -ENOENT;
	if (pkvm_pt_lookup(&vm->pt, page, &leaf, &level) == 0)
		return -EEXIST;
	/* Free frames are zero (release_frames()): the page needs no clearing. */
	if (pkvm_frames_alloc(&vm->frames, PAGE_SIZE, &gpa))
		return -ENOMEM;
	err = pkvm_pt_map(&vm->pt, page, gpa, PAGE_SIZE, r->flags, r->pkey);
	if (err == -ENOMEM && vm->backend == PKVM_PKEYS_SOFT && pkvm_soft_view_pages(&vm->soft)) {
		/* The pool is shared with the soft views: make room and try again. */
		pkvm_soft_drop_views(&vm->soft, &vm->pt);
		err = pkvm_pt_map(&vm->pt, page, gpa, PAGE_SIZE, r->flags, r->pkey);
	}
	if (err) {
		release_frames(vm, gpa, PAGE_SIZE);
		return -ENOMEM;		/* the table pool is used up */
	}
	/* The soft views go at the next entry, as after any change of the tables (run.c). */
	vm->stats.demand_fills++;
	return 0;
}

/*
 * The demand-backed pieces of [start, end) (which holds no mapped page), as
 * leaves of their rights and key.  @fn may change the ranges: nothing is
 * held across its call but the address reached.
 */
static int demand_pieces(struct pkvm_vm *vm, uint64_t start, uint64_t end, pkvm_pt_leaf_fn fn,
			 void *ctx)
{
	while (start < end) {
		const struct pkvm_demand_range *r = pkvm_demand_next(&vm->demand, start);
		uint64_t from, to;
		int err;

		if (!r || r->start >= end)
			return 0;
		from = r->start > start ? r->start : start;
		to = r->end < end ? r->end : end;
		err = fn(ctx, from, to, r->flags | ((uint64_t)r->pkey << PTE_PKEY_SHIFT));
		if (err)
			return err;
		start = to;
	}
	return 0;
}

struct mapping_walk {
	struct pkvm_vm *vm;
	uint64_t next;			/* the end of what was visited */
	pkvm_pt_leaf_fn fn;
	void *ctx;
};

static int leaf_after_gap(void *ctx, uint64_t start, uint64_t end, uint64_t leaf)
{
	struct mapping_walk *w = ctx;
	int err = start > w->next ? demand_pieces(w->vm, w->next, start, w->fn, w->ctx) : 0;

	if (!err)
		err = w->fn(w->ctx, start, end, leaf);
	w->next = end;
	return err;
}

int pkvm_for_each_mapping(struct pkvm_vm *vm, uint64_t gva, uint64_t len, pkvm_pt_leaf_fn fn,
			  void *ctx)
{
	struct mapping_walk w = { vm, gva, fn, ctx };
	int err = pkvm_pt_for_each_leaf(&vm->pt, gva, len, leaf_after_gap, &w);

	if (!err && w.next < gva + len)
		err = demand_pieces(vm, w.next, gva + len, fn, ctx);
	return err;
}

/* Gaps between mapped leaves must be demand-backed: a walk over what exists. */
struct backing {
	const struct pkvm_demand *demand;
	uint64_t next;
};

static int gap_is_backed(void *ctx, uint64_t start, uint64_t end, uint64_t leaf)
{
	struct backing *b = ctx;

	(void)leaf;
	if (start > b->next && !pkvm_demand_covers(b->demand, b->next, start))
		return -ENOMEM;
	b->next = end;
	return 0;
}

/* Is every page of [gva, gva + len) mapped or demand-backed?  0 or -ENOMEM. */
static int check_backed(struct pkvm_vm *vm, uint64_t gva, uint64_t len)
{
	struct backing b = { &vm->demand, gva };
	int err = pkvm_pt_for_each_leaf(&vm->pt, gva, len, gap_is_backed, &b);

	if (!err && b.next < gva + len && !pkvm_demand_covers(&vm->demand, b.next, gva + len))
		err = -ENOMEM;
	return err;
}

int pkvm_unmap(struct pkvm_vm *vm, uint64_t gva, uint64_t len)
{
	int err = check_user_range(gva, len);

	/* Room first, so that nothing is left half done. */
	if (!err && pkvm_demand_overlaps(&vm->demand, gva, gva + len))
		err = pkvm_demand_reserve(&vm->demand);
	if (err)
		return err;
	master_will_change(vm);
	err = pkvm_pt_unmap(&vm->pt, gva, len, release_frames, vm);
	if (!err)
		err = pkvm_demand_remove(&vm->demand, gva, gva + len);
	return err;
}

/* pkvm_discard(): a page with a frame of its own for good is zeroed in place. */
static int zero_unless_demand(void *ctx, uint64_t start, uint64_t end, uint64_t leaf)
{
	struct pkvm_vm *vm = ctx;

	(void)leaf;
	for (uint64_t gva = start; gva < end; gva += PAGE_SIZE) {
		uint64_t gpa, pte;

		if (pkvm_demand_find(&vm->demand, gva) || pkvm_pt_translate(&vm->pt, gva, &gpa, &pte))
			continue;
		memset(vm->mem.base + (gpa & PAGE_MASK), 0, PAGE_SIZE);
		pkvm_mark_dirty(vm, gpa & PAGE_MASK, PAGE_SIZE);
	}
	return 0;
}

int pkvm_discard(struct pkvm_vm *vm, uint64_t gva, uint64_t len)
{
	uint64_t end = gva + len;
	int err = check_user_range(gva, len);

	if (!err)
		err = pkvm_pt_for_each_leaf(&vm->pt, gva, len, zero_unless_demand, vm);
	if (err || !pkvm_demand_overlaps(&vm->demand, gva, end))
		return err;
	/* Demand-backed pages give their frames back: they are filled again when touched. */
	master_will_change(vm);
	for (const struct pkvm_demand_range *r = pkvm_demand_find(&vm->demand, gva) ?: vm->demand.r;
	     r < vm->demand.r + vm->demand.n && r->start < end; r++) {
		uint64_t from = r->start > gva ? r->start : gva, to = r->end < end ? r->end : end;

		if (from < to) {
			err = pkvm_pt_unmap(&vm->pt, from, to - from, release_frames, vm);
			if (err)
				return err;
		}
	}
	return 0;
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
	if (!pkvm_demand_overlaps(&vm->demand, gva, gva + len)) {
		master_will_change(vm);
		return pkvm_pt_protect(&vm->pt, gva, len, flags);
	}
	err = check_backed(vm, gva, len);
	if (!err)
		err = pkvm_demand_reserve(&vm->demand);
	if (err)
		return err;
	master_will_change(vm);
	err = pkvm_pt_protect_mapped(&vm->pt, gva, len, flags);
	return err ? err : pkvm_demand_set_flags(&vm->demand, gva, gva + len, flags);
}

int pkvm_set_pkey(struct pkvm_vm *vm, uint64_t gva, uint64_t len, int pkey)
{
	int err = check_user_range(gva, len);

	if (!err)
		err = check_pkey(vm, pkey);
	if (err)
		return err;
	if (!pkvm_demand_overlaps(&vm->demand, gva, gva + len)) {
		master_will_change(vm);
		return pkvm_pt_set_pkey(&vm->pt, gva, len, pkey);
	}
	err = check_backed(vm, gva, len);
	if (!err)
		err = pkvm_demand_reserve(&vm->demand);
	if (err)
		return err;
	master_will_change(vm);
	err = pkvm_pt_set_pkey_mapped(&vm->pt, gva, len, pkey);
	return err ? err : pkvm_demand_set_pkey(&vm->demand, gva, gva + len, (unsigned)pkey);
}

int pkvm_pkey_alloc(struct pkvm_vm *vm)
{
	return pkvm_pkeys_alloc(&vm->pkeys);
}

int pkvm_pkey_free(struct pkvm_vm *vm, int pkey)
{
	return pkvm_pkeys_free(&vm->pkeys, pkey);
}
