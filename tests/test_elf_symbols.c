/* test_elf_symbols.c: pkvm_elf_symbol() on built and real images, and on broken ones. */
#include <check.h>
#include <elf.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "libpkvm.h"

/* An image: header, .symtab, .strtab, a section header table (null, symtab, strtab). */
struct image {
	Elf64_Ehdr eh;
	Elf64_Sym sym[5];
	char str[64];
	Elf64_Shdr sh[3];
};

static void build(struct image *im)
{
	static const char strings[] = "\0alpha\0beta\0gamma\0delta\0longname";

	memset(im, 0, sizeof(*im));
	memcpy(im->eh.e_ident, ELFMAG, SELFMAG);
	im->eh.e_ident[EI_CLASS] = ELFCLASS64;
	im->eh.e_ident[EI_DATA] = ELFDATA2LSB;
	im->eh.e_ident[EI_VERSION] = EV_CURRENT;
	im->eh.e_type = ET_EXEC;
	im->eh.e_machine = EM_X86_64;
	im->eh.e_shoff = offsetof(struct image, sh);
	im->eh.e_shentsize = sizeof(Elf64_Shdr);
	im->eh.e_shnum = 3;
	memcpy(im->str, strings, sizeof(strings));
	/* alpha: a function; beta: an object; gamma: untyped; delta: undefined. */
	im->sym[1] = (Elf64_Sym){ .st_name = 1, .st_info = ELF64_ST_INFO(STB_GLOBAL, STT_FUNC),
				  .st_shndx = 1, .st_value = 0x401000 };
	im->sym[2] = (Elf64_Sym){ .st_name = 7, .st_info = ELF64_ST_INFO(STB_GLOBAL, STT_OBJECT),
				  .st_shndx = 1, .st_value = 0x402000 };
	im->sym[3] = (Elf64_Sym){ .st_name = 12, .st_info = ELF64_ST_INFO(STB_GLOBAL, STT_NOTYPE),
				  .st_shndx = 1, .st_value = 0x403000 };
	im->sym[4] = (Elf64_Sym){ .st_name = 18, .st_info = ELF64_ST_INFO(STB_GLOBAL, STT_FUNC),
				  .st_shndx = SHN_UNDEF, .st_value = 0 };
	im->sh[1] = (Elf64_Shdr){ .sh_type = SHT_SYMTAB, .sh_offset = offsetof(struct image, sym),
				  .sh_size = sizeof(im->sym), .sh_link = 2,
				  .sh_entsize = sizeof(Elf64_Sym) };
	im->sh[2] = (Elf64_Shdr){ .sh_type = SHT_STRTAB, .sh_offset = offsetof(struct image, str),
				  .sh_size = sizeof(strings) };
}

/* Parse from an exact-size heap copy, so that any over-read is outside the buffer. */
static int lookup(const void *data, size_t size, const char *name, uint64_t *value)
{
	void *copy = malloc(size ? size : 1);
	int err;

	memcpy(copy, data, size);
	err = pkvm_elf_symbol(copy, size, name, value);
	free(copy);
	return err;
}

START_TEST(test_finds_defined_code_and_data_symbols)
{
	struct image im;
	uint64_t v = 0;

	build(&im);
	ck_assert_int_eq(lookup(&im, sizeof(im), "alpha", &v), 0);
	ck_assert_uint_eq(v, 0x401000);
	ck_assert_int_eq(lookup(&im, sizeof(im), "beta", &v), 0);
	ck_assert_uint_eq(v, 0x402000);
	ck_assert_int_eq(lookup(&im, sizeof(im), "gamma", &v), 0);	/* an assembly label */
	ck_assert_uint_eq(v, 0x403000);
	ck_assert_int_eq(lookup(&im, sizeof(im), "delta", &v), -ENOENT);	/* undefined */
	ck_assert_int_eq(lookup(&im, sizeof(im), "alph", &v), -ENOENT);	/* a prefix */
	ck_assert_int_eq(lookup(&im, sizeof(im), "alphabet", &v), -ENOENT);
	ck_assert_int_eq(lookup(&im, sizeof(im), "", &v), -EINVAL);
	ck_assert_int_eq(pkvm_elf_symbol(NULL, 10, "alpha", &v), -EINVAL);
}
END_TEST

