#!/usr/bin/env bash
# lane.sh: run a command inside a throw-away guest that has a real /dev/kvm with PKU.
#
# Why: libpkvm needs KVM with guest protection keys, and CI machines often have no /dev/kvm at
# all. QEMU's TCG "max" CPU emulates SVM with nested paging and PKU, so a stock Debian kernel
# booted under TCG can load kvm-amd and hand us a genuine KVM (nested inside TCG) to test against.
# TCG does not emulate VMX; Bochs does, with EPT: --machine=bochs-intel boots the same kernel in
# Bochs (built once from ../shared/bochs by tests/bochs/build.sh) and loads kvm-intel instead.
#
# Usage: tests/qemu/lane.sh [--machine qemu-amd|bochs-intel] [--paging nested|shadow]
#                           [--cache DIR] [--timeout SECS] [--mem SIZE] [--console FILE]
#                           [--sysroot DIR] PAYLOAD_DIR COMMAND [ARG...]
#
# --machine: qemu-amd (the default: QEMU TCG, kvm-amd with NPT) or bochs-intel (Bochs, kvm-intel
# with EPT). --paging=shadow loads the vendor module with NPT or EPT off (npt=0, ept=0): KVM then
# shadows the guest's page tables and offers no PKU, which is where the soft backend is needed.
#
# PAYLOAD_DIR is copied to /payload in the guest; COMMAND runs there (cwd /payload,
# PATH=/payload:/bin, stdin /dev/null) and its stdout+stderr stream to our stdout. The guest has
# only busybox and no libc, so payload programs must be static, unless --sysroot DIR brings their
# runtime: DIR's tree is copied to the guest's / (tests/qemu/runtime.sh fills one with the loader
# and the libraries that dynamically linked programs need, at the paths they look for them).
#
# Exit status: COMMAND's own status (0..255), or
#   2   usage error                       77  the machine's emulator or a tool to build or boot
#                                             it is missing (the only skip)
#   248 the Bochs build failed (bochs-intel)
#   249 kernel/module cache preparation failed (apt-get download, dpkg -x, module deps)
#   250 the emulator failed to start, or the guest kernel never ran our init
#   251 a KVM module failed to load in the guest
#   252 modules loaded but /dev/kvm is missing
#   253 the guest stopped before COMMAND reported a status (panic, init killed)
#   254 time limit reached
# Every lane failure ends with one line "lane: error: ..." on stderr (after the tail of the guest
# kernel console, for context); COMMAND's status is passed through silently.
#
# Environment: PKVM_QEMU_CACHE (cache dir), PKVM_QEMU_KERNEL_PKG (pin a Debian kernel package,
# e.g. linux-image-6.1.0-56-amd64; default: what linux-image-amd64 depends on), PKVM_BOCHS_SRC
# (Bochs 2.7's source and PKU patch; default: shared/bochs beside the checkout).

set -euo pipefail

readonly EX_USAGE=2 EX_SKIP=77 EX_CACHE=249 EX_BOOT=250 EX_MODULE=251 EX_NOKVM=252
readonly EX_LOST=253 EX_TIMEOUT=254
# The vendor modules the cache keeps; their dependencies (kvm, irqbypass, ccp) are found from
# modinfo. Each machine loads its own: kvm-amd under QEMU (TCG emulates SVM but not VMX),
# kvm-intel under Bochs.
readonly VENDOR_MODULES="kvm_amd kvm_intel"

prog=lane
die() { # die STATUS MESSAGE: the one-line error callers grep for, then exit
	printf '%s: error: %s\n' "$prog" "$2" >&2
	exit "$1"
}
usage() {
	sed -n 's/^# \{0,1\}//; /^Usage:/,/^$/p' "$0" | sed '$d' >&2
	exit "$EX_USAGE"
}

