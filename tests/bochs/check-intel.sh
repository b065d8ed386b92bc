#!/bin/sh
# check-intel.sh: the VM tests on kvm-intel with EPT and guest PKU, in Bochs (the Intel lane).
# make check runs the plan "intel", a subset that fits its time (tests/qemu/inside.sh lists
# it); make check-intel sets PKVM_INTEL_PLAN=intel-all and runs everything the lane can.
# Skips (77) where the lane cannot be built: no ../shared/bochs, g++, xorriso, isolinux,
# syslinux-common, bochsbios or vgabios.
exec "${PKVM_SRCDIR:?run me through make check}/tests/qemu/check-hw.sh" --machine=bochs-intel \
	--plan="${PKVM_INTEL_PLAN:-intel}"
