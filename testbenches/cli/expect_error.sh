#!/usr/bin/env bash
# Runs a command that must fail on bad input: exit status 2, exactly one line on stderr matching
# the expected pattern, nothing on stdout.   expect_error.sh PATTERN COMMAND...
set -u
pattern="$1"; shift
err=$(mktemp); out=$(mktemp)
"$@" >"$out" 2>"$err"; rc=$?
lines=$(wc -l <"$err")
ok=1
[ "$rc" -eq 2 ] || { echo "expected exit status 2, got $rc"; ok=0; }
[ "$lines" -eq 1 ] || { echo "expected one line on stderr, got $lines"; ok=0; }
grep -Eq -- "$pattern" "$err" || { echo "stderr does not match: $pattern"; ok=0; }
[ -s "$out" ] && { echo "unexpected stdout"; ok=0; }
if [ $ok -eq 0 ]; then echo "--- stderr:"; cat "$err"; fi
rm -f "$err" "$out"
[ $ok -eq 1 ]