cache=${PKVM_QEMU_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/libpkvm-qemu}
timeout_s=600
mem=1G
console_copy=
sysroot=
machine=qemu-amd
paging=nested
while [ $# -gt 0 ]; do
	case $1 in
	--machine=*) machine=${1#*=}; shift ;;
	--machine) [ $# -ge 2 ] || usage; machine=$2; shift 2 ;;
	--paging=*) paging=${1#*=}; shift ;;
	--paging) [ $# -ge 2 ] || usage; paging=$2; shift 2 ;;
	--cache) [ $# -ge 2 ] || usage; cache=$2; shift 2 ;;
	--timeout) [ $# -ge 2 ] || usage; timeout_s=$2; shift 2 ;;
	--mem) [ $# -ge 2 ] || usage; mem=$2; shift 2 ;;
	--console) [ $# -ge 2 ] || usage; console_copy=$2; shift 2 ;;
	--sysroot) [ $# -ge 2 ] || usage; sysroot=$2; shift 2 ;;
	-h | --help) usage ;;
	--) shift; break ;;
	-*) usage ;;
	*) break ;;
	esac
done
[ $# -ge 2 ] || usage
case $timeout_s in '' | *[!0-9]* | 0) die "$EX_USAGE" "--timeout wants a positive number of seconds" ;; esac
payload=$1
shift
[ -d "$payload" ] || die "$EX_USAGE" "payload directory '$payload' does not exist"
[ -z "$sysroot" ] || [ -d "$sysroot" ] || die "$EX_USAGE" "sysroot directory '$sysroot' does not exist"
case $machine in
qemu-amd) vendor_module=kvm_amd tdp_param=npt ;;
bochs-intel) vendor_module=kvm_intel tdp_param=ept ;;
*) die "$EX_USAGE" "--machine wants qemu-amd or bochs-intel, not '$machine'" ;;
esac
case $paging in
nested) modopts= ;;
shadow) modopts="$tdp_param=0" ;;
*) die "$EX_USAGE" "--paging wants nested or shadow, not '$paging'" ;;
esac
# QEMU takes --mem as it is; Bochs wants megabytes.
megs=
if [ "$machine" = bochs-intel ]; then
	digits=${mem%[GgMm]}
	case $digits in '' | *[!0-9]*) die "$EX_USAGE" "--mem wants a size such as 1G or 768M, not '$mem'" ;; esac
	digits=$((10#$digits))
	case $mem in
	*[Gg]) megs=$((digits * 1024)) ;;
	*) megs=$digits ;;
	esac
fi

skip() {
	echo "$prog: SKIP: $*" >&2
	exit "$EX_SKIP"
}
here=$(cd "$(dirname "$0")" && pwd)
if [ "$machine" = qemu-amd ]; then
	command -v qemu-system-x86_64 >/dev/null 2>&1 ||
		skip "qemu-system-x86_64 not found (install qemu-system-x86)"
else
	# Booted from an isolinux CD with Debian's Bochs BIOS: Bochs has no -kernel.
	readonly ISOLINUX_BIN=/usr/lib/ISOLINUX/isolinux.bin
	readonly LDLINUX_C32=/usr/lib/syslinux/modules/bios/ldlinux.c32
	readonly BOCHS_BIOS=/usr/share/bochs/BIOS-bochs-latest VGA_BIOS=/usr/share/vgabios/vgabios.bin
	command -v xorriso >/dev/null 2>&1 || skip "xorriso not found (install xorriso)"
	[ -f "$ISOLINUX_BIN" ] || skip "$ISOLINUX_BIN not found (install isolinux)"
	[ -f "$LDLINUX_C32" ] || skip "$LDLINUX_C32 not found (install syslinux-common)"
	[ -f "$BOCHS_BIOS" ] || skip "$BOCHS_BIOS not found (install bochsbios)"
	[ -f "$VGA_BIOS" ] || skip "$VGA_BIOS not found (install vgabios)"
	# Bochs's source and compilers too, before anything is downloaded for a lane that cannot run.
	"$here/../bochs/build.sh" --check || exit $?
fi
for tool in busybox cpio timeout; do
	command -v "$tool" >/dev/null 2>&1 || die "$EX_BOOT" "'$tool' not found (needed to build the guest)"
done

tmp=$(mktemp -d "${TMPDIR:-/tmp}/pkvm-lane.XXXXXX")
tmp=$(cd "$tmp" && pwd) # Bochs runs in it: absolute paths in its configuration
emu_pid='' cat_pid=''
# shellcheck disable=SC2317 # reached through the traps
cleanup() {
	[ -z "$emu_pid" ] || kill "$emu_pid" 2>/dev/null || true
	[ -z "$cat_pid" ] || kill "$cat_pid" 2>/dev/null || true
	rm -rf "$tmp"
}
trap cleanup EXIT
# The emulator runs under timeout(1), which moves it to its own process group, so a ^C at the
# terminal does not reach it: forward the signal ourselves (the EXIT trap then kills and cleans up).
trap 'exit 130' INT
trap 'exit 143' TERM

