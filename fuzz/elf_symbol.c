/* elf_symbol.c: libFuzzer harness for pkvm_elf_symbol(), symbol lookup in an untrusted ELF64 image. */
/*
 * The input is the image.  It is searched for a few fixed names (those of
 * the seeds, so that the fuzzer starts from matches) and for one it chooses
 * itself: its last bytes, up to the last NUL or 16 bytes.
 */
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "libpkvm.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void lookup(const uint8_t *data, size_t size, const char *name)
{
	uint64_t value;
	int err = pkvm_elf_symbol(data, size, name, &value);

	if (err != 0 && err != -ENOENT && err != -ENOEXEC)
		abort();	/* nothing else is documented for a non-empty name */
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *const names[] = { "alpha", "_start", "main", "x" };
	char tail[17];
	size_t n = 0;

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		lookup(data, size, names[i]);
	while (n < 16 && n < size && data[size - 1 - n])
		n++;
	if (n) {
		memcpy(tail, data + size - n, n);
		tail[n] = '\0';
		lookup(data, size, tail);
	}
	return 0;
}
