/* mkseeds.c: writes the fuzzers' seed corpus (fuzz/corpus/<harness>/): small, hand-shaped inputs. */
/*
 * Run by `make fuzz-seeds`; its output is committed, so that the seeds do
 * not change with the compiler as a built program would.  Each ELF seed is
 * the smallest image that reaches one path of the parser: a static
 * executable, a static PIE, a dynamic one, an executable stack, an image
 * with symbol tables.  Each system-call seed is a short program of calls
 * that reaches one area of the personality.  Usage: mkseeds DIR
 * (DIR/elf_parse, ... must exist).
 */
#include <elf.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SEED_MAX	0x800

struct seed {
	_Alignas(8) uint8_t data[SEED_MAX];
	size_t size;
};

static const char *dir;

static void save(const char *harness, const char *name, const void *data, size_t size)
{
	char path[4096];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s/%s", dir, harness, name);
	f = fopen(path, "wb");
	if (!f || fwrite(data, 1, size, f) != size || fclose(f)) {
		perror(path);
		exit(1);
	}
}

static Elf64_Ehdr *header(struct seed *s, uint16_t type, uint64_t entry, uint16_t phnum)
{
	Elf64_Ehdr *eh = (Elf64_Ehdr *)s->data;

	memset(s, 0, sizeof(*s));
	memcpy(eh->e_ident, ELFMAG, SELFMAG);
	eh->e_ident[EI_CLASS] = ELFCLASS64;
	eh->e_ident[EI_DATA] = ELFDATA2LSB;
	eh->e_ident[EI_VERSION] = EV_CURRENT;
	eh->e_type = type;
	eh->e_machine = EM_X86_64;
	eh->e_version = EV_CURRENT;
	eh->e_entry = entry;
	eh->e_phoff = phnum ? sizeof(*eh) : 0;
	eh->e_ehsize = sizeof(*eh);
	eh->e_phentsize = sizeof(Elf64_Phdr);
	eh->e_phnum = phnum;
	eh->e_shentsize = sizeof(Elf64_Shdr);
	s->size = sizeof(*eh) + phnum * sizeof(Elf64_Phdr);
	return eh;
}

static void ph(struct seed *s, unsigned i, uint32_t type, uint32_t flags, uint64_t offset,
	       uint64_t vaddr, uint64_t filesz, uint64_t memsz)
{
	Elf64_Phdr *p = (Elf64_Phdr *)(s->data + sizeof(Elf64_Ehdr)) + i;

	*p = (Elf64_Phdr){ .p_type = type, .p_flags = flags, .p_offset = offset, .p_vaddr = vaddr,
			   .p_paddr = vaddr, .p_filesz = filesz, .p_memsz = memsz,
			   .p_align = 0x1000 };
	if (offset + filesz > s->size)
		s->size = offset + filesz;
}

/*
 * Text R+X at 0x400000 holding the headers, room for a PT_INTERP string at
 * 0x120 and a few bytes of "code" at 0x140 (the entry point); data
 * R+W at 0x601200 from file offset 0x200 (congruent modulo the page) with
 * bss after it.
 */
static void exec_image(struct seed *s, unsigned extra)
{
	header(s, ET_EXEC, 0x400140, 3 + extra);
	ph(s, 0, PT_LOAD, PF_R | PF_X, 0, 0x400000, 0x180, 0x180);
	ph(s, 1, PT_LOAD, PF_R | PF_W, 0x200, 0x601200, 0x40, 0x2000);
	ph(s, 2, PT_GNU_STACK, PF_R | PF_W, 0, 0, 0, 0);
	memset(s->data + 0x140, 0xc3, 0x40);	/* ret, after at most 4 program headers */
}