# ---------------------------------------------------------------------------------------------
# (a) Kernel and modules, prepared once per kernel package into the cache:
#   $cache/current              name of the package the last run prepared (later runs use it
#                               without asking apt anything)
#   $cache/<pkg>/kernel         the kernel QEMU boots: the ELF vmlinux (booted via PVH) when it
#                               can be unpacked, else the bzImage
#   $cache/<pkg>/vmlinuz        the bzImage, which Bochs boots through isolinux
#   $cache/<pkg>/modules/*.ko   uncompressed modules, and load-order.<vendor module> for each
#                               of VENDOR_MODULES (dependencies first)
#   $cache/<pkg>/version        the .deb file name it came from
# ---------------------------------------------------------------------------------------------

# Dependencies of a module file, from its .modinfo "depends=" string (no modinfo(8) needed).
module_deps() {
	tr '\0' '\n' <"$1" | sed -n 's/^depends=//p' | tr ',' ' '
}

# Path of the module called $1 under $2 ("kvm_amd" and "kvm-amd" are the same module).
module_file() {
	local glob
	glob=$(printf '%s' "$1" | sed 's/[-_]/[-_]/g')
	find "$2" -name "$glob.ko*" -print -quit
}

# Copy module $1 and, first, everything it depends on into $3, appending to $4 (a load order).
declare -A module_seen=()
add_module() {
	local name=$1 tree=$2 out=$3 order=$4 file dep plain
	name=${name//-/_}
	[ -z "${module_seen[$name]:-}" ] || return 0
	module_seen[$name]=1
	file=$(module_file "$name" "$tree")
	[ -n "$file" ] || die "$EX_CACHE" "module $name not found in the kernel package"
	plain=$out/$name.ko
	# Debian ships plain .ko in 6.1 point releases, .ko.xz/.ko.zst in others; busybox insmod
	# cannot be trusted with either, so decompress here.
	case $file in
	*.ko.xz) xz -dc "$file" >"$plain" ;;
	*.ko.zst) zstd -qdc "$file" >"$plain" ;;
	*.ko.gz) gzip -dc "$file" >"$plain" ;;
	*) cp "$file" "$plain" ;;
	esac
	for dep in $(module_deps "$plain"); do
		add_module "$dep" "$tree" "$out" "$order"
	done
	echo "$name" >>"$order"
}

le32() { # le32 FILE OFFSET: the little-endian 32-bit number at OFFSET
	od -An -t u4 -j "$2" -N 4 "$1" | tr -d ' '
}

# The ELF vmlinux inside a bzImage, on stdout. Booting that through QEMU's PVH entry skips the
# in-guest decompression, which under TCG costs about 3 s per boot (boot protocol: the payload
# sits payload_offset (0x248) bytes into the protected-mode part, which follows the
# (setup_sects (0x1f1) + 1) * 512 bytes of real-mode setup; payload_length (0x24c) bytes,
# the last 4 of which are the decompressed size, not part of the compressed stream).
unpack_bzimage() {
	local setup_sects off len
	setup_sects=$(od -An -t u1 -j $((0x1f1)) -N 1 "$1" | tr -d ' ')
	off=$(((setup_sects + 1) * 512 + $(le32 "$1" $((0x248)))))
	len=$(($(le32 "$1" $((0x24c))) - 4))
	tail -c +$((off + 1)) "$1" | head -c "$len" >"$tmp/payload.z"
	case $(od -An -t x1 -N 4 "$tmp/payload.z" | tr -d ' ') in
	fd377a58) xz -dc "$tmp/payload.z" ;;
	28b52ffd) zstd -qdc "$tmp/payload.z" ;;
	1f8b*) gzip -dc "$tmp/payload.z" ;;
	*) return 1 ;; # some other compressor: fall back to booting the bzImage
	esac
}

apt_quiet() { # run apt-get quietly, keeping its output for the error message
	apt-get -q "$@" >"$tmp/apt.log" 2>&1
}

