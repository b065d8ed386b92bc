/*
 * wxscan.c: the hw backend's PKRU lock: W^X, and no executable byte sequence
 * that could change PKRU (WRPKRU, XRSTOR), the rule ERIM (USENIX Security '19)
 * showed to be enough when untrusted code runs natively with PKU.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "layout.h"
#include "vm.h"

/* Does @p (with @n bytes readable from it) start WRPKRU or XRSTOR (0f ae /5, memory form)? */
static bool dangerous_at(const uint8_t *p, size_t n)
{
	if (n < 3 || p[0] != 0x0f)
		return false;
	if (p[1] == 0x01 && p[2] == 0xef)
		return true;
	return p[1] == 0xae && ((p[2] >> 3) & 7) == 5 && (p[2] >> 6) != 3;
}

/* One byte stream across adjacent executable pages, scanned as the leaf walk finds them. */
struct scan {
	struct pkvm_vm *vm;
	uint64_t start, end;		/* the range becoming executable */
	uint64_t next;			/* the page that continues the stream */
	size_t carry;			/* bytes of the previous page still in window */
	uint8_t window[PAGE_SIZE + 2];
};

/* Scan one 4 KiB page at @gva, @page its bytes, continuing the stream if it follows on. */
static int scan_page(struct scan *s, uint64_t gva, const uint8_t *page)
{
	if (gva != s->next)
		s->carry = 0;	/* a gap ends the stream */
	memcpy(s->window + s->carry, page, PAGE_SIZE);
	for (size_t i = 0; i < s->carry + PAGE_SIZE; i++)
		if (dangerous_at(s->window + i, s->carry + PAGE_SIZE - i) && i + 3 > s->carry)
			return -EPERM;
	/* Keep the last two bytes: an instruction may continue on the next page. */
	memmove(s->window, s->window + s->carry + PAGE_SIZE - 2, 2);
	s->carry = 2;
	s->next = gva + PAGE_SIZE;
	return 0;
}

/* A mapped leaf: its pages join the stream if executable, or about to become so. */
static int scan_leaf(void *ctx, uint64_t start, uint64_t end, uint64_t leaf)
{
	struct scan *s = ctx;

	if (!(leaf & PTE_U))
		return 0;
	for (uint64_t gva = start; gva < end; gva += PAGE_SIZE) {
		bool becoming = gva >= s->start && gva < s->end;
		uint64_t gpa, page_leaf;
		int err;

		if (((leaf & PTE_NX) && !becoming) ||
		    pkvm_pt_translate(&s->vm->pt, gva, &gpa, &page_leaf) ||
		    gpa > s->vm->mem.size - PAGE_SIZE)
			continue;
		err = scan_page(s, gva, s->vm->mem.base + gpa);
		if (err)
			return err;
	}
	return 0;
}

/*
 * Scan [@start, @end) (page aligned), which is becoming executable, as one
 * byte stream per run of adjacent executable pages, so that a sequence split
 * across two pages is found too: the pages just outside the range join the
 * stream when they are executable.  Only mapped pages cost anything: the
 * range may be a guest's huge, mostly empty span.  -EPERM when a dangerous
 * sequence is found.
 */
static int scan(struct pkvm_vm *vm, uint64_t start, uint64_t end)
{
	uint64_t first = start >= PAGE_SIZE ? start - PAGE_SIZE : start;
	uint64_t last = end <= PKVM_USER_TOP - PAGE_SIZE ? end + PAGE_SIZE : end;
	struct scan *s = malloc(sizeof(*s));
	int err;

	if (!s)
		return -ENOMEM;
	*s = (struct scan){ .vm = vm, .start = start, .end = end, .next = UINT64_MAX };
	err = pkvm_pt_for_each_leaf(&vm->pt, first, last - first, scan_leaf, s);
	free(s);
	return err;
}

int pkvm_wx_check(struct pkvm_vm *vm, uint64_t gva, uint64_t len, int prot)
{
	if (vm->backend != PKVM_PKEYS_HW || vm->pkru_policy != PKVM_PKRU_LOCKED)
		return 0;
	if ((prot & PKVM_PROT_EXEC) && (prot & PKVM_PROT_WRITE))
		return -EPERM;	/* W^X: the guest could write the sequences itself */
	if (!(prot & PKVM_PROT_EXEC))
		return 0;
	return scan(vm, gva, gva + len);
}

/* Every executable user page in the tables, in address order. */
static int scan_tables(struct pkvm_vm *vm, uint64_t table, unsigned level, uint64_t base)
{
	const uint64_t *e = pkvm_pt_table(&vm->pt, table);
	uint64_t span = 1ULL << (PAGE_SHIFT + 9 * (level - 1));

	for (unsigned i = 0; i < 512; i++) {
		uint64_t gva = base + i * span;
		int err;

		if (!(e[i] & PTE_P) || !(e[i] & PTE_U) || gva >= PKVM_USER_TOP)
			continue;
		if (level == 1 || (e[i] & PTE_PS)) {
			if (e[i] & PTE_NX)
				continue;
			if (e[i] & PTE_W)
				return -EPERM;
			err = scan(vm, gva, gva + span);
		} else {
			err = scan_tables(vm, e[i] & PTE_ADDR_MASK_52, level - 1, gva);
		}
		if (err)
			return err;
	}
	return 0;
}

int pkvm_wx_scan_all(struct pkvm_vm *vm)
{
	return scan_tables(vm, vm->pt.root, 4, 0);
}
