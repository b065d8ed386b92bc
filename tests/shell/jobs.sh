# Background jobs, wait, traps, kill between the shell and its children.
$BB mkdir -p /tmp/t
trap 'echo "trap: EXIT"' EXIT
trap 'echo "trap: USR1"' USR1
kill -USR1 $$
echo "after USR1"
$BB sleep 0.2 &
first=$!
( $BB sleep 0.1; exit 7 ) &
second=$!
wait $second
echo "second: $?"
wait $first
echo "first: $?"
$BB sleep 30 &
victim=$!
$BB sleep 0.2	# past its exec: a shell child killed before it would run the EXIT trap
kill $victim
wait $victim
echo "killed: $?"
( trap 'echo "child: TERM"; exit 5' TERM; while :; do $BB sleep 0.05; done ) &
child=$!
$BB sleep 0.3
kill -TERM $child
wait $child
echo "child with a trap: $?"
for i in 1 2 3; do ( $BB sleep 0.$((i * 2)); echo "job $i" ) & done
wait
echo "all jobs done"
sh_status() { return "$1"; }
sh_status 42
echo "function status: $?"
exit 9