# Whether $1 holds all that both machines boot (a cache made before the Intel lane lacks the
# bzImage and kvm-intel: such a one is prepared again, from the package apt offers now).
cache_complete() {
	[ -f "$1/kernel" ] && [ -f "$1/vmlinuz" ] && [ -f "$1/modules/load-order.kvm_intel" ]
}

resolve_kernel_pkg() {
	if [ -n "${PKVM_QEMU_KERNEL_PKG:-}" ]; then
		echo "$PKVM_QEMU_KERNEL_PKG"
	elif [ -s "$cache/current" ] && cache_complete "$cache/$(cat "$cache/current")"; then
		cat "$cache/current"
	else
		# The plain signed flavour that the linux-image-amd64 metapackage points at.
		apt-cache depends linux-image-amd64 2>/dev/null |
			awk '$1 == "Depends:" && $2 ~ /^linux-image-[0-9].*-amd64$/ { print $2; exit }'
	fi
}

prepare_kernel() { # prepare_kernel PKG: download and unpack into $cache/PKG (atomically)
	local pkg=$1 work deb tree bzimage
	command -v apt-get >/dev/null 2>&1 || die "$EX_CACHE" "apt-get not found: cannot fetch $pkg"
	work=$(mktemp -d "$cache/.prep.XXXXXX")
	# shellcheck disable=SC2064 # expand $work now: it is local
	trap "rm -rf '$work'; cleanup" EXIT
	echo "$prog: preparing $pkg into $cache (one-time download)" >&2
	# Stale package lists make the download 404: refresh them once, only when needed. Root's
	# apt drops to user _apt, which cannot write our 0700 temp dir, hence the sandbox option.
	if ! (cd "$work" && apt_quiet -o APT::Sandbox::User=root download "$pkg"); then
		apt_quiet update || true
		(cd "$work" && apt_quiet -o APT::Sandbox::User=root download "$pkg") ||
			die "$EX_CACHE" "apt-get download $pkg failed: $(tail -n 1 "$tmp/apt.log")"
	fi
	deb=$(find "$work" -maxdepth 1 -name '*.deb' -print -quit)
	tree=$work/tree
	dpkg -x "$deb" "$tree" || die "$EX_CACHE" "dpkg -x $deb failed"
	mkdir -p "$work/out/modules"
	bzimage=$(find "$tree/boot" -name 'vmlinuz-*' -print -quit)
	[ -n "$bzimage" ] || die "$EX_CACHE" "no vmlinuz in $pkg"
	if grep -qx 'CONFIG_PVH=y' "$tree"/boot/config-* && unpack_bzimage "$bzimage" >"$work/vmlinux"; then
		mv "$work/vmlinux" "$work/out/kernel"
	else
		cp "$bzimage" "$work/out/kernel"
	fi
	cp "$bzimage" "$work/out/vmlinuz"
	for root_module in $VENDOR_MODULES; do
		module_seen=()
		add_module "$root_module" "$tree/lib/modules" "$work/out/modules" \
			"$work/out/modules/load-order.$root_module"
	done
	basename "$deb" >"$work/out/version"
	rm -rf "${cache:?}/$pkg"
	mv "$work/out" "$cache/$pkg"
	rm -rf "$work"
	trap cleanup EXIT
}

mkdir -p "$cache" || die "$EX_CACHE" "cannot create cache directory $cache"
cache=$(cd "$cache" && pwd)
kernel_pkg=$(resolve_kernel_pkg)
if [ -z "$kernel_pkg" ]; then
	apt_quiet update || true
	kernel_pkg=$(resolve_kernel_pkg)
	[ -n "$kernel_pkg" ] || die "$EX_CACHE" "cannot find a Debian kernel package (linux-image-amd64)"
fi
kdir=$cache/$kernel_pkg
if ! cache_complete "$kdir"; then
	# Two lanes starting together must not both download into the same place.
	exec 9>"$cache/.lock"
	flock 9
	cache_complete "$kdir" || prepare_kernel "$kernel_pkg"
	exec 9>&-
fi
echo "$kernel_pkg" >"$cache/current"

