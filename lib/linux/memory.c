/* memory.c: brk, mmap, munmap, mremap, mprotect and madvise on the guest's address space. */
#define _GNU_SOURCE
#include <errno.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "../x86.h"
#include "personality.h"

/*
 * Where mmap() places memory: top-down below a gap under the stack (Linux
 * leaves the stack's rlimit there; ours is a fixed 16 MiB), never below
 * mmap_min_addr's usual 64 KiB.
 */
#define STACK_GAP		(16ULL << 20)
#define MMAP_FLOOR		PKVM_USER_BOTTOM
#define MAP_32BIT_TOP		0x80000000ULL

#define LX_PROT_MASK		(PROT_READ | PROT_WRITE | PROT_EXEC)

static uint64_t page_up(uint64_t v)
{
	return (v + PAGE_SIZE - 1) & PAGE_MASK;
}

/* A user range [addr, addr + len) that can be mapped: aligned start, no wrap. */
static bool user_range(uint64_t addr, uint64_t len)
{
	return addr % PAGE_SIZE == 0 && len && addr < PKVM_USER_TOP && len <= PKVM_USER_TOP - addr;
}

static int to_pkvm_prot(unsigned prot)
{
	return ((prot & PROT_READ) ? PKVM_PROT_READ : 0) | ((prot & PROT_WRITE) ? PKVM_PROT_WRITE : 0) |
	       ((prot & PROT_EXEC) ? PKVM_PROT_EXEC : 0);
}

int lx_protect(struct pkvm_vm *vm, uint64_t start, uint64_t len, unsigned prot)
{
	/*
	 * x86 cannot say "present but no access" to CPL3: PROT_NONE pages stay
	 * mapped, keeping their contents, as supervisor-only and not executable,
	 * so the guest faults on them (SIGSEGV) and host copies refuse them
	 * (EFAULT), as Linux does.
	 */
	struct pkvm_linux *lx = lx_get(vm);
	int err;

	if (!(prot & LX_PROT_MASK)) {
		err = pkvm_protect(vm, start, len, 0);
		return err ? err : lx_vma_add(&lx->none, start, start + len);
	}
	err = pkvm_protect(vm, start, len, to_pkvm_prot(prot));
	return err ? err : lx_vma_remove(&lx->none, start, start + len);
}

/*
 * Fresh zeroed memory with rights @prot (PROT_*) at [addr, addr + len),
 * recorded: demand-backed, so that it costs frames only where touched.
 * Bounded by the address space the guest may reserve; and, as Linux's
 * heuristic overcommit, a private writable mapping (@accounted: not
 * MAP_NORESERVE) larger than all of guest memory is refused.
 */
static int map_fresh(struct pkvm_vm *vm, struct pkvm_linux *lx, uint64_t addr, uint64_t len,
		     unsigned prot, bool accounted)
{
	int err;

	if (len > lx->config.max_address_space ||
	    lx_vma_total(&lx->vmas) > lx->config.max_address_space - len)
		return -ENOMEM;
	if (accounted && (prot & PROT_WRITE) && len > vm->mem.size)
		return -ENOMEM;
	err = pkvm_map_demand(vm, addr, len, (prot & LX_PROT_MASK) ? to_pkvm_prot(prot) : 0, 0);
	/*
	 * pkvm_map_demand() maps all or nothing: when it fails, the range may
	 * be someone else's (-EEXIST: the host's), and must not be unmapped.
	 */
	if (err)
		return err == -EEXIST ? -ENOMEM : err;
	if (!(prot & LX_PROT_MASK))
		err = lx_vma_add(&lx->none, addr, addr + len);
	if (!err)
		err = lx_vma_add(&lx->vmas, addr, addr + len);
	if (err)
		pkvm_unmap(vm, addr, len);	/* only what was just mapped */
	return err;
}

static int gap_is_unmapped(void *ctx, uint64_t start, uint64_t end)
{
	struct pkvm_vm *vm = ctx;

	return pkvm_range_is_free(vm, start, end - start);
}

