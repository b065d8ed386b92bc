/* trace.c: one strace-like line per system call, from the table's argument kinds. */
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
