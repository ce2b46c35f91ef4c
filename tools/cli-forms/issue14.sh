#!/bin/bash
# Issue 14's CLI pairings on loopback: ours h3 serve ↔ ours h3 get, and gtlsclient ← ours.
# Needs a Release build and ngtcp2-client (gtlsclient); prints one line per form and fail=0|1.
set -u
HERE=$(cd "$(dirname "$0")" && pwd); OSP=${OSP:-$HERE/../../src/Bridge/bin/Release/net10.0/ospbridge}
W=$(mktemp -d /tmp/cli14.XXXX); fail=0
mkdir -p $W/d; head -c 7000000 /dev/urandom > $W/d/seven.bin; echo hello > $W/d/a.txt
$OSP h3 serve --port 4437 --dir $W/d --state-dir $W/s1 > $W/serve.log 2>&1 & SV=$!
sleep 2
t0=$(date +%s.%N); $OSP h3 get -k -o $W/big https://127.0.0.1:4437/50000000 --state-dir $W/s2; rc=$?; t1=$(date +%s.%N)
echo "h3 get 50 MB exit $rc size $(stat -c %s $W/big) $(echo "$t1 - $t0" | bc) s"
$OSP h3 get -k -o $W/seven https://127.0.0.1:4437/seven.bin --state-dir $W/s2; echo "seven exit $? $(cmp -s $W/seven $W/d/seven.bin && echo identical || { echo DIFFERENT; fail=1; })"
$OSP h3 get -k -o $W/a https://127.0.0.1:4437/a.txt --state-dir $W/s2; echo "a.txt exit $? $(cmp -s $W/a $W/d/a.txt && echo identical || { echo DIFFERENT; fail=1; })"
mkdir -p $W/g; gtlsclient -q --download=$W/g --exit-on-all-streams-close 127.0.0.1 4437 https://127.0.0.1:4437/seven.bin >/dev/null 2>&1; echo "gtlsclient exit $? $(cmp -s $W/g/seven.bin $W/d/seven.bin && echo identical || { echo DIFFERENT; fail=1; })"
kill $SV; wait $SV 2>/dev/null
echo "fail=$fail"