# ---------------------------------------------------------------------------------------------
# (b) The initramfs: the sysroot if any, busybox, modules, payload, the command, and an init
# that drives the run (the lane's own files go in last, so a sysroot cannot replace them).
# ---------------------------------------------------------------------------------------------
root=$tmp/root
mkdir -p "$root"
[ -z "$sysroot" ] || cp -a "$sysroot/." "$root/"
mkdir -p "$root/bin" "$root/lib/modules" "$root/payload" "$root/lane"
cp "$(command -v busybox)" "$root/bin/busybox"
cp "$kdir/modules/load-order.$vendor_module" "$root/lib/modules/load-order"
while read -r m; do
	cp "$kdir/modules/$m.ko" "$root/lib/modules/"
done <"$root/lib/modules/load-order"
cp -a "$payload/." "$root/payload/"
# Options for the vendor module (--paging=shadow), and how this machine powers off: QEMU runs
# with -no-reboot, so a reboot ends it; Bochs would boot again, and powers off instead.
echo "$vendor_module $modopts" >"$root/lane/modopts"
if [ "$machine" = qemu-amd ]; then echo "reboot -f"; else echo "poweroff -f"; fi >"$root/lane/off"

# The command, one POSIX single-quoted word per argument, for the guest's `eval "set -- ..."`.
for arg in "$@"; do
	printf "'%s' " "${arg//\'/\'\\\'\'}"
done >"$root/lane/argv"

# Guest serial ports: ttyS0 is the kernel console (to a log file), ttyS1 carries COMMAND's
# output (to our stdout, untouched), ttyS2 carries the init's status lines (to a file). Keeping
# them apart means no marker parsing of payload output and no kernel messages mixed into it.
cat >"$root/init" <<'EOF'
#!/bin/busybox sh
# Guest init: mount, load KVM, run the command, report its status on ttyS2, power off.
/bin/busybox --install -s /bin
mkdir -p /proc /sys /dev /tmp
mount -t devtmpfs dev /dev
# The initramfs has no /dev/console node, so the kernel started us with no stdio.
exec </dev/console >/dev/console 2>&1
mount -t proc proc /proc
mount -t sysfs sys /sys
# Each echo opens and closes the port; the last close waits until the UART has sent it all,
# so a line is on the host before we go on (and before the power-off below).
say() { echo "@@PKVM-LANE $*@@" >/dev/ttyS2; }
off() { $(cat /lane/off); }
say up
read -r vendor opts </lane/modopts
for m in $(cat /lib/modules/load-order); do
	o=
	[ "$m" != "$vendor" ] || o=$opts
	# shellcheck disable=SC2086 # the options are words
	if ! msg=$(insmod "/lib/modules/$m.ko" $o 2>&1); then
		say "modfail $m: $(echo "$msg" | tail -n 1)"
		off
	fi
done
[ -c /dev/kvm ] || { say nokvm; off; }
# What the host logs of the KVM under test: the vendor module's paging, and the CPU's PKU.
p=/sys/module/$vendor/parameters
say "kvm $vendor ept=$(cat $p/ept 2>/dev/null || echo -) npt=$(cat $p/npt 2>/dev/null || echo -) pku=$(grep -cw pku /proc/cpuinfo)"
# Raw: no \n -> \r\n translation, so the payload's bytes reach the host unchanged.
stty -F /dev/ttyS1 raw -echo
cd /payload
export PATH=/payload:/bin HOME=/payload PKVM_LANE=1
eval "set -- $(cat /lane/argv)"
"$@" </dev/null >/dev/ttyS1 2>&1
say "exit $?"
off
EOF
chmod +x "$root/init"
(cd "$root" && find . -print0 | cpio --null -o -H newc --quiet) >"$tmp/initrd" ||
	die "$EX_BOOT" "cpio failed to pack the initramfs"

