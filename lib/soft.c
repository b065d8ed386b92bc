/* soft.c: the soft backend's per-PKRU page-table views, built lazily and cached. */
#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "soft.h"

#define ENTRIES		512

_Static_assert(PKVM_STUB_PKRU_VIEWS == PKVM_SOFT_MAX_VIEWS, "one table slot per view");
_Static_assert(offsetof(struct pkvm_stub_pkru_table, cr3) == PKVM_STUB_T_CR3 &&
	       offsetof(struct pkvm_stub_pkru_table, pkru) == PKVM_STUB_T_PKRU &&
	       offsetof(struct pkvm_stub_pkru_table, flags) == PKVM_STUB_T_FLAGS &&
	       offsetof(struct pkvm_stub_pkru_table, clock) == PKVM_STUB_T_CLOCK &&
	       offsetof(struct pkvm_stub_pkru_table, served) == PKVM_STUB_T_SERVED &&
	       offsetof(struct pkvm_stub_pkru_table, view) == PKVM_STUB_T_VIEWS &&
	       offsetof(struct pkvm_stub_pkru_table, scratch) == PKVM_STUB_T_SCRATCH,
	       "the stub's table offsets");
_Static_assert(offsetof(struct pkvm_stub_pkru_view, pkru) == PKVM_STUB_V_PKRU &&
	       offsetof(struct pkvm_stub_pkru_view, flags) == PKVM_STUB_V_FLAGS &&
	       offsetof(struct pkvm_stub_pkru_view, cr3) == PKVM_STUB_V_CR3 &&
	       offsetof(struct pkvm_stub_pkru_view, stamp) == PKVM_STUB_V_STAMP &&
	       offsetof(struct pkvm_stub_pkru_view, cr3_again) == PKVM_STUB_V_CR3_AGAIN &&
	       sizeof(struct pkvm_stub_pkru_view) == PKVM_STUB_V_SIZE,
	       "the stub's view offsets");

void pkvm_soft_init(struct pkvm_soft *soft)
{
	memset(soft, 0, sizeof(*soft));
}

/* The top table a CR3 value names, without its PCID (or the no-flush bit). */
static uint64_t cr3_table(uint64_t cr3)
{
	return cr3 & ~(CR3_PCID_MASK | CR3_PCID_NOFLUSH);
}

static uint64_t view_cr3(const struct pkvm_soft *soft, unsigned i)
{
	return soft->view[i].root | (soft->pcids ? i + 1 : 0);
}

/* The stub's copy of view @i: withdrawn (flags 0) unless the view is valid. */
static void publish(struct pkvm_soft *soft, unsigned i)
{
	const struct pkvm_soft_view *v = &soft->view[i];
	struct pkvm_stub_pkru_view *t;
	uint64_t keep = soft->pcids ? CR3_PCID_NOFLUSH : 0;

	if (!soft->table)
		return;
	t = &soft->table->view[i];
	t->flags = 0;
	if (!v->valid)
		return;
	t->pkru = v->pkru;
	t->cr3 = view_cr3(soft, i) | (v->tlb_clean ? keep : 0);
	t->cr3_again = view_cr3(soft, i) | keep;
	t->stamp = v->last_used;
	if (soft->clock > soft->table->clock)
		soft->table->clock = soft->clock;
	if (soft->guest_may_set(soft->policy_ctx, v->pkru))
		t->flags = PKVM_STUB_VIEW_GUEST_OK;
}

void pkvm_soft_policy_changed(struct pkvm_soft *soft)
{
	for (unsigned i = 0; i < PKVM_SOFT_MAX_VIEWS; i++)
		publish(soft, i);
}

void pkvm_soft_attach_table(struct pkvm_soft *soft, struct pkvm_stub_pkru_table *table,
			    bool (*guest_may_set)(const void *ctx, uint32_t pkru), const void *ctx)
{
	soft->table = table;
	soft->guest_may_set = guest_may_set;
	soft->policy_ctx = ctx;
	memset(table->view, 0, sizeof(table->view));
	pkvm_soft_policy_changed(soft);		/* every slot, as the views stand */
}

