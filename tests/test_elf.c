/* test_elf.c: the static ELF64 parser, fed well-formed, malformed, truncated and fuzzed images. */
/*
 * Images are built in memory from <elf.h> structures; every parse of a
 * possibly bad image reads from an exact-size heap copy, so that a sanitizer
 * build (or valgrind) catches any read past the end.  Real static binaries of
 * the host (busybox, ldconfig) are parsed too when present.
 */
#define _GNU_SOURCE
#include <check.h>
#include <elf.h>
#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "elf_image.h"
#include "libpkvm.h"

/* ck_assert_* records each passing check with the parent process; hot loops use this. */
#define EXPECT(cond, ...)						\
	do {								\
		if (!(cond))						\
			ck_abort_msg(__VA_ARGS__);			\
	} while (0)

#define PG		((uint64_t)0x1000)
#define PIE_BASE	((uint64_t)0x555555554000)
#define USER_TOP	((uint64_t)PKVM_USER_TOP)
#define IMG_MAX		0x4000

/* ------------------------------------------------------------------------- */
/* Building images.                                                           */

struct img {
	_Alignas(8) uint8_t data[IMG_MAX];
	size_t size;
};

static Elf64_Ehdr *eh(struct img *im)
{
	return (Elf64_Ehdr *)im->data;
}

static Elf64_Phdr *ph(struct img *im, unsigned i)
{
	return (Elf64_Phdr *)(im->data + eh(im)->e_phoff) + i;
}

static void set_ph(struct img *im, unsigned i, uint32_t type, uint32_t flags, uint64_t offset,
		   uint64_t vaddr, uint64_t filesz, uint64_t memsz)
{
	*ph(im, i) = (Elf64_Phdr){
		.p_type = type, .p_flags = flags, .p_offset = offset, .p_vaddr = vaddr,
		.p_paddr = vaddr, .p_filesz = filesz, .p_memsz = memsz, .p_align = PG,
	};
}

static void init_header(struct img *im, uint16_t type, uint64_t entry, uint16_t phnum)
{
	Elf64_Ehdr *e;

	memset(im, 0, sizeof(*im));
	for (size_t i = 0; i < IMG_MAX; i++)
		im->data[i] = (uint8_t)(i * 131 + 7);	/* "code" and "data" */
	e = eh(im);
	memset(e, 0, sizeof(*e));
	memcpy(e->e_ident, ELFMAG, SELFMAG);
	e->e_ident[EI_CLASS] = ELFCLASS64;
	e->e_ident[EI_DATA] = ELFDATA2LSB;
	e->e_ident[EI_VERSION] = EV_CURRENT;
	e->e_ident[EI_OSABI] = ELFOSABI_SYSV;
	e->e_type = type;
	e->e_machine = EM_X86_64;
	e->e_version = EV_CURRENT;
	e->e_entry = entry;
	e->e_phoff = sizeof(Elf64_Ehdr);
	e->e_ehsize = sizeof(Elf64_Ehdr);
	e->e_phentsize = sizeof(Elf64_Phdr);
	e->e_phnum = phnum;
	e->e_shentsize = sizeof(Elf64_Shdr);
}

/*
 * ET_EXEC: text R+X at 0x400000 holding the headers (file 0..0x1800), data
 * R+W at 0x602010 from file offset 0x2010 with 0x100 bytes of file and bss up
 * to 0x605010.  The file ends where the data does, so that every shorter
 * prefix must be refused.
 */
#define EX_TEXT		0x400000
#define EX_DATA		0x602010
#define EX_ENTRY	0x400180
#define EX_SIZE		0x2110

static void build_exec(struct img *im)
{
	init_header(im, ET_EXEC, EX_ENTRY, 4);
	set_ph(im, 0, PT_LOAD, PF_R | PF_X, 0, EX_TEXT, 0x1800, 0x1800);
	set_ph(im, 1, PT_LOAD, PF_R | PF_W, 0x2010, EX_DATA, 0x100, 0x3000);
	set_ph(im, 2, PT_NOTE, PF_R, 0x120, EX_TEXT + 0x120, 0x20, 0x20);
	set_ph(im, 3, PT_GNU_STACK, PF_R | PF_W, 0, 0, 0, 0);
	ph(im, 3)->p_align = 16;
	im->size = EX_SIZE;
}

/* ET_DYN static-PIE: the same shape linked at 0, with PT_DYNAMIC and PT_TLS. */
#define DY_DATA		0x202010
#define DY_ENTRY	0x180

static void build_dyn(struct img *im)
{
	init_header(im, ET_DYN, DY_ENTRY, 6);
	set_ph(im, 0, PT_LOAD, PF_R | PF_X, 0, 0, 0x1800, 0x1800);
	set_ph(im, 1, PT_LOAD, PF_R | PF_W, 0x2010, DY_DATA, 0x100, 0x3000);
	set_ph(im, 2, PT_DYNAMIC, PF_R | PF_W, 0x2010, DY_DATA, 0x80, 0x80);
	set_ph(im, 3, PT_TLS, PF_R, 0x2090, DY_DATA + 0x80, 0x10, 0x40);
	set_ph(im, 4, PT_GNU_RELRO, PF_R, 0x2010, DY_DATA, 0x80, 0x80);
	set_ph(im, 5, PT_GNU_STACK, PF_R | PF_W, 0, 0, 0, 0);
	im->size = EX_SIZE;
}

/* Parse from an exact-size heap copy. */
static int parse(const uint8_t *data, size_t size, uint64_t pie_base, struct pkvm_elf_image *out)
{
	uint8_t *copy = malloc(size ? size : 1);
	int err;

	ck_assert_ptr_nonnull(copy);
	memcpy(copy, data, size);
	err = pkvm_elf_parse(copy, size, pie_base, out);
	free(copy);
	return err;
}

