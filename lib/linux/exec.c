/*
 * exec.c: execve(): a static x86-64 ELF program the sandbox may read (or a
 * script whose "#!" interpreter it may read) replaces the process's image.
 * Everything that can fail for a reason the caller should hear about (the
 * file, its format, the arguments) is checked first; past that point, as in
 * Linux's begin_new_exec(), a failure can only end the process.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../elf_image.h"
#include "personality.h"

#define LX_MAX_ARG_STRLEN	(32 * 4096)	/* MAX_ARG_STRLEN: one argument or variable */
#define LX_MAX_ARG_TOTAL	(2 << 20)	/* what all of them may take: the stack's share */
#define LX_MAX_ARGS		(LX_MAX_ARG_TOTAL / sizeof(uint64_t))
#define LX_BINPRM_BUF		256		/* how much of a "#!" line counts */
#define LX_MAX_INTERP_DEPTH	4		/* scripts run by scripts, as Linux allows */
#define LX_MAX_IMAGE		(1ULL << 30)	/* a program file larger than this is refused */
#define LX_SIG_DFL		0
#define LX_SIG_IGN		1

/* A NULL-terminated vector of host strings, built up. */
struct lx_strv {
	char **v;
	size_t n;
	size_t bytes;		/* the strings' sizes, NULs included */
};

static void strv_free(struct lx_strv *s)
{
	for (size_t i = 0; i < s->n; i++)
		free(s->v[i]);
	free(s->v);
	memset(s, 0, sizeof(*s));
}

/* Put @str (taken: freed on failure too) at @at (0..n). */
static int strv_insert(struct lx_strv *s, size_t at, char *str)
{
	char **v;

	if (!str)
		return -ENOMEM;
	if (s->n + 1 > LX_MAX_ARGS || s->bytes + strlen(str) + 1 > LX_MAX_ARG_TOTAL) {
		free(str);
		return -E2BIG;
	}
	v = realloc(s->v, (s->n + 2) * sizeof(*v));
	if (!v) {
		free(str);
		return -ENOMEM;
	}
	memmove(v + at + 1, v + at, (s->n - at) * sizeof(*v));
	v[at] = str;
	v[++s->n] = NULL;
	s->v = v;
	s->bytes += strlen(str) + 1;
	return 0;
}

/* The guest's argv or envp at @gva (NULL: none), copied. */
static int copy_strings(struct pkvm_vm *vm, struct pkvm_linux *lx, uint64_t gva,
			struct lx_strv *out)
{
	int err = 0;

	for (size_t i = 0; gva && !err; i++) {
		uint64_t ptr;
		long len;

		err = lx_read(vm, &ptr, gva + i * sizeof(ptr), sizeof(ptr));
		if (err || !ptr)
			break;
		len = lx_read_string(vm, lx->bounce, ptr, LX_BOUNCE);
		if (len < 0)
			return len == -ENAMETOOLONG ? -E2BIG : (int)len;
		if (len >= LX_MAX_ARG_STRLEN)
			return -E2BIG;
		err = strv_insert(out, out->n, strdup(lx->bounce));
	}
	/* No vector at all: an empty one, as Linux makes of a NULL argv or envp. */
	if (!err && !out->v && !(out->v = calloc(1, sizeof(*out->v))))
		err = -ENOMEM;
	return err;
}

/* The file at @fd, whole, into host memory (a program is read, never mapped from the host). */
static int read_image(int fd, uint8_t **data, size_t *size)
{
	struct stat st;
	size_t done = 0;

	if (fstat(fd, &st) < 0)
		return -errno;
	if (S_ISDIR(st.st_mode) || !S_ISREG(st.st_mode) || !(st.st_mode & 0111))
		return -EACCES;
	if ((uint64_t)st.st_size > LX_MAX_IMAGE)
		return -ENOMEM;
	*size = (size_t)st.st_size;
	*data = malloc(*size ? *size : 1);
	if (!*data)
		return -ENOMEM;
	while (done < *size) {
		ssize_t n = pread(fd, *data + done, *size - done, (off_t)done);

		if (n <= 0) {
			int err = n < 0 ? -errno : -EIO;

			free(*data);
			*data = NULL;
			return err;
		}
		done += (size_t)n;
	}
	return 0;
}

