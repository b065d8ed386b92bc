/* procs.c: the guest's processes: their shared table, ids, groups, and signals between them. */
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "personality.h"

#define LX_SI_USER		0
#define LX_CHECK_NS		(10 * 1000 * 1000)	/* a busy process looks at its slot this often */

/*
 * The table's lock.  Robust: a process that dies holding it (killed on the
 * host) does not stop the others; what it was changing is a slot or two,
 * which stay as they are.
 */
void lx_procs_lock(struct lx_procs *p)
{
	if (pthread_mutex_lock(&p->lock) == EOWNERDEAD)
		pthread_mutex_consistent(&p->lock);
}

void lx_procs_unlock(struct lx_procs *p)
{
	pthread_mutex_unlock(&p->lock);
}

static size_t table_size(unsigned max)
{
	return sizeof(struct lx_procs) + (size_t)max * sizeof(struct lx_proc);
}

int lx_procs_init(struct pkvm_vm *vm, struct pkvm_linux *lx)
{
	unsigned max = lx->config.max_procs;
	pthread_mutexattr_t attr;
	struct lx_procs *p;
	int err;

	lx->pid = LX_PID;
	if (max <= 1)
		return 0;
	if (max > LX_MAX_PROCS)
		return -EINVAL;
	err = pkvm_vm_enable_fork(vm);
	if (err)
		return err;
	p = mmap(NULL, table_size(max), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED)
		return -ENOMEM;
	lx->procs = p;
	p->max = max;
	p->first = -1;
	for (unsigned i = 0; i < max; i++)
		p->slot[i].doorbell = -1;
	for (unsigned i = 0; i < max; i++) {
		p->slot[i].doorbell = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
		if (p->slot[i].doorbell < 0)
			return -errno;
	}
	/*
	 * A pidfd of this process: readable in every other one once it is gone,
	 * even killed where nothing could tell them (pidfd_open(), Linux 5.3).
	 */
	p->first = (int)syscall(SYS_pidfd_open, getpid(), 0);
	pthread_mutexattr_init(&attr);
	pthread_mutexattr_setpshared(&attr, PTHREAD_PROCESS_SHARED);
	pthread_mutexattr_setrobust(&attr, PTHREAD_MUTEX_ROBUST);
	pthread_mutex_init(&p->lock, &attr);
	pthread_mutexattr_destroy(&attr);
	p->next_id = LX_PID + 1;
	p->slot[0].state = LX_PROC_LIVE;
	p->slot[0].pid = p->slot[0].pgid = p->slot[0].sid = LX_PID;
	p->slot[0].ppid = LX_PPID;
	p->slot[0].host_pid = getpid();
	lx->slot = 0;
	pkvm_vm_share_frames(vm, &p->frames);
	return 0;
}

static void ring(int doorbell)
{
	uint64_t one = 1;

	if (write(doorbell, &one, sizeof(one)) < 0) {
		/* EAGAIN: the counter is full, so the doorbell is ringing already. */
	}
}

/* The first process ended: the others end too, as a PID namespace ends with its init. */
void lx_procs_end_all(struct pkvm_linux *lx)
{
	struct lx_procs *p = lx->procs;

	if (!p || lx->slot != 0)
		return;
	lx_procs_lock(p);
	p->over = true;
	lx_procs_unlock(p);
	for (unsigned i = 1; i < p->max; i++)
		if (p->slot[i].state == LX_PROC_LIVE)
			ring(p->slot[i].doorbell);
}

void lx_procs_destroy(struct pkvm_vm *vm, struct pkvm_linux *lx)
{
	struct lx_procs *p = lx->procs;

	if (!p)
		return;
	/* The VM may outlive the personality: its frames are its own again. */
	if (vm)
		pkvm_vm_share_frames(vm, NULL);
	lx_procs_end_all(lx);
	free(lx->host_children);
	lx->host_children = NULL;
	lx->nhost_children = 0;
	for (unsigned i = 0; i < p->max; i++)
		if (p->slot[i].doorbell >= 0)
			close(p->slot[i].doorbell);
	if (p->first >= 0)
		close(p->first);
	munmap(p, table_size(p->max));
	lx->procs = NULL;
}

