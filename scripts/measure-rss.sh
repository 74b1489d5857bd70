#!/usr/bin/env bash
# Resident memory and CPU of idle aito processes, read from /proc/PID/status (VmRSS, VmHWM) and
# /proc/PID/stat (utime + stime):
#   1. `aito agent --role cto` on a private redis-server (one agent needs a shared bus), idle;
#   2. `aito run` as in a fresh checkout (the repository's aito.toml and knowledge/: the company
#      kept in aito-data/aito.db, the durable SQLite bus and store, the context index on disk)
#      with the demo scenario, idle after the demo's work.
#
#   scripts/measure-rss.sh [IDLE_SECONDS]     (default 60: how long CPU time is counted)
#
# Builds the binary with the `dist` profile (as the Docker image does); AITO_PROFILE=release
# measures the plain release build instead, AITO_PROFILE=bench the build the benchmarks use
# (as `dist`, symbols kept); AITO_BIN=PATH measures that binary, built already. Needs
# redis-server (Debian: apt-get install redis-server).
set -euo pipefail

idle="${1:-60}"
root="$(cd "$(dirname "$0")/.." && pwd)"
command -v redis-server >/dev/null || { echo "redis-server not found: apt-get install redis-server" >&2; exit 1; }

profile="${AITO_PROFILE:-dist}"
if [ -n "${AITO_BIN:-}" ]; then
  aito="$AITO_BIN"
  profile="given"
else
  (cd "$root" && cargo build --profile "$profile" -q -p aito-bin)
  case "$profile" in
    bench) aito="$root/target/release/aito" ;;
    dev) aito="$root/target/debug/aito" ;;
    *) aito="$root/target/$profile/aito" ;;
  esac
fi
tick="$(getconf CLK_TCK)"
dir="$(mktemp -d)"
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; done
  rm -rf "$dir"
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# Waits until file $1 contains $2 (at most 30 s).
wait_for() {
  for _ in $(seq 300); do grep -q "$2" "$1" 2>/dev/null && return 0; sleep 0.1; done
  echo "timed out waiting for '$2' in $1:" >&2; cat "$1" >&2; exit 1
}

kb() { awk -v key="$2:" '$1 == key { print $2 }' "/proc/$1/status"; }
cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }

# Prints "RSS HWM CPU%" for PID $1 after it has been idle for $idle seconds.
measure() {
  local pid="$1" before after
  sleep 5
  before="$(cpu_ticks "$pid")"
  sleep "$idle"
  after="$(cpu_ticks "$pid")"
  echo "$(kb "$pid" VmRSS) $(kb "$pid" VmHWM) $(python3 -c "print(f'{($after-$before)/$tick/$idle*100:.3f}')") $((after - before))"
}

port="$(free_port)"
redis-server --port "$port" --bind 127.0.0.1 --dir "$dir" --save "" --appendonly no \
  --daemonize no --logfile "$dir/redis.log" &
pids+=($!)
for _ in $(seq 100); do redis-cli -p "$port" ping >/dev/null 2>&1 && break; sleep 0.05; done

echo "aito $("$aito" --version | awk '{print $2}') ($profile build, $(stat -c %s "$aito") bytes), $(nproc) cores, idle window ${idle}s"

# The agent in a directory of its own (built-in configuration), the company in a copy of a
# fresh checkout: each its own data directory.
mkdir -p "$dir/agent" "$dir/company"
cp "$root/aito.toml" "$dir/company/aito.toml"
cp -r "$root/knowledge" "$dir/company/knowledge"
cd "$dir/agent"
env -u AITO_CONFIG "$aito" agent --role cto --redis "redis://127.0.0.1:$port/0" --llm demo \
  --health-bind 127.0.0.1:0 2>"$dir/agent.log" &
agent=$!
pids+=("$agent")
wait_for "$dir/agent.log" "serving"
read -r agent_rss agent_hwm agent_cpu agent_ticks < <(measure "$agent")

cd "$dir/company"
env -u AITO_CONFIG "$aito" run --llm demo --bind 127.0.0.1:0 >"$dir/run.out" 2>"$dir/run.log" &
company=$!
pids+=("$company")
wait_for "$dir/run.log" "decision carried out"
[ -f "$dir/company/aito-data/aito.db" ] || {
  echo "aito run did not keep the company in aito-data/aito.db:" >&2; cat "$dir/run.log" >&2; exit 1; }
[ -d "$dir/company/aito-data/context" ] || { echo "no context index under aito-data/context" >&2; exit 1; }
read -r run_rss run_hwm run_cpu run_ticks < <(measure "$company")

printf '%-52s %10s %10s %8s %6s\n' "process (idle)" "VmRSS" "VmHWM" "CPU" "ticks"
printf '%-52s %7s kB %7s kB %7s%% %6s\n' "aito agent --role cto (redis, demo model)" "$agent_rss" "$agent_hwm" "$agent_cpu" "$agent_ticks"
printf '%-52s %7s kB %7s kB %7s%% %6s\n' "aito run (durable embedded, seven agents, after demo)" "$run_rss" "$run_hwm" "$run_cpu" "$run_ticks"
echo "targets: agent under 10240 kB and no measurable CPU; aito run under 15360 kB and no measurable CPU"
