/* pksandbox.c: runs a static x86-64 Linux program inside a libpkvm micro-VM. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <pthread.h>
#include <semaphore.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "libpkvm.h"

/* Exit statuses, as timeout(1) and the shell use them. */
#define EXIT_TIMEOUT		124
#define EXIT_OWN_ERROR		125
#define EXIT_NOT_EXECUTABLE	126
#define EXIT_NOT_FOUND		127
#define EXIT_SIGNAL(sig)	(128 + (sig))

#define MAX_LIST	4096	/* --ro and --env entries */

struct options {
	enum pkvm_pkeys_backend pkeys;
	uint64_t memory;
	uint64_t address_space;	/* 0: the personality's default */
	double timeout;
	bool caps, trace, stats, no_seccomp;
	const char *kvm_path;		/* --kvm, NULL: /dev/kvm */
	const char *trace_file;		/* --trace=FILE; NULL: stderr */
	const char *ro[MAX_LIST + 1];	/* NULL-terminated */
	const char *ro_special[MAX_LIST + 1];	/* NULL-terminated */
	unsigned nro_special, max_fds, max_procs;
	const char *env[MAX_LIST + 1];	/* NULL-terminated */
	unsigned nro, nenv;
	const char *rw[MAX_LIST + 1];	/* NULL-terminated */
	unsigned nrw, ntmpfs;
	struct pkvm_linux_tmpfs tmpfs[MAX_LIST + 1];	/* ends with a NULL path */
	char **argv;		/* the program and its arguments */
};

static const char *progname = "pksandbox";

static void usage(FILE *out)
{
	fprintf(out,
		"Usage: %s [OPTIONS] PROGRAM [ARGS...]\n"
		"Run a static x86-64 Linux executable inside a KVM micro-VM whose memory\n"
		"carries x86 protection keys, serving its system calls from an allow-list.\n"
		"\n"
		"Options:\n"
		"  --pkeys=MODE      protection-key backend: auto (default), hw, soft\n"
		"  --memory=SIZE     guest memory, with optional K, M or G suffix (default 64M):\n"
		"                    pages are given memory when first touched, and a program\n"
		"                    that touches more is killed (137)\n"
		"  --address-space=SIZE  address space the program may reserve with mmap\n"
		"                    and brk (K, M, G or T suffix; default 512G)\n"
		"  --timeout=SECS    stop the program after SECS seconds (exit status 124)\n"
		"  --ro=PATH         let the program open PATH (a file or a directory tree)\n"
		"                    read-only; may be repeated (default: no files at all);\n"
		"                    /proc, /sys, /dev, devices and kernel file systems are\n"
		"                    refused, there and below\n"
		"  --rw=PATH         let the program change the directory tree PATH: create,\n"
		"                    write, rename, link, remove files and directories in it\n"
		"                    (same rules as --ro); may be repeated\n"
		"  --tmpfs=PATH[:SIZE]  an empty writable tree in memory at PATH, of at most\n"
		"                    SIZE bytes (K, M or G suffix; default 64M), gone at the end\n"
		"  --ro-special=PATH like --ro, and PATH may be or hold those: /proc is this\n"
		"                    process (its memory too), so give exact files\n"
		"  --max-fds=N       files the program may have open, its RLIMIT_NOFILE\n"
		"                    (3 to 1024, default 256)\n"
		"  --max-procs=N     processes the program may have at once, itself included\n"
		"                    (1 to 4096, default 64; beyond it fork fails with EAGAIN)\n"
		"  --env=NAME=VALUE  put NAME=VALUE in its environment (default: empty)\n"
		"  --trace[=FILE]    print each system call as strace does (flags and constants\n"
		"                    by name; calls not served marked) on stderr, or into FILE\n"
		"  --stats           at the end, print exits and times, and a table of system\n"
		"                    calls sorted by time as strace -c does, on stderr\n"
		"  --no-seccomp      do not confine pksandbox itself with seccomp (debugging)\n"
		"  --caps            print what this host's KVM offers and exit\n"
		"  --kvm=PATH        the KVM device (default /dev/kvm)\n"
		"  -h, --help        show this help and exit\n"
		"  --version         show the version and exit\n"
		"\n"
		"Exit status: the program's own; 128+N when Linux would have killed it with\n"
		"signal N (139 SIGSEGV, 132 SIGILL, 136 SIGFPE...); 124 on --timeout or a deadlock;\n"
		"125 for pksandbox's own errors; 126 if PROGRAM cannot be executed here;\n"
		"127 if PROGRAM is not found.\n",
		progname);
}

