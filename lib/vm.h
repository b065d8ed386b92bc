/* vm.h: the VM handle shared by the library's files (private). */
#ifndef PKVM_VM_H
#define PKVM_VM_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <time.h>
#include <linux/kvm.h>

#include "libpkvm.h"
#include "frames.h"
#include "demand.h"
#include "pagetable.h"
#include "pkeys.h"
#include "soft.h"
#include "walk.h"
#include "xsave.h"

struct pkvm_lockdown;

/*
 * Something that serves exits: pkvm_run() offers each exit it does not end
 * itself to the VM's servers, in the order they were added, before it
 * returns the exit to its caller.  The core's host functions (hostcall.c)
 * are one; a personality (lib/linux/) is another.  The core knows them only
 * through this, so that what serves guests can grow (signals, threads)
 * without the core naming it.
 */
struct pkvm_exit_server {
	const char *name;
	/*
	 * 1: served, the guest resumes; 0: not served, and @exit (which the
	 * server may have rewritten, e.g. into the program's end) goes to the
	 * next server, then to pkvm_run()'s caller; -errno: the run stops
	 * with that error.
	 */
	int (*serve)(struct pkvm_vm *vm, void *ctx, struct pkvm_exit *exit);
	/*
	 * A wakeup the server asked for came (may be NULL): 0 the guest goes
	 * on (the server may have changed its state, e.g. for a signal), 1
	 * @exit is filled and the run returns it, -errno the run stops.
	 * PKVM_WAKE_HOLD: the guest may not run yet (a stopped program) and the
	 * server waited as long as it could; the run looks for a stop
	 * (pkvm_interrupt(), the time limit), and, in this run or the next,
	 * offers the server a wakeup again before the guest runs.
	 */
	int (*wake)(struct pkvm_vm *vm, void *ctx, struct pkvm_exit *exit);
	/*
	 * Whether the guest is one user context, the vCPU's (may be NULL:
	 * yes).  A server that keeps other contexts parked (the personality's
	 * threads) says no, and pkvm_call() and pkvm_snapshot() refuse with
	 * -EBUSY: a call's return, or a restore, would not find them.
	 */
	bool (*single_context)(void *ctx);
	/* What the server needs allowed by pkvm_seccomp_lockdown() (may be NULL). */
	int (*lockdown)(void *ctx, struct pkvm_lockdown *rules);
	/* Free @ctx: when another ctx replaces it, and when the VM goes (may be NULL). */
	void (*release)(void *ctx);
};

#define PKVM_MAX_SERVERS	4
#define PKVM_WAKE_HOLD		2

/* Ask for the servers' wake() before the guest next runs, from the thread that runs it. */
void pkvm_wake_before_entry(struct pkvm_vm *vm);

/* How the vCPU is stopped from outside: time limit and pkvm_interrupt(). */
struct pkvm_kick {
	int signo;
	pthread_mutex_t lock;		/* orders running/thread against interrupt */
	bool running;
	pthread_t thread;
	atomic_bool interrupt;
	uint64_t deadline_ns;		/* CLOCK_MONOTONIC; 0: none */
	/* A server's wakeup (pkvm_wake(), pkvm_wake_at()): the run offers it to the servers. */
	atomic_bool wake;
	uint64_t wake_ns;		/* CLOCK_MONOTONIC; 0: none */
	bool timer_valid;
	bool timer_armed;		/* set since the last disarm: a disarm is owed */
	pid_t timer_tid;		/* the thread the timer signals */
	timer_t timer;
};

/* Why the last exit happened, for resuming the user context correctly. */
enum pkvm_stop {
	PKVM_STOP_NONE,			/* not run yet, or registers set by the host */
	PKVM_STOP_SYSCALL,
	PKVM_STOP_EXCEPTION,
};

/*
 * fork.c: how a forked child's run ends: pkvm_run() calls it instead of
 * returning (the embedder's code is the parent's alone), with the exit or
 * error it would have returned.  It must not return: it ends the process.
 */
