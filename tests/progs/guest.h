/* guest.h: raw Linux system calls for the freestanding test programs pksandbox runs. */
#ifndef PKVM_TEST_GUEST_H
#define PKVM_TEST_GUEST_H

typedef unsigned long ulong;

static inline long sys3(long nr, long a, long b, long c)
{
	long ret;

	__asm__ volatile("syscall" : "=a"(ret) : "a"(nr), "D"(a), "S"(b), "d"(c)
			 : "rcx", "r11", "memory");
	return ret;
}

static inline long sys6(long nr, long a, long b, long c, long d, long e, long f)
{
	register long r10 __asm__("r10") = d;
	register long r8 __asm__("r8") = e;
	register long r9 __asm__("r9") = f;
	long ret;

	__asm__ volatile("syscall" : "=a"(ret) : "a"(nr), "D"(a), "S"(b), "d"(c), "r"(r10),
			 "r"(r8), "r"(r9) : "rcx", "r11", "memory");
	return ret;
}

static inline ulong str_len(const char *s)
{
	ulong n = 0;

	while (s[n])
		n++;
	return n;
}

static inline long put(int fd, const char *s)
{
	return sys3(1, fd, (long)s, (long)str_len(s));
}

static inline __attribute__((noreturn)) void sys_exit(int status)
{
	for (;;)
		sys3(231, status, 0, 0);
}

/* Every program starts here with RSP at argc (System V ABI, §3.4.1). */
int main(int argc, char **argv);

__asm__(".text\n"
	".global _start\n"
	"_start:\n"
	"	mov (%rsp), %rdi\n"
	"	lea 8(%rsp), %rsi\n"
	"	and $-16, %rsp\n"
	"	call main\n"
	"	mov %eax, %edi\n"
	"	mov $231, %eax\n"
	"	syscall\n"
	"	ud2\n");

#endif
