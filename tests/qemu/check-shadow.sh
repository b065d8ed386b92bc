#!/bin/sh
# check-shadow.sh: the soft and none backends where KVM uses shadow paging: the QEMU lane
# with kvm-amd's nested paging off (npt=0), so KVM offers no guest PKU and shadows libpkvm's
# page tables; the plan "shadow" of tests/qemu/inside.sh.
exec "${PKVM_SRCDIR:?run me through make check}/tests/qemu/check-hw.sh" --paging=shadow \
	--plan=shadow
