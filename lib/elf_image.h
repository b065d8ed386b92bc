/* elf_image.h: parsing a static ELF64 executable into load segments (private). */
#ifndef PKVM_ELF_H
#define PKVM_ELF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define PKVM_ELF_MAX_SEGMENTS	16

struct pkvm_elf_segment {
	uint64_t vaddr;		/* page-aligned start in the guest, load bias applied */
	uint64_t memsz;		/* page-aligned size */
	uint64_t file_offset;	/* of the first byte at vaddr + page_offset */
	uint64_t page_offset;	/* where file bytes start inside the first page */
	uint64_t filesz;	/* bytes copied from the file */
	int prot;		/* PKVM_PROT_* */
};

struct pkvm_elf_image {
	uint64_t entry;
	uint64_t phdr_vaddr;	/* where the program headers are mapped, 0 if not */
	uint16_t phnum, phent;
	uint64_t load_bias;	/* added to every address of an ET_DYN image */
	uint64_t lowest, highest;
	bool pie;
	bool exec_stack;	/* PT_GNU_STACK asks for PF_X (absent: not executable) */
	unsigned nsegments;
	struct pkvm_elf_segment segment[PKVM_ELF_MAX_SEGMENTS];
};

/*
 * Parse @size bytes of untrusted @data.  Every field is bounded: segments
 * inside the file and the user half, sorted and not overlapping, at most
 * PKVM_ELF_MAX_SEGMENTS.  ET_DYN images are placed at @pie_base (page
 * aligned, else -EINVAL).  Returns 0;
 * -ENOEXEC for anything that is not a well-formed x86-64 ELF64 executable,
 * -ELIBBAD for a dynamically linked one (it has PT_INTERP).
 */
int pkvm_elf_parse(const uint8_t *data, size_t size, uint64_t pie_base, struct pkvm_elf_image *img);

#endif /* PKVM_ELF_H */
