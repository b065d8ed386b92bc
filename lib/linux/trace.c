/* trace.c: one strace-like line per system call, from the table's argument kinds, and per signal. */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <asm/unistd_64.h>

#include "decode.h"
#include "personality.h"

/* struct clone_args up to its tls field: what clone3's trace shows. */
#define LX_CLONE_ARGS_WORDS	8

/* A guest string as strace shows it: quoted, escaped, cut at 64 bytes. */
static void put_string(struct pkvm_vm *vm, struct lx_text *l, uint64_t gva)
{
	char s[65];
	long n = pkvm_read_guest_string(vm, s, gva, sizeof(s));

	if (n == -ENAMETOOLONG)
		n = sizeof(s) - 1;
	else if (n < 0) {
		lx_text_put(l, "0x%llx", (unsigned long long)gva);
		return;
	}
	lx_text_put(l, "\"");
	for (long i = 0; i < n; i++) {
		unsigned char c = s[i];

		if (c == '"' || c == '\\')
			lx_text_put(l, "\\%c", c);
		else if (c >= 0x20 && c < 0x7f)
			lx_text_put(l, "%c", c);
		else
			lx_text_put(l, "\\x%02x", c);
	}
	lx_text_put(l, n == (long)sizeof(s) - 1 ? "\"..." : "\"");
}

/* @len bytes of guest memory, or false (and the pointer in hex) if they cannot be read. */
static bool read_or_hex(struct pkvm_vm *vm, struct lx_text *l, void *dst, uint64_t gva, size_t len)
{
	if (!gva) {
		lx_text_put(l, "NULL");
		return false;
	}
	if (pkvm_read_guest(vm, dst, gva, len)) {
		lx_text_put(l, "0x%llx", (unsigned long long)gva);
		return false;
	}
	return true;
}

/*
 * The kinds that point into guest memory, read after the call (outputs hold
 * their results then) through the checked copies: a bad pointer is shown,
 * never followed.
 */
static void put_memory_arg(struct pkvm_vm *vm, struct lx_text *l, char kind, uint64_t v,
			   int64_t result)
{
	char text[512];

	switch (kind) {
	case 's':
		put_string(vm, l, v);
		return;
	case 't': {
		int64_t ts[2];

		if (!read_or_hex(vm, l, ts, v, sizeof(ts)))
			return;
		lx_decode_timespec(text, sizeof(text), ts[0], ts[1]);
		break;
	}
	case 'i': {
		int fds[2];

		/* Filled only by a call that succeeded. */
		if (result < 0) {
			lx_decode_value(text, sizeof(text), 'p', v);
			break;
		}
		if (!read_or_hex(vm, l, fds, v, sizeof(fds)))
			return;
		snprintf(text, sizeof(text), "[%d, %d]", fds[0], fds[1]);
		break;
	}
	case 'g': {
		uint64_t mask;

		if (!read_or_hex(vm, l, &mask, v, sizeof(mask)))
			return;
		lx_decode_sigset(text, sizeof(text), mask);
		break;
	}
	case 'q': {
		uint64_t act[4];

		if (!read_or_hex(vm, l, act, v, sizeof(act)))
			return;
		lx_decode_sigaction(text, sizeof(text), act);
		break;
	}
	case 'k': {
		uint64_t words[LX_CLONE_ARGS_WORDS];

		if (!read_or_hex(vm, l, words, v, sizeof(words)))
			return;
		lx_decode_clone_args(text, sizeof(text), words, LX_CLONE_ARGS_WORDS);
		break;
	}
	default:
		lx_decode_value(text, sizeof(text), 'x', v);
	}
	lx_text_put(l, "%s", text);
}

static void put_arg(struct pkvm_vm *vm, struct lx_text *l, char kind, uint64_t v, int64_t result)
{
	char text[512];

	if (lx_decode_value(text, sizeof(text), kind, v))
		lx_text_put(l, "%s", text);
	else
		put_memory_arg(vm, l, kind, v, result);
}

