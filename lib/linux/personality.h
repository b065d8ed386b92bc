/* personality.h: the Linux system-call personality's table and state (private). */
#ifndef PKVM_LINUX_PERSONALITY_H
#define PKVM_LINUX_PERSONALITY_H

#include <stdint.h>

#include "../vm.h"

struct pkvm_linux {
	struct pkvm_linux_config config;
	int exit_status;
};

/* What a handler decided. */
enum pkvm_linux_action {
	PKVM_LINUX_RETURN,		/* resume the guest with the result in RAX */
	PKVM_LINUX_EXIT,		/* end the program with exit_status */
};

struct pkvm_linux_call {
	const char *name;
	/* Sets *result (a value or -errno) and says what to do next. */
	enum pkvm_linux_action (*handler)(struct pkvm_vm *vm, struct pkvm_linux *lx,
					  const uint64_t args[6], int64_t *result);
};

/* The table of served calls, indexed by x86-64 system-call number. */
const struct pkvm_linux_call *pkvm_linux_lookup(uint64_t nr);

#endif /* PKVM_LINUX_PERSONALITY_H */