static __attribute__((format(printf, 2, 3), noreturn)) void die(int status, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "%s: ", progname);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(status);
}

static int parse_size(const char *s, uint64_t *out)
{
	char *end;
	unsigned long long v;
	unsigned shift = 0;

	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || end == s)
		return -1;
	switch (*end) {
	case 'k': case 'K': shift = 10; end++; break;
	case 'm': case 'M': shift = 20; end++; break;
	case 'g': case 'G': shift = 30; end++; break;
	case 't': case 'T': shift = 40; end++; break;
	case '\0': break;
	default: return -1;
	}
	if (*end || v > (UINT64_MAX >> shift))
		return -1;
	*out = (uint64_t)v << shift;
	return 0;
}

/* A whole decimal number from @min to @max, or a one-line error. */
static unsigned parse_count(const char *option, const char *arg, unsigned long min,
			    unsigned long max)
{
	unsigned long v;
	char *end;

	errno = 0;
	v = strtoul(arg, &end, 10);
	if (errno || end == arg || *end || arg[0] == '-' || v < min || v > max)
		die(EXIT_OWN_ERROR, "%s: '%s' is not a number from %lu to %lu", option, arg, min,
		    max);
	return (unsigned)v;
}

static void parse_options(int argc, char **argv, struct options *o)
{
	enum { OPT_PKEYS = 256, OPT_MEMORY, OPT_TIMEOUT, OPT_CAPS, OPT_VERSION, OPT_RO, OPT_ENV,
	       OPT_TRACE, OPT_STATS, OPT_NO_SECCOMP, OPT_RO_SPECIAL, OPT_MAX_FDS,
	       OPT_ADDRESS_SPACE, OPT_MAX_PROCS, OPT_RW, OPT_TMPFS, OPT_KVM };
	static const struct option longopts[] = {
		{ "pkeys", required_argument, NULL, OPT_PKEYS },
		{ "memory", required_argument, NULL, OPT_MEMORY },
		{ "address-space", required_argument, NULL, OPT_ADDRESS_SPACE },
		{ "timeout", required_argument, NULL, OPT_TIMEOUT },
		{ "caps", no_argument, NULL, OPT_CAPS },
		{ "kvm", required_argument, NULL, OPT_KVM },
		{ "ro", required_argument, NULL, OPT_RO },
		{ "env", required_argument, NULL, OPT_ENV },
		{ "trace", optional_argument, NULL, OPT_TRACE },
		{ "stats", no_argument, NULL, OPT_STATS },
		{ "no-seccomp", no_argument, NULL, OPT_NO_SECCOMP },
		{ "ro-special", required_argument, NULL, OPT_RO_SPECIAL },
		{ "max-fds", required_argument, NULL, OPT_MAX_FDS },
		{ "max-procs", required_argument, NULL, OPT_MAX_PROCS },
		{ "rw", required_argument, NULL, OPT_RW },
		{ "tmpfs", required_argument, NULL, OPT_TMPFS },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, OPT_VERSION },
		{ NULL, 0, NULL, 0 },
	};
	int c;

	memset(o, 0, sizeof(*o));
	o->max_procs = 64;
	o->memory = 64ULL << 20;
	opterr = 0;
	/* "+": stop at PROGRAM, so its own options are left to it. */
	while ((c = getopt_long(argc, argv, "+:h", longopts, NULL)) != -1) {
		char *end;

		switch (c) {
		case OPT_PKEYS:
			if (!strcmp(optarg, "auto"))
				o->pkeys = PKVM_PKEYS_AUTO;
			else if (!strcmp(optarg, "hw"))
				o->pkeys = PKVM_PKEYS_HW;
			else if (!strcmp(optarg, "soft"))
				o->pkeys = PKVM_PKEYS_SOFT;
			else
				die(EXIT_OWN_ERROR, "--pkeys: '%s' is not auto, hw or soft", optarg);
			break;
		case OPT_MEMORY:
			if (parse_size(optarg, &o->memory) || o->memory == 0)
				die(EXIT_OWN_ERROR, "--memory: '%s' is not a size", optarg);
			break;
		case OPT_ADDRESS_SPACE:
			if (parse_size(optarg, &o->address_space) || o->address_space == 0)
				die(EXIT_OWN_ERROR, "--address-space: '%s' is not a size", optarg);
			break;
		case OPT_TIMEOUT:
			errno = 0;
			o->timeout = strtod(optarg, &end);
			if (errno || end == optarg || *end || !(o->timeout > 0) ||
			    o->timeout > 1e9)
				die(EXIT_OWN_ERROR, "--timeout: '%s' is not a positive number of seconds",
				    optarg);
			break;
		case OPT_CAPS:
			o->caps = true;
			break;
		case OPT_KVM:
			if (!*optarg)
				die(EXIT_OWN_ERROR, "--kvm: empty path");
			o->kvm_path = optarg;
			break;
		case OPT_RO:
			if (o->nro == MAX_LIST || !*optarg)
				die(EXIT_OWN_ERROR, "--ro: empty path or too many");
			o->ro[o->nro++] = optarg;
			break;
		case OPT_RO_SPECIAL:
			if (o->nro_special == MAX_LIST || !*optarg)
				die(EXIT_OWN_ERROR, "--ro-special: empty path or too many");
			o->ro_special[o->nro_special++] = optarg;
			break;
		case OPT_MAX_FDS:
			o->max_fds = parse_count("--max-fds", optarg, 3, 1024);
			break;
		case OPT_RW:
			if (o->nrw == MAX_LIST || !*optarg)
				die(EXIT_OWN_ERROR, "--rw: empty path or too many");
			o->rw[o->nrw++] = optarg;
			break;
		case OPT_TMPFS: {
			char *colon = strchr(optarg, ':');
			struct pkvm_linux_tmpfs *t = &o->tmpfs[o->ntmpfs];

			if (o->ntmpfs == MAX_LIST || optarg[0] != '/')
				die(EXIT_OWN_ERROR, "--tmpfs: '%s' is not an absolute PATH[:SIZE]", optarg);
			if (colon) {
				*colon = '\0';
				if (parse_size(colon + 1, &t->size) || t->size == 0)
					die(EXIT_OWN_ERROR, "--tmpfs: '%s' is not a size", colon + 1);
			}
			t->path = optarg;
			o->ntmpfs++;
			break;
		}
		case OPT_MAX_PROCS:
			o->max_procs = parse_count("--max-procs", optarg, 1, 4096);
			break;
		case OPT_ENV:
			if (o->nenv == MAX_LIST || !strchr(optarg, '=') || optarg[0] == '=')
				die(EXIT_OWN_ERROR, "--env: '%s' is not NAME=VALUE", optarg);
			o->env[o->nenv++] = optarg;
			break;
		case OPT_TRACE:
			o->trace = true;
			o->trace_file = optarg;
			if (optarg && !*optarg)
				die(EXIT_OWN_ERROR, "--trace=: the file name is empty");
			break;
		case OPT_STATS:
			o->stats = true;
			break;
		case OPT_NO_SECCOMP:
			o->no_seccomp = true;
			break;
		case 'h':
			usage(stdout);
			exit(0);
		case OPT_VERSION:
			printf("pksandbox (libpkvm) %s\n", pkvm_version());
			exit(0);
		case ':':
			die(EXIT_OWN_ERROR, "option '%s' needs a value (see --help)", argv[optind - 1]);
		default:
			die(EXIT_OWN_ERROR, "unknown option '%s' (see --help)", argv[optind - 1]);
		}
	}
	if (!o->caps && optind >= argc)
		die(EXIT_OWN_ERROR, "no program given (see --help)");
	o->argv = argv + optind;
}

