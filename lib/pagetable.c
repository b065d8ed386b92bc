/* pagetable.c: builds and edits the guest's 4-level page tables in a guest-physical pool. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "pagetable.h"

#define ENTRIES			512
/* Non-leaf entries grant everything; the leaf alone decides (rights are ANDed). */
#define PT_TABLE_FLAGS		(PTE_P | PTE_W | PTE_U | PTE_A)
/* A and D preset so the CPU never needs to write the tables (SDM §4.8). */
#define PT_LEAF_FIXED		(PTE_P | PTE_A | PTE_D)
#define PT_USER_TOP		0x0000800000000000ULL

enum pt_op_kind { PT_CHECK_FREE, PT_CHECK_MAPPED, PT_MAP, PT_UNMAP, PT_PROTECT, PT_SET_PKEY };

struct pt_op {
	enum pt_op_kind kind;
	bool skip_holes;		/* PT_PROTECT, PT_SET_PKEY: leave what is not mapped alone */
	uint64_t gpa_delta;		/* PT_MAP: gpa - gva */
	uint64_t flags;			/* PT_MAP, PT_PROTECT */
	unsigned pkey;			/* PT_MAP, PT_SET_PKEY */
	void (*release)(void *ctx, uint64_t gpa, uint64_t size);
	void *ctx;
};

uint64_t *pkvm_pt_table(const struct pkvm_pt *pt, uint64_t gpa)
{
	return (uint64_t *)(pt->mem->base + gpa);
}

/* Tell the owner's dirty map (snapshots) that the host wrote the page at @gpa. */
static void mark_dirty(const struct pkvm_pt *pt, uint64_t gpa)
{
	if (pt->dirty)
		pt->dirty[gpa >> (PAGE_SHIFT + 6)] |= 1ULL << ((gpa >> PAGE_SHIFT) & 63);
}

static void set_entry(struct pkvm_pt *pt, uint64_t *entry, uint64_t value)
{
	mark_dirty(pt, (uint64_t)((uint8_t *)entry - pt->mem->base));
	*entry = value;
}

int pkvm_pt_alloc_page(struct pkvm_pt *pt, uint64_t *gpa)
{
	for (uint64_t word = 0; word * 64 < pt->pool_pages; word++) {
		uint64_t free_bits = ~pt->pool_used[word];
		uint64_t page;

		if (!free_bits)
			continue;
		page = word * 64 + __builtin_ctzll(free_bits);
		if (page >= pt->pool_pages)
			break;
		pt->pool_used[word] |= 1ULL << (page % 64);
		pt->pool_in_use++;
		*gpa = pt->pool_gpa + page * PAGE_SIZE;
		memset(pkvm_pt_table(pt, *gpa), 0, PAGE_SIZE);
		mark_dirty(pt, *gpa);
		return 0;
	}
	return -ENOMEM;
}

void pkvm_pt_free_page(struct pkvm_pt *pt, uint64_t gpa)
{
	uint64_t page = (gpa - pt->pool_gpa) / PAGE_SIZE;

	pt->pool_used[page / 64] &= ~(1ULL << (page % 64));
	pt->pool_in_use--;
}

int pkvm_pt_init(struct pkvm_pt *pt, const struct pkvm_gmem *mem, uint64_t pool_gpa,
		 uint64_t pool_pages)
{
	memset(pt, 0, sizeof(*pt));
	if (pool_pages == 0 || pool_gpa % PAGE_SIZE || pool_gpa > mem->size ||
	    pool_pages > (mem->size - pool_gpa) / PAGE_SIZE)
		return -EINVAL;
	pt->mem = mem;
	pt->pool_gpa = pool_gpa;
	pt->pool_pages = pool_pages;
	pt->allow_huge = true;
	pt->pool_used = calloc((pool_pages + 63) / 64, sizeof(uint64_t));
	if (!pt->pool_used)
		return -ENOMEM;
	return pkvm_pt_alloc_page(pt, &pt->root);
}

void pkvm_pt_destroy(struct pkvm_pt *pt)
{
	free(pt->pool_used);
	pt->pool_used = NULL;
}

static uint64_t level_span(unsigned level)
{
	return 1ULL << (PAGE_SHIFT + 9 * (level - 1));
}

