/* elf_symbols.c: finding a function or object by name in an untrusted ELF64 image. */
#include <elf.h>
#include <errno.h>
#include <string.h>

#include "libpkvm.h"

static bool in_file(uint64_t off, uint64_t len, size_t size)
{
	return off <= size && len <= size - off;
}

/* Search one symbol table (@table, with its string table in section @table.sh_link). */
static int search(const uint8_t *p, size_t size, const Elf64_Ehdr *eh, const Elf64_Shdr *table,
		  const char *name, size_t name_len, uint64_t *value)
{
	const uint8_t *names;
	Elf64_Shdr strtab;

	if (table->sh_link >= eh->e_shnum || table->sh_entsize != sizeof(Elf64_Sym))
		return -ENOEXEC;
	memcpy(&strtab, p + eh->e_shoff + table->sh_link * sizeof(Elf64_Shdr), sizeof(strtab));
	if (strtab.sh_type != SHT_STRTAB || !in_file(table->sh_offset, table->sh_size, size) ||
	    !in_file(strtab.sh_offset, strtab.sh_size, size))
		return -ENOEXEC;
	names = p + strtab.sh_offset;
	for (uint64_t i = 0; i < table->sh_size / sizeof(Elf64_Sym); i++) {
		unsigned type;
		Elf64_Sym sym;

		memcpy(&sym, p + table->sh_offset + i * sizeof(sym), sizeof(sym));
		type = ELF64_ST_TYPE(sym.st_info);
		/* The name, NUL included, must lie inside the string table. */
		/* Labels written in assembly without .type are STT_NOTYPE: they count. */
		if ((type != STT_FUNC && type != STT_OBJECT && type != STT_NOTYPE) ||
		    sym.st_shndx == SHN_UNDEF ||
		    sym.st_name >= strtab.sh_size || strtab.sh_size - sym.st_name <= name_len)
			continue;
		/* Names of another length end elsewhere: one byte rules them out. */
		if (names[sym.st_name + name_len] == '\0' &&
		    !memcmp(names + sym.st_name, name, name_len)) {
			*value = sym.st_value;
			return 0;
		}
	}
	return -ENOENT;
}

int pkvm_elf_symbol(const void *image, size_t size, const char *name, uint64_t *value)
{
	const uint8_t *p = image;
	size_t name_len;
	Elf64_Shdr table[2];
	bool found[2] = { false, false };
	Elf64_Ehdr eh;
	int result = -ENOENT;

	if (!image || !name || !*name || !value)
		return -EINVAL;
	name_len = strlen(name);
	if (size < sizeof(eh))
		return -ENOEXEC;
	memcpy(&eh, p, sizeof(eh));
	if (memcmp(eh.e_ident, ELFMAG, SELFMAG) || eh.e_ident[EI_CLASS] != ELFCLASS64 ||
	    eh.e_ident[EI_DATA] != ELFDATA2LSB || eh.e_shnum == 0 ||
	    eh.e_shentsize != sizeof(Elf64_Shdr) ||
	    !in_file(eh.e_shoff, (uint64_t)eh.e_shnum * sizeof(Elf64_Shdr), size))
		return -ENOEXEC;
	/*
	 * At most one SHT_SYMTAB and one SHT_DYNSYM (gABI, "Sections"), found
	 * in one pass over the headers: searching every table a hostile file
	 * claims would cost sections x symbols, quadratic in its size.
	 */
	for (unsigned i = 0; i < eh.e_shnum; i++) {
		Elf64_Shdr sh;

		memcpy(&sh, p + eh.e_shoff + i * sizeof(sh), sizeof(sh));
		if (sh.sh_type == SHT_SYMTAB || sh.sh_type == SHT_DYNSYM) {
			unsigned k = sh.sh_type == SHT_DYNSYM;

			if (found[k])
				return -ENOEXEC;
			table[k] = sh;
			found[k] = true;
		}
	}
	/* .symtab first (everything, if not stripped), then .dynsym (exported only). */
	for (unsigned k = 0; k < 2 && result == -ENOENT; k++) {
		if (found[k])
			result = search(p, size, &eh, &table[k], name, name_len, value);
	}
	return result;
}
