/* hardening.c: what the security review found, as a program: replies carry no host bytes, limits hold. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

static const char *err_name(int e)
{
	switch (e) {
	case 0: return "ok";
	case ENOENT: return "ENOENT";
	case EACCES: return "EACCES";
	case EMFILE: return "EMFILE";
	case EPERM: return "EPERM";
	case ENOTDIR: return "ENOTDIR";
	default: return "other";
	}
}

/* PR_GET_NAME gives exactly the name, NUL-padded to 16 bytes, after a long deep call. */
static int name(void)
{
	static char deep[4000];
	unsigned char got[16];

	/* Fill the host's stack where its prctl() handler will run with 'A's. */
	memset(deep, 'A', sizeof(deep) - 1);
	deep[0] = '/';
	open(deep, O_RDONLY);
	prctl(PR_SET_NAME, "ab", 0, 0, 0);
	memset(got, 0xee, sizeof(got));
	if (prctl(PR_GET_NAME, got, 0, 0, 0))
		return 1;
	printf("name:");
	for (unsigned i = 0; i < sizeof(got); i++)
		printf(" %02x", got[i]);
	printf("\n");
	prctl(PR_SET_NAME, "0123456789abcdefghij", 0, 0, 0);
	memset(got, 0xee, sizeof(got));
	prctl(PR_GET_NAME, got, 0, 0, 0);
	printf("long name: %.16s\n", (char *)got);
	return 0;
}

/* Directory records: the bytes after each name's NUL, up to d_reclen, are the guest's (zero). */
static int dents(const char *dir, const char *file)
{
	static char buf[8192], data[4096];
	int fd = open(file, O_RDONLY);
	long n;

	/* Leave file data behind in whatever buffer the host copies through. */
	if (fd < 0 || read(fd, data, sizeof(data)) <= 0)
		return 1;
	close(fd);
	fd = open(dir, O_RDONLY | O_DIRECTORY);
	if (fd < 0)
		return 1;
	memset(buf, 0, sizeof(buf));
	n = syscall(SYS_getdents64, fd, buf, sizeof(buf));
	if (n <= 0)
		return 1;
	for (long off = 0; off < n;) {
		unsigned short reclen;
		const char *name = buf + off + 19;
		size_t len = strlen(name);

		memcpy(&reclen, buf + off + 16, sizeof(reclen));
		for (size_t i = 19 + len + 1; i < reclen; i++)
			if (buf[off + i]) {
				printf("getdents64 padding: dirty\n");
				return 0;
			}
		off += reclen;
	}
	printf("getdents64 padding: clean\n");
	return 0;
}

/* Open @file until it fails: how many, why, and the RLIMIT_NOFILE reported. */
static int fds(const char *file)
{
	struct rlimit rl;
	int n = 0, fd, e;

	if (getrlimit(RLIMIT_NOFILE, &rl))
		return 1;
	printf("RLIMIT_NOFILE %llu %llu\n", (unsigned long long)rl.rlim_cur,
	       (unsigned long long)rl.rlim_max);
	while ((fd = open(file, O_RDONLY)) >= 0 && n < 5000)
		n++;
	e = errno;
	printf("opened %d, then %s\n", n, err_name(e));
	printf("dup2 past the limit: %s\n",
	       dup2(0, (int)rl.rlim_cur) < 0 ? (errno == EBADF ? "EBADF" : "other") : "ok");
	return 0;
}

/* Each path: what opening it read-only gives. */
static int special(int argc, char **argv)
{
	for (int i = 0; i < argc; i++) {
		int fd = open(argv[i], O_RDONLY);

		printf("open %s: %s\n", argv[i], err_name(fd < 0 ? errno : 0));
		if (fd >= 0)
			close(fd);
	}
	return 0;
}

int main(int argc, char **argv)
{
	setvbuf(stdout, NULL, _IONBF, 0);
	if (argc >= 2 && !strcmp(argv[1], "name"))
		return name();
	if (argc >= 4 && !strcmp(argv[1], "dents"))
		return dents(argv[2], argv[3]);
	if (argc >= 3 && !strcmp(argv[1], "fds"))
		return fds(argv[2]);
	if (argc >= 2 && !strcmp(argv[1], "special"))
		return special(argc - 2, argv + 2);
	fprintf(stderr, "usage: hardening name | dents DIR FILE | fds FILE | special PATH...\n");
	return 2;
}