/* Section headers: null, .symtab, .strtab, .dynsym (when @dynsym), all after the file so far. */
static void symbols(struct seed *s, int dynsym)
{
	static const char strings[] = "\0alpha\0_start\0main\0x\0undefined";
	Elf64_Ehdr *eh = (Elf64_Ehdr *)s->data;
	size_t sym_off = (s->size + 7) & ~(size_t)7, str_off, sh_off;
	Elf64_Sym *sym = (Elf64_Sym *)(s->data + sym_off);
	Elf64_Shdr *sh;

	sym[1] = (Elf64_Sym){ .st_name = 1, .st_info = ELF64_ST_INFO(STB_GLOBAL, STT_OBJECT),
			      .st_shndx = 1, .st_value = 0x601200 };
	sym[2] = (Elf64_Sym){ .st_name = 7, .st_info = ELF64_ST_INFO(STB_GLOBAL, STT_NOTYPE),
			      .st_shndx = 1, .st_value = 0x400140 };
	sym[3] = (Elf64_Sym){ .st_name = 14, .st_info = ELF64_ST_INFO(STB_GLOBAL, STT_FUNC),
			      .st_shndx = 1, .st_value = 0x400150 };
	sym[4] = (Elf64_Sym){ .st_name = 19, .st_info = ELF64_ST_INFO(STB_LOCAL, STT_FUNC),
			      .st_shndx = 1, .st_value = 0x400160 };
	sym[5] = (Elf64_Sym){ .st_name = 21, .st_info = ELF64_ST_INFO(STB_GLOBAL, STT_FUNC),
			      .st_shndx = SHN_UNDEF };
	str_off = sym_off + 6 * sizeof(Elf64_Sym);
	memcpy(s->data + str_off, strings, sizeof(strings));
	sh_off = (str_off + sizeof(strings) + 7) & ~(size_t)7;
	sh = (Elf64_Shdr *)(s->data + sh_off);
	sh[1] = (Elf64_Shdr){ .sh_type = SHT_SYMTAB, .sh_offset = sym_off,
			      .sh_size = 6 * sizeof(Elf64_Sym), .sh_link = 2,
			      .sh_entsize = sizeof(Elf64_Sym) };
	sh[2] = (Elf64_Shdr){ .sh_type = SHT_STRTAB, .sh_offset = str_off,
			      .sh_size = sizeof(strings) };
	/* .dynsym: the exported part, _start and main (entries 2 and 3 of the same array). */
	if (dynsym)
		sh[3] = (Elf64_Shdr){ .sh_type = SHT_DYNSYM, .sh_offset = sym_off + 2 * sizeof(*sym),
				      .sh_size = 2 * sizeof(Elf64_Sym), .sh_link = 2,
				      .sh_entsize = sizeof(Elf64_Sym) };
	eh->e_shoff = sh_off;
	eh->e_shnum = dynsym ? 4 : 3;
	eh->e_shstrndx = SHN_UNDEF;
	s->size = sh_off + eh->e_shnum * sizeof(Elf64_Shdr);
}

static void elf_seeds(void)
{
	struct seed s;

	exec_image(&s, 0);
	save("elf_parse", "exec", s.data, s.size);
	/* PT_GNU_STACK with PF_X, and a PT_NOTE. */
	exec_image(&s, 1);
	ph(&s, 2, PT_GNU_STACK, PF_R | PF_W | PF_X, 0, 0, 0, 0);
	ph(&s, 3, PT_NOTE, PF_R, 0x120, 0x400120, 0x10, 0x10);
	save("elf_parse", "exec-stack-note", s.data, s.size);
	/* A static PIE: the same shape linked at 0, with PT_DYNAMIC, PT_TLS, PT_GNU_RELRO. */
	header(&s, ET_DYN, 0x100, 6);
	ph(&s, 0, PT_LOAD, PF_R | PF_X, 0, 0, 0x1c0, 0x1c0);
	ph(&s, 1, PT_LOAD, PF_R | PF_W, 0x200, 0x201200, 0x80, 0x2000);
	ph(&s, 2, PT_DYNAMIC, PF_R | PF_W, 0x200, 0x201200, 0x40, 0x40);
	ph(&s, 3, PT_TLS, PF_R, 0x240, 0x201240, 0x10, 0x40);
	ph(&s, 4, PT_GNU_RELRO, PF_R, 0x200, 0x201200, 0x40, 0x40);
	ph(&s, 5, PT_GNU_STACK, PF_R | PF_W, 0, 0, 0, 0);
	save("elf_parse", "static-pie", s.data, s.size);
	/* Dynamically linked: PT_INTERP, refused with -ELIBBAD. */
	exec_image(&s, 1);
	ph(&s, 3, PT_INTERP, PF_R, 0x120, 0x400120, 13, 13);
	memcpy(s.data + 0x120, "/lib/ld.so.2", 13);
	save("elf_parse", "dynamic-interp", s.data, s.size);
	/* Program and section headers both: also a seed of the symbol lookup. */
	exec_image(&s, 0);
	symbols(&s, 1);
	save("elf_parse", "exec-symbols", s.data, s.size);
	save("elf_symbol", "exec-symtab-dynsym", s.data, s.size);
	/* Section headers only (an object file's shape), .symtab alone. */
	header(&s, ET_REL, 0, 0);
	symbols(&s, 0);
	save("elf_symbol", "rel-symtab", s.data, s.size);
	/* Stripped: .dynsym alone, the .symtab header turned into a NULL section. */
	header(&s, ET_DYN, 0, 0);
	symbols(&s, 1);
	((Elf64_Shdr *)(s.data + ((Elf64_Ehdr *)s.data)->e_shoff))[1].sh_type = SHT_NULL;
	save("elf_symbol", "dyn-dynsym-only", s.data, s.size);
	/* Two .symtab headers on one table: refused (-ENOEXEC), never searched twice. */
	header(&s, ET_REL, 0, 0);
	symbols(&s, 1);
	((Elf64_Shdr *)(s.data + ((Elf64_Ehdr *)s.data)->e_shoff))[3].sh_type = SHT_SYMTAB;
	save("elf_symbol", "two-symtabs", s.data, s.size);
}

