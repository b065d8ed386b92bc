/* kvm-probe.c: report what /dev/kvm offers for guest protection keys (the QEMU lane's smoke test).
 *
 * Prints one "fact: value" line per fact and exits 0 if KVM offers PKU to guests, 1 if it does
 * not, 2 if /dev/kvm could not be queried. Built static: the lane's guest has no libc.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/kvm.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#define CPUID_7_ECX_PKU (1u << 3)    /* SDM vol. 2A, CPUID leaf 07H: PKU */
#define CPUID_7_ECX_OSPKE (1u << 4)  /* ... OSPKE: mirrors CR4.PKE */
#define XFEATURE_PKRU 9              /* SDM vol. 1, 13.1: XSAVE state component 9 */
#define CR4_PKE (1ull << 22)         /* SDM vol. 3A, 2.5 */

static struct kvm_cpuid2 *get_supported_cpuid(int kvm)
{
	/* KVM answers E2BIG until the buffer is big enough; grow until it fits. */
	for (unsigned int n = 64; n <= 4096; n *= 2) {
		struct kvm_cpuid2 *c = calloc(1, sizeof(*c) + n * sizeof(c->entries[0]));

		if (!c)
			return NULL;
		c->nent = n;
		if (ioctl(kvm, KVM_GET_SUPPORTED_CPUID, c) == 0)
			return c;
		free(c);
		if (errno != E2BIG)
			return NULL;
	}
	return NULL;
}

static const struct kvm_cpuid_entry2 *find_leaf(const struct kvm_cpuid2 *c, unsigned int fn,
						 unsigned int idx)
{
	for (unsigned int i = 0; i < c->nent; i++)
		if (c->entries[i].function == fn && c->entries[i].index == idx)
			return &c->entries[i];
	return NULL;
}

/* Whether a vCPU given the supported CPUID accepts CR4.PKE, and whether KVM then sets OSPKE in
 * the vCPU's CPUID as the SDM says the CPU does. Returns 1 yes, 0 no, -1 on setup error. */
static int probe_ospke(int kvm, struct kvm_cpuid2 *cpuid, int *ospke_reflected)
{
	struct kvm_sregs sregs;
	int ret = -1, vm, vcpu = -1;

	*ospke_reflected = 0;
	vm = ioctl(kvm, KVM_CREATE_VM, 0);
	if (vm < 0)
		return -1;
	vcpu = ioctl(vm, KVM_CREATE_VCPU, 0);
	if (vcpu < 0 || ioctl(vcpu, KVM_SET_CPUID2, cpuid) < 0 ||
	    ioctl(vcpu, KVM_GET_SREGS, &sregs) < 0)
		goto out;
	sregs.cr4 |= CR4_PKE;
	/* KVM rejects CR4 bits the guest's CPUID does not allow with EINVAL. */
	ret = ioctl(vcpu, KVM_SET_SREGS, &sregs) == 0;
	if (ret == 1 && ioctl(vcpu, KVM_GET_CPUID2, cpuid) == 0) {
		const struct kvm_cpuid_entry2 *l7 = find_leaf(cpuid, 7, 0);

		*ospke_reflected = l7 && (l7->ecx & CPUID_7_ECX_OSPKE);
	}
out:
	if (vcpu >= 0)
		close(vcpu);
	close(vm);
	return ret;
}

/* Two-dimensional paging (NPT/EPT) is a module parameter, not an ioctl: read it from sysfs. */
static void print_tdp(void)
{
	static const char *const params[] = { "/sys/module/kvm_amd/parameters/npt",
					      "/sys/module/kvm_intel/parameters/ept" };

	for (size_t i = 0; i < sizeof(params) / sizeof(params[0]); i++) {
		char v[8] = "";
		FILE *f = fopen(params[i], "r");

		if (!f)
			continue;
		if (fgets(v, sizeof(v), f))
			v[strcspn(v, "\n")] = 0;
		fclose(f);
		printf("tdp: %s=%s\n", strrchr(params[i], '/') + 1, v);
		return;
	}
	printf("tdp: unknown\n");
}

int main(void)
{
	const struct kvm_cpuid_entry2 *l7, *xcr0, *pkru;
	struct kvm_cpuid2 *cpuid;
	int kvm, api, pku, ospke, reflected, ext;

	kvm = open("/dev/kvm", O_RDWR | O_CLOEXEC);
	if (kvm < 0) {
		fprintf(stderr, "kvm-probe: open /dev/kvm: %s\n", strerror(errno));
		return 2;
	}
	api = ioctl(kvm, KVM_GET_API_VERSION, 0);
	printf("api-version: %d\n", api);
	if (api != KVM_API_VERSION) {
		fprintf(stderr, "kvm-probe: KVM API version %d, want %d\n", api, KVM_API_VERSION);
		return 2;
	}
	cpuid = get_supported_cpuid(kvm);
	if (!cpuid) {
		fprintf(stderr, "kvm-probe: KVM_GET_SUPPORTED_CPUID: %s\n", strerror(errno));
		return 2;
	}

	l7 = find_leaf(cpuid, 7, 0);
	pku = l7 && (l7->ecx & CPUID_7_ECX_PKU);
	printf("pku: %s\n", pku ? "yes" : "no");

	xcr0 = find_leaf(cpuid, 0xd, 0);
	printf("xcr0-pkru: %s\n", xcr0 && (xcr0->eax & (1u << XFEATURE_PKRU)) ? "yes" : "no");
	pkru = find_leaf(cpuid, 0xd, XFEATURE_PKRU);
	if (pkru && pkru->eax)
		printf("xsave-pkru: size %u offset %u\n", pkru->eax, pkru->ebx);
	else
		printf("xsave-pkru: absent\n");

	ospke = probe_ospke(kvm, cpuid, &reflected);
	if (ospke < 0)
		printf("ospke-capable: unknown (vCPU setup failed: %s)\n", strerror(errno));
	else
		printf("ospke-capable: %s (CR4.PKE %s, OSPKE %sreflected in vCPU CPUID)\n",
		       ospke ? "yes" : "no", ospke ? "accepted" : "rejected",
		       reflected ? "" : "not ");

#ifdef KVM_CAP_XSAVE2
	ext = ioctl(kvm, KVM_CHECK_EXTENSION, KVM_CAP_XSAVE2);
	printf("xsave2: %d%s\n", ext, ext > 0 ? " bytes" : " (use KVM_GET_XSAVE, 4096 bytes)");
#else
	printf("xsave2: unknown (headers lack KVM_CAP_XSAVE2)\n");
#endif
	ext = ioctl(kvm, KVM_CHECK_EXTENSION, KVM_CAP_SYNC_REGS);
	printf("sync-regs: %#x\n", ext > 0 ? (unsigned int)ext : 0);
	print_tdp();

	free(cpuid);
	close(kvm);
	return pku ? 0 : 1;
}
