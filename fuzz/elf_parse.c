/* elf_parse.c: libFuzzer harness for pkvm_elf_parse(), the ELF loader's parser of untrusted files. */
/*
 * The input is the file.  Besides the sanitizers' checks, every successful
 * parse must keep what elf_image.h promises, since pkvm_load_elf() copies
 * file bytes into guest memory on the strength of it: a broken promise is a
 * crash here, as an over-read would be.
 */
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "elf_image.h"
#include "libpkvm.h"

#define PAGE	((uint64_t)0x1000)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_image(const struct pkvm_elf_image *img, size_t size)
{
	int entry_ok = 0;

	if (img->nsegments < 1 || img->nsegments > PKVM_ELF_MAX_SEGMENTS)
		abort();
	for (unsigned i = 0; i < img->nsegments; i++) {
		const struct pkvm_elf_segment *s = &img->segment[i];

		/* Page-aligned, not page 0, inside the user half, sorted, apart. */
		if (s->vaddr % PAGE || s->memsz % PAGE || s->memsz == 0 || s->vaddr < PAGE ||
		    s->vaddr >= PKVM_USER_TOP || s->memsz > PKVM_USER_TOP - s->vaddr)
			abort();
		if (i && s->vaddr < img->segment[i - 1].vaddr + img->segment[i - 1].memsz)
			abort();
		/* The bytes copied come from the file and land inside the segment. */
		if (s->file_offset > size || s->filesz > size - s->file_offset ||
		    s->page_offset >= PAGE || s->page_offset + s->filesz > s->memsz ||
		    s->file_offset % PAGE != s->page_offset)
			abort();
		if (!(s->prot & PKVM_PROT_READ) ||
		    (s->prot & ~(PKVM_PROT_READ | PKVM_PROT_WRITE | PKVM_PROT_EXEC)))
			abort();
		if ((s->prot & PKVM_PROT_EXEC) && img->entry >= s->vaddr &&
		    img->entry - s->vaddr < s->memsz)
			entry_ok = 1;
	}
	if (!entry_ok || img->lowest != img->segment[0].vaddr ||
	    img->highest != img->segment[img->nsegments - 1].vaddr +
			    img->segment[img->nsegments - 1].memsz)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct pkvm_elf_image img;
	int err = pkvm_elf_parse(data, size, PKVM_PIE_BASE, &img);

	if (err == 0)
		check_image(&img, size);
	else if (err != -ENOEXEC && err != -ELIBBAD)
		abort();	/* the only errors a file can cause (-EINVAL is a bad base) */
	return 0;
}