uint64_t pkvm_soft_sync_from_stub(struct pkvm_soft *soft)
{
	struct pkvm_stub_pkru_table *t = soft->table;
	uint64_t served;

	if (!t)
		return 0;
	for (unsigned i = 0; i < PKVM_SOFT_MAX_VIEWS; i++) {
		if (!soft->view[i].valid)
			continue;
		if (t->view[i].stamp > soft->view[i].last_used)
			soft->view[i].last_used = t->view[i].stamp;
		if (soft->pcids && (t->view[i].cr3 & CR3_PCID_NOFLUSH))
			soft->view[i].tlb_clean = true;		/* the stub loaded it since */
	}
	if (t->clock > soft->clock)
		soft->clock = t->clock;
	served = t->served;
	t->served = 0;
	return served;
}

static int own_page(struct pkvm_soft_view *v, uint64_t gpa);

static void free_view(struct pkvm_soft *soft, struct pkvm_soft_view *v, struct pkvm_pt *pt)
{
	/*
	 * The table's CR3 too: after an exit that did not commit (an internal
	 * error), the stub may have switched views that loaded_root never saw.
	 */
	bool loaded = v->npages && (v->root == cr3_table(soft->loaded_root) ||
				    (soft->table && v->root == cr3_table(soft->table->cr3)));

	v->valid = false;
	v->tlb_clean = false;
	if (v >= soft->view && v < soft->view + PKVM_SOFT_MAX_VIEWS)
		publish(soft, v - soft->view);	/* withdrawn before its pages go */
	for (unsigned i = 0; i < v->npages; i++)
		if (!loaded || own_page(&soft->retired, v->pages[i]))
			pkvm_pt_free_page(pt, v->pages[i]);
	v->npages = 0;
}

void pkvm_soft_loaded(struct pkvm_soft *soft, struct pkvm_pt *pt, uint64_t root)
{
	soft->loaded_root = root;
	for (unsigned i = 0; i < soft->retired.npages; i++)
		pkvm_pt_free_page(pt, soft->retired.pages[i]);
	soft->retired.npages = 0;
}

void pkvm_soft_destroy(struct pkvm_soft *soft, struct pkvm_pt *pt)
{
	soft->loaded_root = 0;
	for (unsigned i = 0; i < PKVM_SOFT_MAX_VIEWS; i++) {
		if (pt->pool_used)
			free_view(soft, &soft->view[i], pt);
		free(soft->view[i].pages);
		soft->view[i].pages = NULL;
	}
	if (pt->pool_used)
		pkvm_soft_loaded(soft, pt, 0);
	free(soft->retired.pages);
	soft->retired.pages = NULL;
}

void pkvm_soft_tlb_stale(struct pkvm_soft *soft)
{
	for (unsigned i = 0; i < PKVM_SOFT_MAX_VIEWS; i++) {
		soft->view[i].tlb_clean = false;
		publish(soft, i);
	}
}

uint64_t pkvm_soft_cr3_to_load(const struct pkvm_soft *soft, uint64_t cr3)
{
	unsigned pcid = cr3 & CR3_PCID_MASK;

	if (!soft->pcids || pcid < 1 || pcid > PKVM_SOFT_MAX_VIEWS)
		return cr3;
	if (soft->view[pcid - 1].valid && soft->view[pcid - 1].tlb_clean &&
	    view_cr3(soft, pcid - 1) == cr3)
		return cr3 | CR3_PCID_NOFLUSH;
	return cr3;
}

void pkvm_soft_drop_views(struct pkvm_soft *soft, struct pkvm_pt *pt)
{
	for (unsigned i = 0; i < PKVM_SOFT_MAX_VIEWS; i++)
		free_view(soft, &soft->view[i], pt);
}

/* SDM §4.6.2 restated for a view: what the CPU would deny, the view does not map. */
static uint64_t view_leaf(uint64_t entry, uint32_t pkru)
{
	unsigned key = (entry & PTE_PKEY_MASK) >> PTE_PKEY_SHIFT;
	uint32_t bits = pkru >> (2 * key);

	if (bits & 1)
		return entry & ~PTE_P;	/* AD: not present (the other bits are kept, ignored) */
	if (bits & 2)
		return entry & ~PTE_W;	/* WD: read-only */
	return entry;
}

static int own_page(struct pkvm_soft_view *v, uint64_t gpa)
{
	if (v->npages == v->capacity) {
		unsigned cap = v->capacity ? v->capacity * 2 : 16;
		uint64_t *pages = realloc(v->pages, cap * sizeof(*pages));

		if (!pages)
			return -ENOMEM;
		v->pages = pages;
		v->capacity = cap;
	}
	v->pages[v->npages++] = gpa;
	return 0;
}