static int parse_img(struct img *im, struct pkvm_elf_image *out)
{
	return parse(im->data, im->size, PIE_BASE, out);
}

static void expect_segment(const struct pkvm_elf_image *img, unsigned i, uint64_t vaddr,
			   uint64_t memsz, uint64_t file_offset, uint64_t page_offset,
			   uint64_t filesz, int prot)
{
	const struct pkvm_elf_segment *s = &img->segment[i];

	ck_assert_uint_lt(i, img->nsegments);
	ck_assert_uint_eq(s->vaddr, vaddr);
	ck_assert_uint_eq(s->memsz, memsz);
	ck_assert_uint_eq(s->file_offset, file_offset);
	ck_assert_uint_eq(s->page_offset, page_offset);
	ck_assert_uint_eq(s->filesz, filesz);
	ck_assert_int_eq(s->prot, prot);
}

/*
 * What the header promises of any successful parse, checked without trusting
 * the parser: segments inside the file and the user half, page-aligned,
 * sorted, not sharing pages, page 0 unused, entry in an executable segment.
 */
static void expect_consistent(const struct pkvm_elf_image *img, size_t size, const char *what)
{
	bool entry_ok = false;

	EXPECT(img->nsegments >= 1 && img->nsegments <= PKVM_ELF_MAX_SEGMENTS, "%s: %u segments",
	       what, img->nsegments);
	for (unsigned i = 0; i < img->nsegments; i++) {
		const struct pkvm_elf_segment *s = &img->segment[i];

		EXPECT(s->vaddr % PG == 0 && s->memsz % PG == 0 && s->memsz > 0,
		       "%s: segment %u at %#" PRIx64 " size %#" PRIx64, what, i, s->vaddr, s->memsz);
		EXPECT(s->vaddr >= PG && s->vaddr < USER_TOP && s->memsz <= USER_TOP - s->vaddr,
		       "%s: segment %u at %#" PRIx64 " size %#" PRIx64 " outside user space", what,
		       i, s->vaddr, s->memsz);
		EXPECT(i == 0 || s->vaddr >= img->segment[i - 1].vaddr + img->segment[i - 1].memsz,
		       "%s: segment %u at %#" PRIx64 " overlaps or precedes the one before", what, i,
		       s->vaddr);
		EXPECT(s->page_offset < PG && s->page_offset + s->filesz <= s->memsz,
		       "%s: segment %u page_offset %#" PRIx64 " filesz %#" PRIx64 " memsz %#" PRIx64,
		       what, i, s->page_offset, s->filesz, s->memsz);
		EXPECT(s->file_offset <= size && s->filesz <= size - s->file_offset,
		       "%s: segment %u file %#" PRIx64 "+%#" PRIx64 " beyond %zu bytes", what, i,
		       s->file_offset, s->filesz, size);
		EXPECT(s->file_offset % PG == s->page_offset, "%s: segment %u file offset %#" PRIx64
		       " vs page offset %#" PRIx64, what, i, s->file_offset, s->page_offset);
		EXPECT((s->prot & PKVM_PROT_READ) &&
		       !(s->prot & ~(PKVM_PROT_READ | PKVM_PROT_WRITE | PKVM_PROT_EXEC)),
		       "%s: segment %u prot %#x", what, i, s->prot);
		if ((s->prot & PKVM_PROT_EXEC) && img->entry >= s->vaddr &&
		    img->entry - s->vaddr < s->memsz)
			entry_ok = true;
	}
	EXPECT(entry_ok, "%s: entry %#" PRIx64 " not in an executable segment", what, img->entry);
	EXPECT(img->lowest == img->segment[0].vaddr, "%s: lowest %#" PRIx64, what, img->lowest);
	EXPECT(img->highest == img->segment[img->nsegments - 1].vaddr +
			       img->segment[img->nsegments - 1].memsz,
	       "%s: highest %#" PRIx64, what, img->highest);
	EXPECT(img->phent == sizeof(Elf64_Phdr) && img->phnum >= img->nsegments,
	       "%s: phent %u phnum %u", what, img->phent, img->phnum);
	if (img->phdr_vaddr) {
		bool in = false;

		for (unsigned i = 0; i < img->nsegments; i++)
			in |= img->phdr_vaddr >= img->segment[i].vaddr &&
			      img->phdr_vaddr - img->segment[i].vaddr < img->segment[i].memsz;
		EXPECT(in, "%s: phdr_vaddr %#" PRIx64 " outside the segments", what,
		       img->phdr_vaddr);
	}
}

/* ------------------------------------------------------------------------- */
/* Good images.                                                               */

START_TEST(test_elf_exec)
{
	struct img im;
	struct pkvm_elf_image img;
	uint8_t *odd = malloc(EX_SIZE + 1);

	build_exec(&im);
	ck_assert_int_eq(parse_img(&im, &img), 0);
	ck_assert(!img.pie);
	ck_assert_uint_eq(img.load_bias, 0);
	ck_assert_uint_eq(img.entry, EX_ENTRY);
	ck_assert_uint_eq(img.nsegments, 2);
	expect_segment(&img, 0, EX_TEXT, 0x2000, 0, 0, 0x1800, PKVM_PROT_READ | PKVM_PROT_EXEC);
	expect_segment(&img, 1, 0x602000, 0x4000, 0x2010, 0x10, 0x100,
		       PKVM_PROT_READ | PKVM_PROT_WRITE);
	ck_assert_uint_eq(img.phdr_vaddr, EX_TEXT + sizeof(Elf64_Ehdr));
	ck_assert_uint_eq(img.phnum, 4);
	ck_assert_uint_eq(img.phent, sizeof(Elf64_Phdr));
	ck_assert_uint_eq(img.lowest, EX_TEXT);
	ck_assert_uint_eq(img.highest, 0x606000);
	expect_consistent(&img, im.size, "exec");

	/* pie_base means nothing to ET_EXEC, aligned or not. */
	ck_assert_int_eq(parse(im.data, im.size, 0x1234567, &img), 0);
	ck_assert_uint_eq(img.load_bias, 0);
	ck_assert_uint_eq(img.segment[0].vaddr, EX_TEXT);

	/* The data need not be aligned. */
	ck_assert_ptr_nonnull(odd);
	memcpy(odd + 1, im.data, EX_SIZE);
	ck_assert_int_eq(pkvm_elf_parse(odd + 1, EX_SIZE, PIE_BASE, &img), 0);
	ck_assert_uint_eq(img.entry, EX_ENTRY);
	free(odd);

	/* Trailing bytes (section headers, say) are fine. */
	im.size = IMG_MAX;
	ck_assert_int_eq(parse_img(&im, &img), 0);
}
END_TEST