typedef void (*pkvm_forked_end_fn)(struct pkvm_vm *vm, void *ctx, const struct pkvm_exit *exit,
				   int err);

struct pkvm_vm {
	int kvm_fd;			/* /dev/kvm: while the VM is built, or kept for fork */
	char *kvm_path;			/* where it was opened (NULL: /dev/kvm) */
	int vm_fd, vcpu_fd;
	struct kvm_run *run;
	size_t run_size;

	struct pkvm_gmem mem;
	uint64_t pool_gpa, pool_size;
	bool pool_slot_refresh;		/* shadow paging: host table edits need a slot flush */
	uint32_t memslot_flags;		/* KVM_MEM_LOG_DIRTY_PAGES while a snapshot exists */

	struct pkvm_pt pt;
	struct pkvm_frames frames;
	struct pkvm_demand demand;	/* reserved ranges whose pages are filled when touched */
	struct pkvm_pkey_set pkeys;
	enum pkvm_pkeys_backend backend;

	struct kvm_cpuid2 *cpuid;
	struct pkvm_xsave_layout xsave;
	struct kvm_xsave *xsave_buf;
	size_t xsave_size;
	bool xsave2;
	uint64_t xcr0;
	uint64_t cr4;

	struct pkvm_walk_ctx walk;	/* for host copies: the guest's paging mode */

	struct pkvm_regs regs;		/* the user context between runs */
	bool sync_regs;
	/*
	 * KVM_SYNC_X86_SREGS: a set of the special registers may wait in the
	 * run structure for the next KVM_RUN, one ioctl saved
	 * (pkvm_vcpu_set_sregs_deferred()).  Until then it is the vCPU's truth.
	 */
	bool sync_sregs;
	bool sregs_deferred;
	bool finish_entry;		/* a signal stopped the stub mid-entry: let it finish */
	bool segs_dirty;		/* FS/GS base changed by the host */
	uint32_t pkru;
	bool pkru_dirty;		/* set by the host, not yet in the vCPU */
	bool pkru_stale;		/* the guest may have changed it (hw) */
	enum pkvm_pkru_policy pkru_policy;
	uint32_t *pkru_allowed;		/* PKVM_PKRU_ALLOWLIST values */
	size_t pkru_nallowed;

	struct pkvm_soft soft;		/* soft backend: views per PKRU */
	/*
	 * CR3 is committed only once the guest is known to have loaded it: an
	 * entry can be stopped by a signal before the stub's CR3 load, and the
	 * next entry must then load it (and flush the TLB) again.
	 */
	uint64_t cr3;			/* what the vCPU is known to run on */
	uint64_t entry_cr3;		/* what the entry in progress loads */
	bool tlb_flush_pending;		/* tables changed since the vCPU last loaded CR3 */
	uint64_t soft_retry_rip;	/* guards the retry of a fault a view got wrong */
	bool cpuid_faulting;		/* soft: the host answers the guest's CPUID */
	bool soft_pkru_exits;		/* soft: RDPKRU/WRPKRU always exit (no stub table) */
	bool soft_no_pcid;		/* soft: CR4.PCIDE clear, every view switch flushes */
	struct pkvm_stub_pkru_table *stub_table;	/* in guest memory: what the stub and host share */

	struct pkvm_stats stats;

	/* Pages the host wrote since the snapshot (KVM logs the guest's own writes). */
	uint64_t *host_dirty;
	struct pkvm_snapshot *snapshot;

	struct {
		pkvm_hostcall_fn fn;
		void *ctx;
	} hostcall[PKVM_HOSTCALL_MAX];
	bool call_active;		/* pkvm_call() in progress */
	struct pkvm_regs call_saved;	/* the context it returns to */
	bool trampoline_mapped;

	struct pkvm_kick kick;
	pkvm_forked_end_fn forked_end;	/* set in a forked child (fork.c) */
	void *forked_ctx;
	struct {
		const struct pkvm_exit_server *server;
		void *ctx;
	} servers[PKVM_MAX_SERVERS];
	unsigned nservers;
};