/*
 * Is all that is mapped in [addr, addr + len) the guest's own, handed out by
 * this personality?  The host maps its own buffers, the call trampoline and
 * keyed regions into the same address space: a guest that could unmap them
 * (and map its own memory in their place) would have the host's later
 * copies land in memory it controls.  Costs the guest's ranges and the
 * tables that exist, never the length.
 */
static bool all_guests(struct pkvm_vm *vm, struct pkvm_linux *lx, uint64_t addr, uint64_t len)
{
	return lx_vma_each_gap(&lx->vmas, addr, addr + len, gap_is_unmapped, vm) == 0;
}

static int unmap_range(struct pkvm_vm *vm, struct pkvm_linux *lx, uint64_t addr, uint64_t len)
{
	struct lx_vmaset *const sets[] = { &lx->vmas, &lx->none, &lx->filemaps };
	int err = 0;

	/* Make room in the records first, so that nothing fails after the pages are gone. */
	for (unsigned i = 0; i < 3 && !err; i++)
		err = lx_vma_remove_prepare(sets[i], addr, addr + len);
	if (!err)
		err = pkvm_unmap(vm, addr, len);
	for (unsigned i = 0; i < 3 && !err; i++)
		err = lx_vma_remove(sets[i], addr, addr + len);
	return err;
}

int lx_memory_init(struct pkvm_vm *vm, struct pkvm_linux *lx)
{
	const struct pkvm_program *p = lx->config.program;
	int err;

	(void)vm;
	if (!lx->config.max_address_space)
		lx->config.max_address_space = LX_DEFAULT_ADDRESS_SPACE;
	if (!p) {
		/* No program: brk always fails, mmap still works below the stack area. */
		lx->mmap_top = PKVM_STACK_TOP - STACK_GAP;
		return lx_vma_add(&lx->vmas, lx->mmap_top, PKVM_STACK_TOP);
	}
	if (p->load_end > p->stack_top || p->stack_top > PKVM_USER_TOP ||
	    p->stack_top < STACK_GAP + MMAP_FLOOR)
		return -EINVAL;
	lx->brk_start = lx->brk = page_up(p->brk);
	lx->mmap_top = (p->stack_top - STACK_GAP) & PAGE_MASK;
	/* The image (with its gaps) and the stack are not free for mmap(). */
	err = lx_vma_add(&lx->vmas, p->load_start & PAGE_MASK, page_up(p->load_end));
	if (!err)
		err = lx_vma_add(&lx->vmas, lx->mmap_top, p->stack_top);
	return err;
}

void lx_memory_destroy(struct pkvm_linux *lx)
{
	lx_vmaset_destroy(&lx->vmas);
	lx_vmaset_destroy(&lx->none);
	lx_vmaset_destroy(&lx->filemaps);
}

static bool none_overlaps(struct pkvm_vm *vm, uint64_t gva, size_t len)
{
	struct pkvm_linux *lx = lx_get(vm);
	uint64_t start = gva & PAGE_MASK, end;

	if (!lx || !len || !lx->none.n)
		return false;
	end = gva + len < gva ? PKVM_USER_TOP : page_up(gva + len);
	return lx_vma_overlaps(&lx->none, start, end);
}

size_t lx_accessible(struct pkvm_vm *vm, uint64_t gva, size_t len, bool write)
{
	struct pkvm_linux *lx = lx_get(vm);
	size_t ok = pkvm_guest_accessible(vm, gva, len, write);

	if (!lx || !lx->none.n)
		return ok;
	for (uint64_t page = gva & PAGE_MASK; page < gva + ok; page += PAGE_SIZE)
		if (lx_vma_overlaps(&lx->none, page, page + PAGE_SIZE))
			return page > gva ? page - gva : 0;
	return ok;
}

int lx_read(struct pkvm_vm *vm, void *dst, uint64_t gva, size_t len)
{
	return none_overlaps(vm, gva, len) ? -EFAULT : pkvm_read_guest(vm, dst, gva, len);
}

int lx_write(struct pkvm_vm *vm, uint64_t gva, const void *src, size_t len)
{
	return none_overlaps(vm, gva, len) ? -EFAULT : pkvm_write_guest(vm, gva, src, len);
}