static void post(struct lx_proc *s, int sig, const struct lx_siginfo *info);

int lx_procs_new(struct pkvm_linux *lx, int exit_signal, unsigned *slot, int32_t *pid)
{
	struct lx_procs *p = lx->procs;
	int err = -EAGAIN;	/* the process limit, as RLIMIT_NPROC says it */

	lx_procs_lock(p);
	for (unsigned i = 0; i < p->max; i++) {
		struct lx_proc *s = &p->slot[i], *me = &p->slot[lx->slot];

		if (s->state != LX_PROC_FREE)
			continue;
		memset(s->info, 0, sizeof(s->info));
		s->state = LX_PROC_LIVE;
		s->pid = p->next_id++;
		s->ppid = me->pid;
		s->pgid = me->pgid;
		s->sid = me->sid;
		s->host_pid = 0;
		s->exit_signal = exit_signal;
		s->status = 0;
		s->reaps_children = false;
		s->pending = 0;
		*slot = i;
		*pid = s->pid;
		err = 0;
		break;
	}
	lx_procs_unlock(p);
	return err;
}

void lx_procs_free(struct pkvm_linux *lx, unsigned slot)
{
	lx_procs_lock(lx->procs);
	lx->procs->slot[slot].state = LX_PROC_FREE;
	lx_procs_unlock(lx->procs);
}

/* Under the lock: the live process @pid, NULL if none. */
static struct lx_proc *live(struct lx_procs *p, int32_t pid)
{
	for (unsigned i = 0; i < p->max; i++)
		if (p->slot[i].state == LX_PROC_LIVE && p->slot[i].pid == pid)
			return &p->slot[i];
	return NULL;
}

/* Under the lock: @child ended; its parent is told, with @child's exit signal if any. */
static int notify_parent(struct lx_procs *p, struct lx_proc *child)
{
	struct lx_proc *parent = live(p, child->ppid);

	if (!parent)
		return -1;
	if (child->exit_signal) {
		struct lx_siginfo info = { .signo = child->exit_signal };

		info.code = lx_wait_status_code(child->status);
		info.child.pid = child->pid;
		info.child.uid = LX_UID;
		info.child.status = lx_wait_status_value(child->status);
		post(parent, child->exit_signal, &info);
	}
	/* A parent that ignores SIGCHLD leaves no zombies (Linux's autoreap). */
	if (parent->reaps_children)
		child->state = LX_PROC_FREE;
	return parent->doorbell;
}

/*
 * Under the lock: process @me ended with wait status @status: a zombie for
 * its parent (told, and its doorbell put in @rings), its children orphans.
 */
static void end_slot(struct lx_procs *p, struct lx_proc *me, int status, int *rings,
		     unsigned *nrings)
{
	me->status = status;
	me->state = LX_PROC_ZOMBIE;
	/* Its children go to the first process, as orphans go to a PID namespace's init. */
	for (unsigned i = 0; i < p->max; i++) {
		struct lx_proc *s = &p->slot[i];

		if (s->state == LX_PROC_FREE || s->ppid != me->pid || s == me)
			continue;
		s->ppid = p->slot[0].pid;
		if (s->state == LX_PROC_ZOMBIE && (rings[*nrings] = notify_parent(p, s)) >= 0)
			(*nrings)++;
	}
	if ((rings[*nrings] = notify_parent(p, me)) >= 0)
		(*nrings)++;
	else
		me->state = LX_PROC_FREE;	/* no parent left to wait for it */
}

void lx_procs_exit(struct pkvm_linux *lx, int status)
{
	struct lx_procs *p = lx->procs;
	int rings[LX_MAX_PROCS + 1];
	unsigned nrings = 0;

	lx_procs_lock(p);
	end_slot(p, &p->slot[lx->slot], status, rings, &nrings);
	lx_procs_unlock(p);
	for (unsigned i = 0; i < nrings; i++)
		ring(rings[i]);
}