START_TEST(test_elf_exec_variants)
{
	struct img im;
	struct pkvm_elf_image img;

	/* Prot from p_flags: R implied, W and X as given. */
	static const struct { uint32_t flags; int prot; } p[] = {
		{ 0, PKVM_PROT_READ },
		{ PF_R, PKVM_PROT_READ },
		{ PF_W, PKVM_PROT_READ | PKVM_PROT_WRITE },
		{ PF_R | PF_W | PF_X, PKVM_PROT_READ | PKVM_PROT_WRITE | PKVM_PROT_EXEC },
		{ PF_R | PF_W | PF_MASKOS, PKVM_PROT_READ | PKVM_PROT_WRITE },
	};
	for (size_t i = 0; i < sizeof(p) / sizeof(p[0]); i++) {
		build_exec(&im);
		ph(&im, 1)->p_flags = p[i].flags;
		ck_assert_int_eq(parse_img(&im, &img), 0);
		ck_assert_int_eq(img.segment[1].prot, p[i].prot);
	}

	/* A segment ending exactly at the top of user space. */
	build_exec(&im);
	ph(&im, 1)->p_vaddr = USER_TOP - 0x3000 + 0x10;
	ph(&im, 1)->p_memsz = 0x3000 - 0x10;
	ck_assert_int_eq(parse_img(&im, &img), 0);
	ck_assert_uint_eq(img.highest, USER_TOP);
	expect_segment(&img, 1, USER_TOP - 0x3000, 0x3000, 0x2010, 0x10, 0x100,
		       PKVM_PROT_READ | PKVM_PROT_WRITE);

	/* Adjacent pages are not overlap. */
	build_exec(&im);
	ph(&im, 1)->p_vaddr = EX_TEXT + 0x2010;
	ck_assert_int_eq(parse_img(&im, &img), 0);
	ck_assert_uint_eq(img.segment[1].vaddr, EX_TEXT + 0x2000);

	/* A PT_LOAD with memsz 0 is skipped, wherever it is. */
	build_exec(&im);
	set_ph(&im, 2, PT_LOAD, PF_R, 0, 0, 0, 0);
	ck_assert_int_eq(parse_img(&im, &img), 0);
	ck_assert_uint_eq(img.nsegments, 2);

	/* Headers outside every segment: phdr_vaddr is 0. */
	build_exec(&im);
	ph(&im, 0)->p_offset = 0x1000;
	ph(&im, 0)->p_vaddr = EX_TEXT + 0x1000;
	ph(&im, 0)->p_filesz = ph(&im, 0)->p_memsz = 0x800;
	eh(&im)->e_entry = EX_TEXT + 0x1100;
	ck_assert_int_eq(parse_img(&im, &img), 0);
	ck_assert_uint_eq(img.phdr_vaddr, 0);
	expect_segment(&img, 0, EX_TEXT + 0x1000, 0x1000, 0x1000, 0, 0x800,
		       PKVM_PROT_READ | PKVM_PROT_EXEC);

	/* The entry may be anywhere in the executable segment's pages. */
	build_exec(&im);
	eh(&im)->e_entry = EX_TEXT;
	ck_assert_int_eq(parse_img(&im, &img), 0);
	eh(&im)->e_entry = EX_TEXT + 0x17ff;
	ck_assert_int_eq(parse_img(&im, &img), 0);

	/* Pure bss (filesz 0) and a segment whose file bytes end the file. */
	build_exec(&im);
	ph(&im, 1)->p_filesz = 0;
	ck_assert_int_eq(parse_img(&im, &img), 0);
	ck_assert_uint_eq(img.segment[1].filesz, 0);
}
END_TEST

