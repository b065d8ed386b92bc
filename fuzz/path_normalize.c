/* path_normalize.c: libFuzzer harness for lx_path_normalize(), the Linux personality's guest paths. */
/*
 * The input is "base\0path": the base is normalised first, as the path of a
 * directory the guest opened would be, then the path is normalised against
 * it.  Every result must be what the --ro check relies on: absolute, with
 * no ".", ".." or empty component, and normalising it again changes nothing.
 * A small output buffer (exactly its size on the heap) exercises the
 * too-long path.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "pathnorm.h"
#include "personality.h"

#define SMALL	64

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* A heap string of @n bytes of @p, cut at LX_PATH_MAX - 1 (the guest's own limit). */
static char *string(const uint8_t *p, size_t n)
{
	char *s;

	if (n > LX_PATH_MAX - 1)
		n = LX_PATH_MAX - 1;
	s = malloc(n + 1);
	if (!s)
		abort();
	memcpy(s, p, n);
	s[n] = '\0';
	return s;
}

static void check_normal(const char *out)
{
	char *again = malloc(LX_PATH_MAX);
	size_t len = strlen(out);
	bool dir;

	if (!again || out[0] != '/' || len >= LX_PATH_MAX || (len > 1 && out[len - 1] == '/') ||
	    strstr(out, "//") || strstr(out, "/./") || strstr(out, "/../"))
		abort();
	if ((len >= 2 && !strcmp(out + len - 2, "/.")) || (len >= 3 && !strcmp(out + len - 3, "/..")))
		abort();
	if (lx_path_normalize("/", out, again, LX_PATH_MAX, &dir) || strcmp(again, out))
		abort();
	free(again);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const uint8_t *nul = memchr(data, '\0', size);
	size_t base_len = nul ? (size_t)(nul - data) : size;
	char *base_in = string(data, base_len);
	char *path = nul ? string(nul + 1, size - base_len - 1) : string((const uint8_t *)".", 1);
	char *base = malloc(LX_PATH_MAX), *out = malloc(LX_PATH_MAX), *small = malloc(SMALL);
	bool want_dir, small_dir;
	int err, small_err;

	if (!base || !out || !small)
		abort();
	/* lx_path_open() never passes an empty path (ENOENT first), nor an empty base. */
	if (!base_in[0] || lx_path_normalize("/", base_in, base, LX_PATH_MAX, &want_dir))
		strcpy(base, "/");
	check_normal(base);
	if (path[0]) {
		err = lx_path_normalize(base, path, out, LX_PATH_MAX, &want_dir);
		if (err == 0)
			check_normal(out);
		else if (err != -ENAMETOOLONG)
			abort();
		/* A smaller buffer gives the same answer or says it is too small. */
		small_err = lx_path_normalize(base, path, small, SMALL, &small_dir);
		if (small_err == 0 && (err || strcmp(small, out) || small_dir != want_dir))
			abort();
		if (small_err != 0 && small_err != -ENAMETOOLONG)
			abort();
	}
	free(base_in);
	free(path);
	free(base);
	free(out);
	free(small);
	return 0;
}