# ---------------------------------------------------------------------------------------------
# (c) Boot. Both machines give the guest three serial ports: ttyS0 the kernel console (to a
# file), ttyS1 COMMAND's output (to our stdout), ttyS2 the init's status lines (to a file).
# ---------------------------------------------------------------------------------------------
# QEMU: -nodefaults/-display none/-monitor none: QEMU gets no terminal, no monitor on stdio, no
# NIC or VGA to probe; stdin is /dev/null so it can never eat ours. The output port is a FIFO
# read by cat rather than QEMU's stdio backend, which would set O_NONBLOCK on our stdout.
# loglevel=4 keeps warnings and panics in the console log; full verbosity costs ~1 s under TCG.
boot_qemu() {
	mkfifo "$tmp/out.in" "$tmp/out.out"
	cat "$tmp/out.out" &
	cat_pid=$!
	timeout -k 5 "$timeout_s" qemu-system-x86_64 \
		-no-user-config -nodefaults -display none -monitor none \
		-accel tcg -cpu max -smp 1 -m "$mem" -no-reboot \
		-kernel "$kdir/kernel" -initrd "$tmp/initrd" \
		-append "console=ttyS0 panic=-1 loglevel=4" \
		-serial "file:$tmp/console" \
		-chardev "pipe,id=out,path=$tmp/out" -serial chardev:out \
		-serial "file:$tmp/ctl" \
		</dev/null >"$tmp/emu.log" 2>&1 &
	emu_pid=$!
	wait "$emu_pid" || emu_rc=$?
	emu_pid=
	# If QEMU died before opening the FIFO, cat is still blocked in open(): a brief open here
	# (O_RDWR does not block) lets it through to EOF. Otherwise cat drains what is left and
	# ends by itself.
	exec 8<>"$tmp/out.out"
	exec 8>&-
	wait "$cat_pid" || true
	cat_pid=
}

# Bochs: an isolinux CD with the bzImage and the initramfs, Debian's BIOS, the CPU model the
# PKU patch fixes (corei7_skylake_x), ports to files. Bochs writes a port's file from its first
# byte on and exits with status 1 even on a clean power-off, so the lane polls the files: it
# streams the output port, and ends Bochs itself once the status line is there.
boot_bochs() {
	local bochs iso=$tmp/iso start ups
	bochs=$("$here/../bochs/build.sh" "$cache") || exit $?
	mkdir -p "$iso/isolinux"
	cp "$ISOLINUX_BIN" "$LDLINUX_C32" "$iso/isolinux/"
	cp "$kdir/vmlinuz" "$iso/vmlinuz"
	gzip -1 <"$tmp/initrd" >"$iso/initrd.gz"
	cat >"$iso/isolinux/isolinux.cfg" <<-EOC
	DEFAULT lane
	PROMPT 0
	TIMEOUT 0
	LABEL lane
	  KERNEL /vmlinuz
	  INITRD /initrd.gz
	  APPEND console=ttyS0,115200 panic=-1 loglevel=4 mitigations=off
	EOC
	xorriso -as mkisofs -quiet -o "$tmp/boot.iso" -b isolinux/isolinux.bin -c isolinux/boot.cat \
		-no-emul-boot -boot-load-size 4 -boot-info-table "$iso" >"$tmp/emu.log" 2>&1 ||
		die "$EX_BOOT" "xorriso could not make the boot CD: $(tail -n 1 "$tmp/emu.log")"
	# Only panics are logged: kvm-intel makes Bochs report an unknown MSR at every VM entry.
	cat >"$tmp/bochsrc" <<-EOB
	megs: $megs
	cpu: model=corei7_skylake_x, count=1, ips=100000000, reset_on_triple_fault=0, ignore_bad_msrs=1
	romimage: file=$BOCHS_BIOS
	vgaromimage: file=$VGA_BIOS
	pci: enabled=1, chipset=i440fx
	ata0: enabled=1, ioaddr1=0x1f0, ioaddr2=0x3f0, irq=14
	ata0-master: type=cdrom, path=$tmp/boot.iso, status=inserted
	boot: cdrom
	com1: enabled=1, mode=file, dev=$tmp/console
	com2: enabled=1, mode=file, dev=$tmp/out
	com3: enabled=1, mode=file, dev=$tmp/ctl
	clock: sync=none, time0=local
	display_library: nogui
	mouse: enabled=0
	log: $tmp/bochs.log
	panic: action=fatal
	error: action=ignore
	info: action=ignore
	debug: action=ignore
	EOB
	: >"$tmp/out"
	exec 7<"$tmp/out" # read as it grows: cat reads to the end and keeps its place
	start=$SECONDS
	(cd "$tmp" && exec "$bochs" -q -f "$tmp/bochsrc") </dev/null >"$tmp/emu.log" 2>&1 &
	emu_pid=$!
	for (( ; ; )); do
		cat <&7
		grep -aqE '@@PKVM-LANE (exit .*|modfail .*|nokvm)@@' "$tmp/ctl" 2>/dev/null && break
		# A panic reboots the guest (Bochs has no -no-reboot): it must not run COMMAND again.
		ups=$(grep -ac '@@PKVM-LANE up@@' "$tmp/ctl" 2>/dev/null || true)
		if [ "${ups:-0}" -gt 1 ] || grep -aq 'Kernel panic - not syncing' "$tmp/console" 2>/dev/null; then
			break
		fi
		if ! kill -0 "$emu_pid" 2>/dev/null; then
			# Bochs gave up by itself (a bad ROM, a triple fault): its status says so.
			wait "$emu_pid" || emu_rc=$?
			[ "$emu_rc" -ne 0 ] || emu_rc=1
			emu_pid=
			break
		fi
		if [ $((SECONDS - start)) -ge "$timeout_s" ]; then
			emu_rc=124
			break
		fi
		sleep 0.5
	done
	if [ -n "$emu_pid" ]; then
		kill "$emu_pid" 2>/dev/null || true
		wait "$emu_pid" 2>/dev/null || true
		emu_pid=
	fi
	cat <&7
	exec 7<&-
	# What Bochs said of a guest it gave up on (a triple fault, a panic of its own).
	grep -a 'PANIC' "$tmp/bochs.log" 2>/dev/null | tail -n 3 >>"$tmp/emu.log" || true
}

