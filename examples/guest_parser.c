/*
 * guest_parser.c: the untrusted half of parser_host.c: a parser the host does
 * not trust, compiled as a freestanding static x86-64 ELF (no libc: nothing
 * in the sandbox provides one) and called function by function.
 *
 * Build: cc -O2 -ffreestanding -fno-builtin -fno-stack-protector -fno-pie -no-pie \
 *           -fcf-protection=none -nostdlib -static -o guest_parser guest_parser.c
 *
 * The host finds these functions by name in the ELF symbol table, so they
 * must stay global (not static).
 */
#include <stdint.h>

int64_t parse_csv_sum(const char *buf, uint64_t len);
int64_t parse_in_place(char *buf, uint64_t len);
void _start(void);

/*
 * The sum of the comma-separated decimal numbers in @buf[0..@len), or -1 if
 * the text is anything else.  It only reads its input.
 */
int64_t parse_csv_sum(const char *buf, uint64_t len)
{
	int64_t sum = 0, n = 0;
	int digits = 0;

	for (uint64_t i = 0; i <= len; i++) {
		if (i == len || buf[i] == ',') {
			if (!digits)
				return -1;
			sum += n;
			n = 0;
			digits = 0;
		} else if (buf[i] >= '0' && buf[i] <= '9' && digits < 18) {
			n = n * 10 + (buf[i] - '0');
			digits++;
		} else {
			return -1;
		}
	}
	return sum;
}

/*
 * A parser gone bad (or exploited): it "normalizes" its input in place.  The
 * host lends the input read-only, so this write must never land.
 */
int64_t parse_in_place(char *buf, uint64_t len)
{
	for (uint64_t i = 0; i < len; i++)
		if (buf[i] == ',')
			buf[i] = ';';
	return parse_csv_sum(buf, len);
}

/*
 * The ELF entry point.  This guest is a library of functions that the host
 * calls with pkvm_call(); it is never started as a program, but an ELF
 * executable needs an entry point: if run, it exits (Linux exit(2)).
 */
__attribute__((naked)) void _start(void)
{
	__asm__ volatile("xor %edi, %edi\n\tmov $60, %eax\n\tsyscall\n\tud2");
}