/*
 * The first run on a new machine usually fails here, so say what is
 * missing and how to get it, not just the errno: pkvm_strerror() stays
 * generic for embedders, the advice is the CLI's.
 */
static void __attribute__((noreturn)) die_without_kvm(const struct options *o, int err)
{
	const char *dev = o->kvm_path ? o->kvm_path : "/dev/kvm";

	switch (err) {
	case -ENOENT:
		die(EXIT_OWN_ERROR, "%s does not exist: load KVM (modprobe kvm_intel or kvm_amd; "
		    "in a VM, enable nested virtualisation on its host), or run the tests in "
		    "the QEMU lane (make check, tests/qemu/lane.sh)", dev);
	case -EACCES:
	case -EPERM:
		die(EXIT_OWN_ERROR, "%s: permission denied: join its group (sudo usermod -aG kvm "
		    "$USER, then log in again) or ask for read-write access to it", dev);
	case -ENOTTY:
	case -ENOSYS:
		die(EXIT_OWN_ERROR, "%s is not a KVM device with API version 12", dev);
	case -ENODEV:
		die(EXIT_OWN_ERROR, "%s does not run x86 guests as hardware does (a paravirtual "
		    "KVM such as kvm_pvm): use a machine with VT-x or AMD-V, or run the tests "
		    "in the QEMU lane (make check, tests/qemu/lane.sh)", dev);
	case -EOPNOTSUPP:
		if (o->pkeys == PKVM_PKEYS_HW)
			die(EXIT_OWN_ERROR, "--pkeys=hw: %s offers no guest PKU (it needs EPT or NPT "
			    "and a CPU with protection keys, and a nested KVM's host must offer "
			    "it too): use --pkeys=soft or auto, which work on any KVM", dev);
		break;
	}
	die(EXIT_OWN_ERROR, "cannot create the VM on %s: %s", dev, pkvm_strerror(err));
}