START_TEST(test_elf_dyn)
{
	struct img im;
	struct pkvm_elf_image img;
	static const uint64_t bases[] = { PIE_BASE, 0x10000, PG, 0x7f0000000000ULL,
					  USER_TOP - 0x206000 };

	build_dyn(&im);
	ck_assert_int_eq(parse_img(&im, &img), 0);
	ck_assert(img.pie);
	ck_assert_uint_eq(img.load_bias, PIE_BASE);
	ck_assert_uint_eq(img.entry, PIE_BASE + DY_ENTRY);
	ck_assert_uint_eq(img.nsegments, 2);
	expect_segment(&img, 0, PIE_BASE, 0x2000, 0, 0, 0x1800, PKVM_PROT_READ | PKVM_PROT_EXEC);
	expect_segment(&img, 1, PIE_BASE + 0x202000, 0x4000, 0x2010, 0x10, 0x100,
		       PKVM_PROT_READ | PKVM_PROT_WRITE);
	ck_assert_uint_eq(img.phdr_vaddr, PIE_BASE + sizeof(Elf64_Ehdr));
	ck_assert_uint_eq(img.phnum, 6);
	ck_assert_uint_eq(img.lowest, PIE_BASE);
	ck_assert_uint_eq(img.highest, PIE_BASE + 0x206000);
	expect_consistent(&img, im.size, "dyn");

	for (size_t i = 0; i < sizeof(bases) / sizeof(bases[0]); i++) {
		ck_assert_int_eq(parse(im.data, im.size, bases[i], &img), 0);
		ck_assert_uint_eq(img.load_bias, bases[i]);
		ck_assert_uint_eq(img.lowest, bases[i]);
		ck_assert_uint_eq(img.entry, bases[i] + DY_ENTRY);
		expect_consistent(&img, im.size, "dyn at base");
	}
	/* Bases that put the image on page 0 or past user space. */
	ck_assert_int_eq(parse(im.data, im.size, 0, &img), -ENOEXEC);
	ck_assert_int_eq(parse(im.data, im.size, USER_TOP - 0x205000, &img), -ENOEXEC);
	ck_assert_int_eq(parse(im.data, im.size, USER_TOP, &img), -ENOEXEC);
	ck_assert_int_eq(parse(im.data, im.size, 0xffff800000000000ULL, &img), -ENOEXEC);
	ck_assert_int_eq(parse(im.data, im.size, -PG, &img), -ENOEXEC);
	/* A misaligned base is the caller's mistake. */
	ck_assert_int_eq(parse(im.data, im.size, PIE_BASE + 1, &img), -EINVAL);
	ck_assert_int_eq(parse(im.data, im.size, PIE_BASE + 0x800, &img), -EINVAL);
}
END_TEST

START_TEST(test_elf_dynamic_linking)
{
	struct img im;
	struct pkvm_elf_image img;

	/* PT_INTERP: dynamically linked, in either type, wherever it sits. */
	for (unsigned slot = 0; slot < 4; slot++) {
		build_exec(&im);
		if (slot < 2) {
			/* Before the loads: make room by moving them up. */
			eh(&im)->e_phnum = 5;
			memmove(ph(&im, slot + 1), ph(&im, slot), (4 - slot) * sizeof(Elf64_Phdr));
		}
		set_ph(&im, slot == 3 ? 3 : slot, PT_INTERP, PF_R, 0x120, EX_TEXT + 0x120, 0x1c,
		       0x1c);
		ck_assert_msg(parse_img(&im, &img) == -ELIBBAD, "PT_INTERP in slot %u", slot);
	}
	build_dyn(&im);
	set_ph(&im, 4, PT_INTERP, PF_R, 0x120, 0x120, 0x1c, 0x1c);
	ck_assert_int_eq(parse_img(&im, &img), -ELIBBAD);

	/* PT_DYNAMIC: fine in a static PIE (its own relocations), not in ET_EXEC. */
	build_exec(&im);
	set_ph(&im, 2, PT_DYNAMIC, PF_R | PF_W, 0x2010, EX_DATA, 0x80, 0x80);
	ck_assert_int_eq(parse_img(&im, &img), -ELIBBAD);
	build_dyn(&im);
	ck_assert_int_eq(parse_img(&im, &img), 0);
}
END_TEST

/* ------------------------------------------------------------------------- */
/* Truncation.                                                                */

START_TEST(test_elf_truncated)
{
	struct img im;
	struct pkvm_elf_image img;

	for (int kind = 0; kind < 2; kind++) {
		if (kind)
			build_dyn(&im);
		else
			build_exec(&im);
		for (size_t len = 0; len < im.size; len++) {
			int err = parse(im.data, len, PIE_BASE, &img);

			EXPECT(err == -ENOEXEC, "%s truncated to %zu bytes: %d",
			       kind ? "dyn" : "exec", len, err);
		}
		ck_assert_int_eq(parse(im.data, im.size, PIE_BASE, &img), 0);
	}
	ck_assert_int_eq(pkvm_elf_parse(NULL, 0, PIE_BASE, &img), -ENOEXEC);
	ck_assert_int_eq(pkvm_elf_parse(NULL, EX_SIZE, PIE_BASE, &img), -ENOEXEC);
}
END_TEST

/* ------------------------------------------------------------------------- */
/* Malformed headers.                                                         */

enum hdr_field { F_BYTE, F_TYPE, F_MACHINE, F_PHENTSIZE, F_PHNUM, F_PHOFF };

