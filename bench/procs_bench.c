/*
 * procs_bench.c: what the Linux personality's processes cost.  A guest's
 * fork + exec + wait of a small static program (bench/forkexec, beside this
 * program), as a ratio to a bare KVM cold start (create a VM, run it to its
 * first exit, destroy it: bench/rawkvm.c) measured in the same run, and to
 * the same loop run natively; and a pipeline of three busybox applets over
 * 1 MiB (where /bin/busybox is a static busybox), against the same pipeline
 * run natively.  Run it on a host with /dev/kvm, or in the QEMU lane
 * (make bench-hw).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "libpkvm.h"
#include "rawkvm.h"
#include "nofile.h"

#define RUNS		7
#define ROUNDS		20
#define BUSYBOX		"/bin/busybox"
#define PIPELINE_BYTES	(1 << 20)

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000000000ULL + ts.tv_nsec;
}

static void die(const char *what, int err)
{
	fprintf(stderr, "procs_bench: %s: %s\n", what, pkvm_strerror(err));
	exit(1);
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static double median(double *v, unsigned n)
{
	qsort(v, n, sizeof(*v), cmp_double);
	return v[n / 2];
}

static double bare_cold_start(void)
{
	double t[RUNS];

	for (unsigned r = 0; r < RUNS; r++) {
		uint64_t start = now_ns();
		int err = rawkvm_cold_start();

		if (err)
			die("bare KVM cold start", err);
		t[r] = (double)(now_ns() - start);
	}
	return median(t, RUNS);
}

static void *read_file(const char *path, size_t *size)
{
	struct stat st;
	void *p;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0 || fstat(fd, &st) < 0)
		die(path, -errno);
	p = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
	close(fd);
	if (p == MAP_FAILED)
		die(path, -errno);
	*size = (size_t)st.st_size;
	return p;
}

/*
 * Run static program @argv[0] under the Linux personality with @ro_paths
 * readable and processes allowed, its standard output into @out_fd: the
 * wall-clock nanoseconds until it ended (with status 0).
 */
static double run_guest(const char *const *argv, const char *const *ro_paths, int out_fd)
{
	const char *const envp[] = { NULL };
	struct pkvm_linux_config lx = { .stdin_fd = -1, .stdout_fd = out_fd, .stderr_fd = 2,
					.ro_paths = ro_paths, .max_procs = 16 };
	struct pkvm_program prog;
	struct pkvm_exit e;
	struct pkvm_vm *vm;
	size_t size;
	void *image = read_file(argv[0], &size);
	uint64_t start = now_ns();
	int err;

	if ((err = pkvm_vm_create(&vm, &(struct pkvm_config){ .mem_size = 256 << 20 })))
		die("pkvm_vm_create", err);
	if ((err = pkvm_load_elf(vm, image, size, argv, envp, 0, &prog)))
		die("pkvm_load_elf", err);
	munmap(image, size);
	lx.program = &prog;
	if ((err = pkvm_linux_attach(vm, &lx)))
		die("pkvm_linux_attach", err);
	do {
		if ((err = pkvm_run(vm, &e)))
			die("pkvm_run", err);
	} while (e.reason == PKVM_EXIT_INTERRUPTED);
	if (e.reason != PKVM_EXIT_EXIT || e.exit.status != 0) {
		fprintf(stderr, "procs_bench: %s ended with %s, status %d\n", argv[0],
			pkvm_exit_reason_name(e.reason), e.exit.status);
		exit(1);
	}
	pkvm_vm_destroy(vm);
	return (double)(now_ns() - start);
}

/* The same program run natively (fork, exec, wait): wall-clock nanoseconds. */
static double run_native(const char *const *argv, int out_fd)
{
	uint64_t start = now_ns();
	int status;
	pid_t pid = fork();

	if (pid == 0) {
		dup2(out_fd, 1);
		execv(argv[0], (char *const *)argv);
		_exit(127);
	}
	if (pid < 0 || waitpid(pid, &status, 0) != pid || status != 0)
		die(argv[0], -ECHILD);
	return (double)(now_ns() - start);
}

