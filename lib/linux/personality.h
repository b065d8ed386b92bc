/* personality.h: the Linux personality's state, handler type and per-file entry points (private). */
#ifndef PKVM_LINUX_PERSONALITY_H
#define PKVM_LINUX_PERSONALITY_H

#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <time.h>
#include <sys/types.h>

#include "../vm.h"

/* Linux's own limits, so that no guest value sizes anything unbounded. */
#define LX_MAX_RW		0x7ffff000ULL	/* MAX_RW_COUNT */
#define LX_MAX_IOV		1024		/* UIO_MAXIOV */
#define LX_PATH_MAX		4096
#define LX_NR_FDS		1024		/* the most max_fds may be */
#define LX_DEFAULT_FDS		256		/* max_fds 0: RLIMIT_NOFILE we report and enforce */
#define LX_DEFAULT_ADDRESS_SPACE (512ULL << 30)	/* max_address_space 0 */
#define LX_MAX_VMAS		65530		/* vm.max_map_count */
#define LX_NR_SIGNALS		64
#define LX_BOUNCE		65536		/* one host copy buffer's worth per step */
#define LX_PIPE_SIZE		65536		/* a pipe's capacity: Linux's default, and the host's */

/* Identity the guest sees: a plain user in its own little world. */
#define LX_PID			2
#define LX_PPID			1
#define LX_UID			1000
#define LX_GID			1000

/* The terminal ioctls forwarded to a host stream (files.c) and allowed after the lockdown. */
#define LX_TCGETS		0x5401
#define LX_TIOCGWINSZ		0x5413

/* Linux's default PKRU for a new process: every key but 0 access-disabled. */
#define LX_INIT_PKRU		0x55555554U
#define LX_SS_DISABLE		2		/* an alternate signal stack's: none */

/* An open file that one or more guest fds share (dup), with its host fd. */
struct lx_file {
	unsigned refs;
	int host_fd;
	bool owned;			/* opened by us: close it with the last reference */
	bool readable, writable;
	bool is_dir;
	char *path;			/* a directory's normalized guest path, for openat() */
	unsigned *held;			/* owned: the count of host fds it is one of */
	bool may_block;			/* not a regular file: reads and writes wait (block.c) */
	bool is_pipe;			/* a pipe (ours, or a host stream): vmsplice() takes it */
	bool is_epoll;			/* an epoll instance (epoll.c) */
	bool nonblock;			/* the guest's O_NONBLOCK: a stream that would wait says EAGAIN */
	bool append;			/* O_APPEND: every write goes to the end */
	const struct lx_root *root;	/* the tree it was opened in (NULL: a stream, a pipe) */
	uint64_t tmpfs_ino;		/* a tmpfs file: its inode, counted open (space.c); 0 */
};

struct lx_fd {
	struct lx_file *file;		/* NULL: free */
	bool cloexec;
};

/* One allowed --ro root: a canonical host path and whether it is a directory. */
/* trees.c: a tmpfs's host side and its size (what it holds: space.c). */
#define LX_MAX_TMPFS		64
struct lx_tmpfs_space;
struct lx_tmpfs {
	int parent_fd;			/* the host directory it was made in */
	char *name;			/* its name there */
	uint64_t size;			/* bytes its files may hold together */
	unsigned index;			/* which of the guest's tmpfs: 0..LX_MAX_TMPFS - 1 */
	struct lx_tmpfs_space *space;	/* shared by the guest's processes */
};

/* space.c: a name about to go or be replaced, as lx_tmpfs_look() saw it. */
struct lx_tmpfs_name {
	struct lx_tmpfs *tmpfs;		/* NULL: not a tmpfs's, or not there */
	uint64_t ino;
	bool dir;
	bool last_name;			/* a regular file with no other link */
};

/*
 * One allowed root: a guest path and the host directory or file behind it
 * (the same path, but for a tmpfs), read-only or writable.
 */
struct lx_root {
	char *path;			/* the guest's path (canonical) */
	size_t len;
	bool is_dir;
	bool special;			/* ro_special_paths: procfs, sysfs, devices allowed */
	bool writable;			/* rw_paths, tmpfs: the guest may change the tree */
	struct lx_tmpfs *tmpfs;		/* NULL: a host tree */
	int fd;				/* O_PATH: the directory, or a file's parent */
	const char *name;		/* a file: its name in that parent (inside path) */
};

/* A range of the guest address space (page aligned), and the file behind it, if any. */
struct lx_vma {
	uint64_t start, end;
	struct lx_file *file;		/* a file mapped privately here: one reference per range */
	uint64_t offset;		/* the file offset that start maps */
};

/*
 * Sorted, not overlapping.  Plain sets (no files) merge ranges that touch;
 * file sets keep each mapping's range apart.
 */
struct lx_vmaset {
	struct lx_vma *v;
	unsigned n, cap;
};

/* The kernel's struct sigaction for rt_sigaction (x86-64). */
struct lx_sigaction {
	uint64_t handler, flags, restorer, mask;
};

/* siginfo_t as the kernel writes it (128 bytes): the members this personality fills. */
struct lx_siginfo {
	int32_t signo, errno_, code, pad;
	union {
		struct {
			int32_t pid;
			uint32_t uid;
		} kill;
		struct {
			uint64_t addr;
			int16_t addr_lsb;
			uint8_t pad[6];
			uint32_t pkey;		/* SEGV_PKUERR */
		} fault;
		struct {
			int32_t pid;
			uint32_t uid;
			int32_t status;		/* the exit code, or the signal */
			int32_t pad;
			int64_t utime, stime;
		} child;			/* SIGCHLD */
		struct {
			int32_t tid;		/* the POSIX timer's id */
			int32_t overrun;
			uint64_t value;		/* sigev_value */
		} timer;
		uint8_t raw[112];
	};
};

