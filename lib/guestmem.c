/* guestmem.c: host copies to and from guest virtual memory: as the guest may (checked), or as the host. */
#include <errno.h>
#include <string.h>

#include "layout.h"
#include "vm.h"

/*
 * A copy that reaches a demand-backed page not filled yet fills it, as the
 * guest's own touch would (and Linux's copies fault pages in).  Only a page
 * the guest could reach at all, unless @any_rights (the host's copies).
 * True when filled; *@err becomes -ENOMEM when no frame was left.
 */
static bool fill_for_copy(struct pkvm_vm *vm, uint64_t gva, bool any_rights, int *err)
{
	const struct pkvm_demand_range *r = pkvm_demand_find(&vm->demand, gva);
	int fill;

	if (!r || (!any_rights && !(r->flags & PTE_U)))
		return false;
	fill = pkvm_demand_fill(vm, gva);	/* -EEXIST: it has its frame, the copy failed anyway */
	if (fill == -ENOMEM)
		*err = fill;
	return fill == 0;
}

/*
 * Linux's access_ok() first (user addresses only), then every page through
 * the walker as an explicit supervisor access with EFLAGS.AC=1 (docs/protection-keys.md,
 * "What libpkvm's guests run with"): SMAP allows it, CR0.WP and the keys apply.
 * Returns how many bytes from @gva pass, up to @len; with @host, copies them.
 */
static size_t copy_guest_prefix(struct pkvm_vm *vm, uint32_t pkru, uint64_t gva, size_t len,
				unsigned access, void *host, bool to_guest, int *err)
{
	size_t done = 0;

	if (gva >= PKVM_USER_TOP || len > PKVM_USER_TOP - gva)
		return 0;
	while (done < len) {
		struct pkvm_walk w;
		size_t chunk = PAGE_SIZE - (gva & (PAGE_SIZE - 1));

		if (chunk > len - done)
			chunk = len - done;
		if (pkvm_walk(&vm->walk, vm->pt.root, gva, access | PKVM_ACC_SMAP_EXEMPT, pkru, &w) &&
		    (!fill_for_copy(vm, gva, false, err) ||
		     pkvm_walk(&vm->walk, vm->pt.root, gva, access | PKVM_ACC_SMAP_EXEMPT, pkru, &w)))
			break;
		/* A supervisor page in the user half (PROT_NONE) is no user buffer. */
		if (!(w.pte_acc & PKVM_PTE_ACC_U))
			break;
		/* The tables are ours, but the bound is cheap and keeps this file honest. */
		if (w.gpa > vm->mem.size || chunk > vm->mem.size - w.gpa)
			break;
		if (host && to_guest) {
			memcpy(vm->mem.base + w.gpa, (uint8_t *)host + done, chunk);
			pkvm_mark_dirty(vm, w.gpa, chunk);
		} else if (host) {
			memcpy((uint8_t *)host + done, vm->mem.base + w.gpa, chunk);
		}
		gva += chunk;
		done += chunk;
	}
	return done;
}

static int copy_guest(struct pkvm_vm *vm, uint64_t gva, size_t len, unsigned access,
		      void *host, bool to_guest)
{
	uint32_t pkru;
	int err, fill_err = 0;

	if (len == 0)
		return 0;
	err = pkvm_get_pkru(vm, &pkru);
	if (err)
		return err;
	if (copy_guest_prefix(vm, pkru, gva, len, access, host, to_guest, &fill_err) == len)
		return 0;
	return fill_err ? fill_err : -EFAULT;
}

size_t pkvm_guest_accessible(struct pkvm_vm *vm, uint64_t gva, size_t len, bool write)
{
	uint32_t pkru;
	int fill_err = 0;

	if (len == 0 || pkvm_get_pkru(vm, &pkru))
		return 0;
	return copy_guest_prefix(vm, pkru, gva, len, write ? PKVM_ACC_WRITE : 0, NULL, false,
				 &fill_err);
}

int pkvm_read_guest(struct pkvm_vm *vm, void *dst, uint64_t gva, size_t len)
{
	return copy_guest(vm, gva, len, 0, dst, false);
}

int pkvm_write_guest(struct pkvm_vm *vm, uint64_t gva, const void *src, size_t len)
{
	return copy_guest(vm, gva, len, PKVM_ACC_WRITE, (void *)src, true);
}

long pkvm_read_guest_string(struct pkvm_vm *vm, char *dst, uint64_t gva, size_t size)
{
	size_t n = 0;

	if (size == 0)
		return -ENAMETOOLONG;
	/* Page by page, so a string that ends before an unmapped page still reads. */
	while (n < size) {
		size_t chunk = PAGE_SIZE - ((gva + n) & (PAGE_SIZE - 1));
		char *nul;
		int err;

		if (chunk > size - n)
			chunk = size - n;
		err = pkvm_read_guest(vm, dst + n, gva + n, chunk);
		if (err)
			return err;
		nul = memchr(dst + n, 0, chunk);
		if (nul)
			return nul - dst;
		n += chunk;
	}
	dst[size - 1] = 0;
	return -ENAMETOOLONG;
}

/*
 * The host's own access: any page of a user-half mapping, whatever its rights
 * and key, page by page through the master tables.
 */
static int host_copy(struct pkvm_vm *vm, uint64_t gva, size_t len, void *host, bool to_guest)
{
	if (gva >= PKVM_USER_TOP || len > PKVM_USER_TOP - gva)
		return -EFAULT;
	while (len) {
		size_t chunk = PAGE_SIZE - (gva & (PAGE_SIZE - 1));
		uint64_t leaf, gpa;
		int err = 0;

		if (chunk > len)
			chunk = len;
		if (pkvm_pt_translate(&vm->pt, gva, &gpa, &leaf) &&
		    (!fill_for_copy(vm, gva, true, &err) || pkvm_pt_translate(&vm->pt, gva, &gpa, &leaf)))
			return err ? err : -EFAULT;
		if (chunk > vm->mem.size - gpa)
			return -EFAULT;
		if (to_guest) {
			memcpy(vm->mem.base + gpa, host, chunk);
			pkvm_mark_dirty(vm, gpa, chunk);
		} else {
			memcpy(host, vm->mem.base + gpa, chunk);
		}
		host = (uint8_t *)host + chunk;
		gva += chunk;
		len -= chunk;
	}
	return 0;
}

int pkvm_host_read_guest(struct pkvm_vm *vm, void *dst, uint64_t gva, size_t len)
{
	return host_copy(vm, gva, len, dst, false);
}

int pkvm_host_write_guest(struct pkvm_vm *vm, uint64_t gva, const void *src, size_t len)
{
	return host_copy(vm, gva, len, (void *)src, true);
}
