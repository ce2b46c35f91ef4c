#!/bin/bash
# Issue 11's CLI forms end to end across two network namespaces (agent in c11a with --http-origin, client in c11b).
# Needs root (ip netns), a Release build (dotnet build -c Release) and python3; prints one line per form and fail=0|1.
set -u
HERE=$(cd "$(dirname "$0")" && pwd); OSP=${OSP:-$HERE/../../src/Bridge/bin/Release/net10.0/ospbridge}
W=$(mktemp -d /tmp/cli11.XXXX); fail=0
cleanup() { kill $AG $OR 2>/dev/null; sleep 1; ip netns del c11a 2>/dev/null; ip netns del c11b 2>/dev/null; }
trap cleanup EXIT
ip netns add c11a; ip netns add c11b
ip link add v11a netns c11a type veth peer name v11b netns c11b
ip -n c11a addr add 10.111.0.1/24 dev v11a; ip -n c11b addr add 10.111.0.2/24 dev v11b
for n in c11a c11b; do ip -n $n link set lo up; done
ip -n c11a link set v11a up multicast on; ip -n c11b link set v11b up multicast on
ip -n c11a route add default dev v11a; ip -n c11b route add default dev v11b
mkdir -p $W/www; head -c 1000 /dev/urandom > $W/www/a.bin; echo '{"ok":true,"n":42}' > $W/www/status.json
head -c 10000000 /dev/urandom > $W/www/ten.bin; head -c 50000000 /dev/urandom > $W/up.bin
ip netns exec c11a python3 $HERE/origin.py 8080 $W/www & OR=$!
ip netns exec c11a $OSP agent --name "Dev17" --accept-all --interface v11a --state-dir $W/sa --http-origin http://127.0.0.1:8080 > $W/agent.log 2>&1 & AG=$!
for i in $(seq 1 100); do grep -q "^agent " $W/agent.log && break; sleep 0.2; done
sleep 0.1
ip netns exec c11b $OSP pair Dev17 --interface v11b --state-dir $W/sb --timeout 30 < <(for i in $(seq 1 150); do p=$(grep -o "PIN: [0-9-]*" $W/agent.log | tail -1 | cut -d' ' -f2); [ -n "$p" ] && { echo $p; break; }; sleep 0.2; done); echo "pair exit $?"
F() { ip netns exec c11b $OSP fetch Dev17 --interface v11b --state-dir $W/sb "$@"; }
F /status.json -i; echo "exit $?"
for t in datachannel quic; do
  F /ten.bin -o $W/ten.$t --transport $t; echo "get 10MB $t exit $? $(cmp -s $W/ten.$t $W/www/ten.bin && echo identical || { echo DIFFERENT; fail=1; })"
  F /up.bin -X PUT -d @$W/up.bin -o $W/put.$t --transport $t; echo "put 50MB $t exit $? $(cmp -s $W/put.$t $W/up.bin && echo identical || { echo DIFFERENT; fail=1; })"
  F /echo -X POST -H 'Content-Type: text/plain' -d hello -i --transport $t; echo " post exit $?"
done
F /missing -i; echo "404 exit $?"
echo "fail=$fail"
