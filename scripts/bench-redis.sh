#!/usr/bin/env bash
# Runs redis-benchmark's PUBLISH (pipelining off, -P 1) and the RedisBus bench against one private redis-server
# (free port, temporary directory, no persistence) and prints both rates side by side.
#
#   scripts/bench-redis.sh [SIZE_BYTES] [MESSAGES]
#
# Needs redis-server and redis-benchmark (Debian: apt-get install redis-server).
set -euo pipefail

size="${1:-256}"
messages="${2:-20000}"
root="$(cd "$(dirname "$0")/.." && pwd)"

for tool in redis-server redis-benchmark; do
  command -v "$tool" >/dev/null || { echo "$tool not found: apt-get install redis-server" >&2; exit 1; }
done

dir="$(mktemp -d)"
port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
redis-server --port "$port" --bind 127.0.0.1 --dir "$dir" --save "" --appendonly no \
  --daemonize no --logfile "$dir/redis.log" &
server=$!
trap 'kill "$server" 2>/dev/null; wait "$server" 2>/dev/null; rm -rf "$dir"' EXIT
for _ in $(seq 100); do redis-cli -p "$port" ping >/dev/null 2>&1 && break; sleep 0.05; done

echo "redis-server $(redis-server --version | sed 's/.*v=\([^ ]*\).*/\1/') on 127.0.0.1:$port, $(nproc) cores"
# redis-benchmark 7.0 has no built-in `publish` test (`-t publish` runs nothing), so it runs
# the PUBLISH command itself, with a payload of the same size as the envelopes below.
payload="$(head -c "$size" /dev/zero | tr '\0' x)"
echo "== redis-benchmark -P 1 -n $messages PUBLISH channel:bench <$size bytes> (50 clients)"
bench_line="$(redis-benchmark -p "$port" -P 1 -n "$messages" -q PUBLISH channel:bench "$payload" | tr '\r' '\n' | grep -i 'PUBLISH' | tail -1)"
echo "$bench_line"
redis_rate="$(echo "$bench_line" | sed -n 's/.*: *\([0-9.]*\) requests per second.*/\1/p')"

echo "== RedisBus (cargo bench -p aito-benches --bench redis_bus)"
out="$(cd "$root" && AITO_BENCH_REDIS_URL="redis://127.0.0.1:$port/0" AITO_BENCH_SIZE="$size" \
  AITO_BENCH_MESSAGES="$messages" cargo bench -q -p aito-benches --bench redis_bus 2>&1)"
echo "$out" | grep -E '^RESULT|time:' || { echo "$out"; exit 1; }
bus_rate="$(echo "$out" | sed -n 's/^RESULT redisbus_rate \([0-9.]*\).*/\1/p')"

echo
printf '%-48s %12s msg/s\n' "redis-benchmark PUBLISH ($size bytes, -P 1)" "$redis_rate"
printf '%-48s %12s msg/s\n' "RedisBus publish -> handler -> ack ($size bytes)" "$bus_rate"
python3 -c "print(f'RedisBus / redis-benchmark = {float($bus_rate)/float($redis_rate)*100:.0f}%')"