static bool entry_is_leaf(uint64_t entry, unsigned level)
{
	return level == 1 || (entry & PTE_PS);
}

static uint64_t leaf_frame(uint64_t entry, unsigned level)
{
	return entry & PTE_ADDR_MASK_52 & ~(level_span(level) - 1);
}

/* Replace a 2 MiB leaf by a table of 512 4 KiB leaves with the same rights and key. */
static int split_large(struct pkvm_pt *pt, uint64_t *entry)
{
	uint64_t frame = leaf_frame(*entry, 2);
	uint64_t attrs = *entry & ~(PTE_ADDR_MASK_52 | PTE_PS);
	uint64_t table;
	uint64_t *ptes;
	int err = pkvm_pt_alloc_page(pt, &table);

	if (err)
		return err;
	ptes = pkvm_pt_table(pt, table);
	for (unsigned i = 0; i < ENTRIES; i++)
		ptes[i] = (frame + i * PAGE_SIZE) | attrs;
	set_entry(pt, entry, table | PT_TABLE_FLAGS);
	return 0;
}

static bool table_is_empty(const struct pkvm_pt *pt, uint64_t table)
{
	const uint64_t *entries = pkvm_pt_table(pt, table);

	for (unsigned i = 0; i < ENTRIES; i++)
		if (entries[i])
			return false;
	return true;
}

static int pt_leaf(struct pkvm_pt *pt, uint64_t *entry, unsigned level, uint64_t gva,
		   const struct pt_op *op)
{
	switch (op->kind) {
	case PT_CHECK_FREE:
		return -EEXIST;
	case PT_CHECK_MAPPED:
		return 0;
	case PT_UNMAP:
		if (op->release)
			op->release(op->ctx, leaf_frame(*entry, level), level_span(level));
		set_entry(pt, entry, 0);
		break;
	case PT_PROTECT:
		set_entry(pt, entry, (*entry & ~PKVM_PT_FLAGS) | op->flags);
		break;
	case PT_SET_PKEY:
		set_entry(pt, entry, (*entry & ~PTE_PKEY_MASK) | ((uint64_t)op->pkey << PTE_PKEY_SHIFT));
		break;
	case PT_MAP:
		(void)gva;
		return -EEXIST;
	}
	pt->changed = true;
	return 0;
}

static int pt_range(struct pkvm_pt *pt, uint64_t table, unsigned level, uint64_t gva,
		    uint64_t end, const struct pt_op *op)
{
	uint64_t span = level_span(level);

	while (gva < end) {
		uint64_t *entry = &pkvm_pt_table(pt, table)[(gva >> (PAGE_SHIFT + 9 * (level - 1))) & 511];
		uint64_t last = gva | (span - 1);	/* no overflow at the top of memory */
		bool whole = (gva & (span - 1)) == 0 && last <= end - 1;
		uint64_t stop = last < end - 1 ? last + 1 : end;
		int err;

		if (!(*entry & PTE_P)) {
			if (op->kind == PT_CHECK_MAPPED ||
			    ((op->kind == PT_PROTECT || op->kind == PT_SET_PKEY) && !op->skip_holes))
				return -ENOMEM;
			if (op->kind != PT_MAP)
				goto next;
			if (whole && (level == 1 || (level == 2 && pt->allow_huge &&
						     ((gva + op->gpa_delta) & (span - 1)) == 0))) {
				set_entry(pt, entry, ((gva + op->gpa_delta) & PTE_ADDR_MASK_52) |
					  op->flags | PT_LEAF_FIXED |
					  ((uint64_t)op->pkey << PTE_PKEY_SHIFT) |
					  (level == 2 ? PTE_PS : 0));
				pt->changed = true;
				goto next;
			}
			uint64_t child;

			err = pkvm_pt_alloc_page(pt, &child);
			if (err)
				return err;
			set_entry(pt, entry, child | PT_TABLE_FLAGS);
		} else if (entry_is_leaf(*entry, level)) {
			if (whole || op->kind == PT_CHECK_FREE || op->kind == PT_CHECK_MAPPED ||
			    op->kind == PT_MAP) {
				err = pt_leaf(pt, entry, level, gva, op);
				if (err)
					return err;
				goto next;
			}
			err = split_large(pt, entry);
			if (err)
				return err;
		}
		err = pt_range(pt, *entry & PTE_ADDR_MASK_52, level - 1, gva, stop, op);
		if (err)
			return err;
		if (op->kind == PT_UNMAP && table_is_empty(pt, *entry & PTE_ADDR_MASK_52)) {
			pkvm_pt_free_page(pt, *entry & PTE_ADDR_MASK_52);
			set_entry(pt, entry, 0);
			pt->changed = true;
		}
next:
		gva = stop;
	}
	return 0;
}

