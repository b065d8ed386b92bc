/* loader.c: puts a parsed ELF image and a System V process stack into a VM. */
#include <elf.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "cpuid.h"
#include "elf_image.h"
#include "vm.h"

#define DEFAULT_STACK_SIZE	(1ULL << 20)
#define MAX_ARGS		4096

static int map_segments(struct pkvm_vm *vm, const uint8_t *data, const struct pkvm_elf_image *img)
{
	for (unsigned i = 0; i < img->nsegments; i++) {
		const struct pkvm_elf_segment *s = &img->segment[i];
		/* File bytes start page_offset into the first page: build that page image. */
		uint64_t copy_len = s->page_offset + s->filesz;
		uint8_t *tmp = calloc(1, copy_len ? copy_len : 1);
		int err;

		if (!tmp)
			return -ENOMEM;
		memcpy(tmp + s->page_offset, data + s->file_offset, s->filesz);
		err = pkvm_map(vm, s->vaddr, tmp, copy_len > s->memsz ? s->memsz : copy_len, s->memsz,
			       s->prot, 0);
		free(tmp);
		if (err)
			return err;
	}
	return 0;
}

struct stack_builder {
	uint8_t *buf;		/* host image of the stack mapping */
	uint64_t base;		/* its guest address */
	uint64_t size;
	uint64_t top;		/* grows down from base + size */
};

static int push_bytes(struct stack_builder *sb, const void *p, size_t n, uint64_t *gva)
{
	if (n > sb->top - sb->base)
		return -E2BIG;
	sb->top -= n;
	memcpy(sb->buf + (sb->top - sb->base), p, n);
	*gva = sb->top;
	return 0;
}

static size_t count_strings(const char *const *v)
{
	size_t n = 0;

	while (v && v[n])
		n++;
	return n;
}

/* AT_HWCAP: CPUID.1:EDX of the guest's CPU, as Linux gives it on x86 (ELF_HWCAP). */
static uint64_t guest_hwcap(const struct pkvm_vm *vm)
{
	const struct kvm_cpuid_entry2 *e = vm->cpuid ?
		pkvm_cpuid_find(vm->cpuid->entries, vm->cpuid->nent, 1, 0) : NULL;

	return e ? e->edx : 0;
}

static int build_stack(struct stack_builder *sb, const struct pkvm_elf_image *img,
		       const char *const *argv, const char *const *envp, uint64_t hwcap,
		       uint64_t *rsp)
{
	static const char platform[] = "x86_64";
	uint64_t platform_gva = 0;
	size_t argc = count_strings(argv), envc = count_strings(envp);
	uint64_t *ptrs, execfn = 0, random_gva, words, sp;
	uint8_t random_bytes[16];
	size_t k = 0;
	int err = 0;

	if (argc > MAX_ARGS || envc > MAX_ARGS)
		return -E2BIG;
	/* Strings at the top, as the kernel puts them (fs/binfmt_elf.c create_elf_tables). */
	ptrs = calloc(argc + envc + 1, sizeof(*ptrs));
	if (!ptrs)
		return -ENOMEM;
	for (size_t i = 0; i < envc && !err; i++)
		err = push_bytes(sb, envp[envc - 1 - i], strlen(envp[envc - 1 - i]) + 1,
				 &ptrs[argc + envc - 1 - i]);
	for (size_t i = 0; i < argc && !err; i++)
		err = push_bytes(sb, argv[argc - 1 - i], strlen(argv[argc - 1 - i]) + 1,
				 &ptrs[argc - 1 - i]);
	if (!err && argc)
		execfn = ptrs[0];
	if (getrandom(random_bytes, sizeof(random_bytes), 0) != sizeof(random_bytes))
		memset(random_bytes, 0x5a, sizeof(random_bytes));
	if (!err)
		err = push_bytes(sb, platform, sizeof(platform), &platform_gva);
	if (!err)
		err = push_bytes(sb, random_bytes, sizeof(random_bytes), &random_gva);
	if (err)
		goto out;

	const uint64_t auxv[][2] = {
		{ AT_PHDR, img->phdr_vaddr }, { AT_PHENT, img->phent }, { AT_PHNUM, img->phnum },
		{ AT_PAGESZ, PAGE_SIZE }, { AT_BASE, 0 }, { AT_FLAGS, 0 }, { AT_ENTRY, img->entry },
		{ AT_UID, 1000 }, { AT_EUID, 1000 }, { AT_GID, 1000 }, { AT_EGID, 1000 },
		{ AT_SECURE, 0 }, { AT_CLKTCK, 100 }, { AT_HWCAP, hwcap }, { AT_RANDOM, random_gva },
		{ AT_HWCAP2, 0 }, { AT_PLATFORM, platform_gva },
		{ AT_EXECFN, execfn }, { AT_NULL, 0 },
	};
	size_t nauxv = sizeof(auxv) / sizeof(auxv[0]);

	/* argc, argv..., NULL, envp..., NULL, auxv pairs; RSP 16-byte aligned at argc. */
	words = 1 + argc + 1 + envc + 1 + 2 * nauxv;
	sp = (sb->top - words * 8) & ~15ULL;
	if (sp < sb->base || sb->top - sb->base < words * 8 + 16) {
		err = -E2BIG;
		goto out;
	}
	uint64_t *w = (uint64_t *)(sb->buf + (sp - sb->base));

	w[k++] = argc;
	for (size_t i = 0; i < argc; i++)
		w[k++] = ptrs[i];
	w[k++] = 0;
	for (size_t i = 0; i < envc; i++)
		w[k++] = ptrs[argc + i];
	w[k++] = 0;
	for (size_t i = 0; i < nauxv; i++) {
		w[k++] = auxv[i][0];
		w[k++] = auxv[i][1];
	}
	*rsp = sp;
out:
	free(ptrs);
	return err;
}