long lx_read_string(struct pkvm_vm *vm, char *dst, uint64_t gva, size_t size)
{
	long n = pkvm_read_guest_string(vm, dst, gva, size);

	return n >= 0 && none_overlaps(vm, gva, n + 1) ? -EFAULT : n;
}

LX_HANDLER_DEF(lx_sys_brk)
{
	uint64_t want = args[0], old_end = page_up(lx->brk), new_end;

	(void)vm;
	/* brk() answers the current break for anything it will not do, as Linux does. */
	if (!lx->brk_start || want < lx->brk_start || want > lx->mmap_top)
		return lx_ret(result, lx->brk);
	new_end = page_up(want);
	if (new_end > old_end) {
		if (lx_vma_overlaps(&lx->vmas, old_end, new_end) ||
		    map_fresh(vm, lx, old_end, new_end - old_end, PROT_READ | PROT_WRITE, true))
			return lx_ret(result, lx->brk);
	} else if (new_end < old_end) {
		if (unmap_range(vm, lx, new_end, old_end - new_end))
			return lx_ret(result, lx->brk);
	}
	lx->brk = want;
	return lx_ret(result, lx->brk);
}

/*
 * Fill private pages from a file, as the kernel faults them in: pread() in
 * bounded steps, written whatever the pages' rights or key.  What lies past
 * the end of the file stays as it is (zero, in a fresh or zeroed page).
 */
static int fill_from_file(struct pkvm_vm *vm, struct pkvm_linux *lx, struct lx_file *f,
			  uint64_t addr, uint64_t len, uint64_t offset)
{
	for (uint64_t done = 0; done < len;) {
		size_t chunk = len - done < LX_BOUNCE ? len - done : LX_BOUNCE;
		ssize_t n = pread(f->host_fd, lx->bounce, chunk, (off_t)(offset + done));
		int err;

		if (n < 0)
			return -errno;
		if (n == 0)
			break;		/* past the end: the rest stays zero */
		err = pkvm_host_write_guest(vm, addr + done, lx->bounce, n);
		if (err)
			return err;
		done += n;
	}
	return 0;
}

LX_HANDLER_DEF(lx_sys_mmap)
{
	uint64_t addr = args[0], len = args[1], flags = args[3], offset = args[5];
	unsigned prot = args[2], type = flags & MAP_SHARED_VALIDATE;
	const uint64_t known = MAP_SHARED_VALIDATE | MAP_FIXED | MAP_ANONYMOUS | MAP_NORESERVE |
			       MAP_POPULATE | MAP_STACK | MAP_FIXED_NOREPLACE | MAP_32BIT |
			       MAP_GROWSDOWN | MAP_DENYWRITE | MAP_EXECUTABLE | MAP_LOCKED;
	struct lx_file *file = NULL;
	bool fixed = flags & (MAP_FIXED | MAP_FIXED_NOREPLACE);
	int err;

	if (!len || len > PKVM_USER_TOP || (prot & ~LX_PROT_MASK) || !type ||
	    (type == MAP_SHARED_VALIDATE && (flags & ~known)) || offset % PAGE_SIZE)
		return lx_ret(result, -EINVAL);
	len = page_up(len);
	if (!(flags & MAP_ANONYMOUS)) {
		/* Files: a private copy of a read-only file; no shared writable mappings. */
		file = lx_fd_get(lx, args[4]);
		if (!file)
			return lx_ret(result, -EBADF);
		if (!file->readable || file->is_dir || (type != MAP_PRIVATE && (prot & PROT_WRITE)))
			return lx_ret(result, -EACCES);
		if (file->may_block)
			return lx_ret(result, -ENODEV);	/* a pipe or a device: no pages */
		if (offset > INT64_MAX - len)
			return lx_ret(result, -EOVERFLOW);	/* past the largest file offset */
	}
	if (fixed) {
		if (!user_range(addr, len))
			return lx_ret(result, -EINVAL);
		if (addr < MMAP_FLOOR)
			return lx_ret(result, -EPERM);	/* Linux's mmap_min_addr */
		if (lx_vma_overlaps(&lx->vmas, addr, addr + len)) {
			if (flags & MAP_FIXED_NOREPLACE)
				return lx_ret(result, -EEXIST);
			if (!all_guests(vm, lx, addr, len))
				return lx_ret(result, -ENOMEM);
			err = unmap_range(vm, lx, addr, len);
			if (err)
				return lx_ret(result, err);
		}
	} else {
		uint64_t top = (flags & MAP_32BIT) ? MAP_32BIT_TOP : lx->mmap_top;

		/* A hint is taken where it is free, as Linux does. */
		addr &= PAGE_MASK;
		if (!addr || !user_range(addr, len) || addr + len > lx->mmap_top ||
		    lx_vma_overlaps(&lx->vmas, addr, addr + len)) {
			err = lx_vma_find_free(&lx->vmas, len, MMAP_FLOOR, top, &addr);
			if (err)
				return lx_ret(result, err);
		}
	}
	err = map_fresh(vm, lx, addr, len, prot, type == MAP_PRIVATE && !(flags & MAP_NORESERVE));
	if (err)
		return lx_ret(result, err);
	if (file) {
		/* Recorded, so that MADV_DONTNEED reads the file again, as Linux does. */
		err = fill_from_file(vm, lx, file, addr, len, offset);
		if (!err)
			err = lx_vma_add_file(&lx->filemaps, addr, addr + len, file, offset);
	}
	if (!err)
		err = lx_pkey_apply_exec_only(vm, lx, addr, len, prot);
	if (err) {
		unmap_range(vm, lx, addr, len);
		return lx_ret(result, err);
	}
	return lx_ret(result, (int64_t)addr);
}