START_TEST(test_elf_bad_header)
{
	static const struct {
		enum hdr_field field;
		unsigned byte;		/* F_BYTE: e_ident index */
		uint64_t value;
	} bad[] = {
		{ F_BYTE, 0, 0x7e }, { F_BYTE, 1, 'e' }, { F_BYTE, 2, 'l' }, { F_BYTE, 3, 'f' },
		{ F_BYTE, EI_CLASS, ELFCLASS32 }, { F_BYTE, EI_CLASS, ELFCLASSNONE },
		{ F_BYTE, EI_CLASS, 3 },
		{ F_BYTE, EI_DATA, ELFDATA2MSB }, { F_BYTE, EI_DATA, ELFDATANONE },
		{ F_BYTE, EI_VERSION, EV_NONE }, { F_BYTE, EI_VERSION, 2 },
		{ F_MACHINE, 0, EM_386 }, { F_MACHINE, 0, EM_AARCH64 }, { F_MACHINE, 0, EM_NONE },
		{ F_MACHINE, 0, EM_IA_64 },
		{ F_TYPE, 0, ET_NONE }, { F_TYPE, 0, ET_REL }, { F_TYPE, 0, ET_CORE },
		{ F_TYPE, 0, 0xfe00 }, { F_TYPE, 0, 0xffff },
		{ F_PHENTSIZE, 0, 0 }, { F_PHENTSIZE, 0, sizeof(Elf64_Phdr) - 1 },
		{ F_PHENTSIZE, 0, sizeof(Elf64_Phdr) + 8 }, { F_PHENTSIZE, 0, sizeof(Elf32_Phdr) },
		{ F_PHENTSIZE, 0, 0xffff },
		{ F_PHNUM, 0, 0 }, { F_PHNUM, 0, 0xffff }, { F_PHNUM, 0, PN_XNUM },
		{ F_PHNUM, 0, 257 }, { F_PHNUM, 0, (EX_SIZE - 64) / 56 + 1 },
		{ F_PHOFF, 0, EX_SIZE }, { F_PHOFF, 0, EX_SIZE - 8 }, { F_PHOFF, 0, EX_SIZE + 64 },
		{ F_PHOFF, 0, EX_SIZE - 4 * sizeof(Elf64_Phdr) + 8 },
		{ F_PHOFF, 0, 0xffffffffffffffc0ULL }, { F_PHOFF, 0, 0x8000000000000000ULL },
		{ F_PHOFF, 0, -(uint64_t)sizeof(Elf64_Phdr) },
		{ F_PHOFF, 0, 65 }, { F_PHOFF, 0, 66 }, { F_PHOFF, 0, 68 },	/* misaligned */
	};
	struct img im;
	struct pkvm_elf_image img;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		for (int kind = 0; kind < 2; kind++) {
			Elf64_Ehdr *e;

			if (kind)
				build_dyn(&im);
			else
				build_exec(&im);
			e = eh(&im);
			switch (bad[i].field) {
			case F_BYTE:
				e->e_ident[bad[i].byte] = (unsigned char)bad[i].value;
				break;
			case F_TYPE:
				e->e_type = (uint16_t)bad[i].value;
				break;
			case F_MACHINE:
				e->e_machine = (uint16_t)bad[i].value;
				break;
			case F_PHENTSIZE:
				e->e_phentsize = (uint16_t)bad[i].value;
				break;
			case F_PHNUM:
				e->e_phnum = (uint16_t)bad[i].value;
				break;
			case F_PHOFF:
				/* Keep a valid table where a misaligned e_phoff points. */
				if (bad[i].value < 0x100)
					memmove(im.data + bad[i].value, im.data + 64,
						e->e_phnum * sizeof(Elf64_Phdr));
				e = eh(&im);
				e->e_phoff = bad[i].value;
				break;
			}
			ck_assert_msg(parse_img(&im, &img) == -ENOEXEC, "case %zu (%s)", i,
				      kind ? "dyn" : "exec");
		}
	}

	/* Controls: an aligned table elsewhere is fine, so is e_phnum 256 when it fits. */
	build_exec(&im);
	memmove(im.data + 0x48, im.data + 64, 4 * sizeof(Elf64_Phdr));
	eh(&im)->e_phoff = 0x48;
	ck_assert_int_eq(parse_img(&im, &img), 0);
	ck_assert_uint_eq(img.phdr_vaddr, EX_TEXT + 0x48);
	build_exec(&im);
	memset(ph(&im, 4), 0, 252 * sizeof(Elf64_Phdr));	/* PT_NULL */
	eh(&im)->e_phnum = 256;
	im.size = IMG_MAX;
	ck_assert_uint_le(64 + 256 * sizeof(Elf64_Phdr), im.size);
	ph(&im, 0)->p_filesz = ph(&im, 0)->p_memsz = 64 + 256 * sizeof(Elf64_Phdr);
	ph(&im, 1)->p_offset = 0x4010;	/* congruent, beyond the table: past the file */
	ck_assert_int_eq(parse_img(&im, &img), -ENOEXEC);
	ph(&im, 1)->p_offset = 0x2010;
	ck_assert_int_eq(parse_img(&im, &img), 0);
	ck_assert_uint_eq(img.phnum, 256);
}
END_TEST

/* ------------------------------------------------------------------------- */
/* Malformed program headers.                                                 */