/* clone() flags (threads.c, forks.c) */
#define LX_CSIGNAL		0x000000ffULL	/* the signal the parent gets at a child's end */
#define LX_CLONE_VM		0x00000100ULL
#define LX_CLONE_FS		0x00000200ULL
#define LX_CLONE_FILES		0x00000400ULL
#define LX_CLONE_SIGHAND	0x00000800ULL
#define LX_CLONE_PARENT		0x00008000ULL
#define LX_CLONE_THREAD		0x00010000ULL
#define LX_CLONE_SYSVSEM	0x00040000ULL
#define LX_CLONE_SETTLS		0x00080000ULL
#define LX_CLONE_PARENT_SETTID	0x00100000ULL
#define LX_CLONE_CHILD_CLEARTID	0x00200000ULL
#define LX_CLONE_DETACHED	0x00400000ULL	/* ignored by Linux; musl still passes it */
#define LX_CLONE_CHILD_SETTID	0x01000000ULL
#define LX_CLONE_VFORK		0x00004000ULL
/* A thread: what every libc's pthread_create() asks for. */
#define LX_THREAD_FLAGS		(LX_CLONE_VM | LX_CLONE_FS | LX_CLONE_FILES | LX_CLONE_SIGHAND | \
				 LX_CLONE_THREAD)
#define LX_THREAD_OPTIONS	(LX_CLONE_SYSVSEM | LX_CLONE_SETTLS | LX_CLONE_PARENT_SETTID | \
				 LX_CLONE_CHILD_CLEARTID | LX_CLONE_CHILD_SETTID | LX_CLONE_DETACHED)

/* struct clone_args (clone3), its version 0 fields. */
struct lx_clone_args {
	uint64_t flags, pidfd, child_tid, parent_tid, exit_signal, stack, stack_size, tls;
};

/* A timer on the host's CLOCK_MONOTONIC: when it fires next (0: disarmed), then how often. */
struct lx_timer {
	uint64_t next_ns, interval_ns;
};

#define LX_MAX_TIMERS		32	/* POSIX timers per program: more is EAGAIN */

/* A relative sleep stopped by pkvm_interrupt(), to be resumed to its end (time.c). */
struct lx_restart {
	bool valid;
	uint64_t rip, args[6];
	struct timespec until;		/* absolute, on CLOCK_MONOTONIC */
};

/* A timer_create() timer (timers.c). */
struct lx_posix_timer {
	bool used;
	struct lx_timer t;
	clockid_t clock;
	int signo, notify;		/* SIGEV_SIGNAL or SIGEV_NONE */
	uint64_t value;			/* sigev_value, given back in si_value */
	int overrun;			/* expirations the pending signal stands for, beyond one */
};

/* stack_t */
struct lx_stack {
	uint64_t sp;
	int32_t flags;
	int32_t pad;
	uint64_t size;
};

/* One thread's signal state: the running thread's is lx->sig.t, the others' in their slots. */
struct lx_sigthread {
	uint64_t blocked, pending;			/* bit sig - 1 */
	struct lx_siginfo info[LX_NR_SIGNALS];		/* of each pending signal */
	struct lx_stack altstack;			/* SS_DISABLE in flags: none */
	uint64_t saved_mask;				/* sigsuspend(): the mask to go back to */
	bool mask_saved;
	/* The last fault, which Linux keeps per thread and puts in every frame. */
	uint64_t fault_err, fault_trapno, fault_cr2;
};

/* signal.c's state: the process's, and the running thread's. */
struct lx_signals {
	struct lx_sigaction action[LX_NR_SIGNALS];	/* [sig - 1] */
	struct lx_sigthread t;				/* the running thread's */
	_Atomic uint64_t external;			/* pkvm_linux_kill(), any thread */
	bool killed;					/* SIGKILL from outside */
	bool stopped;					/* by SIGSTOP, until SIGCONT */
	struct lx_timer itimer_real;			/* ITIMER_REAL, alarm() (time.c) */
};

#define LX_MAX_PROCS		4096	/* the most max_procs may be */
#define LX_MAX_THREADS		128	/* threads of one program: more is EAGAIN */
#define LX_DEADLOCK_STATUS	124	/* every thread blocked for good, as timeout(1) says */

/* A thread of the program (threads.c): its state while another one runs. */
struct lx_thread {
	int tid;
	bool blocked;			/* on a futex (futex.c) */
	uint64_t futex;			/* the word it waits on, */
	uint32_t bitset;		/* for these wakes, */
	uint64_t deadline_ns;		/* until then (CLOCK_MONOTONIC, 0: no timeout) */
	uint64_t clear_tid;		/* CLONE_CHILD_CLEARTID, set_tid_address() */
	struct pkvm_regs regs;
	uint8_t *fpstate;		/* pkvm_fpstate_size() bytes: FPU, SSE, AVX, PKRU */
	/* Its signal state and a sleep to resume, while another thread runs. */
	struct lx_sigthread sig;
	struct lx_restart restart;
};

/*
 * procs.c: the guest's processes.  Each is a host process (forks.c), and
 * what they must see of each other lives in one table of memory they all
 * share, made before the first fork: ids, parents, groups, wait statuses,
 * and the signals one sends another.  A process rings another's doorbell
 * (an eventfd made with the table, so every process holds them all) to end
 * a wait of its; one running guest code looks at its slot every slice.
 */
enum lx_proc_state {
	LX_PROC_FREE,
	LX_PROC_LIVE,
	LX_PROC_ZOMBIE,			/* ended; its parent has not waited for it yet */
};

struct lx_proc {
	enum lx_proc_state state;
	int32_t pid, ppid, pgid, sid;
	pid_t host_pid;
	int exit_signal;		/* sent to the parent at the end: clone()'s CSIGNAL */
	int status;			/* a zombie's wait status, as wait4() gives it */
	bool reaps_children;		/* SIGCHLD ignored or SA_NOCLDWAIT: no zombies */
	uint64_t pending;		/* signals from the other processes, */
	struct lx_siginfo info[LX_NR_SIGNALS];	/* and the information of each */
	int doorbell;			/* host eventfd */
};