static int print_caps(const struct options *o)
{
	static const char *const paging[] = {
		[PKVM_PAGING_UNKNOWN] = "unknown", [PKVM_PAGING_EPT] = "ept (Intel VMX)",
		[PKVM_PAGING_NPT] = "npt (AMD SVM)", [PKVM_PAGING_SHADOW] = "shadow",
	};
	struct pkvm_caps caps;
	int err = pkvm_caps(&caps, o->kvm_path);

	if (err)
		die_without_kvm(o, err);
	printf("kvm-api: %d\n", caps.api_version);
	printf("vendor: %s\n", caps.vendor[0] ? caps.vendor : "unknown");
	printf("paging: %s\n", (unsigned)caps.paging < sizeof(paging) / sizeof(paging[0]) ?
	       paging[caps.paging] : "unknown");
	printf("pku: %s\n", caps.pku ? "yes" : "no");
	printf("pkeys-backends: %s\n", caps.pku ? "hw soft (auto: hw)" : "soft (auto: soft)");
	printf("sync-regs: %s\n", caps.sync_regs ? "yes" : "no");
	printf("smep: %s\nsmap: %s\n", caps.smep ? "yes" : "no", caps.smap ? "yes" : "no");
	printf("pcid: %s\n", caps.pcid ? "yes" : "no");
	printf("xsave-size: %u\nsupported-xcr0: %#llx\nmaxphyaddr: %u\n", caps.xsave_size,
	       (unsigned long long)caps.supported_xcr0, caps.maxphyaddr);
	printf("runs-guests: %s\n", caps.runs_guests ? "yes" :
	       "no (a paravirtual KVM such as PVM: it does not run native x86 guests)");
	return 0;
}

/* Read the whole program: 126/127 for what the shell would say, 125 for the rest. */
static void *read_program(const char *path, size_t *size)
{
	struct stat st;
	void *data;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		die(errno == ENOENT || errno == ENOTDIR ? EXIT_NOT_FOUND : EXIT_NOT_EXECUTABLE,
		    "%s: %s", path, strerror(errno));
	if (fstat(fd, &st) < 0)
		die(EXIT_OWN_ERROR, "%s: %s", path, strerror(errno));
	if (!S_ISREG(st.st_mode))
		die(EXIT_NOT_EXECUTABLE, "%s: not a regular file", path);
	if (!(st.st_mode & 0111))
		die(EXIT_NOT_EXECUTABLE, "%s: not executable (no x permission)", path);
	if (st.st_size == 0)
		die(EXIT_OWN_ERROR, "%s: empty file, not an ELF executable", path);
	*size = st.st_size;
	data = mmap(NULL, *size, PROT_READ, MAP_PRIVATE, fd, 0);
	close(fd);
	if (data == MAP_FAILED)
		die(EXIT_OWN_ERROR, "%s: %s", path, strerror(errno));
	return data;
}

/* The signal Linux would send for an exception (arch/x86/kernel/traps.c). */
static int vector_signal(unsigned vector)
{
	switch (vector) {
	case PKVM_VEC_DE:
	case PKVM_VEC_MF:
	case PKVM_VEC_XM:
		return SIGFPE;
	case PKVM_VEC_DB:
	case PKVM_VEC_BP:
		return SIGTRAP;
	case PKVM_VEC_UD:
		return SIGILL;
	case PKVM_VEC_AC:
		return SIGBUS;
	default:
		return SIGSEGV;
	}
}