/*
 * The reserved tail of a struct the caller passes in must be zero: a
 * non-zero word is a member of a later libpkvm that this one cannot honour.
 */
static inline bool pkvm_reserved_zero(const uint64_t *reserved, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (reserved[i])
			return false;
	return true;
}
#define PKVM_RESERVED_ZERO(s) \
	pkvm_reserved_zero((s)->reserved, sizeof((s)->reserved) / sizeof((s)->reserved[0]))

/* Record host writes to guest-physical memory for pkvm_restore(). */
static inline void pkvm_mark_dirty(struct pkvm_vm *vm, uint64_t gpa, uint64_t len)
{
	for (uint64_t page = gpa >> PAGE_SHIFT; len && page <= (gpa + len - 1) >> PAGE_SHIFT; page++)
		vm->host_dirty[page / 64] |= 1ULL << (page % 64);
}

/*
 * fork.c: keep /dev/kvm open so that pkvm_vm_fork() can make VMs after the
 * lockdown (whose filter then allows what that needs: seccomp.c).
 */
int pkvm_vm_enable_fork(struct pkvm_vm *vm);
/*
 * Fork the host process from inside pkvm_run() (a server serving an exit):
 * the child's pid in the parent, 0 in the child, whose VM is its own copy
 * (copy-on-write) and whose run ends with @end, or -errno (-EBUSY without
 * pkvm_vm_enable_fork(), with a snapshot or inside a pkvm_call()).  A child
 * that cannot rebuild its VM ends at once through @end with the error.
 */
pid_t pkvm_vm_fork(struct pkvm_vm *vm, pkvm_forked_end_fn end, void *ctx);
/* fork.c: a forked child's run is over: its frames go back, then its end (never returns). */
void pkvm_vm_forked_end(struct pkvm_vm *vm, const struct pkvm_exit *exit, int err);
/*
 * fork.c: the frames this VM has free become a budget at @budget (shared
 * memory) that it and every VM forked from it draw on: a limit for all of
 * a forked guest's processes together.  NULL: the VM's own count again.
 */
void pkvm_vm_share_frames(struct pkvm_vm *vm, _Atomic uint64_t *budget);

/* pkvm.c: (re)register memslot 0 (frames and system pages) or 1 (the table pool). */
#define PKVM_SLOT_MEMORY	0
#define PKVM_SLOT_POOL		1
int pkvm_vm_set_memslot(struct pkvm_vm *vm, unsigned slot, bool present);

/* vcpu.c */
int pkvm_vcpu_setup(struct pkvm_vm *vm);
/* The vCPU's registers as pkvm_vcpu_setup() leaves them, for a vCPU made again (fork.c). */
int pkvm_vcpu_program(struct pkvm_vm *vm);
int pkvm_vcpu_set_segments(struct pkvm_vm *vm);
int pkvm_vcpu_to_kernel_mode(struct pkvm_vm *vm, struct kvm_sregs *sregs);
/*
 * The vCPU's special registers, a set still deferred included.  Every read
 * between runs goes through here, and every set through one of the two
 * below: a deferred set makes KVM's own copy stale until the next KVM_RUN.
 */
int pkvm_vcpu_get_sregs(struct pkvm_vm *vm, struct kvm_sregs *sregs);
/* Set now (and drop a deferred set): where an invalid value must fail at once. */
int pkvm_vcpu_set_sregs(struct pkvm_vm *vm, const struct kvm_sregs *sregs);
/* Set with the next KVM_RUN where KVM can (KVM_SYNC_X86_SREGS), else now. */
int pkvm_vcpu_set_sregs_deferred(struct pkvm_vm *vm, const struct kvm_sregs *sregs);