/* "base\0path": see path_normalize.c. */
static void path_seed(const char *name, const char *base, const char *path)
{
	char buf[512];
	size_t n = strlen(base) + 1 + strlen(path);

	memcpy(buf, base, strlen(base) + 1);
	memcpy(buf + strlen(base) + 1, path, strlen(path));
	save("path_normalize", name, buf, n);
}

static void path_seeds(void)
{
	char deep[300];

	path_seed("absolute", "/", "/usr/lib/../share/./doc//x");
	path_seed("relative", "/home/user", "docs/../notes.txt");
	path_seed("escape", "/srv/data", "../../../../etc/passwd");
	path_seed("trailing-slash", "/", "/etc/");
	path_seed("dots", "/a/b", "./.././...//..../.");
	path_seed("root", "/", "..");
	/* Longer than the small buffer: the -ENAMETOOLONG path. */
	memset(deep, 0, sizeof(deep));
	for (size_t i = 0; i + 10 < sizeof(deep); i += 10)
		memcpy(deep + i, "/component", 10);
	path_seed("long", "/", deep);
}

/* linux_syscall.c's input: setup byte, data length and data, then calls. */
enum { RAW, DATA, HOST, SMALL, PAGES, ODD };

struct program {
	uint8_t buf[SEED_MAX];
	size_t n;
};

static void put(struct program *p, const void *bytes, size_t n)
{
	if (p->n + n > sizeof(p->buf)) {
		fprintf(stderr, "mkseeds: a syscall seed is too long\n");
		exit(1);
	}
	memcpy(p->buf + p->n, bytes, n);
	p->n += n;
}

/* @backend: 0 hw, 1 soft, 2 none; @data (@size bytes) is the guest's data area. */
static void begin(struct program *p, uint8_t backend, const void *data, size_t size)
{
	uint8_t head[3] = { backend, size & 0xff, size >> 8 };

	p->n = 0;
	put(p, head, sizeof(head));
	put(p, data, size);
}

/* One call: its number, then kind and value of each argument (as many as given, 0 after). */
static void call(struct program *p, uint16_t nr, unsigned nargs, const uint8_t *kinds,
		 const uint64_t *values)
{
	uint8_t rec[2 + 6 * 9] = { nr & 0xff, nr >> 8 };

	for (unsigned i = 0; i < nargs && i < 6; i++) {
		rec[2 + 9 * i] = kinds[i];
		for (int b = 0; b < 8; b++)
			rec[3 + 9 * i + b] = values[i] >> (8 * b);
	}
	put(p, rec, sizeof(rec));
}

