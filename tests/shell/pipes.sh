# Pipelines, command substitution, subshells, here-documents, redirections.
# Run natively and in pksandbox by tests/shell_diff.sh; $BB is busybox.
$BB mkdir -p /tmp/t
echo "start"
upper=$(echo "hello world" | $BB tr a-z A-Z)
echo "substitution: $upper"
echo "nested: $(echo "$(echo inner | $BB rev)" | $BB tr a-z A-Z)"
count=$($BB seq 1 1000 | $BB wc -l)
echo "lines: $count"
( echo "in a subshell"; exit 3 )
echo "subshell status: $?"
{ echo "group one"; echo "group two"; } | $BB sort -r
$BB seq 1 5 | while read -r n; do echo "read $n"; done
cat_it() { $BB cat; }
cat_it <<END
here-document with $upper
and two lines
END
$BB cat <<'END'
quoted here-document: $upper stays
END
echo "to stderr" >&2
echo "stderr to stdout" 2>&1 >&2 | $BB cat
echo "redirected" > out.txt
echo "appended" >> out.txt
$BB cat out.txt
exec 3> fd3.txt
echo "through fd 3" >&3
exec 3>&-
$BB cat fd3.txt
$BB false | $BB true
echo "pipeline status: $?"
$BB true | $BB false
echo "pipeline status: $?"
if $BB grep -q two out.txt; then echo "grep: found"; else echo "grep: not found"; fi
$BB rm -f out.txt fd3.txt
echo "end"
