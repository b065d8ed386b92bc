# kvm.sh: sourced by the shell tests: can this host's /dev/kvm run libpkvm guests?
# And sandboxed_run ARGS...: $PKSANDBOX with $PKSANDBOX_ARGS (one option, may be empty), ARGS.
# kvm_runs_guests PKSANDBOX: 0 if it can; else 1 with the reason in $kvm_skip_reason.
# A paravirtual KVM such as PVM answers the KVM API but does not run native x86
# guests; there, as where /dev/kvm is absent, the QEMU lane runs the guests.
kvm_runs_guests() {
	if [ ! -e /dev/kvm ]; then
		kvm_skip_reason="/dev/kvm is absent"
		return 1
	fi
	if ! "$1" --caps 2>/dev/null | grep -q '^runs-guests: yes'; then
		kvm_skip_reason="/dev/kvm does not run native x86 guests ($1 --caps)"
		return 1
	fi
	return 0
}

sandboxed_run() {
	if [ -n "${PKSANDBOX_ARGS:-}" ]; then
		"$PKSANDBOX" "$PKSANDBOX_ARGS" "$@"
	else
		"$PKSANDBOX" "$@"
	fi
}