#define CALL(p, nr, ...) do { \
		const struct { uint8_t k; uint64_t v; } a_[] = { __VA_ARGS__ }; \
		uint8_t k_[6] = { 0 }; \
		uint64_t v_[6] = { 0 }; \
		for (unsigned i_ = 0; i_ < sizeof(a_) / sizeof(a_[0]); i_++) { \
			k_[i_] = a_[i_].k; \
			v_[i_] = a_[i_].v; \
		} \
		call(p, nr, sizeof(a_) / sizeof(a_[0]), k_, v_); \
	} while (0)
#define R(v)	{ RAW, (uint64_t)(v) }
#define D(off)	{ DATA, (off) }
#define H(off)	{ HOST, 0x1000 + (off) }	/* the harness takes 0x1000 off */
#define S(v)	{ SMALL, (uint8_t)(int8_t)(v) }

#define MAPS	0x20000000ULL			/* a free place for MAP_FIXED */

static void syscall_seeds(void)
{
	static const char paths[] = "/tmp/pkvm-fuzz-ro/data\0/tmp/pkvm-fuzz-ro\0sub/inner\0x";
	struct timespec { int64_t s, ns; } nap = { 0, 1000 };
	uint8_t data[0x300] = { 0 };
	struct program p;

	memcpy(data, paths, sizeof(paths));
	memcpy(data + 0x100, &nap, sizeof(nap));
	memcpy(data + 0x110, "fuzzname", 9);

	begin(&p, 0, data, sizeof(data));
	CALL(&p, 257, S(-100), D(0), S(0));			/* openat: fd 3 */
	CALL(&p, 0, S(3), D(0x200), R(64));			/* read */
	CALL(&p, 5, S(3), D(0x200));				/* fstat */
	CALL(&p, 8, S(3), R(4), S(0));				/* lseek */
	CALL(&p, 17, S(3), D(0x200), R(32), R(8));		/* pread64 */
	CALL(&p, 257, S(-100), D(23), R(0x10000));		/* openat O_DIRECTORY: fd 4 */
	CALL(&p, 217, S(4), D(0x200), R(0x100));		/* getdents64 */
	CALL(&p, 257, S(4), D(42), S(0));			/* openat relative to it */
	CALL(&p, 262, S(4), D(42), D(0x200), S(0));		/* newfstatat */
	CALL(&p, 21, D(0), S(4));				/* access */
	CALL(&p, 89, D(0), D(0x200), R(64));			/* readlink */
	CALL(&p, 33, S(3), S(10));				/* dup2 */
	CALL(&p, 72, S(3), S(1));				/* fcntl F_GETFD */
	CALL(&p, 3, S(3));					/* close */
	save("linux_syscall", "files", p.buf, p.n);

	begin(&p, 1, data, sizeof(data));
	CALL(&p, 257, S(-100), D(0), S(0));			/* openat: fd 3 */
	CALL(&p, 9, R(MAPS), R(0x3000), S(3), S(0x12), S(3), R(0));	/* mmap file, fixed */
	CALL(&p, 28, R(MAPS), R(0x3000), S(4));			/* madvise DONTNEED */
	CALL(&p, 25, R(MAPS), R(0x1000), R(0x4000), S(3), R(MAPS + 0x100000)); /* mremap */
	CALL(&p, 28, R(MAPS + 0x100000), R(0x4000), S(4));
	CALL(&p, 11, R(MAPS + 0x1000), R(0x1000));		/* munmap: a cut */
	CALL(&p, 28, R(MAPS), R(0x3000), S(8));			/* MADV_FREE */
	CALL(&p, 12, R(0x404000 + 0x5000));			/* brk */
	CALL(&p, 10, R(MAPS + 0x2000), R(0x1000), S(0));	/* mprotect PROT_NONE */
	save("linux_syscall", "file-maps", p.buf, p.n);

	/* Everything the host's buffer must survive. */
	begin(&p, 0, data, sizeof(data));
	CALL(&p, 9, H(0), R(0x1000), S(3), S(0x32), S(-1), R(0));	/* mmap fixed over it */
	CALL(&p, 11, H(0), R(0x2000));				/* munmap */
	CALL(&p, 25, R(0x400000), R(0x1000), R(0x1000), S(3), H(0));	/* mremap onto it */
	CALL(&p, 10, H(0), R(0x1000), S(3));			/* mprotect RW */
	CALL(&p, 28, H(0), R(0x2000), S(4));			/* madvise */
	CALL(&p, 329, H(0), R(0x1000), S(3), S(1));		/* pkey_mprotect with its key */
	CALL(&p, 331, S(1));					/* pkey_free its key */
	CALL(&p, 330, S(0), S(0));				/* pkey_alloc */
	CALL(&p, 0, S(0), H(0), R(16));				/* read into it */
	CALL(&p, 318, H(0), R(16), S(0));			/* getrandom into it */
	save("linux_syscall", "host-buffer", p.buf, p.n);

	begin(&p, 0, data, sizeof(data));
	CALL(&p, 330, S(0), S(0));				/* pkey_alloc */
	CALL(&p, 330, S(0), S(1));				/* pkey_alloc, access disabled */
	CALL(&p, 329, R(0x400000), R(0x1000), S(3), S(2));	/* pkey_mprotect */
	CALL(&p, 1, S(1), D(0), R(10));				/* write from it */
	CALL(&p, 331, S(2));					/* pkey_free */
	CALL(&p, 63, D(0x200));					/* uname */
	CALL(&p, 157, S(15), D(0x110));				/* prctl PR_SET_NAME */
	CALL(&p, 157, S(16), D(0x200));				/* prctl PR_GET_NAME */
	CALL(&p, 228, S(1), D(0x200));				/* clock_gettime */
	CALL(&p, 35, D(0x100), D(0x200));			/* nanosleep */
	CALL(&p, 13, S(11), D(0x100), D(0x200), S(8));		/* rt_sigaction */
	CALL(&p, 14, S(0), D(0x100), D(0x200), S(8));		/* rt_sigprocmask */
	CALL(&p, 16, S(1), R(0x5401), D(0x200));		/* ioctl TCGETS */
	CALL(&p, 302, S(0), S(7), S(0), D(0x200));		/* prlimit64 */
	CALL(&p, 158, R(0x1002), R(0x401000));			/* arch_prctl ARCH_SET_FS */
	CALL(&p, 231, S(3));					/* exit_group */
	save("linux_syscall", "keys-and-misc", p.buf, p.n);

	/* Handlers, masks, delivery onto the stack (mid data area), and rt_sigreturn. */
	{
		const uint64_t act[4] = { 0x401000, 0x04000004 /* SA_RESTORER|SA_SIGINFO */,
					  0x401100, 1ULL << 11 };
		const uint64_t alt[3] = { 0x400000, 0, 0x1000 };

		const uint64_t usr1 = 1ULL << 9;

		memcpy(data + 0x180, act, sizeof(act));
		memcpy(data + 0x1a0, &usr1, sizeof(usr1));
		memcpy(data + 0x1c0, alt, sizeof(alt));
	}
	begin(&p, 1, data, sizeof(data));
	CALL(&p, 13, S(10), D(0x180), D(0x200), S(8));		/* rt_sigaction SIGUSR1 */
	CALL(&p, 131, D(0x1c0), D(0x240));			/* sigaltstack */
	CALL(&p, 62, S(2), S(10));				/* kill(self, SIGUSR1) */
	CALL(&p, 14, S(0), D(0x1a0), D(0x200), S(8));		/* rt_sigprocmask block */
	CALL(&p, 200, S(2), S(10));				/* tkill */
	CALL(&p, 127, D(0x200), S(8));				/* rt_sigpending */
	CALL(&p, 14, S(1), D(0x1a0), R(0), S(8));		/* unblock: delivered */
	CALL(&p, 15, R(0));					/* rt_sigreturn */
	CALL(&p, 234, S(2), S(2), S(12));			/* tgkill SIGUSR2: default, ends it */
	save("linux_syscall", "signals", p.buf, p.n);
}

int main(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "usage: %s DIR\n", argv[0]);
		return 2;
	}
	dir = argv[1];
	elf_seeds();
	path_seeds();
	syscall_seeds();
	return 0;
}