static int check_range(uint64_t gva, uint64_t size)
{
	if (size == 0 || gva % PAGE_SIZE || size % PAGE_SIZE)
		return -EINVAL;
	if (gva >= PT_USER_TOP || size > PT_USER_TOP - gva) {
		/* The upper half: canonical, and not touching the very last page. */
		if (!pkvm_gva_is_canonical(gva) || gva < PT_USER_TOP || size >= -gva)
			return -EINVAL;
	}
	return 0;
}

/* Split the 2 MiB leaf holding @gva, if there is one (translations do not change). */
static int split_at(struct pkvm_pt *pt, uint64_t gva)
{
	uint64_t table = pt->root;

	for (unsigned lvl = 4; lvl >= 2; lvl--) {
		uint64_t *entry = &pkvm_pt_table(pt, table)[(gva >> (PAGE_SHIFT + 9 * (lvl - 1))) & 511];

		if (!(*entry & PTE_P))
			return 0;
		if (lvl == 2 && (*entry & PTE_PS))
			return split_large(pt, entry);
		table = *entry & PTE_ADDR_MASK_52;
	}
	return 0;
}

/* Only the 2 MiB leaves at the two ends of a range can be cut: split them before any change. */
static int split_edges(struct pkvm_pt *pt, uint64_t gva, uint64_t size)
{
	int err = 0;

	if (gva % HPAGE_SIZE)
		err = split_at(pt, gva);
	if (!err && (gva + size) % HPAGE_SIZE)
		err = split_at(pt, gva + size - 1);
	return err;
}

static int run_op(struct pkvm_pt *pt, uint64_t gva, uint64_t size, const struct pt_op *op)
{
	return pt_range(pt, pt->root, 4, gva, gva + size, op);
}

int pkvm_pt_map(struct pkvm_pt *pt, uint64_t gva, uint64_t gpa, uint64_t size, uint64_t flags,
		unsigned pkey)
{
	struct pt_op op = { .kind = PT_CHECK_FREE };
	int err = check_range(gva, size);

	if (err)
		return err;
	if ((flags & ~PKVM_PT_FLAGS) || pkey >= PKVM_NR_PKEYS || gpa % PAGE_SIZE ||
	    gpa > pt->mem->size || size > pt->mem->size - gpa)
		return -EINVAL;
	err = run_op(pt, gva, size, &op);
	if (err)
		return err;
	op = (struct pt_op){ .kind = PT_MAP, .gpa_delta = gpa - gva, .flags = flags, .pkey = pkey };
	err = run_op(pt, gva, size, &op);
	if (err) {
		/* Out of table pages half way: take back what was mapped. */
		struct pt_op undo = { .kind = PT_UNMAP };

		run_op(pt, gva, size, &undo);
	}
	return err;
}

int pkvm_pt_check_free(struct pkvm_pt *pt, uint64_t gva, uint64_t size)
{
	struct pt_op op = { .kind = PT_CHECK_FREE };
	int err = check_range(gva, size);

	return err ? err : run_op(pt, gva, size, &op);
}

int pkvm_pt_unmap(struct pkvm_pt *pt, uint64_t gva, uint64_t size,
		  void (*release)(void *ctx, uint64_t gpa, uint64_t size), void *ctx)
{
	struct pt_op op = { .kind = PT_UNMAP, .release = release, .ctx = ctx };
	int err = check_range(gva, size);

	if (!err)
		err = split_edges(pt, gva, size);
	return err ? err : run_op(pt, gva, size, &op);
}

static int modify(struct pkvm_pt *pt, uint64_t gva, uint64_t size, struct pt_op *op)
{
	struct pt_op check = { .kind = PT_CHECK_MAPPED };
	int err = check_range(gva, size);

	if (err)
		return err;
	if (!op->skip_holes)
		err = run_op(pt, gva, size, &check);
	if (!err)
		err = split_edges(pt, gva, size);
	return err ? err : run_op(pt, gva, size, op);
}