START_TEST(test_untrusted_tables_are_bounded)
{
	struct image im;
	uint64_t v;

	build(&im);
	im.sh[1].sh_link = 7;			/* string table index out of range */
	ck_assert_int_eq(lookup(&im, sizeof(im), "alpha", &v), -ENOEXEC);
	build(&im);
	im.sh[2].sh_offset = 1ULL << 40;	/* string table outside the file */
	ck_assert_int_eq(lookup(&im, sizeof(im), "alpha", &v), -ENOEXEC);
	build(&im);
	im.sh[1].sh_size = ~0ULL - 8;		/* symbol table wrapping */
	ck_assert_int_eq(lookup(&im, sizeof(im), "alpha", &v), -ENOEXEC);
	build(&im);
	im.sh[2].sh_size = 3;			/* "alpha" would run past the table's end */
	ck_assert_int_eq(lookup(&im, sizeof(im), "alpha", &v), -ENOENT);
	build(&im);
	im.sym[1].st_name = 1000;		/* name offset past the string table */
	ck_assert_int_eq(lookup(&im, sizeof(im), "alpha", &v), -ENOENT);
	build(&im);
	im.eh.e_shoff = sizeof(im) - 8;		/* section headers past the end */
	ck_assert_int_eq(lookup(&im, sizeof(im), "alpha", &v), -ENOEXEC);
	/* Every truncation is refused or not found, never read past. */
	build(&im);
	for (size_t n = 0; n < sizeof(im); n++) {
		int err = lookup(&im, n, "alpha", &v);

		ck_assert_msg(err == -ENOEXEC || err == -ENOENT, "prefix %zu: %d", n, err);
	}
}
END_TEST

START_TEST(test_random_corruption_never_crashes)
{
	struct image im, bad;
	int found = 0;

	build(&im);
	srand(42);
	for (int i = 0; i < 50000; i++) {
		uint64_t v;

		bad = im;
		for (int k = 1 + rand() % 4; k; k--)
			((uint8_t *)&bad)[rand() % sizeof(bad)] = rand();
		found += lookup(&bad, sizeof(bad), "alpha", &v) == 0;
	}
	printf("random corruption: %d of 50000 still found alpha\n", found);
}
END_TEST

/*
 * A hostile image that costs sections x symbols to a naive search: every one
 * of 65278 section headers claims the same table of 100000 symbols whose
 * names share a 255-byte prefix with the name asked for.  Searching each
 * claimed table is 6.5e9 symbol comparisons (minutes); the gABI allows one
 * SHT_SYMTAB, so the lookup refuses the file after one pass over the headers.
 * Check's per-test timeout (see main) is the guard: no wall clock here.
 */
#define HOSTILE_SECTIONS	(SHN_LORESERVE - 1)	/* e_shnum above it means "extended" */
#define HOSTILE_SYMBOLS		100000
#define HOSTILE_NAME_LEN	256

struct hostile {
	uint8_t *data;
	size_t size;
	char name[HOSTILE_NAME_LEN + 1];	/* what is looked up: not in the file */
};