/* What forkexec printed into @fd since @fd was empty: its ns per round. */
static double read_round(int fd)
{
	char buf[64] = { 0 };

	if (pread(fd, buf, sizeof(buf) - 1, 0) <= 0)
		die("forkexec printed nothing", -EIO);
	return strtod(buf, NULL);
}

static void fork_exec_wait(const char *self, double bare)
{
	char dir[PATH_MAX], path[PATH_MAX + 16], rounds[16];
	const char *argv[] = { path, rounds, NULL }, *ro[] = { path, NULL };
	double sandboxed[RUNS], native[RUNS];
	FILE *out = tmpfile();

	snprintf(dir, sizeof(dir), "%s", self);
	snprintf(path, sizeof(path), "%s/forkexec", dirname(dir));
	if (!realpath(path, dir) || access(dir, X_OK))
		die("bench/forkexec (build it: make bench/forkexec)", -ENOENT);
	snprintf(path, sizeof(path), "%s", dir);
	snprintf(rounds, sizeof(rounds), "%d", ROUNDS);
	for (unsigned r = 0; r < RUNS; r++) {
		if (ftruncate(fileno(out), 0) || lseek(fileno(out), 0, SEEK_SET))
			die("tmpfile", -errno);
		run_guest(argv, ro, fileno(out));
		sandboxed[r] = read_round(fileno(out));
		if (ftruncate(fileno(out), 0) || lseek(fileno(out), 0, SEEK_SET))
			die("tmpfile", -errno);
		run_native(argv, fileno(out));
		native[r] = read_round(fileno(out));
	}
	fclose(out);
	printf("fork + exec + wait of a static program: %10.0f ns = %6.2f x a bare KVM cold start, "
	       "%6.2f x native (%.0f ns)\n", median(sandboxed, RUNS), median(sandboxed, RUNS) / bare,
	       median(sandboxed, RUNS) / median(native, RUNS), median(native, RUNS));
}

static void pipeline(void)
{
	char dir[] = "/tmp/procs_bench-XXXXXX", input[64], script[256];
	const char *argv[] = { BUSYBOX, "sh", "-c", script, NULL };
	const char *ro[] = { BUSYBOX, dir, NULL };
	double sandboxed[RUNS], native[RUNS];
	int null = open("/dev/null", O_WRONLY | O_CLOEXEC);
	FILE *f;

	if (access(BUSYBOX, X_OK)) {
		printf("pipeline of 3 busybox applets: skipped (no %s)\n", BUSYBOX);
		return;
	}
	if (!mkdtemp(dir))
		die("mkdtemp", -errno);
	snprintf(input, sizeof(input), "%s/input", dir);
	f = fopen(input, "w");
	for (unsigned i = 0; f && ftell(f) < PIPELINE_BYTES; i++)
		fprintf(f, "%u line of the pipeline's input\n", (i * 7919U) % 10007U);
	if (!f || fclose(f))
		die("writing the input", -EIO);
	snprintf(script, sizeof(script), "%s cat %s | %s sort | %s uniq -c", BUSYBOX, input, BUSYBOX,
		 BUSYBOX);
	for (unsigned r = 0; r < RUNS; r++) {
		sandboxed[r] = run_guest(argv, ro, null);
		native[r] = run_native(argv, null);
	}
	unlink(input);
	rmdir(dir);
	close(null);
	printf("busybox cat | sort | uniq -c over 1 MiB:  %10.0f ns = %6.2f x native (%.0f ns)\n",
	       median(sandboxed, RUNS), median(sandboxed, RUNS) / median(native, RUNS),
	       median(native, RUNS));
}

int main(int argc, char **argv)
{
	struct pkvm_caps caps;
	double bare;

	(void)argc;
	bench_raise_nofile();
	if (pkvm_caps(&caps, NULL) || !caps.runs_guests) {
		fprintf(stderr, "procs_bench: no usable /dev/kvm here\n");
		return 77;
	}
	bare = bare_cold_start();
	printf("bare KVM cold start (create, run to its first exit, destroy): %.0f ns = 1.00\n", bare);
	fork_exec_wait(argv[0], bare);
	pipeline();
	return 0;
}