START_TEST(test_elf_bad_segments)
{
	static const struct {
		unsigned seg;			/* 0: text, 1: data */
		uint64_t offset, vaddr, filesz, memsz;	/* ~0: leave as is */
	} bad[] = {
#define KEEP	(~(uint64_t)0)
		{ 1, KEEP, KEEP, 0x3001, KEEP },		/* filesz > memsz */
		{ 1, KEEP, KEEP, 0x101, 0x101 },		/* file bytes past the end */
		{ 1, KEEP, KEEP, 0x1000, KEEP },
		{ 1, 0x3010, 0x603010, 0x10, KEEP },		/* offset past the end */
		{ 1, 0x2110, 0x602110, 1, KEEP },
		{ 1, 0xfffffffffffff010ULL, KEEP, 0x1000, KEEP },	/* offset + filesz wraps */
		{ 1, 0xfffffffffffff010ULL, KEEP, 0x2000, 0x3000 },
		{ 1, KEEP, USER_TOP + 0x10, KEEP, KEEP },	/* beyond user space */
		{ 1, KEEP, USER_TOP - 0x1000 + 0x10, KEEP, KEEP },	/* runs past its top */
		{ 1, KEEP, USER_TOP - 0x3000 + 0x10, KEEP, 0x2ff1 },
		{ 1, KEEP, 0xfffffffffffff010ULL, KEEP, KEEP },	/* wraps */
		{ 1, KEEP, 0xffff800000000010ULL, KEEP, KEEP },
		{ 1, KEEP, KEEP, KEEP, 0xfffffffffffffffeULL },	/* (~0 means KEEP) */
		{ 1, KEEP, KEEP, KEEP, 0x8000000000000000ULL },
		{ 1, KEEP, 0x602000, KEEP, KEEP },		/* vaddr and offset disagree mod 4096 */
		{ 1, KEEP, 0x602018, KEEP, KEEP },
		{ 1, 0x2008, KEEP, KEEP, KEEP },
		{ 1, KEEP, EX_TEXT + 0x1010, KEEP, KEEP },	/* overlaps the text */
		{ 1, 0x1810, EX_TEXT + 0x1810, KEEP, KEEP },	/* shares its last page */
		{ 1, KEEP, EX_TEXT + 0x10, KEEP, KEEP },	/* same start */
		{ 1, KEEP, 0x200010, KEEP, KEEP },		/* below it: unsorted */
		{ 1, KEEP, 0x10, KEEP, KEEP },
		{ 0, KEEP, 0, KEEP, KEEP },			/* page 0 */
		{ 0, 0x800, 0x800, 0x800, 0x800 },
	};
	struct img im;
	struct pkvm_elf_image img;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		Elf64_Phdr *p;

		build_exec(&im);
		p = ph(&im, bad[i].seg);
		if (bad[i].offset != KEEP)
			p->p_offset = bad[i].offset;
		if (bad[i].vaddr != KEEP)
			p->p_vaddr = bad[i].vaddr;
		if (bad[i].filesz != KEEP)
			p->p_filesz = bad[i].filesz;
		if (bad[i].memsz != KEEP)
			p->p_memsz = bad[i].memsz;
		ck_assert_msg(parse_img(&im, &img) == -ENOEXEC, "case %zu", i);
	}
	/* The same through a PIE's load bias. */
	build_dyn(&im);
	ph(&im, 1)->p_vaddr = USER_TOP - PIE_BASE - 0x1000 + 0x10;
	ck_assert_int_eq(parse_img(&im, &img), -ENOEXEC);
	build_dyn(&im);
	ph(&im, 1)->p_vaddr = -PIE_BASE + 0x10;		/* wraps to just above 0 */
	ck_assert_int_eq(parse_img(&im, &img), -ENOEXEC);
#undef KEEP
}
END_TEST

START_TEST(test_elf_no_load)
{
	struct img im;
	struct pkvm_elf_image img;

	build_exec(&im);
	ph(&im, 0)->p_type = PT_NOTE;
	ph(&im, 1)->p_type = PT_NOTE;
	ck_assert_int_eq(parse_img(&im, &img), -ENOEXEC);
	build_exec(&im);
	ph(&im, 0)->p_memsz = ph(&im, 0)->p_filesz = 0;
	ph(&im, 1)->p_memsz = ph(&im, 1)->p_filesz = 0;
	ck_assert_int_eq(parse_img(&im, &img), -ENOEXEC);
	/* Only the data segment: no executable one for the entry. */
	build_exec(&im);
	ph(&im, 0)->p_type = PT_NULL;
	ck_assert_int_eq(parse_img(&im, &img), -ENOEXEC);
}
END_TEST

START_TEST(test_elf_bad_entry)
{
	static const uint64_t entries[] = {
		0, 1, EX_TEXT - 1, EX_TEXT + 0x2000, EX_DATA, 0x602000, 0x605fff, 0x606000,
		USER_TOP, 0xffffffff80000000ULL, ~(uint64_t)0,
	};
	struct img im;
	struct pkvm_elf_image img;

	for (size_t i = 0; i < sizeof(entries) / sizeof(entries[0]); i++) {
		build_exec(&im);
		eh(&im)->e_entry = entries[i];
		ck_assert_msg(parse_img(&im, &img) == -ENOEXEC, "entry %#" PRIx64, entries[i]);
	}
	/* Text without PF_X. */
	build_exec(&im);
	ph(&im, 0)->p_flags = PF_R;
	ck_assert_int_eq(parse_img(&im, &img), -ENOEXEC);
	/* Data made executable holds the entry: accepted (W+X is the caller's policy). */
	build_exec(&im);
	ph(&im, 1)->p_flags = PF_R | PF_W | PF_X;
	eh(&im)->e_entry = EX_DATA;
	ck_assert_int_eq(parse_img(&im, &img), 0);
	/* In a PIE the entry is biased too: an absolute one is outside. */
	build_dyn(&im);
	eh(&im)->e_entry = PIE_BASE + DY_ENTRY;
	ck_assert_int_eq(parse_img(&im, &img), -ENOEXEC);
	eh(&im)->e_entry = -PIE_BASE + 0x10;	/* wraps onto page 0 */
	ck_assert_int_eq(parse_img(&im, &img), -ENOEXEC);
}
END_TEST

/*
 * elf_image.h: phdr_vaddr is "where the program headers are mapped, 0 if not".
 * A PT_LOAD with p_memsz 0 maps nothing, whatever its p_filesz and p_vaddr say.
 */
START_TEST(test_elf_phdr_vaddr_from_empty_load)
{
	struct img im;
	struct pkvm_elf_image img;
	int err;

	build_exec(&im);
	/* Text no longer covers the headers... */
	ph(&im, 0)->p_offset = 0x1000;
	ph(&im, 0)->p_vaddr = EX_TEXT + 0x1000;
	ph(&im, 0)->p_filesz = ph(&im, 0)->p_memsz = 0x800;
	eh(&im)->e_entry = EX_TEXT + 0x1100;
	/* ...but an empty PT_LOAD claims them, at a non-canonical address. */
	set_ph(&im, 2, PT_LOAD, PF_R, 0, 0xdead000000000000ULL, 0x200, 0);
	err = parse_img(&im, &img);
	if (err == 0) {
		ck_assert_uint_eq(img.nsegments, 2);
		ck_assert_msg(img.phdr_vaddr == 0, "phdr_vaddr %#" PRIx64 " from a PT_LOAD with "
			      "p_memsz 0", img.phdr_vaddr);
	} else {
		ck_assert_int_eq(err, -ENOEXEC);	/* refusing p_filesz > p_memsz is fine too */
	}
}
END_TEST