/*
 * A "#!" line: the interpreter and its one optional argument (whitespace
 * trimmed, as Linux's load_script() splits it), malloc'd; -ENOEXEC if the
 * line names none.
 */
static int parse_interpreter(const uint8_t *data, size_t size, char **interp, char **arg)
{
	char line[LX_BINPRM_BUF + 1], *p, *end;
	size_t n = size < LX_BINPRM_BUF ? size : LX_BINPRM_BUF;

	memcpy(line, data, n);
	line[n] = '\0';
	end = strchr(line, '\n');
	if (end)
		*end = '\0';
	for (p = line + 2; *p == ' ' || *p == '\t'; p++)
		;
	end = p + strcspn(p, " \t");
	if (end == p)
		return -ENOEXEC;
	*interp = strndup(p, (size_t)(end - p));
	for (p = end; *p == ' ' || *p == '\t'; p++)
		;
	for (end = p + strlen(p); end > p && (end[-1] == ' ' || end[-1] == '\t'); end--)
		;
	*arg = end > p ? strndup(p, (size_t)(end - p)) : NULL;
	if (!*interp || (end > p && !*arg)) {
		free(*interp);
		free(*arg);
		return -ENOMEM;
	}
	return 0;
}

/*
 * Open @path and read the program it is, following "#!" lines: @argv gets
 * the interpreter (and its argument) in front, and the script's path for
 * argv[0], as Linux's binfmt_script does.
 */
static int find_program(struct pkvm_linux *lx, const char *path, struct lx_strv *argv,
			uint8_t **data, size_t *size, char **name)
{
	char *current = strdup(path);
	int err = current ? 0 : -ENOMEM;

	for (int depth = 0; !err; depth++) {
		char *interp, *arg;
		int fd = lx_path_open_host(lx, AT_FDCWD, current, O_RDONLY, false, NULL);

		if (fd < 0) {
			err = fd;
			break;
		}
		err = read_image(fd, data, size);
		close(fd);
		if (err)
			break;
		if (*size < 2 || memcmp(*data, "#!", 2)) {
			*name = current;
			return 0;
		}
		err = depth == LX_MAX_INTERP_DEPTH ? -ELOOP :
		      parse_interpreter(*data, *size, &interp, &arg);
		free(*data);
		*data = NULL;		/* the caller frees what is returned, and only that */
		if (err)
			break;
		/* argv[0] gives way to the script's path; the interpreter and its argument go first. */
		if (argv->n) {
			argv->bytes -= strlen(argv->v[0]) + 1;
			free(argv->v[0]);
			argv->v[0] = current;
			argv->bytes += strlen(current) + 1;
		} else {
			err = strv_insert(argv, 0, current);
		}
		current = NULL;
		if (!err && arg)
			err = strv_insert(argv, 0, arg);
		else
			free(arg);
		if (!err)
			err = strv_insert(argv, 0, strdup(interp));
		current = interp;
	}
	free(current);
	return err;
}

/* FPU, SSE and AVX state as a new process has it (PKRU is set apart). */
static int reset_fpu(struct pkvm_vm *vm)
{
	size_t size = pkvm_fpstate_size(vm);
	uint8_t *image = malloc(size);
	uint64_t xstate_bv;
	int err = image ? pkvm_fpstate_save(vm, image, size) : -ENOMEM;

	if (!err) {
		const uint16_t fcw = 0x37f;
		const uint32_t mxcsr = 0x1f80;

		memcpy(&xstate_bv, image + 512, sizeof(xstate_bv));
		xstate_bv &= XFEATURE_MASK(XFEATURE_PKRU);
		memset(image, 0, 512);
		memcpy(image, &fcw, sizeof(fcw));
		memcpy(image + 24, &mxcsr, sizeof(mxcsr));
		memcpy(image + 512, &xstate_bv, sizeof(xstate_bv));
		err = pkvm_fpstate_restore(vm, image, size);
	}
	free(image);
	return err;
}

