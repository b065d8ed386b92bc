# Changing files: the working directory is writable (--rw), /tmp a tmpfs.
$BB mkdir -p /tmp/t
echo hello > a.txt
$BB cat a.txt
echo more >> a.txt
$BB wc -l < a.txt
$BB mkdir -p d/e
echo x > d/e/f
$BB ls -R d
$BB mv a.txt d/b.txt
$BB ls d
$BB ln d/b.txt c.txt
$BB cat c.txt
$BB rm c.txt
printf 'abc' > t
$BB truncate -s 10 t
$BB wc -c < t
$BB chmod 640 t
$BB stat -c %a t
$BB touch -d '2020-01-01 00:00:00' t
$BB stat -c %Y t
cd d && echo "in $($BB basename "$(pwd)")" && cd ..
$BB tar -cf /tmp/t/x.tar d
echo "tar c: $?"
$BB mkdir /tmp/t/out
$BB tar -xf /tmp/t/x.tar -C /tmp/t/out
echo "tar x: $?"
$BB find /tmp/t/out -type f | $BB sort
$BB find . -name 'b*' -exec $BB cat {} \;
$BB seq 1 10 | $BB xargs -n 3 echo
$BB rm -r d t
$BB ls
$BB rmdir /tmp/t/out 2>/dev/null || echo "rmdir of a full directory fails"
echo end