struct lx_procs {
	pthread_mutex_t lock;		/* process-shared: every field below */
	unsigned max;			/* slots: the process limit */
	int32_t next_id;		/* pids and tids come from here */
	bool over;			/* the first process ended: every process ends */
	int first;			/* a pidfd of the first process's host process, or -1 */
	_Atomic uint64_t frames;	/* the guest memory left to all of them (fork.c) */
	struct lx_proc slot[];
};

struct pkvm_linux {
	struct pkvm_vm *vm;		/* the VM it serves */
	struct pkvm_linux_config config;
	int exit_status;
	int exit_signal;		/* the signal that ended the program, 0 if none */
	bool out_of_memory;		/* it was SIGKILL for want of guest memory */
	bool pkeys;			/* the backend enforces keys: pkey_* calls work */

	/* memory.c */
	uint64_t brk_start, brk;	/* brk is the guest's value; pages to page_up(brk) are mapped */
	uint64_t mmap_top;		/* mmap() places memory below this */
	struct lx_vmaset vmas;		/* handed out (image and stack included) */
	struct lx_vmaset none;		/* PROT_NONE: no access for the guest nor for its syscalls */
	struct lx_vmaset filemaps;	/* private file mappings: what MADV_DONTNEED reads back */

	/* files.c, fdtable.c, paths.c */
	struct lx_fd fds[LX_NR_FDS];
	struct lx_root *roots;
	unsigned nroots;
	char *cwd;			/* a normalized guest path; NULL: "/" */
	unsigned umask;			/* umask(): what created files' modes lose */
	struct lx_tmpfs_space *tmpfs_space;	/* trees.c, space.c: shared by the processes */
	int devnull;			/* the host's /dev/null: the guest's, whatever the roots */
	int emptydir;			/* a removed empty host directory: what "/" is */
	unsigned host_fds;		/* host fds the guest's open files hold (max_fds) */

	/* pkeys.c: the guest's keys are its own, never the host's */
	uint16_t pkey_pool;		/* keys the guest may allocate (bit k: key k) */
	uint16_t pkeys_held;		/* keys the guest allocated and has not freed */
	int exec_only_key;		/* hw: the key of PROT_EXEC-only pages, -1 until one is needed */

	struct lx_signals sig;		/* signal.c */
	struct lx_posix_timer timers[LX_MAX_TIMERS];	/* timers.c: timer_create() */

	/* process.c */
	char comm[16];			/* prctl(PR_SET_NAME) */
	int nice;			/* setpriority() */
	struct pkvm_program program;	/* exec.c: the image execve() loaded (config.program then) */

	/* time.c, block.c: a relative sleep stopped by pkvm_interrupt(), resumed to its end. */
	struct lx_restart restart;

	/* threads.c: the running thread is threads[cur], its state the vCPU's and sig's */
	struct lx_thread *threads[LX_MAX_THREADS];
	unsigned cur, nthreads;
	int32_t last_tid;		/* the last id given, alone (procs.c: lx_new_id()) */
	bool yield;			/* sched_yield(): let another thread run */
	bool exiting;			/* exit(): the running thread is gone */
	bool idle;			/* every thread blocked: waiting before the guest runs */
	bool deadlocked;		/* ... and none ever can run again */
	uint64_t slice_end;		/* the running thread's time is up then (CLOCK_MONOTONIC) */

	/* procs.c: this process among the guest's (procs NULL: the only one, pid LX_PID) */
	struct lx_procs *procs;
	unsigned slot;
	int32_t pid;
	uint64_t first_checked_ns;	/* when the first process was last seen alive */
	pid_t *host_children;		/* the host processes this one forked, not yet reaped */
	unsigned nhost_children;

	struct pkvm_linux_stats stats;
	char trace_line[1024];
	char *bounce;			/* LX_BOUNCE bytes for copies between guest and host */
};

/* What a handler decided. */
enum lx_action {
	LX_RETURN,			/* resume the guest with the result in RAX */
	LX_EXIT,			/* end the program with exit_status */
};

typedef enum lx_action (*lx_handler)(struct pkvm_vm *vm, struct pkvm_linux *lx,
				     const uint64_t args[6], int64_t *result);

/*
 * One allow-listed call: its handler and how --trace shows each argument,
 * one letter each ("" for none); its name is the kernel's (lx_syscall_name()).
 * Values (decode.c):
 *   d int, l long (64-bit signed), u unsigned, x hex, o octal (a mode),
 *   p pointer (NULL by name), f fd, a dirfd (AT_FDCWD by name), P PROT_*,
 *   M MAP_*, O O_* (open: with the access mode), N O_* (pipe2, dup3: no
 *   access mode, 0 when none), A AT_* flags, C CLONE_* with clone()'s exit signal, S a
 *   signal, H SIG_BLOCK/SIG_UNBLOCK/SIG_SETMASK, F fcntl's F_*, c CLOCK_*,
 *   W wait's W*, L arch_prctl's ARCH_*, X FUTEX_* operation, w SEEK_*,
 *   R access()'s R_OK|W_OK|X_OK, K PKEY_DISABLE_*, V MADV_*, E EPOLL_CTL_*,
 *   Y MREMAP_*, G GRND_*, r RLIMIT_*.
 * Guest memory (trace.c, read after the call, hex when unreadable):
 *   s string, t struct timespec, i int[2] of descriptors (pipe), g signal
 *   mask (8 bytes), k struct clone_args (clone3), q struct sigaction.
 */
struct lx_call {
	lx_handler handler;
	const char *args;
};

/* personality.c: the personality attached to @vm, NULL if none. */
struct pkvm_linux *lx_get(const struct pkvm_vm *vm);

/* table.c: the allow-list, indexed by x86-64 system-call number (NULL: not listed, not served). */
const struct lx_call *lx_lookup(uint64_t nr);

/*
 * trace.c: lx->trace_line for one call: its name and arguments, "openat(...)"
 * (reading guest memory; @result tells whether outputs were filled), then
 * " = result" appended.  Normally both after the call; for a call that
 * replaces the guest's memory (execve), the arguments before it.
 */