int lx_procs_adopt(struct pkvm_linux *lx, unsigned slot, int32_t pid, pid_t host)
{
	pid_t *more = realloc(lx->host_children, (lx->nhost_children + 1) * sizeof(*more));

	if (!more)
		return -ENOMEM;
	lx->host_children = more;
	lx->host_children[lx->nhost_children++] = host;
	lx_procs_lock(lx->procs);
	/* (The child may have ended and its slot gone to another already.) */
	if (lx->procs->slot[slot].pid == pid)
		lx->procs->slot[slot].host_pid = host;
	lx_procs_unlock(lx->procs);
	return 0;
}

void lx_procs_reap(struct pkvm_linux *lx)
{
	struct lx_procs *p = lx->procs;

	for (unsigned i = 0; p && i < lx->nhost_children;) {
		int rings[LX_MAX_PROCS + 1], host_status;
		unsigned nrings = 0;
		pid_t host = lx->host_children[i];

		if (waitpid(host, &host_status, WNOHANG | __WALL) != host) {
			i++;
			continue;
		}
		lx->host_children[i] = lx->host_children[--lx->nhost_children];
		lx_procs_lock(p);
		for (unsigned k = 0; k < p->max; k++) {
			struct lx_proc *s = &p->slot[k];

			/* Gone without a word (killed on the host): as if by SIGKILL. */
			if (s->state == LX_PROC_LIVE && s->host_pid == host)
				end_slot(p, s, WIFSIGNALED(host_status) ? WTERMSIG(host_status) :
					 SIGKILL, rings, &nrings);
		}
		lx_procs_unlock(p);
		for (unsigned k = 0; k < nrings; k++)
			ring(rings[k]);
	}
}

int32_t lx_new_id(struct pkvm_linux *lx)
{
	struct lx_procs *p = lx->procs;
	int32_t id;

	if (!p)
		return ++lx->last_tid;
	lx_procs_lock(p);
	id = p->next_id++;
	lx_procs_unlock(p);
	return id;
}

void lx_procs_pollfds(const struct pkvm_linux *lx, struct pollfd pfd[2])
{
	const struct lx_procs *p = lx ? lx->procs : NULL;

	pfd[0] = (struct pollfd){ .fd = p ? p->slot[lx->slot].doorbell : -1, .events = POLLIN };
	pfd[1] = (struct pollfd){ .fd = p && lx->slot ? p->first : -1, .events = POLLIN };
}

/*
 * Has the first process's host process gone, however it went?  Looked at
 * once a check interval at most: a wait sees it at once (lx_procs_pollfds()).
 */
static bool first_gone(struct pkvm_linux *lx)
{
	struct pollfd pfd = { .fd = lx->procs->first, .events = POLLIN };
	const struct timespec now = { 0, 0 };
	uint64_t t = pkvm_now_ns();

	if (pfd.fd < 0 || t - lx->first_checked_ns < LX_CHECK_NS)
		return false;
	lx->first_checked_ns = t;
	return ppoll(&pfd, 1, &now, NULL) > 0;
}

void lx_procs_woken(struct pkvm_linux *lx, const struct pollfd pfd[2])
{
	uint64_t count;

	if (pfd[0].revents && read(pfd[0].fd, &count, sizeof(count)) < 0) {
		/* EAGAIN: another look emptied it first; nothing is lost, the slot says it all. */
	}
	if (pfd[1].revents)
		lx->first_checked_ns = 0;	/* look now */
}

uint64_t lx_procs_check_at(const struct pkvm_linux *lx)
{
	struct lx_procs *p = lx->procs;

	if (!p)
		return 0;
	for (unsigned i = 0; i < p->max; i++)
		if (i != lx->slot && p->slot[i].state == LX_PROC_LIVE)
			return pkvm_now_ns() + LX_CHECK_NS;
	return 0;
}

/* Under the lock: make @sig pending in @s with @info (a standard signal pending already stays one). */
static void post(struct lx_proc *s, int sig, const struct lx_siginfo *info)
{
	uint64_t bit = 1ULL << (sig - 1);

	if (!(s->pending & bit))
		s->info[sig - 1] = *info;
	s->pending |= bit;
}

