/* files.c: the fd table and the --ro policy as a libc program sees them. */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* files DIR: DIR holds "data" (any content) and "sub/inner"; prints what it can see. */
int main(int argc, char **argv)
{
	char path[4096], buf[65536];
	struct stat st;
	unsigned sum = 0;
	ssize_t n;
	int fd, dfd, fd2;

	if (argc < 2)
		return 2;
	snprintf(path, sizeof(path), "%s/data", argv[1]);
	fd = open(path, O_RDONLY);
	printf("open data: %s\n", fd >= 0 ? "ok" : strerror(errno));
	if (fd < 0)
		return 1;
	fstat(fd, &st);
	printf("size %lld regular %d\n", (long long)st.st_size, S_ISREG(st.st_mode));
	while ((n = read(fd, buf, sizeof(buf))) > 0)
		for (ssize_t i = 0; i < n; i++)
			sum = sum * 31 + (unsigned char)buf[i];
	printf("sum %u\n", sum);
	printf("lseek %lld\n", (long long)lseek(fd, 3, SEEK_SET));
	n = pread(fd, buf, 4, 0);
	printf("pread %zd %.4s\n", n, buf);
	fd2 = dup(fd);
	printf("dup %s, dup2 %d\n", fd2 > fd ? "ok" : "bad", dup2(fd, 10));
	n = read(10, buf, 2);
	printf("read via dup2 %zd %.2s\n", n, buf);
	printf("fcntl getfd %d\n", fcntl(fd, F_GETFD));
	close(fd);
	close(fd2);
	printf("close twice: %s\n", close(fd) < 0 ? strerror(errno) : "ok");
	printf("write to read-only: %s\n", write(10, "x", 1) < 0 ? strerror(errno) : "wrote");
	if (argc > 2)	/* only in the sandbox: natively the owner may write */
		printf("open for writing: %s\n", open(path, O_WRONLY) < 0 ? strerror(errno) : "ok");
	dfd = open(argv[1], O_RDONLY | O_DIRECTORY);
	printf("open dir: %s\n", dfd >= 0 ? "ok" : strerror(errno));
	fd = openat(dfd, "sub/inner", O_RDONLY);
	n = fd >= 0 ? read(fd, buf, sizeof(buf) - 1) : -1;
	if (n >= 0)
		buf[n] = 0;
	printf("openat sub/inner: %s\n", n >= 0 ? buf : strerror(errno));
	printf("stat sub: %s\n", fstatat(dfd, "sub", &st, 0) == 0 && S_ISDIR(st.st_mode) ? "dir" : strerror(errno));
	snprintf(path, sizeof(path), "%s/sub/../data", argv[1]);
	printf("dotdot inside: %s\n", access(path, R_OK) == 0 ? "ok" : strerror(errno));
	DIR *dir = opendir(argv[1]);
	int entries = 0;
	struct dirent *de;

	while (dir && (de = readdir(dir)))
		entries += strcmp(de->d_name, ".") && strcmp(de->d_name, "..");
	printf("entries %d\n", entries);
	return 0;
}