static void report_fault(const struct pkvm_exit *exit)
{
	int sig = vector_signal(exit->fault.vector);

	if (exit->fault.vector == PKVM_VEC_PF) {
		uint32_t pfec = exit->fault.pfec;
		const char *access = (pfec & PKVM_PFEC_I) ? "fetch" : (pfec & PKVM_PFEC_W) ? "write" : "read";

		if (pfec & PKVM_PFEC_PK)
			fprintf(stderr, "%s: %s: #PF %s at 0x%llx denied by protection key %d "
				"(PKRU 0x%08x), rip 0x%llx\n", progname, strsignal(sig), access,
				(unsigned long long)exit->fault.addr, exit->fault.pkey, exit->fault.pkru,
				(unsigned long long)exit->fault.rip);
		else
			fprintf(stderr, "%s: %s: #PF %s at 0x%llx (%s), rip 0x%llx\n", progname,
				strsignal(sig), access, (unsigned long long)exit->fault.addr,
				(pfec & PKVM_PFEC_RSVD) ? "reserved bit" :
				(pfec & PKVM_PFEC_P) ? "protection" : "not mapped",
				(unsigned long long)exit->fault.rip);
		return;
	}
	fprintf(stderr, "%s: %s: %s", progname, strsignal(sig), pkvm_vector_name(exit->fault.vector));
	if (exit->fault.has_error_code)
		fprintf(stderr, " error code %#x", exit->fault.error_code);
	fprintf(stderr, " at rip 0x%llx\n", (unsigned long long)exit->fault.rip);
}

/*
 * One write() per line, not stdio: the guest's processes are forks of this
 * one sharing the descriptor (and its offset), and a stdio buffer would be
 * copied into each of them and written twice.
 */
static void trace_line(void *ctx, const struct pkvm_linux_trace *call)
{
	int fd = *(const int *)ctx;
	char line[1200];
	int n = snprintf(line, sizeof(line), "[pksandbox %d] %s\n", call->pid, call->line);
	size_t len = n < 0 ? 0 : (size_t)n < sizeof(line) ? (size_t)n : sizeof(line) - 1;

	if (len && line[len - 1] != '\n')
		line[len - 1] = '\n';	/* cut: still one line */
	for (size_t done = 0; done < len;) {
		ssize_t w = write(fd, line + done, len - done);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return;
		done += w;
	}
}

/* --trace=FILE, opened before the seccomp lockdown (which allows no open for writing). */
static int open_trace(const struct options *o)
{
	int fd;

	if (!o->trace_file)
		return STDERR_FILENO;
	fd = open(o->trace_file, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0)
		die(EXIT_OWN_ERROR, "--trace=%s: cannot open it for writing: %s", o->trace_file,
		    strerror(errno));
	return fd;
}

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + ts.tv_nsec;
}

struct run_stats {
	uint64_t faults, other, run_ns;	/* other: time limits, interruptions */
};

/* One row of the --stats table. */
struct call_row {
	uint64_t nr, calls, errors, ns;
	bool served;
};

/* By time, most first; then by calls, then by number, so that the order is stable. */
static int by_time(const void *a, const void *b)
{
	const struct call_row *x = a, *y = b;

	if (x->ns != y->ns)
		return x->ns < y->ns ? 1 : -1;
	if (x->calls != y->calls)
		return x->calls < y->calls ? 1 : -1;
	return x->nr < y->nr ? -1 : x->nr > y->nr;
}

static void print_row(double percent, uint64_t ns, uint64_t calls, uint64_t errors,
		      const char *name, bool served)
{
	char errs[24] = "";

	if (errors)
		snprintf(errs, sizeof(errs), "%llu", (unsigned long long)errors);
	fprintf(stderr, "%6.2f %11.6f %11llu %9llu %9s %s%s\n", percent, ns / 1e9,
		(unsigned long long)(calls ? ns / calls / 1000 : 0), (unsigned long long)calls,
		errs, name, served ? "" : " (not served)");
}

static void print_rule(void)
{
	fprintf(stderr, "------ ----------- ----------- --------- --------- ----------------\n");
}

