#!/bin/sh
# lane.sh: the Intel lane: tests/qemu/lane.sh --machine=bochs-intel, with the same command
# line (PAYLOAD_DIR COMMAND...), exit statuses and payload conventions (see that script).
exec "$(dirname "$0")/../qemu/lane.sh" --machine=bochs-intel "$@"
