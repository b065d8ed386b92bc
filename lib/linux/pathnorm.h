/* pathnorm.h: lexical normalisation of guest paths, no host or guest access (private). */
#ifndef PKVM_LINUX_PATHNORM_H
#define PKVM_LINUX_PATHNORM_H

#include <stdbool.h>
#include <stddef.h>

/*
 * Join @base (an absolute, normalised guest path) and @path (what the guest
 * passed; a '/' first makes @base irrelevant) and resolve ".", ".." and
 * repeated slashes lexically into @out, @size bytes: an absolute path with
 * no "." or ".." component and no repeated or trailing slash ("/" for the
 * root; ".." at the root stays there).  Sets *@want_dir when the joined path
 * ends in a slash.  Both strings are shorter than LX_PATH_MAX.  Returns 0,
 * -ENAMETOOLONG when the result does not fit @out.
 */
int lx_path_normalize(const char *base, const char *path, char *out, size_t size,
		      bool *want_dir);

#endif /* PKVM_LINUX_PATHNORM_H */
