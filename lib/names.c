/* names.c: the library's version and the text for its errors, exits and vectors. */
#include <errno.h>
#include <string.h>

#include "libpkvm.h"

#define STR(x)		#x
#define XSTR(x)		STR(x)

const char *pkvm_version(void)
{
	return XSTR(PKVM_VERSION_MAJOR) "." XSTR(PKVM_VERSION_MINOR) "." XSTR(PKVM_VERSION_MICRO);
}

const char *pkvm_strerror(int err)
{
	if (err > 0)
		err = -err;
	switch (err) {
	case 0:
		return "success";
	case -EOPNOTSUPP:
		return "not supported by this host's KVM (or by this version of libpkvm)";
	case -ENODEV:
		return "this KVM does not run x86 guests natively (a paravirtual one such as PVM?)";
	case -ENOENT:
		return "no such file, device or mapping";
	default:
		return strerror(-err);
	}
}

const char *pkvm_exit_reason_name(enum pkvm_exit_reason reason)
{
	static const char *const names[] = {
		[PKVM_EXIT_SYSCALL] = "syscall",
		[PKVM_EXIT_FAULT] = "fault",
		[PKVM_EXIT_EXIT] = "exit",
		[PKVM_EXIT_TIMEOUT] = "timeout",
		[PKVM_EXIT_INTERRUPTED] = "interrupted",
		[PKVM_EXIT_INTERNAL] = "internal",
		[PKVM_EXIT_RETURN] = "return",
		[PKVM_EXIT_OUT_OF_MEMORY] = "out of memory",
	};

	if ((unsigned)reason < sizeof(names) / sizeof(names[0]) && names[reason])
		return names[reason];
	return "unknown";
}

const char *pkvm_vector_name(unsigned vector)
{
	static const char *const names[32] = {
		"#DE", "#DB", "NMI", "#BP", "#OF", "#BR", "#UD", "#NM",
		"#DF", "#MP", "#TS", "#NP", "#SS", "#GP", "#PF", "#15",
		"#MF", "#AC", "#MC", "#XM", "#VE", "#CP", "#22", "#23",
		"#24", "#25", "#26", "#27", "#HV", "#VC", "#SX", "#31",
	};

	return vector < 32 ? names[vector] : "#??";
}