void lx_trace_args(struct pkvm_vm *vm, struct pkvm_linux *lx, uint64_t nr,
		   const struct lx_call *call, const uint64_t args[6], int64_t result)
{
	struct lx_text l = { lx->trace_line, sizeof(lx->trace_line), 0 };
	const char *kinds = call ? call->args : "xxxxxx", *name = lx_syscall_name(nr);

	if (name)
		lx_text_put(&l, "%s(", name);
	else
		lx_text_put(&l, "syscall_%llu(", (unsigned long long)nr);
	for (unsigned i = 0; kinds[i] && i < 6; i++) {
		if (i)
			lx_text_put(&l, ", ");
		put_arg(vm, &l, kinds[i], args[i], result);
	}
	lx_text_put(&l, ")");
}

void lx_trace_result(struct pkvm_linux *lx, uint64_t nr, const struct lx_call *call,
		     int64_t result)
{
	struct lx_text l = { lx->trace_line, sizeof(lx->trace_line), strlen(lx->trace_line) };

	lx_text_put(&l, " = ");
	if (result < 0 && result >= -4095) {
		const char *errname = strerrorname_np((int)-result);

		if (errname)
			lx_text_put(&l, "-1 %s (%s)", errname, strerror((int)-result));
		else
			lx_text_put(&l, "-1 errno %d", (int)-result);
	} else if (nr == __NR_mmap || nr == __NR_brk || nr == __NR_mremap) {
		lx_text_put(&l, "0x%llx", (unsigned long long)result);
	} else {
		lx_text_put(&l, "%lld", (long long)result);
	}
	if (!call || !call->handler)
		lx_text_put(&l, " (not served)");
}

/* si_code as strace names it, for the codes this personality sends. */
static const char *code_name(int sig, int code)
{
	static const char *const segv[] = { [1] = "SEGV_MAPERR", [2] = "SEGV_ACCERR",
					    [4] = "SEGV_PKUERR" };
	static const char *const fpe[] = { [1] = "FPE_INTDIV", [3] = "FPE_FLTDIV",
					   [4] = "FPE_FLTOVF", [5] = "FPE_FLTUND",
					   [6] = "FPE_FLTRES", [7] = "FPE_FLTINV" };
	static const char *const chld[] = { [1] = "CLD_EXITED", [2] = "CLD_KILLED",
					    [3] = "CLD_DUMPED", [4] = "CLD_TRAPPED",
					    [5] = "CLD_STOPPED", [6] = "CLD_CONTINUED" };

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
	if (sig == 17 && code > 0 && code < 7)
		return chld[code];
	if (sig == 7 && code == 1)
		return "BUS_ADRALN";
	return NULL;
}

void lx_trace_signal(struct pkvm_vm *vm, struct pkvm_linux *lx, const struct lx_siginfo *info)
{
	struct lx_text l = { lx->trace_line, sizeof(lx->trace_line), 0 };
	const char *abbrev = sigabbrev_np(info->signo), *code = code_name(info->signo, info->code);
	struct pkvm_linux_trace t = { .nr = PKVM_LINUX_TRACE_SIGNAL, .args = { info->signo },
				      .line = lx->trace_line, .pid = lx->pid };

	(void)vm;
	if (abbrev)
		lx_text_put(&l, "--- SIG%s {si_signo=SIG%s, ", abbrev, abbrev);
	else
		lx_text_put(&l, "--- SIG%d {si_signo=%d, ", info->signo, info->signo);
	if (code)
		lx_text_put(&l, "si_code=%s", code);
	else
		lx_text_put(&l, "si_code=%d", info->code);
	if (info->code == 0 || info->code == -6) {
		lx_text_put(&l, ", si_pid=%d, si_uid=%u", info->kill.pid, info->kill.uid);
	} else if (info->signo == 17 && info->code > 0) {
		/* A child's end or stop: who, and its exit code or signal. */
		lx_text_put(&l, ", si_pid=%d, si_uid=%u, si_status=", info->child.pid, info->child.uid);
		if (info->code == 1) {
			lx_text_put(&l, "%d", info->child.status);
		} else {
			char sig[16];

			lx_decode_signal(sig, sizeof(sig), (uint32_t)info->child.status);
			lx_text_put(&l, "%s", sig);
		}
	} else if (info->fault.addr) {
		lx_text_put(&l, ", si_addr=%#llx", (unsigned long long)info->fault.addr);
	} else {
		lx_text_put(&l, ", si_addr=NULL");
	}
	if (info->signo == 11 && info->code == 4)
		lx_text_put(&l, ", si_pkey=%u", info->fault.pkey);
	lx_text_put(&l, "} ---");
	lx->config.trace(lx->config.trace_ctx, &t);
}