: >"$tmp/ctl"
emu_rc=0
case $machine in
qemu-amd) boot_qemu ;;
bochs-intel) boot_bochs ;;
esac
[ -z "$console_copy" ] || cp "$tmp/console" "$console_copy" 2>/dev/null || true

# ---------------------------------------------------------------------------------------------
# (d) The verdict, from the status lines on ttyS2.
# ---------------------------------------------------------------------------------------------
marker() { # "=TEXT" if the control port got "@@PKVM-LANE $1TEXT@@", else nothing
	tr -d '\r' <"$tmp/ctl" | sed -n "s/^@@PKVM-LANE $1\\(.*\\)@@\$/=\\1/p" | tail -n 1
}
fail() { # fail STATUS MESSAGE: show the end of the kernel console for context, then die
	local panic
	if [ -s "$tmp/console" ]; then
		tr -d '\r' <"$tmp/console" | tail -n 15 | sed "s/^/$prog: console: /" >&2
		# A panic's reason sits above its backtrace, usually out of the tail: name it.
		panic=$(tr -d '\r' <"$tmp/console" | grep -m 1 -o 'Kernel panic - not syncing.*' || true)
		[ -z "$panic" ] || set -- "$1" "$2 [$panic]"
	fi
	die "$1" "$2"
}

kvm=$(marker 'kvm ')
[ -z "$kvm" ] || echo "$prog: $machine, guest KVM: ${kvm#=}" >&2
cmd_status=$(marker 'exit ')
if [ -n "$cmd_status" ]; then
	cmd_status=${cmd_status#=}
	case $cmd_status in '' | *[!0-9]*) fail "$EX_LOST" "garbled exit status '$cmd_status'" ;; esac
	exit "$cmd_status"
fi
timed_out=false
[ "$emu_rc" -ne 124 ] && [ "$emu_rc" -ne 137 ] || timed_out=true

if [ -z "$(marker up)" ]; then
	$timed_out && fail "$EX_TIMEOUT" "timed out after ${timeout_s}s before the guest kernel ran init"
	[ "$emu_rc" -eq 0 ] ||
		fail "$EX_BOOT" "$machine failed ($emu_rc): $(tail -n 1 "$tmp/emu.log")"
	[ -s "$tmp/console" ] || fail "$EX_BOOT" "guest kernel stopped without printing anything (--mem too small?)"
	fail "$EX_BOOT" "guest kernel stopped before running init (console tail above)"
fi
modfail=$(marker 'modfail ')
[ -z "$modfail" ] || fail "$EX_MODULE" "guest could not load module ${modfail#=}"
[ -z "$(marker nokvm)" ] || fail "$EX_NOKVM" "guest loaded the KVM modules but has no /dev/kvm"
$timed_out && fail "$EX_TIMEOUT" "timed out after ${timeout_s}s while running: $*"
fail "$EX_LOST" "guest stopped before '$*' reported a status ($machine status $emu_rc: $(tail -n 1 "$tmp/emu.log"))"