void lx_trace_args(struct pkvm_vm *vm, struct pkvm_linux *lx, uint64_t nr,
		   const struct lx_call *call, const uint64_t args[6], int64_t result);
void lx_trace_result(struct pkvm_linux *lx, uint64_t nr, const struct lx_call *call,
		     int64_t result);
/* trace.c: tell the trace callback of a signal's delivery, as strace shows it. */
void lx_trace_signal(struct pkvm_vm *vm, struct pkvm_linux *lx, const struct lx_siginfo *info);

/* signal.c */
void lx_signals_init(struct pkvm_linux *lx);
/* execve(): handlers back to SIG_DFL (ignored stays ignored), no alternate stack. */
void lx_signals_exec(struct pkvm_linux *lx);
/* Does SIGCHLD's action (SIG_IGN, SA_NOCLDWAIT) say ended children leave no zombie? */
bool lx_signal_reaps_children(const struct pkvm_linux *lx);
/* Make @sig pending with @info (dropped if ignored and not blocked; standard signals do not queue). */
void lx_signal_send(struct pkvm_linux *lx, int sig, const struct lx_siginfo *info);
/* Is a signal pending that is not blocked? */
bool lx_signal_pending(const struct pkvm_linux *lx);
/*
 * Deliver what is pending and not blocked, on the way back to the program:
 * a handler's frame (LX_RETURN with the registers at the handler), or the
 * end of the program (LX_EXIT, exit_signal and exit_status set).
 */
enum lx_action lx_signal_deliver(struct pkvm_vm *vm, struct pkvm_linux *lx);
/* Take in signals from outside the program's calls: pkvm_linux_kill(), timers. */
void lx_signal_poll(struct pkvm_vm *vm, struct pkvm_linux *lx);
/* For a blocking call that a wakeup ended: poll; must it end now (-EINTR or restart)? */
bool lx_signal_interrupts(struct pkvm_vm *vm, struct pkvm_linux *lx);
/* Would the signal about to be delivered restart an interrupted call (SA_RESTART)? */
bool lx_signal_restarts(const struct pkvm_linux *lx);
/* lx_signal_deliver() if anything is pending, and SIGKILL from outside. */
enum lx_action lx_signal_deliver_all(struct pkvm_vm *vm, struct pkvm_linux *lx);
/* The server's wake(): a timer or pkvm_linux_kill() came (struct pkvm_exit_server). */
int lx_signal_wake(struct pkvm_vm *vm, struct pkvm_linux *lx, struct pkvm_exit *exit);
/*
 * time.c: the end (CLOCK_MONOTONIC) of a relative wait of @rel_ns: from now,
 * or, when the guest makes the same call again after lx_restart(), the end
 * lx_remember_deadline() kept the first time: a wait a stop or a time
 * slice cut short resumes for what was left, not for all of it again.
 */
void lx_relative_deadline(struct pkvm_vm *vm, struct pkvm_linux *lx, const uint64_t args[6],
			  int64_t rel_ns, struct timespec *until);
void lx_remember_deadline(struct pkvm_vm *vm, struct pkvm_linux *lx, const uint64_t args[6],
			  const struct timespec *until);
/* time.c: has CLOCK_MONOTONIC reached @until? */
bool lx_deadline_passed(const struct timespec *until);
/* signal.c: a guest sigset_t of @size bytes (the kernel's: 8, else EINVAL) at @gva. */
int lx_read_sigmask(struct pkvm_vm *vm, uint64_t gva, uint64_t size, uint64_t *mask);
/* signal.c: the running thread's mask becomes @mask (SIGKILL and SIGSTOP stay unblocked). */
void lx_signal_set_blocked(struct pkvm_linux *lx, uint64_t mask);
/* time.c: a guest struct timespec, checked (EINVAL) and capped far away (EFAULT). */
int lx_read_timespec(struct pkvm_vm *vm, uint64_t gva, struct timespec *ts);
/* personality.c: the program's end, as the run reports it (PKVM_EXIT_EXIT). */
void lx_fill_exit(const struct pkvm_linux *lx, struct pkvm_exit *exit);
/* threads.c (see there) */
int lx_threads_init(struct pkvm_vm *vm, struct pkvm_linux *lx);
void lx_threads_destroy(struct pkvm_linux *lx);
struct lx_thread *lx_current(struct pkvm_linux *lx);
struct lx_thread *lx_thread_find(struct pkvm_linux *lx, int tid);
int lx_threads_schedule(struct pkvm_vm *vm, struct pkvm_linux *lx);
int lx_threads_wait(struct pkvm_vm *vm, struct pkvm_linux *lx);
/* futex.c: wake up to @count waiters on @uaddr whose bitset meets @bitset; how many. */
int lx_futex_wake(struct pkvm_linux *lx, uint64_t uaddr, uint32_t count, uint32_t bitset);
/* threads.c: when the running thread's time slice ends (0: alone, no slice). */
uint64_t lx_threads_slice_end(const struct pkvm_linux *lx);
/* threads.c: at the wake hook: a thread whose slice is over makes way (0 or -errno). */
int lx_threads_preempt(struct pkvm_vm *vm, struct pkvm_linux *lx);
/* timers.c: ask the core for a wakeup at the first timer expiry or slice end. */
void lx_wakeup_rearm(struct pkvm_vm *vm, struct pkvm_linux *lx);
/* timers.c: is any timer armed (one that may yet send a signal)? */
bool lx_timers_armed(const struct pkvm_linux *lx);
/* timers.c: send the signals of the timers that expired, and ask the core for the next wakeup. */
void lx_timers_fire(struct pkvm_vm *vm, struct pkvm_linux *lx);
/* timers.c: how many times @t expired by @now (0: not due); its next time moves on. */
uint64_t lx_timer_expire(struct lx_timer *t, uint64_t now);

/*
 * A CPU exception of the program's: 1 when its handler now runs, 0 when the
 * exit goes on to the embedder (unhandled: the program ends by the fault;
 * or rewritten as PKVM_EXIT_EXIT when delivery itself ended it).
 */
