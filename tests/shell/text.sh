# busybox applets chained in pipelines (bench/ times them over 1 MiB).
$BB mkdir -p /tmp/t
$BB seq 1 20000 | $BB awk '{ print ($1 * 7919) % 1009 }' | $BB head -c 65536 > numbers
$BB wc -c < numbers
$BB sort numbers | $BB uniq -c | $BB sort -n | $BB head -5
$BB sort -n numbers | $BB tail -3
$BB cat numbers | $BB grep -c '^1'
$BB sort -u numbers | $BB wc -l
$BB rm numbers