static void print_stats(struct pkvm_vm *vm, const struct run_stats *rs)
{
	static struct pkvm_linux_stats st;	/* 12 KiB: not on the stack */
	static struct call_row rows[PKVM_LINUX_NR_MAX + 1];
	uint64_t guest_ns, listed_ns = 0, listed_calls = 0, total_errors = 0;
	size_t n = 0;

	if (pkvm_linux_get_stats(vm, &st))
		return;
	guest_ns = rs->run_ns > st.host_ns ? rs->run_ns - st.host_ns : 0;
	fprintf(stderr, "%s: stats: exits %llu (system calls %llu, faults %llu, other %llu)\n",
		progname, (unsigned long long)(st.calls + rs->faults + rs->other),
		(unsigned long long)st.calls, (unsigned long long)rs->faults,
		(unsigned long long)rs->other);
	fprintf(stderr, "%s: stats: guest %.6f s, host (system calls) %.6f s\n", progname,
		guest_ns / 1e9, st.host_ns / 1e9);
	if (st.unknown)
		fprintf(stderr, "%s: stats: not served (ENOSYS) %llu\n", progname,
			(unsigned long long)st.unknown);
	for (uint64_t nr = 0; nr < PKVM_LINUX_NR_MAX; nr++) {
		if (!st.by_nr[nr])
			continue;
		rows[n] = (struct call_row){ .nr = nr, .calls = st.by_nr[nr],
					     .errors = st.errors_by_nr[nr], .ns = st.ns_by_nr[nr],
					     .served = !(st.not_served[nr / 64] & (1ULL << (nr % 64))) };
		listed_ns += rows[n].ns;
		listed_calls += rows[n].calls;
		total_errors += rows[n].errors;
		n++;
	}
	/*
	 * Numbers from PKVM_LINUX_NR_MAX up are counted only together (in calls
	 * and host_ns); none has a handler, so each was an ENOSYS error.  With
	 * them, the rows add up to calls and host_ns, the table's total.
	 */
	if (st.calls > listed_calls) {
		rows[n] = (struct call_row){ .nr = PKVM_LINUX_NR_MAX, .calls = st.calls - listed_calls,
					     .ns = st.host_ns > listed_ns ? st.host_ns - listed_ns : 0 };
		rows[n].errors = rows[n].calls;
		total_errors += rows[n].errors;
		n++;
	}
	qsort(rows, n, sizeof(rows[0]), by_time);
	fprintf(stderr, "%% time     seconds  usecs/call     calls    errors syscall\n");
	print_rule();
	for (size_t i = 0; i < n; i++) {
		const char *name = pkvm_linux_syscall_name(rows[i].nr);
		char unnamed[32];

		if (rows[i].nr == PKVM_LINUX_NR_MAX) {
			snprintf(unnamed, sizeof(unnamed), "syscall_%d+", PKVM_LINUX_NR_MAX);
			name = unnamed;
		} else if (!name) {
			snprintf(unnamed, sizeof(unnamed), "syscall_%llu",
				 (unsigned long long)rows[i].nr);
			name = unnamed;
		}
		print_row(st.host_ns ? 100.0 * rows[i].ns / st.host_ns : 0, rows[i].ns, rows[i].calls,
			  rows[i].errors, name, rows[i].served);
	}
	print_rule();
	print_row(100.0, st.host_ns, st.calls, total_errors, "total", true);
}

/*
 * Signals sent to pksandbox are the program's, as if sent to it: Ctrl-C or
 * kill(1) runs its handlers, and SIGCONT continues it after a SIGSTOP.  A
 * thread takes them (they are blocked everywhere else) and hands them to
 * pkvm_linux_kill(), which is safe from another thread and not from a
 * signal handler.  SIGTSTP (Ctrl-Z) keeps its default: it stops pksandbox,
 * and the program with it; fg's SIGCONT then reaches the program too.
 */
static const int forwarded_signals[] = {
	SIGHUP, SIGINT, SIGQUIT, SIGUSR1, SIGUSR2, SIGTERM, SIGCONT, SIGWINCH,
};

static struct {
	pthread_mutex_t lock;		/* held while vm is used, so that it can go */
	struct pkvm_vm *vm;
	sigset_t set;
	sem_t started;
} forwarder = { .lock = PTHREAD_MUTEX_INITIALIZER };

static void *forward_signals(void *unused)
{
	(void)unused;
	sem_post(&forwarder.started);
	for (;;) {
		int sig = sigwaitinfo(&forwarder.set, NULL);

		if (sig <= 0)
			continue;
		pthread_mutex_lock(&forwarder.lock);
		if (forwarder.vm)
			pkvm_linux_kill(forwarder.vm, sig);
		pthread_mutex_unlock(&forwarder.lock);
	}
	return NULL;
}