int lx_signal_fault(struct pkvm_vm *vm, struct pkvm_linux *lx, struct pkvm_exit *exit);

/* memory.c */
int lx_memory_init(struct pkvm_vm *vm, struct pkvm_linux *lx);
void lx_memory_destroy(struct pkvm_linux *lx);
/* Rights as mmap's PROT_* bits (0: PROT_NONE, kept mapped as supervisor-only pages). */
int lx_protect(struct pkvm_vm *vm, uint64_t start, uint64_t len, unsigned prot);

/* pkeys.c */
void lx_pkeys_init(struct pkvm_vm *vm, struct pkvm_linux *lx);
/* Is @pkey one the guest may put on its pages (0, or one it allocated)? */
bool lx_pkey_is_guests(const struct pkvm_linux *lx, int pkey);
/*
 * The key an mprotect() or mmap() without a key gives [addr, addr + len)
 * for @prot, as Linux's arch_override_mprotect_pkey(): the execute-only key
 * for PROT_EXEC alone on hw; pages that had it go back to key 0 for any
 * other @prot; else the pages keep theirs.  Applies it.
 */
int lx_pkey_apply_exec_only(struct pkvm_vm *vm, struct pkvm_linux *lx, uint64_t addr,
			    uint64_t len, unsigned prot);

/* vmas.c: ranges are page aligned, [start, end). */
/* Add to a plain set, merging. */
/* The bytes the ranges cover. */
uint64_t lx_vma_total(const struct lx_vmaset *lx);
int lx_vma_add(struct lx_vmaset *set, uint64_t start, uint64_t end);
/* Add to a file set, taking a reference on @file; -EEXIST if it overlaps a range there. */
int lx_vma_add_file(struct lx_vmaset *set, uint64_t start, uint64_t end, struct lx_file *file,
		    uint64_t offset);
/*
 * Remove [start, end): ranges inside go (dropping their file references),
 * ranges across an edge are cut, keeping their file offsets right.  Fails
 * (-ENOMEM) only when a range must split in two and there is no room;
 * lx_vma_remove_prepare() makes the room first, so that the removal of the
 * same range after it cannot fail.
 */
int lx_vma_remove(struct lx_vmaset *set, uint64_t start, uint64_t end);
int lx_vma_remove_prepare(struct lx_vmaset *set, uint64_t start, uint64_t end);
bool lx_vma_covered(const struct lx_vmaset *set, uint64_t start, uint64_t end);
bool lx_vma_overlaps(const struct lx_vmaset *set, uint64_t start, uint64_t end);
/* The highest free range of @len bytes inside [floor, top), or -ENOMEM. */
int lx_vma_find_free(const struct lx_vmaset *set, uint64_t len, uint64_t floor, uint64_t top,
		     uint64_t *addr);
/*
 * Call @fn on the part of each range inside [start, end), in order (its
 * offset moved with a cut start); a non-zero return stops and is returned.
 */
int lx_vma_each(const struct lx_vmaset *set, uint64_t start, uint64_t end,
		int (*fn)(void *ctx, const struct lx_vma *part), void *ctx);
/*
 * Call @fn on each maximal part of [start, end) that @set does not cover, in
 * order; a non-zero return stops and is returned.  Costs the ranges of @set
 * inside, not the length.
 */
int lx_vma_each_gap(const struct lx_vmaset *set, uint64_t start, uint64_t end,
		    int (*fn)(void *ctx, uint64_t start, uint64_t end), void *ctx);
/*
 * Give [to, to + (end - start)) the file ranges of [start, end), as mremap()
 * moves a mapping: the target must hold none, and must not overlap the source.
 */
int lx_vma_copy_files(struct lx_vmaset *set, uint64_t start, uint64_t end, uint64_t to);
void lx_vmaset_destroy(struct lx_vmaset *set);

/*
 * Copies for system calls: pkvm_read_guest()/pkvm_write_guest() (PKRU
 * included), and EFAULT for PROT_NONE pages, which x86 can only make
 * supervisor pages, which a supervisor copy could otherwise reach.
 */
int lx_read(struct pkvm_vm *vm, void *dst, uint64_t gva, size_t len);
/*
 * How many bytes from @gva (0..@len) lx_read() (or lx_write(), with @write)
 * would take now: input is not consumed that could not be delivered, and a
 * buffer that goes bad part-way gives a short count, as Linux's copies do.
 */
size_t lx_accessible(struct pkvm_vm *vm, uint64_t gva, size_t len, bool write);
int lx_write(struct pkvm_vm *vm, uint64_t gva, const void *src, size_t len);
long lx_read_string(struct pkvm_vm *vm, char *dst, uint64_t gva, size_t size);

/* fdtable.c */
int lx_fdtable_init(struct pkvm_linux *lx);
/* execve(): the descriptors marked close-on-exec close. */
void lx_fds_close_on_exec(struct pkvm_linux *lx);
void lx_fdtable_destroy(struct pkvm_linux *lx);
struct lx_file *lx_fd_get(struct pkvm_linux *lx, uint64_t fd);
int lx_fd_install(struct pkvm_linux *lx, struct lx_file *file, unsigned lowest, bool cloexec);
/* Is a descriptor free (below max_fds)?  Asked before an open that creates or truncates. */
bool lx_fd_room(const struct pkvm_linux *lx);
int lx_fd_close(struct pkvm_linux *lx, uint64_t fd);
struct lx_file *lx_file_new(int host_fd, bool owned, bool readable, bool writable);
void lx_file_put(struct lx_file *file);
/* @file owns its host fd: count it among the guest's (max_fds), until the last put. */
void lx_file_hold(struct pkvm_linux *lx, struct lx_file *file);

