/*
 * space.c: what a tmpfs holds, against its size.  The host side is an
 * ordinary directory on a host file system shared with everything else, so
 * the size is the personality's to keep: every regular file is counted by
 * inode (its bytes, and how many open files of the guest's processes hold
 * it), in memory all the guest's processes share.  A file's bytes come back
 * when its last name is gone and no process holds it open any more, as a
 * file system frees them; directories count a page each.  The inode table is
 * the tmpfs's nr_inodes: when it is full, making a file is ENOSPC.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "personality.h"

#define LX_TMPFS_INODES		8192	/* files of all the guest's tmpfs together */
#define LX_TMPFS_DIR_BYTES	4096	/* what a directory counts for */

struct lx_tmpfs_inode {
	uint64_t ino;
	uint64_t bytes;			/* counted against its tmpfs */
	uint32_t opens;			/* the guest's open files of it, all processes */
	uint16_t tmpfs;			/* which tmpfs (struct lx_tmpfs.index) */
	bool used;
};

struct lx_tmpfs_space {
	pthread_mutex_t lock;		/* process-shared, robust: everything below */
	uint64_t used[LX_MAX_TMPFS];	/* bytes each tmpfs holds */
	struct lx_tmpfs_inode inode[LX_TMPFS_INODES];
};

struct lx_tmpfs_space *lx_tmpfs_space_new(void)
{
	struct lx_tmpfs_space *s = mmap(NULL, sizeof(*s), PROT_READ | PROT_WRITE,
					MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	pthread_mutexattr_t attr;

	if (s == MAP_FAILED)
		return NULL;
	pthread_mutexattr_init(&attr);
	pthread_mutexattr_setpshared(&attr, PTHREAD_PROCESS_SHARED);
	pthread_mutexattr_setrobust(&attr, PTHREAD_MUTEX_ROBUST);
	pthread_mutex_init(&s->lock, &attr);
	pthread_mutexattr_destroy(&attr);
	return s;
}

void lx_tmpfs_space_free(struct lx_tmpfs_space *s)
{
	if (s)
		munmap(s, sizeof(*s));
}

static void lock(struct lx_tmpfs_space *s)
{
	if (pthread_mutex_lock(&s->lock) == EOWNERDEAD)
		pthread_mutex_consistent(&s->lock);
}

static void unlock(struct lx_tmpfs_space *s)
{
	pthread_mutex_unlock(&s->lock);
}

/* Under the lock: @ino's entry, made if @make and there is room; NULL if none. */
static struct lx_tmpfs_inode *find(struct lx_tmpfs_space *s, const struct lx_tmpfs *t,
				   uint64_t ino, bool make)
{
	struct lx_tmpfs_inode *free_entry = NULL;

	for (unsigned i = 0; i < LX_TMPFS_INODES; i++) {
		struct lx_tmpfs_inode *e = &s->inode[i];

		if (e->used && e->ino == ino && e->tmpfs == t->index)
			return e;
		if (!e->used && !free_entry)
			free_entry = e;
	}
	if (!make || !free_entry)
		return NULL;
	*free_entry = (struct lx_tmpfs_inode){ .ino = ino, .tmpfs = t->index, .used = true };
	return free_entry;
}

/* Under the lock: @e is gone for good: its bytes come back. */
static void release(struct lx_tmpfs_space *s, struct lx_tmpfs_inode *e)
{
	s->used[e->tmpfs] -= e->bytes < s->used[e->tmpfs] ? e->bytes : s->used[e->tmpfs];
	e->used = false;
}

/* Under the lock: @delta bytes more or fewer for tmpfs @t: 0 or -ENOSPC. */
static int charge(struct lx_tmpfs_space *s, const struct lx_tmpfs *t, int64_t delta)
{
	uint64_t *used = &s->used[t->index];

	if (delta > 0 && (uint64_t)delta > t->size - (*used < t->size ? *used : t->size))
		return -ENOSPC;
	*used = delta < 0 && (uint64_t)-delta > *used ? 0 : *used + (uint64_t)delta;
	return 0;
}

int lx_tmpfs_resize(struct lx_tmpfs *t, uint64_t ino, uint64_t size)
{
	struct lx_tmpfs_inode *e;
	int err = -ENOSPC;

	lock(t->space);
	e = find(t->space, t, ino, true);
	if (e) {
		err = charge(t->space, t, (int64_t)(size - e->bytes));
		if (!err)
			e->bytes = size;
	}
	unlock(t->space);
	return err;
}

int lx_tmpfs_open(struct lx_tmpfs *t, uint64_t ino)
{
	struct lx_tmpfs_inode *e;

	lock(t->space);
	e = find(t->space, t, ino, true);
	if (e)
		e->opens++;
	unlock(t->space);
	return e ? 0 : -ENOSPC;
}

void lx_tmpfs_close(struct lx_tmpfs *t, uint64_t ino, bool unlinked)
{
	struct lx_tmpfs_inode *e;

	lock(t->space);
	e = find(t->space, t, ino, false);
	if (e && e->opens)
		e->opens--;
	if (e && !e->opens && unlinked)
		release(t->space, e);
	unlock(t->space);
}

void lx_tmpfs_unlinked(struct lx_tmpfs *t, uint64_t ino)
{
	struct lx_tmpfs_inode *e;

	lock(t->space);
	e = find(t->space, t, ino, false);
	if (e && !e->opens)
		release(t->space, e);	/* else its last close gives the bytes back */
	unlock(t->space);
}

int lx_tmpfs_directory(struct lx_tmpfs *t, int count)
{
	int err;

	lock(t->space);
	err = charge(t->space, t, (int64_t)count * LX_TMPFS_DIR_BYTES);
	unlock(t->space);
	return err;
}

/* What a name that is about to go, or be replaced, is: for lx_tmpfs_gone(). */
void lx_tmpfs_look(const struct lx_root *root, int dirfd, const char *name,
		   struct lx_tmpfs_name *n)
{
	struct stat st;

	memset(n, 0, sizeof(*n));
	if (!root || !root->tmpfs || fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return;
	n->tmpfs = root->tmpfs;
	n->ino = st.st_ino;
	n->dir = S_ISDIR(st.st_mode);
	n->last_name = S_ISREG(st.st_mode) && st.st_nlink == 1;
}

void lx_tmpfs_gone(const struct lx_tmpfs_name *n)
{
	if (n->tmpfs && n->dir)
		lx_tmpfs_directory(n->tmpfs, -1);
	else if (n->tmpfs && n->last_name)
		lx_tmpfs_unlinked(n->tmpfs, n->ino);
}
