/* pathnorm.c: lexical normalisation of guest paths, no host or guest access. */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "pathnorm.h"
#include "personality.h"

/*
 * Lexical ".." is exact here because lx_path_open() never follows a symbolic
 * link below the normalised path (RESOLVE_NO_SYMLINKS).
 */
int lx_path_normalize(const char *base, const char *path, char *out, size_t size, bool *want_dir)
{
	char joined[2 * LX_PATH_MAX + 2];
	size_t len = 0;
	char *save = NULL, *comp;

	if (path[0] == '/')
		snprintf(joined, sizeof(joined), "%s", path);
	else
		snprintf(joined, sizeof(joined), "%s/%s", base, path);
	*want_dir = joined[strlen(joined) - 1] == '/';
	out[0] = '\0';
	for (comp = strtok_r(joined, "/", &save); comp; comp = strtok_r(NULL, "/", &save)) {
		size_t clen = strlen(comp);

		if (!strcmp(comp, "."))
			continue;
		if (!strcmp(comp, "..")) {
			while (len > 0 && out[len - 1] != '/')
				len--;
			if (len > 0)
				len--;	/* the slash: "/a/b" -> "/a", "/a" -> "" (the root) */
			out[len] = '\0';
			continue;
		}
		if (len + 1 + clen + 1 > size)
			return -ENAMETOOLONG;
		out[len++] = '/';
		memcpy(out + len, comp, clen + 1);
		len += clen;
	}
	if (len == 0)
		snprintf(out, size, "/");
	return 0;
}