/* paths.c: resolve a guest path under the roots and open it on the host. */
/* Add the host path @given as a read-only root (special: may hold kernel file systems). */
int lx_root_add(struct pkvm_linux *lx, const char *given, bool special);
/*
 * lx_path_open_host() with O_CREAT (@mode, less the umask), O_TRUNC, O_APPEND
 * and writing in a writable tree; *@root (may be NULL) the root of the file
 * (NULL for /dev/null).
 */
int lx_path_create(struct pkvm_linux *lx, int64_t dirfd, const char *given, int flags,
		   mode_t mode, bool path_only, char **guest_path, const struct lx_root **root);
/* What a call that adds or removes a name needs: its directory and the name. */
struct lx_parent {
	int dirfd;			/* host O_PATH fd of the directory (the caller closes it) */
	char name[256];
	const struct lx_root *root;
};
/*
 * The directory of @given (guest path, relative to guest @dirfd) walked to
 * as opens are, in a writable tree: 0, or -EROFS (read-only tree), -EBUSY
 * (the top of a tree), -ENOENT, -ENOTDIR, -EACCES (a link), -ENAMETOOLONG.
 */
int lx_path_parent(struct pkvm_linux *lx, int64_t dirfd, const char *given,
		   struct lx_parent *parent);
/* landlock.c: restrict this thread (and what it forks) to the roots, where the kernel can. */
int lx_landlock(const struct pkvm_linux *lx);
/* changes.c: what writable trees need allowed by the lockdown (nothing without one). */
int lx_changes_lockdown(const struct pkvm_linux *lx, struct pkvm_lockdown *rules);
/* trees.c: the rw and tmpfs roots (from lx_paths_init()), and their end. */
int lx_trees_init(struct pkvm_linux *lx);
void lx_trees_destroy(struct pkvm_linux *lx);
/* trees.c: file @f is about to reach @end bytes: its tmpfs (if any) counts them, or ENOSPC. */
int lx_tmpfs_file_grows(struct lx_file *f, int64_t end);
/* trees.c: in a forked child: the tmpfs files it holds open are held by one more process. */
void lx_tmpfs_forked(struct pkvm_linux *lx);
/* space.c (see there) */
struct lx_tmpfs_space *lx_tmpfs_space_new(void);
void lx_tmpfs_space_free(struct lx_tmpfs_space *s);
/* Inode @ino of @t is now @size bytes: 0, or -ENOSPC (nothing changes then). */
int lx_tmpfs_resize(struct lx_tmpfs *t, uint64_t ino, uint64_t size);
/* An open file of inode @ino made or closed; at the last close of an unlinked one its bytes go. */
int lx_tmpfs_open(struct lx_tmpfs *t, uint64_t ino);
void lx_tmpfs_close(struct lx_tmpfs *t, uint64_t ino, bool unlinked);
/* Inode @ino lost its last name: its bytes go now, or at its last close. */
void lx_tmpfs_unlinked(struct lx_tmpfs *t, uint64_t ino);
/* @count directories more (or fewer): 0 or -ENOSPC. */
int lx_tmpfs_directory(struct lx_tmpfs *t, int count);
/* Before a name goes (unlink, rmdir, a rename over it): what it is; after: it went. */
void lx_tmpfs_look(const struct lx_root *root, int dirfd, const char *name,
		   struct lx_tmpfs_name *n);
void lx_tmpfs_gone(const struct lx_tmpfs_name *n);
int lx_paths_init(struct pkvm_linux *lx, const char *const *ro_paths);
void lx_paths_destroy(struct pkvm_linux *lx);
/*
 * Open the guest's @path_gva relative to guest @dirfd (AT_FDCWD: "/") on the
 * host, read-only: @flags are the guest's open flags (O_DIRECTORY, O_NOFOLLOW
 * and the access mode count), @path_only opens with O_PATH (for stat and
 * access).  Returns a host fd and sets *@guest_path (malloc'd, normalized) when
 * @guest_path is not NULL; -ENOENT outside the roots, -EACCES for writing or
 * a symbolic link, -EFAULT, -ENAMETOOLONG, -EBADF, -ENOTDIR.
 */
int lx_path_open(struct pkvm_vm *vm, struct pkvm_linux *lx, int64_t dirfd, uint64_t path_gva,
		 int flags, bool path_only, char **guest_path);
/* The same for a path in host memory (@given: what the guest would have passed). */
int lx_path_open_host(struct pkvm_linux *lx, int64_t dirfd, const char *given, int flags,
		      bool path_only, char **guest_path);

/*
 * block.c: wait until host @fd is ready for @events (fd < 0: no fd), or until
 * @until on @clock (NULL: no end of its own), or until pkvm_interrupt() or the
 * VM's time limit stops the run.  Returns 0 (ready, or @until reached),
 * -EINTR when the run must stop (the caller then restarts the call with
 * lx_restart()), or another negative errno.
 */
int lx_wait(struct pkvm_vm *vm, int fd, short events, clockid_t clock,
	    const struct timespec *until);
/*
 * Make the guest execute system call @nr again at its next run, as Linux
 * restarts a call that a stop interrupted: the caller returns LX_RETURN with
 * this in *@result, and the run loop reports the interrupt or the timeout.
 */
enum lx_action lx_restart(struct pkvm_vm *vm, uint64_t nr, int64_t *result);
/*
 * block.c: lx_wait() for @nfds host fds at once (fd -1: ignored), ready
 * ones marked in their revents; @fds has room for LX_WAIT_EXTRA_FDS more,
 * which the wait uses itself.
 */
#define LX_WAIT_EXTRA_FDS	2
int lx_wait_fds(struct pkvm_vm *vm, struct pollfd *fds, unsigned nfds, clockid_t clock,
		const struct timespec *until);

/* procs.c (see struct lx_procs) */
int lx_procs_init(struct pkvm_vm *vm, struct pkvm_linux *lx);
void lx_procs_destroy(struct pkvm_vm *vm, struct pkvm_linux *lx);
/* The table's lock (robust: a process killed holding it does not stop the others). */
void lx_procs_lock(struct lx_procs *p);
void lx_procs_unlock(struct lx_procs *p);
/*
 * Reap the host processes of this process's children that ended; one that
 * ended without saying so (killed on the host) becomes a zombie killed by
 * SIGKILL, and its parent is told.
 */