/*
 * fpstate.c: the guest's user FPU state (x87, SSE, AVX..., and PKRU on every
 * backend that has keys) as a standard-form XSAVE image of exactly
 * pkvm_fpstate_size() bytes, with the components pkvm_fpstate_features()
 * names at the offsets CPUID leaf 0xD gives: what a signal frame holds.
 * Restoring refuses (-EINVAL) what XRSTOR would fault on, and (-EPERM) a
 * PKRU change the PKRU policy does not let the guest make; nothing changes
 * then.
 */
uint64_t pkvm_fpstate_features(const struct pkvm_vm *vm);
size_t pkvm_fpstate_size(const struct pkvm_vm *vm);
int pkvm_fpstate_save(struct pkvm_vm *vm, void *buf, size_t size);
int pkvm_fpstate_restore(struct pkvm_vm *vm, const void *buf, size_t size);

/*
 * May the guest have changed PKRU itself while it ran?  Only on hw, with its
 * own WRPKRU or XRSTOR, and not under PKVM_PKRU_LOCKED, whose W^X scan keeps
 * both out of executable memory (wxscan.c): then the host's copy stays
 * exact, and reading PKRU costs no KVM_GET_XSAVE after each exit.
 */
static inline bool pkvm_pkru_guest_can_write(const struct pkvm_vm *vm)
{
	return vm->backend == PKVM_PKEYS_HW && vm->pkru_policy != PKVM_PKRU_LOCKED;
}

/* pkru.c */
int pkvm_pkru_sync_to_vcpu(struct pkvm_vm *vm);
bool pkvm_pkru_guest_may_set(const struct pkvm_vm *vm, uint32_t pkru);
bool pkvm_pkru_policy_allows(const void *vm, uint32_t pkru);	/* the same, for soft.c */

/* hostcall.c: the trampoline's SYSCALL number, just past the registrable host calls. */
#define PKVM_CALL_RETURN_NR	(PKVM_HOSTCALL_BASE + PKVM_HOSTCALL_MAX)
/* Bytes of the trampoline before its SYSCALL, and the SYSCALL's length. */
#define PKVM_TRAMPOLINE_SYSCALL	8
#define PKVM_SYSCALL_INSN_LEN	2
int pkvm_trampoline_map(struct pkvm_vm *vm);
/* probe.c: 0 when the vCPU runs the guest ABI as x86 defines it, -ENODEV if not. */
int pkvm_vm_probe(struct pkvm_vm *vm);

/* hostcall.c: host functions and pkvm_call()'s return, served (added by pkvm_vm_create()). */
extern const struct pkvm_exit_server pkvm_hostcall_server;

/*
 * servers.c: add @server with @ctx, or give it a new @ctx (the old one is
 * released) if it is there already; -ENOSPC past PKVM_MAX_SERVERS.
 */
int pkvm_exit_server_set(struct pkvm_vm *vm, const struct pkvm_exit_server *server, void *ctx);
/* @server's ctx on @vm, NULL if it was never added. */
void *pkvm_exit_server_ctx(const struct pkvm_vm *vm, const struct pkvm_exit_server *server);
/* Offer @exit to each server in turn, as struct pkvm_exit_server says: 1, 0 or -errno. */
int pkvm_exit_servers_serve(struct pkvm_vm *vm, struct pkvm_exit *exit);
/* servers.c: does every server see one user context (struct pkvm_exit_server)? */
bool pkvm_exit_servers_single_context(const struct pkvm_vm *vm);
/* A wakeup: each server's wake(), until one fills @exit (1); 0 or -errno. */
int pkvm_exit_servers_wake(struct pkvm_vm *vm, struct pkvm_exit *exit);
/* Each server's lockdown needs (seccomp.c); then release them all (pkvm.c). */
int pkvm_exit_servers_lockdown(struct pkvm_vm *vm, struct pkvm_lockdown *rules);
void pkvm_exit_servers_release(struct pkvm_vm *vm);
/* seccomp.c: for a server's lockdown(): allow ioctl @request on host @fd. */
int pkvm_lockdown_allow_ioctl(struct pkvm_lockdown *rules, int fd, unsigned long request);
/*
 * seccomp.c: for a server's lockdown(): allow the descriptor-relative,
 * O_NOFOLLOW opens the personality makes with @flags (O_WRONLY, O_CREAT...)
 * as well as the read-only ones always allowed.
 */