int pkvm_pt_protect(struct pkvm_pt *pt, uint64_t gva, uint64_t size, uint64_t flags)
{
	struct pt_op op = { .kind = PT_PROTECT, .flags = flags };

	if (flags & ~PKVM_PT_FLAGS)
		return -EINVAL;
	return modify(pt, gva, size, &op);
}

int pkvm_pt_set_pkey(struct pkvm_pt *pt, uint64_t gva, uint64_t size, unsigned pkey)
{
	struct pt_op op = { .kind = PT_SET_PKEY, .pkey = pkey };

	if (pkey >= PKVM_NR_PKEYS)
		return -EINVAL;
	return modify(pt, gva, size, &op);
}

int pkvm_pt_protect_mapped(struct pkvm_pt *pt, uint64_t gva, uint64_t size, uint64_t flags)
{
	struct pt_op op = { .kind = PT_PROTECT, .flags = flags, .skip_holes = true };

	if (flags & ~PKVM_PT_FLAGS)
		return -EINVAL;
	return modify(pt, gva, size, &op);
}

int pkvm_pt_set_pkey_mapped(struct pkvm_pt *pt, uint64_t gva, uint64_t size, unsigned pkey)
{
	struct pt_op op = { .kind = PT_SET_PKEY, .pkey = pkey, .skip_holes = true };

	if (pkey >= PKVM_NR_PKEYS)
		return -EINVAL;
	return modify(pt, gva, size, &op);
}

int pkvm_pt_lookup(const struct pkvm_pt *pt, uint64_t gva, uint64_t *leaf, unsigned *level)
{
	uint64_t table = pt->root;

	if (!pkvm_gva_is_canonical(gva))
		return -ENOENT;
	for (unsigned lvl = 4; lvl >= 1; lvl--) {
		uint64_t entry = pkvm_pt_table(pt, table)[(gva >> (PAGE_SHIFT + 9 * (lvl - 1))) & 511];

		if (!(entry & PTE_P))
			return -ENOENT;
		if (entry_is_leaf(entry, lvl)) {
			*leaf = entry;
			*level = lvl;
			return 0;
		}
		table = entry & PTE_ADDR_MASK_52;
	}
	return -ENOENT;
}

int pkvm_pt_translate(const struct pkvm_pt *pt, uint64_t gva, uint64_t *gpa, uint64_t *leaf)
{
	unsigned level;
	uint64_t span;

	if (pkvm_pt_lookup(pt, gva, leaf, &level))
		return -ENOENT;
	span = level_span(level);
	*gpa = leaf_frame(*leaf, level) + (gva & (span - 1));
	/* The tables are the host's, but a frame outside guest memory is never used. */
	if (*gpa >= pt->mem->size)
		return -ERANGE;
	return 0;
}

static int visit_leaves(const struct pkvm_pt *pt, uint64_t table, unsigned level, uint64_t base,
			uint64_t start, uint64_t end, pkvm_pt_leaf_fn fn, void *ctx)
{
	const uint64_t *e = pkvm_pt_table(pt, table);
	uint64_t span = level_span(level);

	for (unsigned i = start > base ? (start - base) / span : 0; i < ENTRIES; i++) {
		uint64_t lo = base + i * span, hi = lo + span;
		int err;

		if (lo >= end)
			break;
		if (!(e[i] & PTE_P))
			continue;
		if (entry_is_leaf(e[i], level))
			err = fn(ctx, lo > start ? lo : start, hi < end ? hi : end, e[i]);
		else
			err = visit_leaves(pt, e[i] & PTE_ADDR_MASK_52, level - 1, lo, start, end, fn,
					   ctx);
		if (err)
			return err;
	}
	return 0;
}

int pkvm_pt_for_each_leaf(const struct pkvm_pt *pt, uint64_t gva, uint64_t size,
			  pkvm_pt_leaf_fn fn, void *ctx)
{
	if (gva >= PT_USER_TOP || size > PT_USER_TOP - gva)
		return -EINVAL;
	return size ? visit_leaves(pt, pt->root, 4, 0, gva, gva + size, fn, ctx) : 0;
}
