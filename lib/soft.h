/* soft.h: the soft backend's per-PKRU page-table views (private). */
#ifndef PKVM_SOFT_H
#define PKVM_SOFT_H

#include <stdbool.h>
#include <stdint.h>

#include "guest/stub.h"
#include "pagetable.h"

#define PKVM_SOFT_MAX_VIEWS	8

/*
 * A view of the master tables for one PKRU value: user pages whose key has AD
 * are not present, those whose key has WD are read-only.  A table page no key
 * affects is shared with the master, so a view costs pages only where keyed
 * mappings are.
 */
struct pkvm_soft_view {
	bool valid;
	uint32_t pkru;
	uint64_t root;		/* its top table (its CR3, less the PCID) */
	uint64_t last_used;
	/* With PCIDs: its PCID holds no TLB entry from tables that have changed since. */
	bool tlb_clean;
	uint64_t *pages;	/* pool pages owned by the view */
	unsigned npages, capacity;
};

struct pkvm_soft {
	struct pkvm_soft_view view[PKVM_SOFT_MAX_VIEWS];
	/*
	 * The vCPU keeps running the stub on the CR3 it last loaded until the
	 * stub loads the next one: pages of that view are retired, not freed,
	 * when it is dropped, and freed once the vCPU is known to have moved on.
	 */
	uint64_t loaded_root;
	struct pkvm_soft_view retired;
	uint64_t clock;
	bool pool_written;	/* views wrote pool pages since the last flush */
	/*
	 * View i runs on PCID i + 1 (CR4.PCIDE), so that switching views keeps
	 * their TLB entries; PCID 0 is the master tables' before the first entry.
	 */
	bool pcids;
	uint64_t builds, switches;
	/*
	 * The views as the guest's stub sees them (NULL: no stub switching).
	 * Every view that becomes valid is published there, and every one
	 * that goes is withdrawn first: the stub can only load a live view.
	 */
	struct pkvm_stub_pkru_table *table;
	bool (*guest_may_set)(const void *ctx, uint32_t pkru);
	const void *policy_ctx;
};

void pkvm_soft_init(struct pkvm_soft *soft);
void pkvm_soft_destroy(struct pkvm_soft *soft, struct pkvm_pt *pt);

/*
 * Publish the views in @table, in guest memory, for the stub: @guest_may_set
 * (the PKRU policy) says which of them the guest may switch to itself.
 */
void pkvm_soft_attach_table(struct pkvm_soft *soft, struct pkvm_stub_pkru_table *table,
			    bool (*guest_may_set)(const void *ctx, uint32_t pkru), const void *ctx);

/* The PKRU policy changed: say again which views the guest may switch to. */
void pkvm_soft_policy_changed(struct pkvm_soft *soft);

/*
 * After an exit: take the stub's record of which views it switched to (for
 * the least-recently-used choice).  Returns how many instructions it served.
 */
uint64_t pkvm_soft_sync_from_stub(struct pkvm_soft *soft);

/*
 * Tables changed: no PCID may keep its TLB entries, so the next load of each
 * view flushes them (the stub's and the host's alike).
 */
void pkvm_soft_tlb_stale(struct pkvm_soft *soft);

/*
 * The value an entry loads into CR3 to run on view CR3 @cr3 (from
 * pkvm_soft_view_root()): with CR3_PCID_NOFLUSH where its PCID is clean.
 */
uint64_t pkvm_soft_cr3_to_load(const struct pkvm_soft *soft, uint64_t cr3);

/* Forget every view: the master tables changed (views are rebuilt lazily). */
void pkvm_soft_drop_views(struct pkvm_soft *soft, struct pkvm_pt *pt);

/*
 * The CR3 to run under @pkru, its PCID included: a cached view, or one built
 * now (evicting the least recently used).  -ENOMEM when the pool cannot hold
 * it even alone.
 */
int pkvm_soft_view_root(struct pkvm_soft *soft, struct pkvm_pt *pt, uint32_t pkru, uint64_t *cr3);

/* The vCPU now runs on @root (it left the guest after loading it): free retired pages. */
void pkvm_soft_loaded(struct pkvm_soft *soft, struct pkvm_pt *pt, uint64_t root);

/*
 * The pool was restored wholesale (pkvm_restore()) and the vCPU now runs on
 * @root: forget every view and retired page without touching the pool.
 */
void pkvm_soft_forget(struct pkvm_soft *soft, uint64_t root);

/* Pool pages the views hold (for the benchmark and tests). */
uint64_t pkvm_soft_view_pages(const struct pkvm_soft *soft);

#endif /* PKVM_SOFT_H */