void lx_procs_reap(struct pkvm_linux *lx);
/* A new pid or tid: unique among all the guest's processes and threads. */
int32_t lx_new_id(struct pkvm_linux *lx);
/* A slot for a child of this process (-EAGAIN: the process limit), and its pid. */
int lx_procs_new(struct pkvm_linux *lx, int exit_signal, unsigned *slot, int32_t *pid);
void lx_procs_free(struct pkvm_linux *lx, unsigned slot);
/* The parent's side of a fork: host process @host is the child's in @slot, pid @pid. */
int lx_procs_adopt(struct pkvm_linux *lx, unsigned slot, int32_t pid, pid_t host);
/* This process ended with wait status @status: a zombie for its parent, its children orphans. */
void lx_procs_exit(struct pkvm_linux *lx, int status);
/* The first process ended: tell every other one to end. */
void lx_procs_end_all(struct pkvm_linux *lx);
/*
 * What ends a wait of this process's besides its own fd (block.c): its
 * doorbell, and the first process's end; fd -1 (ignored) when alone.
 */
void lx_procs_pollfds(const struct pkvm_linux *lx, struct pollfd pfd[2]);
/* ... and what to do when one of them woke the wait: the doorbell is emptied. */
void lx_procs_woken(struct pkvm_linux *lx, const struct pollfd pfd[2]);
/* Take the signals other processes sent (and the sandbox's end, as SIGKILL). */
void lx_procs_take_signals(struct pkvm_linux *lx);
/* When a process running guest code must next look at its slot (0: alone, never). */
uint64_t lx_procs_check_at(const struct pkvm_linux *lx);
/* kill(): to processes of the guest, this one included, by pid or group. */
enum lx_action lx_procs_kill(struct pkvm_vm *vm, struct pkvm_linux *lx, int32_t pid, uint64_t sig,
			     int64_t *result);
/*
 * A signal from outside (pkvm_linux_kill(), to the first process): the
 * other processes of its group get it too, as a terminal's go to its
 * foreground group.
 */
void lx_procs_to_group(struct pkvm_linux *lx, int sig, const struct lx_siginfo *info);
/* SIGCHLD's action changed: whether this process's ended children leave no zombie. */
void lx_procs_note_sigchld(struct pkvm_linux *lx, bool reaps_children);
/* signal.c: kill() of the program itself: pending now, delivered on the way back. */
enum lx_action lx_signal_self(struct pkvm_linux *lx, uint64_t sig, int code, int64_t *result);
/* wait.c: a wait status's si_code (CLD_EXITED, CLD_KILLED) and si_status. */
int lx_wait_status_code(int status);
int lx_wait_status_value(int status);
/* forks.c: are clone() @flags a new process (fork, vfork) rather than a thread? */
bool lx_clone_is_process(uint64_t flags);
/* forks.c: a new process as clone() with @flags makes it: its pid, 0 in it, or -errno. */
int64_t lx_fork(struct pkvm_vm *vm, struct pkvm_linux *lx, uint64_t flags, uint64_t stack,
		uint64_t parent_tid, uint64_t child_tid, uint64_t tls);
/* threads.c: in a forked child: only the running thread is left, now with tid @tid. */
void lx_threads_forked(struct pkvm_linux *lx, int32_t tid, uint64_t clear_tid);
/*
 * block.c: the result of a blocking call that ended with @n: -EINTR from a
 * signal fails or restarts it (SA_RESTART), from a stop restarts it.
 */
enum lx_action lx_interruptible(struct pkvm_vm *vm, struct pkvm_linux *lx, uint64_t nr, int64_t n,
				int64_t *result);

/* The handlers, by file. */
#define LX_HANDLER(fn) enum lx_action fn(struct pkvm_vm *vm, struct pkvm_linux *lx, \
					 const uint64_t args[6], int64_t *result)