/* Before the lockdown, which allows no new thread. */
static void start_forwarding(struct pkvm_vm *vm)
{
	pthread_t thread;
	int err;

	sigemptyset(&forwarder.set);
	for (size_t i = 0; i < sizeof(forwarded_signals) / sizeof(forwarded_signals[0]); i++)
		sigaddset(&forwarder.set, forwarded_signals[i]);
	err = pthread_sigmask(SIG_BLOCK, &forwarder.set, NULL);
	forwarder.vm = vm;
	if (!err && sem_init(&forwarder.started, 0, 0))
		err = errno;
	if (!err)
		err = pthread_create(&thread, NULL, forward_signals, NULL);
	if (!err)
		err = pthread_detach(thread);
	/* The thread's own start (rseq, set_robust_list...) is over before the lockdown. */
	while (!err && sem_wait(&forwarder.started))
		err = errno == EINTR ? 0 : errno;
	if (err)
		die(EXIT_OWN_ERROR, "cannot start the signal forwarder: %s", strerror(err));
}

static int finish(struct pkvm_vm *vm, const struct options *o, const struct run_stats *rs,
		  int status)
{
	if (o->stats)
		print_stats(vm, rs);
	pthread_mutex_lock(&forwarder.lock);
	forwarder.vm = NULL;
	pthread_mutex_unlock(&forwarder.lock);
	pkvm_vm_destroy(vm);
	return status;
}

/*
 * The program starts where pksandbox was started if a tree it may read
 * holds that directory (a relative path then means what the user meant),
 * else in "/".  (malloc'd, or NULL.)
 */
static char *start_directory(const struct options *o)
{
	char *cwd = getcwd(NULL, 0);

	for (unsigned i = 0; cwd && i < o->nro + o->nrw; i++) {
		char *root = realpath(i < o->nro ? o->ro[i] : o->rw[i - o->nro], NULL);
		size_t len = root ? strlen(root) : 0;
		bool inside = root && !strncmp(cwd, root, len) &&
			      (cwd[len] == '/' || cwd[len] == '\0' || len == 1);

		free(root);
		if (inside)
			return cwd;
	}
	free(cwd);
	return NULL;
}

/*
 * Raise the soft limit on open files to the hard one at start, as servers
 * do: the personality holds a descriptor per possible process (their
 * doorbells) beside the program's own files (--max-fds), and the soft limit
 * of 1024 is a relic of select()'s fd_set, which pksandbox does not use.
 */
static void raise_fd_limit(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
}