void lx_procs_take_signals(struct pkvm_linux *lx)
{
	struct lx_procs *p = lx->procs;
	struct lx_proc *me;
	struct lx_siginfo info[LX_NR_SIGNALS];
	uint64_t pending;
	bool over;

	if (!p)
		return;
	lx_procs_reap(lx);
	me = &p->slot[lx->slot];
	lx_procs_lock(p);
	pending = me->pending;
	me->pending = 0;
	memcpy(info, me->info, sizeof(info));
	over = p->over;
	lx_procs_unlock(p);
	if (lx->slot != 0 && (over || first_gone(lx)))
		lx->sig.killed = true;
	while (pending) {
		int sig = __builtin_ctzll(pending) + 1;

		pending &= pending - 1;
		if (sig == SIGKILL)
			lx->sig.killed = true;
		else
			lx_signal_send(lx, sig, &info[sig - 1]);
	}
}

void lx_procs_to_group(struct pkvm_linux *lx, int sig, const struct lx_siginfo *info)
{
	struct lx_procs *p = lx->procs;
	int rings[LX_MAX_PROCS];
	unsigned nrings = 0;

	if (!p)
		return;
	lx_procs_lock(p);
	for (unsigned i = 0; i < p->max; i++) {
		struct lx_proc *s = &p->slot[i];

		if (i != lx->slot && s->state == LX_PROC_LIVE &&
		    s->pgid == p->slot[lx->slot].pgid) {
			post(s, sig, info);
			rings[nrings++] = s->doorbell;
		}
	}
	lx_procs_unlock(p);
	for (unsigned i = 0; i < nrings; i++)
		ring(rings[i]);
}

/* Does @s match kill()'s or wait's @pid (> 0: that process, 0: @pgid's group, < -1: -pid's)? */
static bool matches(const struct lx_proc *s, int32_t pid, int32_t pgid)
{
	if (pid > 0)
		return s->pid == pid;
	if (pid == 0)
		return s->pgid == pgid;
	if (pid < -1)
		return s->pgid == -pid;
	return true;
}

enum lx_action lx_procs_kill(struct pkvm_vm *vm, struct pkvm_linux *lx, int32_t pid, uint64_t sig,
			     int64_t *result)
{
	struct lx_procs *p = lx->procs;
	struct lx_siginfo info = { .signo = (int32_t)sig, .code = LX_SI_USER,
				   .kill = { lx->pid, LX_UID } };
	int rings[LX_MAX_PROCS];
	unsigned found = 0, nrings = 0;
	bool self = false;

	(void)vm;
	if (!p || pid == lx->pid)
		return lx_signal_self(lx, sig, LX_SI_USER, result);
	if (sig > LX_NR_SIGNALS)
		return lx_ret(result, -EINVAL);
	if (pid == INT32_MIN)
		return lx_ret(result, -ESRCH);	/* -pid would overflow, as Linux says */
	lx_procs_lock(p);
	for (unsigned i = 0; i < p->max; i++) {
		struct lx_proc *s = &p->slot[i];

		if (s->state == LX_PROC_FREE || !matches(s, pid, p->slot[lx->slot].pgid))
			continue;
		/* kill(-1): every process but the first (the sandbox's init) and the caller. */
		if (pid == -1 && (i == 0 || i == lx->slot))
			continue;
		found++;
		if (i == lx->slot) {
			self = true;
			continue;
		}
		if (sig && s->state == LX_PROC_LIVE) {
			post(s, (int)sig, &info);
			rings[nrings++] = s->doorbell;
		}
	}
	lx_procs_unlock(p);
	for (unsigned i = 0; i < nrings; i++)
		ring(rings[i]);
	if (!found)
		return lx_ret(result, -ESRCH);
	if (self)
		return lx_signal_self(lx, sig, LX_SI_USER, result);
	return lx_ret(result, 0);
}

LX_HANDLER_DEF(lx_sys_getpid)
{
	return lx_ret(result, lx->pid);
}

LX_HANDLER_DEF(lx_sys_getppid)
{
	/* Its parent's end makes it an orphan, whose parent is the first process then. */
	return lx_ret(result, lx->procs ? lx->procs->slot[lx->slot].ppid : LX_PPID);
}

/* The slot of process @pid (0: the caller), under the lock; NULL if none. */
static struct lx_proc *find(struct pkvm_linux *lx, int32_t pid)
{
	struct lx_procs *p = lx->procs;