/* An image of @n one-page PT_LOADs: text first, then bss pages. */
static void build_many(struct img *im, unsigned n)
{
	init_header(im, ET_EXEC, EX_TEXT + 0x800, n);
	set_ph(im, 0, PT_LOAD, PF_R | PF_X, 0, EX_TEXT, 0x1000, 0x1000);
	for (unsigned i = 1; i < n; i++)
		set_ph(im, i, PT_LOAD, PF_R | PF_W, 0, EX_TEXT + i * 0x2000, 0, 0x1000);
	im->size = 0x1000;
}

START_TEST(test_elf_many_segments)
{
	struct img im;
	struct pkvm_elf_image img;

	build_many(&im, PKVM_ELF_MAX_SEGMENTS);
	ck_assert_int_eq(parse_img(&im, &img), 0);
	ck_assert_uint_eq(img.nsegments, PKVM_ELF_MAX_SEGMENTS);
	expect_consistent(&img, im.size, "16 segments");
	ck_assert_uint_eq(img.highest, EX_TEXT + 30 * 0x1000 + 0x1000);

	build_many(&im, PKVM_ELF_MAX_SEGMENTS + 1);
	ck_assert_int_eq(parse_img(&im, &img), -ENOEXEC);
	/* Seventeen entries of which one is empty make sixteen segments. */
	ph(&im, 7)->p_memsz = 0;
	ck_assert_int_eq(parse_img(&im, &img), 0);
	ck_assert_uint_eq(img.nsegments, PKVM_ELF_MAX_SEGMENTS);
	/* Many more. */
	build_many(&im, 40);
	ck_assert_int_eq(parse_img(&im, &img), -ENOEXEC);
}
END_TEST

/* ------------------------------------------------------------------------- */
/* Fuzzing.                                                                   */

static uint64_t rng_state;

static uint64_t rng(void)
{
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return rng_state * 0x2545f4914f6cdd1dULL;
}

/* Values that sit on the boundaries the parser checks. */
static const uint64_t interesting[] = {
	0, 1, 7, 8, 0x10, 0x38, 0x40, 0x7f, 0x80, 0xff, 0x100, 0xfff, 0x1000, 0x1001, 0x2000,
	0x2110, 0x400000, 0x7fffffffffffULL, 0x800000000000ULL, 0x7ffffffff000ULL,
	0x8000000000000000ULL, 0xfffffffffffff000ULL, 0xffffffffffffffffULL,
};

#define FUZZ_ITERS	100000

START_TEST(test_elf_fuzz)
{
	struct img base[2];
	uint8_t *buf = malloc(EX_SIZE);
	unsigned ok = 0, noexec = 0, libbad = 0;

	ck_assert_ptr_nonnull(buf);
	build_exec(&base[0]);
	build_dyn(&base[1]);
	rng_state = 0x0123456789abcdefULL;
	for (unsigned it = 0; it < FUZZ_ITERS; it++) {
		struct img *b = &base[it & 1];
		/* The headers are what the parser reads: aim most changes there. */
		size_t hot = 64 + eh(b)->e_phnum * sizeof(Elf64_Phdr);
		unsigned changes = 1 + rng() % 4;
		struct pkvm_elf_image img;
		size_t size = b->size;
		int err;

		memcpy(buf, b->data, size);
		for (unsigned c = 0; c < changes; c++) {
			uint64_t r = rng();
			size_t at = (r & 7) ? (r >> 8) % hot : (r >> 8) % size;

			switch ((r >> 3) % 4) {
			case 0:		/* one bit */
				buf[at] ^= 1U << ((r >> 40) % 8);
				break;
			case 1:		/* one byte */
				buf[at] = (uint8_t)(r >> 48);
				break;
			case 2: {	/* a boundary value in an aligned 8-byte field */
				uint64_t v = interesting[(r >> 40) % (sizeof(interesting) /
								      sizeof(interesting[0]))];

				at &= ~(size_t)7;
				if (at + 8 <= size)
					memcpy(buf + at, &v, 8);
				break;
			}
			default: {	/* a small delta to an aligned 8-byte field */
				uint64_t v;

				at &= ~(size_t)7;
				if (at + 8 > size)
					break;
				memcpy(&v, buf + at, 8);
				v += (int64_t)((r >> 40) % 0x2001) - 0x1000;
				memcpy(buf + at, &v, 8);
				break;
			}
			}
		}
		if (it % 16 == 15) {
			/* Truncated as well: through an exact-size copy. */
			size = rng() % (size + 1);
			err = parse(buf, size, PIE_BASE, &img);
		} else {
			err = pkvm_elf_parse(buf, size, PIE_BASE, &img);
		}
		if (err == 0) {
			expect_consistent(&img, size, "fuzz");
			ok++;
		} else if (err == -ENOEXEC) {
			noexec++;
		} else {
			EXPECT(err == -ELIBBAD, "iteration %u: %d", it, err);
			libbad++;
		}
	}
	free(buf);
	/* The fuzzer reached both outcomes often: it is testing something. */
	ck_assert_uint_gt(ok, FUZZ_ITERS / 20);
	ck_assert_uint_gt(noexec, FUZZ_ITERS / 4);
	ck_assert_uint_gt(libbad, 10);
}
END_TEST

/* ------------------------------------------------------------------------- */
/* Real binaries.                                                             */

static uint8_t *read_file(const char *path, size_t *size)
{
	FILE *f = fopen(path, "rb");
	uint8_t *data;
	long len;

	if (!f)
		return NULL;
	if (fseek(f, 0, SEEK_END) || (len = ftell(f)) <= 0 || fseek(f, 0, SEEK_SET)) {
		fclose(f);
		return NULL;
	}
	data = malloc(len);
	if (data && fread(data, 1, len, f) != (size_t)len) {
		free(data);
		data = NULL;
	}
	fclose(f);
	*size = len;
	return data;
}