LX_HANDLER_DEF(lx_sys_munmap)
{
	uint64_t addr = args[0], len = page_up(args[1]);

	if (!args[1] || !user_range(addr, len) || !all_guests(vm, lx, addr, len))
		return lx_ret(result, -EINVAL);
	return lx_ret(result, unmap_range(vm, lx, addr, len));
}

LX_HANDLER_DEF(lx_sys_mprotect)
{
	uint64_t addr = args[0], len = page_up(args[1]);
	unsigned prot = args[2];
	int err;

	if (prot & ~LX_PROT_MASK || addr % PAGE_SIZE || args[1] > PKVM_USER_TOP)
		return lx_ret(result, -EINVAL);
	if (!len)
		return lx_ret(result, 0);
	if (!user_range(addr, len) || !lx_vma_covered(&lx->vmas, addr, addr + len))
		return lx_ret(result, -ENOMEM);
	err = lx_protect(vm, addr, len, prot);
	if (!err)
		err = lx_pkey_apply_exec_only(vm, lx, addr, len, prot);
	return lx_ret(result, err);
}

/* The rights (PROT_*) and key a leaf gives, as mmap() and pkey_mprotect() would name them. */
static void leaf_rights(uint64_t leaf, unsigned *prot, int *pkey)
{
	*prot = !(leaf & PTE_U) ? 0 : PROT_READ | ((leaf & PTE_W) ? PROT_WRITE : 0) |
					((leaf & PTE_NX) ? 0 : PROT_EXEC);
	*pkey = (leaf & PTE_PKEY_MASK) >> PTE_PKEY_SHIFT;
}

struct uniform {
	uint64_t next;			/* where the next leaf must start */
	unsigned prot;
	int pkey;
};

static int same_rights(void *ctx, uint64_t start, uint64_t end, uint64_t leaf)
{
	struct uniform *u = ctx;
	unsigned prot;
	int pkey;

	leaf_rights(leaf, &prot, &pkey);
	if (start != u->next || (u->pkey >= 0 && (prot != u->prot || pkey != u->pkey)))
		return -EFAULT;
	u->prot = prot;
	u->pkey = pkey;
	u->next = end;
	return 0;
}

/*
 * Linux moves one mapping (VMA) at a time: an mremap() range spanning
 * mappings of different rights or keys, or a hole, is EFAULT.  Here the
 * page tables are the record of rights and keys: the range must be mapped
 * throughout with one set of them, which the moved pages then keep.
 */
