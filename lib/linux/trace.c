/* trace.c: one strace-like line per system call, from the table's argument kinds, and per signal. */
#define _GNU_SOURCE
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "personality.h"

#define AT_FDCWD_VALUE	(-100)

/* Appends with snprintf's rules: the line is cut, never overrun. */
struct line {
	char *buf;
	size_t size, len;
};

static void put(struct line *l, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void put(struct line *l, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (l->len >= l->size)
		return;
	va_start(ap, fmt);
	n = vsnprintf(l->buf + l->len, l->size - l->len, fmt, ap);
	va_end(ap);
	if (n > 0)
		l->len = l->len + n < l->size ? l->len + n : l->size;
}

/* A guest string as strace shows it: quoted, escaped, cut at 64 bytes. */
static void put_string(struct pkvm_vm *vm, struct line *l, uint64_t gva)
{
	char s[65];
	long n = pkvm_read_guest_string(vm, s, gva, sizeof(s));

	if (n == -ENAMETOOLONG)
		n = sizeof(s) - 1;
	else if (n < 0) {
		put(l, "0x%llx", (unsigned long long)gva);
		return;
	}
	put(l, "\"");
	for (long i = 0; i < n; i++) {
		unsigned char c = s[i];

		if (c == '"' || c == '\\')
			put(l, "\\%c", c);
		else if (c >= 0x20 && c < 0x7f)
			put(l, "%c", c);
		else
			put(l, "\\x%02x", c);
	}
	put(l, n == (long)sizeof(s) - 1 ? "\"..." : "\"");
}

static void put_arg(struct pkvm_vm *vm, struct line *l, char kind, uint64_t v)
{
	switch (kind) {
	case 'd':
	case 'f':
		put(l, "%lld", (long long)v);
		break;
	case 'a':
		if ((int)v == AT_FDCWD_VALUE)
			put(l, "AT_FDCWD");
		else
			put(l, "%d", (int)v);
		break;
	case 'u':
		put(l, "%llu", (unsigned long long)v);
		break;
	case 's':
		put_string(vm, l, v);
		break;
	case 'p':
		if (!v) {
			put(l, "NULL");
			break;
		}
		/* fall through */
	default:
		put(l, "0x%llx", (unsigned long long)v);
	}
}

void lx_format_trace(struct pkvm_vm *vm, struct pkvm_linux *lx, uint64_t nr,
		     const struct lx_call *call, const uint64_t args[6], int64_t result)
{
	struct line l = { lx->trace_line, sizeof(lx->trace_line), 0 };
	const char *kinds = call ? call->args : "xxxxxx";

	if (call)
		put(&l, "%s(", call->name);
	else
		put(&l, "syscall_%llu(", (unsigned long long)nr);
	for (unsigned i = 0; kinds[i] && i < 6; i++) {
		if (i)
			put(&l, ", ");
		put_arg(vm, &l, kinds[i], args[i]);
	}
	put(&l, ") = ");
	if (result < 0 && result >= -4095) {
		const char *name = strerrorname_np((int)-result);

		if (name)
			put(&l, "-1 %s (%s)", name, strerror((int)-result));
		else
			put(&l, "-1 errno %d", (int)-result);
	} else if (call && (!strcmp(call->name, "mmap") || !strcmp(call->name, "brk") ||
			    !strcmp(call->name, "mremap"))) {
		put(&l, "0x%llx", (unsigned long long)result);
	} else {
		put(&l, "%lld", (long long)result);
	}
	if (call && !call->handler)
		put(&l, " (not served)");
}

/* si_code as strace names it, for the codes this personality sends. */
static const char *code_name(int sig, int code)
{
	static const char *const segv[] = { [1] = "SEGV_MAPERR", [2] = "SEGV_ACCERR",
					    [4] = "SEGV_PKUERR" };
	static const char *const fpe[] = { [1] = "FPE_INTDIV", [3] = "FPE_FLTDIV",
					   [4] = "FPE_FLTOVF", [5] = "FPE_FLTUND",
					   [6] = "FPE_FLTRES", [7] = "FPE_FLTINV" };

	if (code == 0)
		return "SI_USER";
	if (code == 0x80)
		return "SI_KERNEL";
	if (code == -6)
		return "SI_TKILL";
	if (sig == 11 && code > 0 && code < 5)
		return segv[code];
	if (sig == 8 && code > 0 && code < 8)
		return fpe[code];
	if (sig == 4 && code == 2)
		return "ILL_ILLOPN";
	if (sig == 5 && code == 2)
		return "TRAP_TRACE";
	if (sig == 7 && code == 1)
		return "BUS_ADRALN";
	return NULL;
}

void lx_trace_signal(struct pkvm_vm *vm, struct pkvm_linux *lx, const struct lx_siginfo *info)
{
	struct line l = { lx->trace_line, sizeof(lx->trace_line), 0 };
	const char *abbrev = sigabbrev_np(info->signo), *code = code_name(info->signo, info->code);
	struct pkvm_linux_trace t = { .nr = PKVM_LINUX_TRACE_SIGNAL, .args = { info->signo },
				      .line = lx->trace_line, .pid = lx->pid };

	(void)vm;
	if (abbrev)
		put(&l, "--- SIG%s {si_signo=SIG%s, ", abbrev, abbrev);
	else
		put(&l, "--- SIG%d {si_signo=%d, ", info->signo, info->signo);
	if (code)
		put(&l, "si_code=%s", code);
	else
		put(&l, "si_code=%d", info->code);
	if (info->code == 0 || info->code == -6)
		put(&l, ", si_pid=%d, si_uid=%u", info->kill.pid, info->kill.uid);
	else if (info->fault.addr)
		put(&l, ", si_addr=%#llx", (unsigned long long)info->fault.addr);
	else
		put(&l, ", si_addr=NULL");
	if (info->signo == 11 && info->code == 4)
		put(&l, ", si_pkey=%u", info->fault.pkey);
	put(&l, "} ---");
	lx->config.trace(lx->config.trace_ctx, &t);
}