/*
 * Copy-on-difference: the view of table @table is @table itself unless some
 * user leaf below it changes under @pkru.  @user: U/S was 1 in every entry
 * above, so leaves here are user-mode addresses (only those have keys).
 */
static int view_table(struct pkvm_soft_view *v, struct pkvm_pt *pt, uint64_t table,
		      unsigned level, bool user, uint64_t *out)
{
	uint64_t copy[ENTRIES];
	const uint64_t *src = pkvm_pt_table(pt, table);
	bool differs = false;
	uint64_t page;
	int err;

	for (unsigned i = 0; i < ENTRIES; i++) {
		uint64_t e = src[i];

		copy[i] = e;
		if (!(e & PTE_P))
			continue;
		if (level == 1 || (e & PTE_PS)) {
			if (user && (e & PTE_U))
				copy[i] = view_leaf(e, v->pkru);
		} else {
			uint64_t child = e & PTE_ADDR_MASK_52, child_view;

			err = view_table(v, pt, child, level - 1, user && (e & PTE_U), &child_view);
			if (err)
				return err;
			copy[i] = (e & ~PTE_ADDR_MASK_52) | child_view;
		}
		differs |= copy[i] != e;
	}
	if (!differs) {
		*out = table;
		return 0;
	}
	err = pkvm_pt_alloc_page(pt, &page);
	if (err)
		return err;
	err = own_page(v, page);
	if (err) {
		pkvm_pt_free_page(pt, page);
		return err;
	}
	memcpy(pkvm_pt_table(pt, page), copy, sizeof(copy));
	*out = page;
	return 0;
}

static struct pkvm_soft_view *least_recently_used(struct pkvm_soft *soft)
{
	struct pkvm_soft_view *lru = &soft->view[0];

	for (unsigned i = 0; i < PKVM_SOFT_MAX_VIEWS; i++) {
		if (!soft->view[i].valid)
			return &soft->view[i];
		if (soft->view[i].last_used < lru->last_used)
			lru = &soft->view[i];
	}
	return lru;
}

static int build(struct pkvm_soft *soft, struct pkvm_pt *pt, struct pkvm_soft_view *v,
		 uint32_t pkru)
{
	free_view(soft, v, pt);
	v->pkru = pkru;
	soft->pool_written = true;
	soft->builds++;
	return view_table(v, pt, pt->root, 4, true, &v->root);
}

int pkvm_soft_view_root(struct pkvm_soft *soft, struct pkvm_pt *pt, uint32_t pkru, uint64_t *cr3)
{
	struct pkvm_soft_view *v;
	int err;

	for (unsigned i = 0; i < PKVM_SOFT_MAX_VIEWS; i++) {
		v = &soft->view[i];
		if (v->valid && v->pkru == pkru) {
			v->last_used = ++soft->clock;
			publish(soft, i);
			*cr3 = view_cr3(soft, i);
			return 0;
		}
	}
	v = least_recently_used(soft);
	err = build(soft, pt, v, pkru);
	if (err == -ENOMEM) {
		/* The pool is shared with the master tables: make room and try alone. */
		pkvm_soft_drop_views(soft, pt);
		err = build(soft, pt, v, pkru);
	}
	if (err) {
		free_view(soft, v, pt);
		return err;
	}
	v->valid = true;
	v->last_used = ++soft->clock;
	publish(soft, v - soft->view);
	*cr3 = view_cr3(soft, v - soft->view);
	return 0;
}

void pkvm_soft_forget(struct pkvm_soft *soft, uint64_t root)
{
	for (unsigned i = 0; i < PKVM_SOFT_MAX_VIEWS; i++) {
		soft->view[i].npages = 0;
		soft->view[i].valid = false;
		soft->view[i].tlb_clean = false;
		publish(soft, i);	/* the restored page may name views of the past */
	}
	soft->retired.npages = 0;
	soft->loaded_root = root;
}

uint64_t pkvm_soft_view_pages(const struct pkvm_soft *soft)
{
	uint64_t n = 0;

	for (unsigned i = 0; i < PKVM_SOFT_MAX_VIEWS; i++)
		n += soft->view[i].npages;
	return n;
}