static int uniform_rights(struct pkvm_vm *vm, uint64_t addr, uint64_t len, unsigned *prot,
			  int *pkey)
{
	struct uniform u = { .next = addr, .pkey = -1 };
	int err = pkvm_for_each_mapping(vm, addr, len, same_rights, &u);

	if (err || u.next != addr + len)
		return -EFAULT;
	*prot = u.prot;
	*pkey = u.pkey;
	return 0;
}

struct page_move {
	struct pkvm_vm *vm;
	uint64_t delta;			/* destination - source */
};

/* One leaf's pages to their new place, whatever their rights or keys. */
static int copy_leaf(void *ctx, uint64_t start, uint64_t end, uint64_t leaf)
{
	struct page_move *m = ctx;
	uint8_t page[PAGE_SIZE];

	(void)leaf;
	for (uint64_t gva = start; gva < end; gva += PAGE_SIZE) {
		int err = pkvm_host_read_guest(m->vm, page, gva, PAGE_SIZE);

		if (!err)
			err = pkvm_host_write_guest(m->vm, gva + m->delta, page, PAGE_SIZE);
		if (err)
			return err;
	}
	return 0;
}

/*
 * Copy page contents as the kernel moves pages: only the pages that have a
 * frame; one never touched stays so at its new place (demand-backed, zero).
 */
static int copy_pages(struct pkvm_vm *vm, uint64_t dst, uint64_t src, uint64_t len)
{
	struct page_move m = { vm, dst - src };

	return pkvm_pt_for_each_leaf(&vm->pt, src, len, copy_leaf, &m);
}

/* The file record of the page at @page, if that page is file-backed. */
static int find_part(void *ctx, const struct lx_vma *part)
{
	*(struct lx_vma *)ctx = *part;
	return 1;
}

static bool file_page(struct pkvm_linux *lx, uint64_t page, struct lx_vma *part)
{
	return lx_vma_each(&lx->filemaps, page, page + PAGE_SIZE, find_part, part) == 1;
}

/*
 * A mapping that grows keeps what backs it: when its last page, at @last,
 * maps a file, the pages added at [start, start + len) map the file's next
 * bytes, as Linux extends the mapping; anonymous ones stay zero.
 */
static int grow_backing(struct pkvm_vm *vm, struct pkvm_linux *lx, uint64_t last, uint64_t start,
			uint64_t len)
{
	struct lx_vma part;
	uint64_t offset;
	int err;

	if (!file_page(lx, last, &part))
		return 0;
	offset = part.offset + PAGE_SIZE;
	if (offset > INT64_MAX - len)
		return -EOVERFLOW;
	err = fill_from_file(vm, lx, part.file, start, len, offset);
	return err ? err : lx_vma_add_file(&lx->filemaps, start, start + len, part.file, offset);
}

