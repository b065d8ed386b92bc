/*
 * futex.c: futex(2) between the program's threads.  A waiter is a blocked
 * thread (threads.c) with the word's address; waking one sets its result
 * and makes it runnable.  One process: private and shared futexes are the
 * same.
 */
#include <errno.h>
#include <time.h>

#include "personality.h"

#define LX_FUTEX_WAIT		0
#define LX_FUTEX_WAKE		1
#define LX_FUTEX_REQUEUE	3
#define LX_FUTEX_CMP_REQUEUE	4
#define LX_FUTEX_WAIT_BITSET	9
#define LX_FUTEX_WAKE_BITSET	10
#define LX_FUTEX_PRIVATE_FLAG	128
#define LX_FUTEX_CLOCK_REALTIME	256
#define LX_FUTEX_CMD_MASK	0x7f
#define NSEC_PER_SEC		1000000000LL

int lx_futex_wake(struct pkvm_linux *lx, uint64_t uaddr, uint32_t count, uint32_t bitset)
{
	int woken = 0;

	/* In slot order from the running thread's: near enough to FIFO for one vCPU. */
	for (unsigned n = 1; n <= LX_MAX_THREADS && (uint32_t)woken < count; n++) {
		struct lx_thread *t = lx->threads[(lx->cur + n) % LX_MAX_THREADS];

		if (!t || !t->blocked || t->futex != uaddr || !(t->bitset & bitset))
			continue;
		t->blocked = false;
		t->regs.rax = 0;
		woken++;
	}
	return woken;
}

/* Move up to @count waiters on @from to @to, without waking them. */
static int requeue(struct pkvm_linux *lx, uint64_t from, uint64_t to, uint32_t count)
{
	int moved = 0;

	for (unsigned i = 0; i < LX_MAX_THREADS && (uint32_t)moved < count; i++) {
		struct lx_thread *t = lx->threads[i];

		if (t && t->blocked && t->futex == from) {
			t->futex = to;
			moved++;
		}
	}
	return moved;
}

/*
 * The wait's end as CLOCK_MONOTONIC nanoseconds (0: none).  FUTEX_WAIT's
 * timeout is relative (monotonic); FUTEX_WAIT_BITSET's absolute, on the
 * realtime clock with FUTEX_CLOCK_REALTIME.
 */
static int deadline_of(struct pkvm_vm *vm, unsigned cmd, unsigned op, uint64_t gva,
		       uint64_t *deadline)
{
	struct timespec ts, now;
	int64_t ns;
	int err;

	*deadline = 0;
	if (!gva)
		return 0;
	err = lx_read_timespec(vm, gva, &ts);
	if (err)
		return err;
	ns = (int64_t)ts.tv_sec * NSEC_PER_SEC + ts.tv_nsec;
	if (cmd == LX_FUTEX_WAIT) {
		*deadline = pkvm_now_ns() + (uint64_t)ns;
		return 0;
	}
	clock_gettime((op & LX_FUTEX_CLOCK_REALTIME) ? CLOCK_REALTIME : CLOCK_MONOTONIC, &now);
	ns -= (int64_t)now.tv_sec * NSEC_PER_SEC + now.tv_nsec;
	*deadline = pkvm_now_ns() + (ns > 0 ? (uint64_t)ns : 0);
	return 0;
}

static int64_t futex_wait(struct pkvm_vm *vm, struct pkvm_linux *lx, const uint64_t args[6],
			  unsigned cmd)
{
	struct lx_thread *t = lx_current(lx);
	uint32_t value, bitset = cmd == LX_FUTEX_WAIT ? ~0U : (uint32_t)args[5];
	uint64_t deadline;
	int err;

	if (args[0] % 4 || !bitset)
		return -EINVAL;
	err = deadline_of(vm, cmd, (unsigned)args[1], args[3], &deadline);
	if (!err)
		err = lx_read(vm, &value, args[0], sizeof(value));
	if (err)
		return err;
	if (value != (uint32_t)args[2])
		return -EAGAIN;
	if (deadline && deadline <= pkvm_now_ns())
		return -ETIMEDOUT;
	/* Blocked; a wake or the timeout sets the result the thread sees (threads.c). */
	t->blocked = true;
	t->futex = args[0];
	t->bitset = bitset;
	t->deadline_ns = deadline;
	return 0;
}

LX_HANDLER_DEF(lx_sys_futex)
{
	unsigned op = (unsigned)args[1], cmd = op & LX_FUTEX_CMD_MASK;
	uint32_t value;
	int err;

	if ((op & LX_FUTEX_CLOCK_REALTIME) && cmd != LX_FUTEX_WAIT_BITSET && cmd != LX_FUTEX_WAIT)
		return lx_ret(result, -ENOSYS);
	switch (cmd) {
	case LX_FUTEX_WAIT:
	case LX_FUTEX_WAIT_BITSET:
		return lx_ret(result, futex_wait(vm, lx, args, cmd));
	case LX_FUTEX_WAKE:
		return lx_ret(result, args[0] % 4 ? -EINVAL : lx_futex_wake(lx, args[0], (uint32_t)args[2], ~0U));
	case LX_FUTEX_WAKE_BITSET:
		if (args[0] % 4 || !(uint32_t)args[5])
			return lx_ret(result, -EINVAL);
		return lx_ret(result, lx_futex_wake(lx, args[0], (uint32_t)args[2], (uint32_t)args[5]));
	case LX_FUTEX_CMP_REQUEUE:
		err = lx_read(vm, &value, args[0], sizeof(value));
		if (err)
			return lx_ret(result, err);
		if (value != (uint32_t)args[5])
			return lx_ret(result, -EAGAIN);
		/* fall through */
	case LX_FUTEX_REQUEUE:
		if (args[0] % 4 || args[4] % 4)
			return lx_ret(result, -EINVAL);
		/* args[3] is val2, the count to requeue (a timeout pointer for the waits). */
		return lx_ret(result, lx_futex_wake(lx, args[0], (uint32_t)args[2], ~0U) +
					      requeue(lx, args[0], args[4], (uint32_t)args[3]));
	default:
		return lx_ret(result, -ENOSYS);
	}
}
