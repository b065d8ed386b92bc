/* elf.c: parsing a static ELF64 executable into load segments; the file is untrusted. */
#include <elf.h>
#include <errno.h>
#include <string.h>

#include "elf_image.h"
#include "libpkvm.h"
#include "x86.h"

static int segment_prot(uint32_t flags)
{
	int prot = PKVM_PROT_READ;

	if (flags & PF_W)
		prot |= PKVM_PROT_WRITE;
	if (flags & PF_X)
		prot |= PKVM_PROT_EXEC;
	return prot;
}

static int check_header(const Elf64_Ehdr *eh, size_t size)
{
	if (size < sizeof(*eh) || memcmp(eh->e_ident, ELFMAG, SELFMAG) ||
	    eh->e_ident[EI_CLASS] != ELFCLASS64 || eh->e_ident[EI_DATA] != ELFDATA2LSB ||
	    eh->e_ident[EI_VERSION] != EV_CURRENT || eh->e_machine != EM_X86_64 ||
	    (eh->e_type != ET_EXEC && eh->e_type != ET_DYN))
		return -ENOEXEC;
	if (eh->e_phentsize != sizeof(Elf64_Phdr) || eh->e_phnum == 0 || eh->e_phnum > 256 ||
	    eh->e_phoff > size || (size - eh->e_phoff) / sizeof(Elf64_Phdr) < eh->e_phnum ||
	    eh->e_phoff % 8)
		return -ENOEXEC;
	return 0;
}

static int add_segment(struct pkvm_elf_image *img, const Elf64_Phdr *ph, size_t size,
		       uint64_t bias)
{
	struct pkvm_elf_segment *seg;
	uint64_t start, end;

	if (ph->p_memsz == 0)
		return 0;
	/* Bound everything before any arithmetic can wrap. */
	if (ph->p_filesz > ph->p_memsz || ph->p_offset > size || ph->p_filesz > size - ph->p_offset ||
	    ph->p_vaddr >= PKVM_USER_TOP || ph->p_memsz > PKVM_USER_TOP - ph->p_vaddr ||
	    bias >= PKVM_USER_TOP || ph->p_vaddr + ph->p_memsz > PKVM_USER_TOP - bias)
		return -ENOEXEC;
	/* The file offset and the address must agree modulo the page (ELF gABI). */
	if ((ph->p_vaddr - ph->p_offset) % PAGE_SIZE)
		return -ENOEXEC;
	if (img->nsegments == PKVM_ELF_MAX_SEGMENTS)
		return -ENOEXEC;
	start = (ph->p_vaddr + bias) & PAGE_MASK;
	end = (ph->p_vaddr + bias + ph->p_memsz + PAGE_SIZE - 1) & PAGE_MASK;
	/* PT_LOAD entries are sorted by address (gABI); ours must not share pages. */
	if (img->nsegments && start < img->segment[img->nsegments - 1].vaddr +
					      img->segment[img->nsegments - 1].memsz)
		return -ENOEXEC;
	if (start == 0)
		return -ENOEXEC;	/* page 0 stays unmapped: NULL must fault */
	seg = &img->segment[img->nsegments++];
	seg->vaddr = start;
	seg->memsz = end - start;
	seg->page_offset = (ph->p_vaddr + bias) & (PAGE_SIZE - 1);
	seg->file_offset = ph->p_offset;
	seg->filesz = ph->p_filesz;
	seg->prot = segment_prot(ph->p_flags);
	return 0;
}

int pkvm_elf_parse(const uint8_t *data, size_t size, uint64_t pie_base, struct pkvm_elf_image *img)
{
	Elf64_Ehdr eh;
	int err;

	memset(img, 0, sizeof(*img));
	if (!data || size < sizeof(eh))
		return -ENOEXEC;
	memcpy(&eh, data, sizeof(eh));
	err = check_header(&eh, size);
	if (err)
		return err;
	img->pie = eh.e_type == ET_DYN;
	img->load_bias = img->pie ? pie_base : 0;
	if (img->load_bias % PAGE_SIZE)
		return -EINVAL;
	img->phnum = eh.e_phnum;
	img->phent = eh.e_phentsize;

	for (unsigned i = 0; i < eh.e_phnum; i++) {
		Elf64_Phdr ph;

		memcpy(&ph, data + eh.e_phoff + i * sizeof(ph), sizeof(ph));
		if (ph.p_type == PT_INTERP)
			return -ELIBBAD;
		if (ph.p_type == PT_DYNAMIC && !img->pie)
			return -ELIBBAD;
		if (ph.p_type == PT_GNU_STACK)
			img->exec_stack = ph.p_flags & PF_X;
		if (ph.p_type != PT_LOAD)
			continue;
		err = add_segment(img, &ph, size, img->load_bias);
		if (err)
			return err;
		/* Where the program headers land, for AT_PHDR. */
		if (ph.p_memsz && eh.e_phoff >= ph.p_offset && eh.e_phoff - ph.p_offset < ph.p_filesz)
			img->phdr_vaddr = ph.p_vaddr + img->load_bias + (eh.e_phoff - ph.p_offset);
	}
	if (img->nsegments == 0)
		return -ENOEXEC;
	img->lowest = img->segment[0].vaddr;
	img->highest = img->segment[img->nsegments - 1].vaddr + img->segment[img->nsegments - 1].memsz;
	img->entry = eh.e_entry + img->load_bias;
	/* The entry point must lie in an executable segment. */
	for (unsigned i = 0; i < img->nsegments; i++) {
		const struct pkvm_elf_segment *s = &img->segment[i];

		if (img->entry >= s->vaddr && img->entry < s->vaddr + s->memsz &&
		    (s->prot & PKVM_PROT_EXEC))
			return 0;
	}
	return -ENOEXEC;
}