/*
 * Parse a host binary and compare with a plain reading of its program headers.
 * Returns false when the file is absent or not an x86-64 ELF64.
 */
static bool check_real(const char *path, bool *interp_out)
{
	size_t size;
	uint8_t *data = read_file(path, &size);
	struct pkvm_elf_image img;
	Elf64_Ehdr e;
	bool interp = false;
	unsigned loads = 0;
	int err;

	if (!data)
		return false;
	if (size < sizeof(e) || (memcpy(&e, data, sizeof(e)), memcmp(e.e_ident, ELFMAG, SELFMAG)) ||
	    e.e_ident[EI_CLASS] != ELFCLASS64 || e.e_machine != EM_X86_64) {
		free(data);
		return false;
	}
	ck_assert_uint_le(e.e_phoff + e.e_phnum * sizeof(Elf64_Phdr), size);
	for (unsigned i = 0; i < e.e_phnum; i++) {
		Elf64_Phdr p;

		memcpy(&p, data + e.e_phoff + i * sizeof(p), sizeof(p));
		interp |= p.p_type == PT_INTERP;
		loads += p.p_type == PT_LOAD && p.p_memsz;
	}
	err = pkvm_elf_parse(data, size, PIE_BASE, &img);
	if (interp) {
		ck_assert_msg(err == -ELIBBAD, "%s: %d, expected -ELIBBAD", path, err);
	} else {
		uint64_t bias = e.e_type == ET_DYN ? PIE_BASE : 0;
		unsigned k = 0;

		ck_assert_msg(err == 0, "%s: %d", path, err);
		expect_consistent(&img, size, path);
		ck_assert_uint_eq(img.pie, e.e_type == ET_DYN);
		ck_assert_uint_eq(img.load_bias, bias);
		ck_assert_uint_eq(img.entry, e.e_entry + bias);
		ck_assert_uint_eq(img.nsegments, loads);
		ck_assert_uint_eq(img.phnum, e.e_phnum);
		for (unsigned i = 0; i < e.e_phnum; i++) {
			Elf64_Phdr p;
			const struct pkvm_elf_segment *s;

			memcpy(&p, data + e.e_phoff + i * sizeof(p), sizeof(p));
			if (p.p_type != PT_LOAD || !p.p_memsz)
				continue;
			s = &img.segment[k++];
			ck_assert_uint_eq(s->vaddr + s->page_offset, p.p_vaddr + bias);
			ck_assert_uint_eq(s->file_offset, p.p_offset);
			ck_assert_uint_eq(s->filesz, p.p_filesz);
			ck_assert_uint_ge(s->memsz, s->page_offset + p.p_memsz);
			ck_assert_uint_lt(s->memsz, s->page_offset + p.p_memsz + PG);
			ck_assert_int_eq(!!(s->prot & PKVM_PROT_EXEC), !!(p.p_flags & PF_X));
			ck_assert_int_eq(!!(s->prot & PKVM_PROT_WRITE), !!(p.p_flags & PF_W));
		}
		/* Prefixes: refused, or (trailing sections cut) still consistent. */
		for (size_t len = 0; len < size; len += 1 + len / 4) {
			int e2 = pkvm_elf_parse(data, len, PIE_BASE, &img);

			if (e2 == 0)
				expect_consistent(&img, len, path);
		}
	}
	free(data);
	if (interp_out)
		*interp_out = interp;
	return true;
}

START_TEST(test_elf_real_binaries)
{
	static const char *const statics[] = { "/bin/busybox", "/sbin/ldconfig" };
	static const char *const dynamics[] = { "/bin/ls", "/bin/sh" };
	unsigned seen = 0;

	for (size_t i = 0; i < sizeof(statics) / sizeof(statics[0]); i++) {
		bool interp = false;

		if (!check_real(statics[i], &interp)) {
			fprintf(stderr, "test_elf: %s absent, skipped\n", statics[i]);
			continue;
		}
		seen++;
		ck_assert_msg(!interp, "%s is not static on this host", statics[i]);
	}
	for (size_t i = 0; i < sizeof(dynamics) / sizeof(dynamics[0]); i++)
		seen += check_real(dynamics[i], NULL);
	if (!seen)
		fprintf(stderr, "test_elf: no host binaries to parse\n");
}
END_TEST

/* ------------------------------------------------------------------------- */

static Suite *elf_suite(void)
{
	Suite *s = suite_create("elf");
	TCase *tc;

	tc = tcase_create("good");
	tcase_add_test(tc, test_elf_exec);
	tcase_add_test(tc, test_elf_exec_variants);
	tcase_add_test(tc, test_elf_dyn);
	tcase_add_test(tc, test_elf_dynamic_linking);
	suite_add_tcase(s, tc);

	tc = tcase_create("bad");
	tcase_add_test(tc, test_elf_truncated);
	tcase_add_test(tc, test_elf_bad_header);
	tcase_add_test(tc, test_elf_bad_segments);
	tcase_add_test(tc, test_elf_no_load);
	tcase_add_test(tc, test_elf_bad_entry);
	tcase_add_test(tc, test_elf_many_segments);
	tcase_add_test(tc, test_elf_phdr_vaddr_from_empty_load);
	suite_add_tcase(s, tc);

	tc = tcase_create("fuzz");
	tcase_set_timeout(tc, 120);	/* well under a second at -O2; room for sanitizers */
	tcase_add_test(tc, test_elf_fuzz);
	suite_add_tcase(s, tc);

	tc = tcase_create("host");
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_elf_real_binaries);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(elf_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
