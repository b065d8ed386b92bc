/* frames.h: allocation of the guest-physical frames behind user mappings. */
#ifndef PKVM_FRAMES_H
#define PKVM_FRAMES_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

struct pkvm_frames {
	uint64_t base;		/* gpa of frame 0 */
	uint64_t count;
	uint64_t free;
	uint64_t *used;		/* bitmap */
	/*
	 * Frames left to all the VMs of one forked guest together (shared
	 * memory), or NULL: then only this VM's own count limits it.
	 */
	_Atomic uint64_t *budget;
};

int pkvm_frames_init(struct pkvm_frames *f, uint64_t base, uint64_t size);
void pkvm_frames_destroy(struct pkvm_frames *f);

/*
 * Find @size bytes of contiguous free frames, 2 MiB aligned when @size allows
 * so that the mapping can use large pages.  Returns 0 and sets *@gpa, or
 * -ENOMEM.
 */
int pkvm_frames_alloc(struct pkvm_frames *f, uint64_t size, uint64_t *gpa);
void pkvm_frames_release(struct pkvm_frames *f, uint64_t gpa, uint64_t size);
/* Take @n frames from @budget if it has them (false: it has not). */
bool pkvm_frames_charge(_Atomic uint64_t *budget, uint64_t n);

#endif /* PKVM_FRAMES_H */
