/*
 * guest_services.c: the untrusted program of hostcall_host.c.  It has no
 * operating system, only the host functions its host registered, which it
 * reaches with `syscall` and RAX = PKVM_HOSTCALL_BASE + nr.  Freestanding
 * static x86-64 ELF (no libc); <libpkvm.h> is included only for
 * PKVM_HOSTCALL_BASE.
 *
 * Build: cc -O2 -ffreestanding -fno-builtin -fno-stack-protector -fno-pie -no-pie \
 *           -fcf-protection=none -nostdlib -static $(pkg-config --cflags libpkvm) \
 *           -o guest_services guest_services.c
 */
#include <stdint.h>

#include <libpkvm.h>

/* The host functions hostcall_host.c registers: their numbers are the ABI between the two. */
#define SVC_LOG		0	/* log(const char *msg, size_t len) -> 0 or -errno */
#define SVC_LOOKUP	1	/* lookup(const char *name, char *value, size_t size) -> length or -errno */

int guest_main(void);

static int64_t hostcall(unsigned nr, uint64_t a, uint64_t b, uint64_t c)
{
	int64_t ret;

	/* As a Linux system call: SYSCALL clobbers RCX and R11. */
	__asm__ volatile("syscall"
			 : "=a"(ret)
			 : "a"((uint64_t)PKVM_HOSTCALL_BASE + nr), "D"(a), "S"(b), "d"(c)
			 : "rcx", "r11", "memory");
	return ret;
}

static uint64_t length(const char *s)
{
	uint64_t n = 0;

	while (s[n])
		n++;
	return n;
}

/* Append @s to @buf at *@at, bounded by @size (keeps a final NUL). */
static void append(char *buf, uint64_t size, uint64_t *at, const char *s)
{
	while (*s && *at + 1 < size)
		buf[(*at)++] = *s++;
	buf[*at] = 0;
}

static void append_int(char *buf, uint64_t size, uint64_t *at, int64_t v)
{
	char digits[24];
	int n = 0;
	uint64_t u = v < 0 ? -(uint64_t)v : (uint64_t)v;

	do
		digits[n++] = '0' + u % 10;
	while ((u /= 10) && n < 20);
	if (v < 0)
		digits[n++] = '-';
	while (n > 0 && *at + 1 < size)
		buf[(*at)++] = digits[--n];
	buf[*at] = 0;
}

static int64_t log_text(const char *msg)
{
	return hostcall(SVC_LOG, (uint64_t)msg, length(msg), 0);
}

int guest_main(void)
{
	static const char *const names[] = { "colour", "size", "owner" };
	char value[32], line[96];
	int found = 0;

	log_text("guest: started, looking up my settings");
	for (unsigned i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		int64_t n = hostcall(SVC_LOOKUP, (uint64_t)names[i], (uint64_t)value, sizeof(value));
		uint64_t at = 0;

		append(line, sizeof(line), &at, "guest: ");
		append(line, sizeof(line), &at, names[i]);
		if (n >= 0) {
			append(line, sizeof(line), &at, " = ");
			append(line, sizeof(line), &at, value);
			found++;
		} else {
			append(line, sizeof(line), &at, ": error ");
			append_int(line, sizeof(line), &at, n);
		}
		log_text(line);
	}
	/* Host functions check every pointer: one into the host's half of the address space fails. */
	{
		int64_t r = hostcall(SVC_LOG, 0xffff800000000000ULL, 16, 0);
		uint64_t at = 0;

		append(line, sizeof(line), &at, "guest: log from a kernel address returned ");
		append_int(line, sizeof(line), &at, r);
		log_text(line);
	}
	return found;	/* the exit status: how many settings were found */
}

/*
 * The ELF entry point: at entry RSP points at argc (16-byte aligned); a C
 * function expects RSP + 8 aligned, so call guest_main from assembly, then
 * exit(2) with its result: the host sees that as a plain system call.
 */
__asm__(".globl _start\n"
	"_start:\n\t"
	"xor %ebp, %ebp\n\t"
	"and $-16, %rsp\n\t"
	"call guest_main\n\t"
	"mov %eax, %edi\n\t"
	"mov $60, %eax\n\t"
	"syscall\n\t"
	"ud2\n");