static void build_hostile(struct hostile *h, unsigned nsymtabs, unsigned nsyms)
{
	size_t sym_off = sizeof(Elf64_Ehdr);
	size_t str_off = sym_off + (size_t)nsyms * sizeof(Elf64_Sym);
	size_t sh_off = (str_off + HOSTILE_NAME_LEN + 2 + 7) & ~(size_t)7;
	unsigned nsections = nsymtabs + 2;	/* null, the symbol tables, .strtab */
	Elf64_Ehdr *eh;
	Elf64_Shdr *sh;
	char *str;

	h->size = sh_off + (size_t)nsections * sizeof(Elf64_Shdr);
	h->data = calloc(1, h->size);
	ck_assert_ptr_nonnull(h->data);
	eh = (Elf64_Ehdr *)h->data;
	memcpy(eh->e_ident, ELFMAG, SELFMAG);
	eh->e_ident[EI_CLASS] = ELFCLASS64;
	eh->e_ident[EI_DATA] = ELFDATA2LSB;
	eh->e_ident[EI_VERSION] = EV_CURRENT;
	eh->e_type = ET_EXEC;
	eh->e_machine = EM_X86_64;
	eh->e_shoff = sh_off;
	eh->e_shentsize = sizeof(Elf64_Shdr);
	eh->e_shnum = nsections;
	/* Every symbol is a defined function named "xxx...x0"; the caller asks for "xxx...x1". */
	for (unsigned i = 1; i < nsyms; i++) {
		Elf64_Sym *sym = (Elf64_Sym *)(h->data + sym_off) + i;

		*sym = (Elf64_Sym){ .st_name = 1, .st_info = ELF64_ST_INFO(STB_GLOBAL, STT_FUNC),
				    .st_shndx = 1, .st_value = 0x401000 + i };
	}
	str = (char *)h->data + str_off;
	memset(str + 1, 'x', HOSTILE_NAME_LEN - 1);
	str[HOSTILE_NAME_LEN] = '0';
	memset(h->name, 'x', HOSTILE_NAME_LEN - 1);
	h->name[HOSTILE_NAME_LEN - 1] = '1';
	h->name[HOSTILE_NAME_LEN] = '\0';
	sh = (Elf64_Shdr *)(h->data + sh_off);
	for (unsigned i = 1; i <= nsymtabs; i++)
		sh[i] = (Elf64_Shdr){ .sh_type = SHT_SYMTAB, .sh_offset = sym_off,
				      .sh_size = (uint64_t)nsyms * sizeof(Elf64_Sym),
				      .sh_link = nsections - 1, .sh_entsize = sizeof(Elf64_Sym) };
	sh[nsections - 1] = (Elf64_Shdr){ .sh_type = SHT_STRTAB, .sh_offset = str_off,
					  .sh_size = HOSTILE_NAME_LEN + 2 };
}

START_TEST(test_many_symbol_tables_are_refused_in_one_pass)
{
	struct hostile h;
	uint64_t v;

	build_hostile(&h, HOSTILE_SECTIONS - 2, HOSTILE_SYMBOLS);
	ck_assert_int_eq(pkvm_elf_symbol(h.data, h.size, h.name, &v), -ENOEXEC);
	free(h.data);
}
END_TEST

/* One table of the same symbols is searched, once: not found, and found when renamed. */
START_TEST(test_one_large_table_is_searched_once)
{
	struct hostile h;
	uint64_t v = 0;

	build_hostile(&h, 1, HOSTILE_SYMBOLS);
	ck_assert_int_eq(pkvm_elf_symbol(h.data, h.size, h.name, &v), -ENOENT);
	h.name[HOSTILE_NAME_LEN - 1] = '0';
	ck_assert_int_eq(pkvm_elf_symbol(h.data, h.size, h.name, &v), 0);
	ck_assert_uint_eq(v, 0x401001);
	free(h.data);
}
END_TEST

/* A program built in the tree: its _start is its entry point. */
START_TEST(test_real_program)
{
	const char *dir = getenv("PROGS");
	char path[4096];
	static uint8_t buf[1 << 20];
	Elf64_Ehdr eh;
	uint64_t v;
	size_t n;
	FILE *f;

	if (!dir)
		return;
	snprintf(path, sizeof(path), "%s/hello", dir);
	f = fopen(path, "rb");
	ck_assert_msg(f != NULL, "%s: not built", path);
	n = fread(buf, 1, sizeof(buf), f);
	fclose(f);
	memcpy(&eh, buf, sizeof(eh));
	ck_assert_int_eq(lookup(buf, n, "_start", &v), 0);
	ck_assert_uint_eq(v, eh.e_entry);
	ck_assert_int_eq(lookup(buf, n, "main", &v), 0);
	ck_assert_int_eq(lookup(buf, n, "no_such_symbol", &v), -ENOENT);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("elf_symbols");
	TCase *tc = tcase_create("lookup");
	SRunner *sr;
	int failed;

	tcase_add_test(tc, test_finds_defined_code_and_data_symbols);
	tcase_add_test(tc, test_untrusted_tables_are_bounded);
	tcase_add_test(tc, test_random_corruption_never_crashes);
	tcase_add_test(tc, test_real_program);
	suite_add_tcase(s, tc);
	/*
	 * The hostile images: a quadratic search takes minutes on them, a linear
	 * one milliseconds even under a sanitizer; this timeout is what fails.
	 */
	tc = tcase_create("hostile");
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, test_many_symbol_tables_are_refused_in_one_pass);
	tcase_add_test(tc, test_one_large_table_is_searched_once);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