/* The old image's memory and keys go: the process has no mappings left. */
static int drop_memory(struct pkvm_vm *vm, struct pkvm_linux *lx)
{
	int err = 0;

	for (unsigned i = 0; i < lx->vmas.n && !err; i++)
		err = pkvm_unmap(vm, lx->vmas.v[i].start, lx->vmas.v[i].end - lx->vmas.v[i].start);
	lx_memory_destroy(lx);
	for (int key = 1; key < PKVM_NR_PKEYS && !err; key++)
		if ((lx->pkeys_held & (1U << key)) || key == lx->exec_only_key)
			err = pkvm_pkey_free(vm, key);
	lx_pkeys_init(vm, lx);
	return err;
}

/* Past the point of no return: the new image in place of the old, as begin_new_exec() does. */
static int replace_image(struct pkvm_vm *vm, struct pkvm_linux *lx, const uint8_t *data,
			 size_t size, const struct lx_strv *argv, const struct lx_strv *envp,
			 const char *name)
{
	struct pkvm_regs regs;
	const char *base = strrchr(name, '/');
	int err;

	lx_threads_forked(lx, lx->pid, 0);
	err = drop_memory(vm, lx);
	if (!err)
		err = pkvm_load_elf(vm, data, size, (const char *const *)argv->v,
				    (const char *const *)envp->v, 0, &lx->program);
	if (!err) {
		lx->config.program = &lx->program;
		err = lx_memory_init(vm, lx);
	}
	if (!err)
		err = reset_fpu(vm);
	if (!err && lx->pkeys)
		err = pkvm_set_pkru(vm, LX_INIT_PKRU);
	if (err)
		return err;
	pkvm_get_regs(vm, &regs);
	regs.fs_base = regs.gs_base = 0;
	pkvm_set_regs(vm, &regs);
	lx_fds_close_on_exec(lx);
	lx_signals_exec(lx);
	memset(lx->timers, 0, sizeof(lx->timers));
	lx->restart.valid = false;
	memset(lx->comm, 0, sizeof(lx->comm));
	strncpy(lx->comm, base ? base + 1 : name, sizeof(lx->comm) - 1);
	return 0;
}

LX_HANDLER_DEF(lx_sys_execve)
{
	struct lx_strv argv = { 0 }, envp = { 0 };
	char path[LX_PATH_MAX], *name = NULL;
	uint8_t *data = NULL;
	size_t size = 0;
	struct pkvm_elf_image img;
	long len = lx_read_string(vm, path, args[0], sizeof(path));
	int err = len < 0 ? (int)len : len == 0 ? -ENOENT : 0;

	if (!err)
		err = copy_strings(vm, lx, args[1], &argv);
	if (!err)
		err = copy_strings(vm, lx, args[2], &envp);
	if (!err && argv.bytes + envp.bytes > LX_MAX_ARG_TOTAL)
		err = -E2BIG;
	if (!err)
		err = find_program(lx, path, &argv, &data, &size, &name);
	/* Checked before the old image goes: a dynamically linked one has no loader here. */
	if (!err)
		err = pkvm_elf_parse(data, size, PKVM_PIE_BASE, &img);
	if (!err && vm->call_active)
		err = -EBUSY;		/* inside pkvm_call(): the call must return to this image */
	if (!err && replace_image(vm, lx, data, size, &argv, &envp, name)) {
		/* Half replaced: the process cannot go on, as Linux kills it then. */
		lx->exit_signal = SIGSEGV;
		lx->exit_status = 128 + SIGSEGV;
		*result = 0;
		err = 1;
	}
	free(data);
	free(name);
	strv_free(&argv);
	strv_free(&envp);
	if (err == 1)
		return LX_EXIT;
	if (err)
		return lx_ret(result, err);
	/* The new program starts at its entry: RAX 0, as Linux's start_thread() leaves it. */
	return lx_ret(result, 0);
}