int pkvm_lockdown_allow_open_flags(struct pkvm_lockdown *rules, uint64_t flags);
/* seccomp.c: for a server's lockdown(): allow host system call @name, with any arguments. */
int pkvm_lockdown_allow_call(struct pkvm_lockdown *rules, const char *name);

/*
 * guestmem.c: how many bytes from @gva (0..@len) the guest's checked copies
 * (pkvm_read_guest(), pkvm_write_guest() with @write) would accept now: for
 * a caller that must not consume input it could not deliver.
 */
size_t pkvm_guest_accessible(struct pkvm_vm *vm, uint64_t gva, size_t len, bool write);

/*
 * memory.c: is [gva, gva + len) free of mappings and of demand-backed
 * ranges?  0 or -EEXIST (-EINVAL for a bad range).
 */
int pkvm_range_is_free(struct pkvm_vm *vm, uint64_t gva, uint64_t len);
/*
 * memory.c: as pkvm_pt_for_each_leaf(), and the demand-backed pieces not
 * filled yet in between, each as a leaf of its rights and key (PTE_P clear),
 * in address order: what the guest has of [gva, gva + len).
 */
int pkvm_for_each_mapping(struct pkvm_vm *vm, uint64_t gva, uint64_t len, pkvm_pt_leaf_fn fn,
			  void *ctx);
/*
 * memory.c: give the demand-backed page holding @gva its zeroed frame: 0;
 * -EEXIST when it has one, -ENOENT when no demand range holds it, -ENOMEM
 * when no frame or page-table page is left.
 */
int pkvm_demand_fill(struct pkvm_vm *vm, uint64_t gva);

/*
 * soft_exits.c: 1 when the exit was served and the guest resumes, 0 to report
 * it (or, when a served instruction ran single-stepped, the #DB trap after it).
 */
int pkvm_soft_handle_fault(struct pkvm_vm *vm, struct pkvm_exit *exit);

/* wxscan.c: hw lock policy checks before a range becomes executable. */
int pkvm_wx_check(struct pkvm_vm *vm, uint64_t gva, uint64_t len, int prot);
int pkvm_wx_scan_all(struct pkvm_vm *vm);

/* kick.c */
int pkvm_kick_init(struct pkvm_kick *kick, int signo);
void pkvm_kick_destroy(struct pkvm_kick *kick);
int pkvm_kick_begin(struct pkvm_kick *kick, struct kvm_run *run);
void pkvm_kick_end(struct pkvm_kick *kick);
/* In a forked child, inside the run: the lock afresh, no timer yet, @run the one kicked. */
int pkvm_kick_after_fork(struct pkvm_kick *kick, struct kvm_run *run);
bool pkvm_kick_deadline_passed(const struct pkvm_kick *kick);
uint64_t pkvm_now_ns(void);
/*
 * Servers' wakeups: pkvm_wake() from any thread (not a signal handler) makes
 * the run, or the next one, call the servers' wake() soon; pkvm_wake_at()
 * from the thread that runs the VM (or while it does not run) asks for it at
 * @ns on CLOCK_MONOTONIC (0: none), replacing the time asked before; a guest
 * spinning in user code is stopped for it, as for the time limit.
 */
int pkvm_wake(struct pkvm_vm *vm);
int pkvm_wake_at(struct pkvm_vm *vm, uint64_t ns);
/* Is a wakeup due?  Takes it: the flag is cleared, the time forgotten. */
bool pkvm_kick_take_wake(struct pkvm_kick *kick);
/* Is one due, without taking it (for waits inside a server)? */
bool pkvm_kick_wake_pending(const struct pkvm_kick *kick);

#endif /* PKVM_VM_H */
