/* nofile.h: what every bench does first, as a server embedding libpkvm would. */
#ifndef PKVM_BENCH_NOFILE_H
#define PKVM_BENCH_NOFILE_H

#include <sys/resource.h>

/*
 * Each VM holds two descriptors, so the usual soft RLIMIT_NOFILE of 1024
 * stops a process at about 500 VMs: raise it to the hard limit, as
 * include/libpkvm.h advises.
 */
static inline void bench_raise_nofile(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
}

#endif