/* memory.c */
LX_HANDLER(lx_sys_brk); LX_HANDLER(lx_sys_mmap); LX_HANDLER(lx_sys_munmap);
LX_HANDLER(lx_sys_mremap); LX_HANDLER(lx_sys_mprotect); LX_HANDLER(lx_sys_madvise);
/* pkeys.c */
LX_HANDLER(lx_sys_pkey_alloc); LX_HANDLER(lx_sys_pkey_free); LX_HANDLER(lx_sys_pkey_mprotect);
/* files.c */
LX_HANDLER(lx_sys_read); LX_HANDLER(lx_sys_write); LX_HANDLER(lx_sys_readv);
LX_HANDLER(lx_sys_writev); LX_HANDLER(lx_sys_pread64); LX_HANDLER(lx_sys_pwrite64); LX_HANDLER(lx_sys_lseek);
LX_HANDLER(lx_sys_open); LX_HANDLER(lx_sys_openat); LX_HANDLER(lx_sys_close);
LX_HANDLER(lx_sys_fstat); LX_HANDLER(lx_sys_stat); LX_HANDLER(lx_sys_lstat);
LX_HANDLER(lx_sys_newfstatat); LX_HANDLER(lx_sys_statx);
LX_HANDLER(lx_sys_ioctl); LX_HANDLER(lx_sys_fcntl); LX_HANDLER(lx_sys_dup);
LX_HANDLER(lx_sys_dup2); LX_HANDLER(lx_sys_dup3); LX_HANDLER(lx_sys_getdents64);
LX_HANDLER(lx_sys_vmsplice);
LX_HANDLER(lx_sys_access); LX_HANDLER(lx_sys_faccessat); LX_HANDLER(lx_sys_getcwd);
LX_HANDLER(lx_sys_readlink); LX_HANDLER(lx_sys_readlinkat);
/* pipes.c */
LX_HANDLER(lx_sys_pipe); LX_HANDLER(lx_sys_pipe2);
/* epoll.c */
LX_HANDLER(lx_sys_epoll_create); LX_HANDLER(lx_sys_epoll_create1); LX_HANDLER(lx_sys_epoll_ctl);
LX_HANDLER(lx_sys_epoll_wait); LX_HANDLER(lx_sys_epoll_pwait);
/* threads.c, futex.c */
LX_HANDLER(lx_sys_clone); LX_HANDLER(lx_sys_clone3); LX_HANDLER(lx_sys_exit);
LX_HANDLER(lx_sys_exit_group); LX_HANDLER(lx_sys_gettid); LX_HANDLER(lx_sys_set_tid_address);
LX_HANDLER(lx_sys_sched_yield); LX_HANDLER(lx_sys_futex);
LX_HANDLER(lx_sys_sched_getaffinity); LX_HANDLER(lx_sys_sched_setaffinity);
/* procs.c, forks.c, wait.c */
LX_HANDLER(lx_sys_getpid); LX_HANDLER(lx_sys_getppid); LX_HANDLER(lx_sys_getpgid);
LX_HANDLER(lx_sys_getpgrp); LX_HANDLER(lx_sys_getsid); LX_HANDLER(lx_sys_setpgid);
LX_HANDLER(lx_sys_setsid); LX_HANDLER(lx_sys_fork); LX_HANDLER(lx_sys_vfork);
LX_HANDLER(lx_sys_wait4); LX_HANDLER(lx_sys_waitid);
/* changes.c, files.c */
LX_HANDLER(lx_sys_mkdir); LX_HANDLER(lx_sys_mkdirat); LX_HANDLER(lx_sys_unlink);
LX_HANDLER(lx_sys_rmdir); LX_HANDLER(lx_sys_unlinkat); LX_HANDLER(lx_sys_rename);
LX_HANDLER(lx_sys_renameat); LX_HANDLER(lx_sys_renameat2); LX_HANDLER(lx_sys_link);
LX_HANDLER(lx_sys_linkat); LX_HANDLER(lx_sys_symlink); LX_HANDLER(lx_sys_chmod);
LX_HANDLER(lx_sys_fchmod); LX_HANDLER(lx_sys_fchmodat); LX_HANDLER(lx_sys_chown);
LX_HANDLER(lx_sys_fchown); LX_HANDLER(lx_sys_fchownat); LX_HANDLER(lx_sys_truncate);
LX_HANDLER(lx_sys_ftruncate); LX_HANDLER(lx_sys_fsync); LX_HANDLER(lx_sys_sync);
LX_HANDLER(lx_sys_utimensat); LX_HANDLER(lx_sys_utimes); LX_HANDLER(lx_sys_creat);
/* poll.c */
LX_HANDLER(lx_sys_poll); LX_HANDLER(lx_sys_ppoll); LX_HANDLER(lx_sys_select);
LX_HANDLER(lx_sys_pselect6);
/* exec.c, paths.c */
LX_HANDLER(lx_sys_execve); LX_HANDLER(lx_sys_chdir); LX_HANDLER(lx_sys_fchdir);
/* process.c */
LX_HANDLER(lx_sys_getuid); LX_HANDLER(lx_sys_getgid); LX_HANDLER(lx_sys_getresuid);
LX_HANDLER(lx_sys_getgroups); LX_HANDLER(lx_sys_uname); LX_HANDLER(lx_sys_arch_prctl);
LX_HANDLER(lx_sys_prctl);
LX_HANDLER(lx_sys_set_robust_list);
LX_HANDLER(lx_sys_enosys); LX_HANDLER(lx_sys_prlimit64); LX_HANDLER(lx_sys_getrlimit);
LX_HANDLER(lx_sys_getrandom);
LX_HANDLER(lx_sys_umask); LX_HANDLER(lx_sys_setuid); LX_HANDLER(lx_sys_setreuid);
LX_HANDLER(lx_sys_setresuid); LX_HANDLER(lx_sys_getpriority); LX_HANDLER(lx_sys_setpriority);
/* signal.c */
LX_HANDLER(lx_sys_rt_sigaction); LX_HANDLER(lx_sys_rt_sigprocmask);
LX_HANDLER(lx_sys_rt_sigpending); LX_HANDLER(lx_sys_rt_sigreturn); LX_HANDLER(lx_sys_sigaltstack);
LX_HANDLER(lx_sys_kill); LX_HANDLER(lx_sys_tkill); LX_HANDLER(lx_sys_tgkill);
LX_HANDLER(lx_sys_pause); LX_HANDLER(lx_sys_rt_sigsuspend); LX_HANDLER(lx_sys_rt_sigtimedwait);
/* time.c */
LX_HANDLER(lx_sys_clock_gettime); LX_HANDLER(lx_sys_clock_getres);
LX_HANDLER(lx_sys_gettimeofday); LX_HANDLER(lx_sys_time); LX_HANDLER(lx_sys_nanosleep);
LX_HANDLER(lx_sys_clock_nanosleep); LX_HANDLER(lx_sys_alarm); LX_HANDLER(lx_sys_setitimer);
LX_HANDLER(lx_sys_getitimer);
/* timers.c */
LX_HANDLER(lx_sys_timer_create); LX_HANDLER(lx_sys_timer_settime); LX_HANDLER(lx_sys_timer_gettime);
LX_HANDLER(lx_sys_timer_getoverrun); LX_HANDLER(lx_sys_timer_delete);
#undef LX_HANDLER
/* A handler's definition; the parameters are those of lx_handler, not all used by each. */
#define LX_UNUSED __attribute__((unused))
#define LX_HANDLER_DEF(fn) enum lx_action fn(struct pkvm_vm *vm LX_UNUSED, \
					     struct pkvm_linux *lx LX_UNUSED, \
					     const uint64_t args[6] LX_UNUSED, int64_t *result)

/* A handler's usual ending: resume the guest with @value. */
static inline enum lx_action lx_ret(int64_t *result, int64_t value)
{
	*result = value;
	return LX_RETURN;
}

#endif /* PKVM_LINUX_PERSONALITY_H */