LX_HANDLER_DEF(lx_sys_mremap)
{
	uint64_t old = args[0], old_len = page_up(args[1]), new_len = page_up(args[2]);
	uint64_t flags = args[3], new_addr = args[4];
	unsigned prot;
	int pkey, err;

	if (flags & ~(uint64_t)(MREMAP_MAYMOVE | MREMAP_FIXED) ||
	    ((flags & MREMAP_FIXED) && !(flags & MREMAP_MAYMOVE)) || old % PAGE_SIZE ||
	    !args[1] || !args[2] || args[1] > PKVM_USER_TOP || args[2] > PKVM_USER_TOP)
		return lx_ret(result, -EINVAL);
	if (!user_range(old, old_len) || !lx_vma_covered(&lx->vmas, old, old + old_len) ||
	    uniform_rights(vm, old, old_len, &prot, &pkey))
		return lx_ret(result, -EFAULT);
	if (!(flags & MREMAP_FIXED)) {
		if (new_len <= old_len) {
			if (new_len < old_len) {
				err = unmap_range(vm, lx, old + new_len, old_len - new_len);
				if (err)
					return lx_ret(result, err);
			}
			return lx_ret(result, old);
		}
		/* Grow in place when the pages after it are free. */
		if (user_range(old, new_len) && old + new_len <= lx->mmap_top &&
		    !lx_vma_overlaps(&lx->vmas, old + old_len, old + new_len)) {
			uint64_t added = old + old_len, more = new_len - old_len;

			err = map_fresh(vm, lx, added, more, prot, true);
			if (err)
				return lx_ret(result, err);
			if (pkey)
				err = pkvm_set_pkey(vm, added, more, pkey);
			if (!err)
				err = grow_backing(vm, lx, added - PAGE_SIZE, added, more);
			if (err)
				unmap_range(vm, lx, added, more);
			return lx_ret(result, err ? err : (int64_t)old);
		}
		if (!(flags & MREMAP_MAYMOVE))
			return lx_ret(result, -ENOMEM);
		err = lx_vma_find_free(&lx->vmas, new_len, MMAP_FLOOR, lx->mmap_top, &new_addr);
		if (err)
			return lx_ret(result, err);
	} else {
		if (!user_range(new_addr, new_len) ||
		    (new_addr < old + old_len && old < new_addr + new_len))
			return lx_ret(result, -EINVAL);
		if (new_addr < MMAP_FLOOR)
			return lx_ret(result, -EPERM);
		if (!all_guests(vm, lx, new_addr, new_len))
			return lx_ret(result, -ENOMEM);
		if (lx_vma_overlaps(&lx->vmas, new_addr, new_addr + new_len)) {
			err = unmap_range(vm, lx, new_addr, new_len);
			if (err)
				return lx_ret(result, err);
		}
	}
	/*
	 * Move: fresh pages, the contents, the old rights, key and file
	 * records (a grown tail backed as grow_backing() says); then drop the
	 * old range.
	 */
	uint64_t kept = old_len < new_len ? old_len : new_len;

	err = map_fresh(vm, lx, new_addr, new_len, prot, true);
	if (err)
		return lx_ret(result, err);
	err = copy_pages(vm, new_addr, old, kept);
	if (!err && pkey)
		err = pkvm_set_pkey(vm, new_addr, new_len, pkey);
	if (!err)
		err = lx_vma_copy_files(&lx->filemaps, old, old + kept, new_addr);
	if (!err && new_len > old_len)
		err = grow_backing(vm, lx, old + old_len - PAGE_SIZE, new_addr + old_len,
				   new_len - old_len);
	if (!err)
		err = unmap_range(vm, lx, old, old_len);
	if (err) {
		unmap_range(vm, lx, new_addr, new_len);
		return lx_ret(result, err);
	}
	return lx_ret(result, new_addr);
}

/* A file-backed part of a range just zeroed reads the file again. */
static int refill(void *ctx, const struct lx_vma *part)
{
	struct pkvm_vm *vm = ctx;

	return fill_from_file(vm, lx_get(vm), part->file, part->start,
			      part->end - part->start, part->offset);
}

LX_HANDLER_DEF(lx_sys_madvise)
{
	uint64_t addr = args[0], len = page_up(args[1]), end;
	int advice = args[2], err;

	if (addr % PAGE_SIZE || args[1] > PKVM_USER_TOP)
		return lx_ret(result, -EINVAL);
	if (!len)
		return lx_ret(result, 0);
	if (!user_range(addr, len) || !lx_vma_covered(&lx->vmas, addr, addr + len))
		return lx_ret(result, -ENOMEM);
	end = addr + len;
	/* MADV_FREE is for anonymous memory only: Linux refuses it on a file mapping. */
	if (advice == MADV_FREE && lx_vma_overlaps(&lx->filemaps, addr, end))
		return lx_ret(result, -EINVAL);
	/*
	 * After MADV_DONTNEED (and MADV_FREE, which may act so), private
	 * anonymous memory reads back as zeros and a private file mapping as
	 * the file's current contents: the guest's writes are gone either way.
	 */
	if (advice == MADV_DONTNEED || advice == MADV_FREE) {
		err = pkvm_discard(vm, addr, len);	/* frames given back to the guest's memory */
		if (!err)
			err = lx_vma_each(&lx->filemaps, addr, end, refill, vm);
		return lx_ret(result, err);
	}
	return lx_ret(result, 0);
}