	if (pid == 0)
		return &p->slot[lx->slot];
	for (unsigned i = 0; i < p->max; i++)
		if (p->slot[i].state != LX_PROC_FREE && p->slot[i].pid == pid)
			return &p->slot[i];
	return NULL;
}

/* getpgid() and getsid(): a field of process @pid's slot. */
static enum lx_action get_id(struct pkvm_linux *lx, int32_t pid, size_t offset, int64_t *result)
{
	struct lx_proc *s;
	int64_t id = -ESRCH;

	if (pid < 0)
		return lx_ret(result, -ESRCH);
	if (!lx->procs)
		return lx_ret(result, pid == 0 || pid == LX_PID ? LX_PID : -ESRCH);
	lx_procs_lock(lx->procs);
	s = find(lx, pid);
	if (s)
		id = *(int32_t *)((char *)s + offset);
	lx_procs_unlock(lx->procs);
	return lx_ret(result, id);
}

LX_HANDLER_DEF(lx_sys_getpgid)
{
	return get_id(lx, (int32_t)args[0], offsetof(struct lx_proc, pgid), result);
}

LX_HANDLER_DEF(lx_sys_getpgrp)
{
	return get_id(lx, 0, offsetof(struct lx_proc, pgid), result);
}

LX_HANDLER_DEF(lx_sys_getsid)
{
	return get_id(lx, (int32_t)args[0], offsetof(struct lx_proc, sid), result);
}

/*
 * setpgid(): the caller or a child of its into a group of the caller's
 * session (a new one named by the process's own pid), as Linux allows.
 */
LX_HANDLER_DEF(lx_sys_setpgid)
{
	int32_t pid = (int32_t)args[0], pgid = (int32_t)args[1];
	struct lx_procs *p = lx->procs;
	struct lx_proc *s, *me;
	int64_t err = 0;

	if (pid < 0 || pgid < 0)
		return lx_ret(result, -EINVAL);
	if (!p && pid != 0 && pid != LX_PID)
		return lx_ret(result, -ESRCH);
	if (!p)		/* alone, it leads its session: only its own group, as it is */
		return lx_ret(result, pgid == 0 || pgid == LX_PID ? 0 : -EPERM);
	lx_procs_lock(p);
	me = &p->slot[lx->slot];
	s = find(lx, pid);
	if (!s || (s != me && s->ppid != me->pid)) {
		err = -ESRCH;
		goto out;
	}
	if (pgid == 0)
		pgid = s->pid;
	if (s->sid != me->sid || s->sid == s->pid) {
		err = -EPERM;			/* another session, or a session leader */
		goto out;
	}
	if (pgid != s->pid) {
		bool exists = false;

		for (unsigned i = 0; i < p->max; i++)
			exists |= p->slot[i].state != LX_PROC_FREE && p->slot[i].pgid == pgid &&
				  p->slot[i].sid == me->sid;
		if (!exists) {
			err = -EPERM;
			goto out;
		}
	}
	s->pgid = pgid;
out:
	lx_procs_unlock(p);
	return lx_ret(result, err);
}

LX_HANDLER_DEF(lx_sys_setsid)
{
	struct lx_procs *p = lx->procs;
	struct lx_proc *me;
	int64_t ret = -EPERM;
	bool leader = false;

	if (!p)
		return lx_ret(result, -EPERM);	/* alone, it leads its group already */
	lx_procs_lock(p);
	me = &p->slot[lx->slot];
	for (unsigned i = 0; i < p->max; i++)
		leader |= p->slot[i].state != LX_PROC_FREE && p->slot[i].pgid == me->pid;
	if (!leader) {
		me->pgid = me->sid = me->pid;
		ret = me->pid;
	}
	lx_procs_unlock(p);
	return lx_ret(result, ret);
}

void lx_procs_note_sigchld(struct pkvm_linux *lx, bool reaps_children)
{
	if (!lx->procs)
		return;
	lx_procs_lock(lx->procs);
	lx->procs->slot[lx->slot].reaps_children = reaps_children;
	lx_procs_unlock(lx->procs);
}