static int run_program(const struct options *o)
{
	int trace_fd = o->trace ? open_trace(o) : -1;
	struct pkvm_config cfg = { .mem_size = o->memory, .pkeys = o->pkeys,
				   .kvm_path = o->kvm_path };
	struct pkvm_program prog;
	struct pkvm_linux_config lx = {
		.stdin_fd = STDIN_FILENO, .stdout_fd = STDOUT_FILENO, .stderr_fd = STDERR_FILENO,
		.ro_paths = o->ro, .ro_special_paths = o->ro_special, .max_fds = o->max_fds,
		.max_address_space = o->address_space, .max_procs = o->max_procs,
		.cwd = start_directory(o), .rw_paths = o->rw, .tmpfs = o->tmpfs,
		.program = &prog, .trace = o->trace ? trace_line : NULL, .trace_ctx = &trace_fd,
	};
	struct run_stats rs = { 0 };
	struct pkvm_exit exit;
	struct pkvm_vm *vm;
	size_t size;
	void *image = read_program(o->argv[0], &size);
	int err;

	if (o->memory % 4096)
		die(EXIT_OWN_ERROR, "--memory: must be a multiple of 4K");
	err = pkvm_vm_create(&vm, &cfg);
	if (err == -EINVAL)
		die(EXIT_OWN_ERROR, "--memory: %llu bytes is outside what a VM can have (at most 3G)",
		    (unsigned long long)o->memory);
	if (err)
		die_without_kvm(o, err);

	err = pkvm_load_elf(vm, image, size, (const char *const *)o->argv, o->env, 0, &prog);
	munmap(image, size);
	if (err == -ELIBBAD)
		die(EXIT_NOT_EXECUTABLE, "%s: dynamically linked; pksandbox runs static executables only",
		    o->argv[0]);
	if (err == -ENOEXEC)
		die(EXIT_OWN_ERROR, "%s: not a valid static x86-64 ELF executable", o->argv[0]);
	if (err == -ENOMEM)
		die(EXIT_OWN_ERROR, "%s: does not fit in --memory=%llu bytes", o->argv[0],
		    (unsigned long long)o->memory);
	if (err)
		die(EXIT_OWN_ERROR, "%s: cannot load: %s", o->argv[0], pkvm_strerror(err));
	err = pkvm_linux_attach(vm, &lx);
	free((char *)lx.cwd);	/* copied when attaching */
	if (err == -EMFILE)
		die(EXIT_OWN_ERROR, "--max-procs=%u: one descriptor per process does not fit under "
		    "this ulimit -n", o->max_procs);
	if (err == -EINVAL && o->nrw)
		die(EXIT_OWN_ERROR, "--ro: a read-only path inside a --rw tree would not stay "
		    "read-only");
	if (err == -ENOENT || err == -EACCES || err == -ENOTDIR || err == -ENAMETOOLONG ||
	    err == -ELOOP)
		die(EXIT_OWN_ERROR, "--ro, --rw, --tmpfs: a path cannot be used: %s",
		    pkvm_strerror(err));
	if (err == -EPERM)
		die(EXIT_OWN_ERROR, "--ro: a path is on /proc, /sys or /dev, a kernel file system or "
		    "a device (use --ro-special=PATH to allow it)");
	if (!err && o->timeout > 0)
		err = pkvm_set_time_limit(vm, (uint64_t)(o->timeout * 1e9 + 0.5));
	if (err)
		die(EXIT_OWN_ERROR, "%s", pkvm_strerror(err));
	start_forwarding(vm);
	/* From here on pksandbox itself can only run this VM (see pkvm_seccomp_lockdown()). */
	if (!o->no_seccomp) {
		err = pkvm_seccomp_lockdown(vm, 0);
		if (err)
			die(EXIT_OWN_ERROR, "cannot install the seccomp filter: %s (--no-seccomp "
			    "runs without it)", pkvm_strerror(err));
	}

	for (;;) {
		uint64_t start = now_ns();

		err = pkvm_run(vm, &exit);
		rs.run_ns += now_ns() - start;
		if (err)
			die(EXIT_OWN_ERROR, "running the VM failed: %s", pkvm_strerror(err));
		switch (exit.reason) {
		case PKVM_EXIT_EXIT:
			if (exit.exit.deadlock)
				fprintf(stderr, "%s: deadlock: every thread waits on a futex that no "
					"thread can wake, with no timeout\n", progname);
			else if (exit.exit.out_of_memory)
				fprintf(stderr, "%s: killed by SIGKILL: out of memory (the --memory limit "
					"of %llu bytes was reached)\n", progname,
					(unsigned long long)o->memory);
			else if (exit.exit.signal)
				fprintf(stderr, "%s: killed by SIG%s (%s)\n", progname,
					sigabbrev_np(exit.exit.signal), strsignal(exit.exit.signal));
			return finish(vm, o, &rs, exit.exit.status);
		case PKVM_EXIT_FAULT:
			rs.faults++;
			report_fault(&exit);
			return finish(vm, o, &rs, EXIT_SIGNAL(vector_signal(exit.fault.vector)));
		case PKVM_EXIT_TIMEOUT:
			rs.other++;
			fprintf(stderr, "%s: timed out after %g s\n", progname, o->timeout);
			return finish(vm, o, &rs, EXIT_TIMEOUT);
		case PKVM_EXIT_INTERNAL:
			die(EXIT_OWN_ERROR, "VM failure: %s (KVM exit %u, detail %#llx)",
			    exit.internal.what, exit.internal.kvm_exit_reason,
			    (unsigned long long)exit.internal.detail);
		case PKVM_EXIT_RETURN:	/* pksandbox never uses pkvm_call() */
			die(EXIT_OWN_ERROR, "VM failure: unexpected return from a host call");
		case PKVM_EXIT_OUT_OF_MEMORY:	/* (the personality turns it into SIGKILL) */
			fprintf(stderr, "%s: out of memory (--memory=%llu)\n", progname,
				(unsigned long long)o->memory);
			return finish(vm, o, &rs, EXIT_SIGNAL(SIGKILL));
		case PKVM_EXIT_SYSCALL:	/* the personality serves every number */
		case PKVM_EXIT_INTERRUPTED:
			rs.other++;
			continue;
		}
	}
}

int main(int argc, char **argv)
{
	struct options o;

	parse_options(argc, argv, &o);
	raise_fd_limit();
	if (o.caps)
		return print_caps(&o);
	return run_program(&o);
}