int pkvm_load_elf(struct pkvm_vm *vm, const void *image, size_t size, const char *const *argv,
		  const char *const *envp, uint64_t stack_size, struct pkvm_program *prog)
{
	struct pkvm_elf_image img;
	struct stack_builder sb;
	struct pkvm_regs regs;
	uint64_t rsp;
	int err = pkvm_elf_parse(image, size, PKVM_PIE_BASE, &img);

	if (err)
		return err;
	if (stack_size == 0)
		stack_size = DEFAULT_STACK_SIZE;
	if (stack_size % PAGE_SIZE || stack_size > PKVM_STACK_TOP / 2 ||
	    img.highest > PKVM_STACK_TOP - stack_size)
		return -EINVAL;
	err = map_segments(vm, image, &img);
	if (err)
		return err;

	sb.size = stack_size;
	sb.base = PKVM_STACK_TOP - stack_size;
	sb.top = PKVM_STACK_TOP;
	sb.buf = calloc(1, stack_size);
	if (!sb.buf)
		return -ENOMEM;
	err = build_stack(&sb, &img, argv, envp, guest_hwcap(vm), &rsp);
	if (!err)
		err = pkvm_map(vm, sb.base, NULL, 0, stack_size,
			       PKVM_PROT_READ | PKVM_PROT_WRITE |
			       (img.exec_stack ? PKVM_PROT_EXEC : 0), 0);
	/* Only the top of the stack holds anything: copy just that (the rest stays untouched). */
	if (!err)
		err = pkvm_host_write_guest(vm, rsp & PAGE_MASK, sb.buf + ((rsp & PAGE_MASK) - sb.base),
					    PKVM_STACK_TOP - (rsp & PAGE_MASK));
	free(sb.buf);
	if (err)
		return err;

	pkvm_get_regs(vm, &regs);
	memset(&regs, 0, offsetof(struct pkvm_regs, rip));
	regs.rip = img.entry;
	regs.rsp = rsp;
	err = pkvm_set_regs(vm, &regs);
	if (err)
		return err;
	if (prog) {
		memset(prog, 0, sizeof(*prog));
		prog->entry = img.entry;
		prog->load_start = img.lowest;
		prog->load_end = img.highest;
		prog->brk = img.highest;
		prog->stack_top = PKVM_STACK_TOP;
		prog->stack_pointer = rsp;
		prog->pie = img.pie;
		prog->load_bias = img.load_bias;
	}
	return 0;
}
