#!/usr/bin/env python3
"""Many companies on one Redis, through the `aito` binary, with a scripted model.

    scripts/scale.py [--companies 100] [--tasks 20] [--aito target/release/aito] [--limit 120]

Starts a private redis-server (free port, temporary directory, no persistence), then one
`aito agent --all` process per company (seven agents each), every company under its own key
prefix. Once all agents are idle it measures Redis memory per idle agent and the RSS of each
process, then appends `--tasks` tasks to every agent's inbox at once (XADD through one
`redis-cli --pipe`; each envelope carries its send time) and waits until every agent has
handled all of its tasks (its history), or `--limit` seconds pass. Prints throughput (handled
messages per second over the burst), send-to-handled latency p50/p99 (the history entry's time
minus the envelope's), and checks that no company's history holds another's tasks.

Needs redis-server and redis-cli (Debian: apt-get install redis-server) and a built `aito`.
"""

import argparse
import datetime as dt
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid

ROLES = ["ceo", "dao", "cmo", "cto", "cfo", "coo", "cco"]
NAMESPACE = uuid.UUID("6f8e1c2a-9d4b-5e3f-8a7c-1b2d3e4f5a6b")
SCRIPT = {"responses": [{"response": {"summary": "done", "actions": []}, "repeat": True}]}


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def cli(port, *args):
    out = subprocess.run(["redis-cli", "-p", str(port), *args], capture_output=True, text=True)
    if out.returncode != 0:
        raise SystemExit(f"redis-cli {args} failed: {out.stderr}")
    return out.stdout


def resp(*parts):
    out = [f"*{len(parts)}\r\n".encode()]
    for part in parts:
        data = part.encode() if isinstance(part, str) else part
        out.append(f"${len(data)}\r\n".encode() + data + b"\r\n")
    return b"".join(out)


def used_memory(port):
    for line in cli(port, "INFO", "memory").splitlines():
        if line.startswith("used_memory:"):
            return int(line.split(":")[1])
    raise SystemExit("no used_memory in INFO")


def memory_stats(port):
    """`MEMORY STATS` as a dict of the numeric fields."""
    lines = cli(port, "MEMORY", "STATS").splitlines()
    stats = {}
    for name, value in zip(lines[0::2], lines[1::2]):
        try:
            stats[name] = int(value)
        except ValueError:
            pass
    return stats


def rss_kb(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def percentile(values, p):
    values = sorted(values)
    if not values:
        return float("nan")
    k = min(len(values) - 1, max(0, round(p / 100 * (len(values) - 1))))
    return values[k]


def parse_time(text):
    return dt.datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--companies", type=int, default=100)
    parser.add_argument("--tasks", type=int, default=20, help="tasks per agent")
    parser.add_argument("--aito", default=None)
    parser.add_argument("--limit", type=float, default=120.0)
    args = parser.parse_args()

    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    aito = args.aito or next(
        (p for p in (f"{root}/target/release/aito", f"{root}/target/debug/aito") if os.path.exists(p)),
        None,
    )
    if aito is None:
        raise SystemExit("no aito binary: cargo build --release -p aito-bin (or pass --aito)")
    for tool in ("redis-server", "redis-cli"):
        if shutil.which(tool) is None:
            raise SystemExit(f"{tool} not found: apt-get install redis-server")

    work = tempfile.mkdtemp(prefix="aito-scale-")
    port = free_port()
    server = subprocess.Popen(
        ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--dir", work, "--save", "",
         "--appendonly", "no", "--maxclients", "50000", "--logfile", f"{work}/redis.log"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    procs = []
    try:
        for _ in range(100):
            try:
                if cli(port, "PING").strip() == "PONG":
                    break
            except SystemExit:
                pass
            time.sleep(0.05)
        url = f"redis://127.0.0.1:{port}/0"
        base_memory = used_memory(port)
        base_stats = memory_stats(port)
        print(f"aito: {aito}\nredis-server on 127.0.0.1:{port}, {os.cpu_count()} cores; "
              f"{args.companies} companies x {len(ROLES)} agents, {args.tasks} tasks per agent")

        for c in range(args.companies):
            name = f"co{c}"
            home = os.path.join(work, name)
            os.makedirs(home)
            with open(os.path.join(home, "script.json"), "w") as f:
                json.dump(SCRIPT, f)
            env = {
                "PATH": os.environ.get("PATH", ""),
                "HOME": home,
                "AITO_REDIS_PREFIX": f"{name}:",
                "AITO_COMPANY_NAME": name,
                "AITO_COMPANY_BUDGET_SESSIONS_PER_HOUR": "100000000",
                "AITO_LOG": "warn",
                "RUST_LOG": "warn",
            }
            for role in ROLES:
                env[f"AITO_AGENTS_{role.upper()}_SESSIONS_PER_HOUR"] = "10000000"
            procs.append(subprocess.Popen(
                [aito, "agent", "--all", "--redis", url, "--llm", "replay:script.json",
                 "--health-bind", "127.0.0.1:0"],
                cwd=home, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                stderr=open(os.path.join(home, "aito.log"), "w")))

        agents = {}
        deadline = time.time() + max(60.0, args.companies * 1.0)
        while time.time() < deadline:
            ready = 0
            for c in range(args.companies):
                statuses = cli(port, "HGETALL", f"co{c}:status").split("\n")
                idle = sum(1 for v in statuses[1::2] if '"idle"' in v)
                if idle == len(ROLES):
                    ready += 1
                    agents[c] = [x for x in statuses[0::2] if x]
            if ready == args.companies:
                break
            for p in procs:
                if p.poll() is not None:
                    raise SystemExit(f"an aito process exited with {p.returncode}; see {work}")
            time.sleep(0.5)
        else:
            raise SystemExit(f"not every company became idle in time; logs in {work}")
        time.sleep(2)
        idle_memory = used_memory(port)
        total_agents = args.companies * len(ROLES)
        per_agent = (idle_memory - base_memory) / total_agents
        stats = memory_stats(port)
        clients = stats.get("clients.normal", 0) - base_stats.get("clients.normal", 0)
        dataset = stats.get("dataset.bytes", 0) - base_stats.get("dataset.bytes", 0)
        connections = len([l for l in cli(port, "CLIENT", "LIST").splitlines() if l]) - 1
        print(f"idle: {connections} client connections; per idle agent: "
              f"{dataset / total_agents / 1024:.1f} KB of keys, "
              f"{clients / total_agents / 1024:.1f} KB of connection buffers")
        rss = [rss_kb(p.pid) for p in procs]
        print(f"idle: Redis used_memory {base_memory} -> {idle_memory} bytes: "
              f"{per_agent / 1024:.1f} KB per idle agent")
        print(f"RSS per process ({len(ROLES)} agents each): median {percentile(rss, 50) / 1024:.1f} MB, "
              f"max {max(rss) / 1024:.1f} MB")

        # The burst: every agent of every company gets its tasks at once.
        payload = bytearray()
        sent = 0
        now = dt.datetime.now(dt.timezone.utc).isoformat().replace("+00:00", "Z")
        for c, ids in agents.items():
            for agent in ids:
                for k in range(args.tasks):
                    envelope = {
                        "id": str(uuid.uuid4()), "type": "task", "from": "human",
                        "payload": {"title": f"co{c} task {k}"}, "timestamp": now,
                    }
                    payload += resp("XADD", f"co{c}:stream:agent:{{{agent}}}", "*", "e",
                                    json.dumps(envelope, separators=(",", ":")))
                    sent += 1
        start = time.time()
        subprocess.run(["redis-cli", "-p", str(port), "--pipe"], input=bytes(payload),
                       capture_output=True, check=True)
        sent_at = parse_time(now)

        latencies, last, leaks = [], start, 0
        outcomes, triggers = {}, {}
        want = args.tasks
        deadline = start + args.limit
        done = 0
        while time.time() < deadline:
            done = 0
            for c, ids in agents.items():
                for agent in ids:
                    if int(cli(port, "LLEN", f"co{c}:history:{{{agent}}}").strip() or 0) >= want:
                        done += 1
            if done == total_agents:
                break
            time.sleep(0.5)
        elapsed_poll = time.time() - start
        for c, ids in agents.items():
            for agent in ids:
                for line in cli(port, "LRANGE", f"co{c}:history:{{{agent}}}", "0", "-1").splitlines():
                    if not line.startswith("{"):
                        continue
                    entry = json.loads(line)
                    if f"co{c} task" not in entry.get("trigger", ""):
                        leaks += 1
                        continue
                    outcome = entry.get("outcome", "?")
                    outcomes[outcome] = outcomes.get(outcome, 0) + 1
                    key = (c, agent, entry.get("trigger_id"))
                    triggers[key] = triggers.get(key, 0) + 1
                    if outcome != "handled" or triggers[key] > 1:
                        continue
                    at = parse_time(entry["at"])
                    last = max(last, at)
                    latencies.append((at - sent_at) * 1000)
        handled = len(latencies)
        repeated = sum(1 for count in triggers.values() if count > 1)
        print(f"history entries by outcome: {outcomes}; triggers with more than one entry: {repeated}")
        span = max(last - sent_at, 1e-6)
        print(f"burst: {sent} tasks sent, {handled} handled "
              f"({done}/{total_agents} agents done) in {span:.2f} s "
              f"(polling stopped after {elapsed_poll:.1f} s)")
        print(f"throughput: {handled / span:.0f} handled msg/s")
        print(f"send-to-handled latency: p50 {percentile(latencies, 50):.0f} ms, "
              f"p99 {percentile(latencies, 99):.0f} ms")
        print(f"foreign tasks in a company's history: {leaks}")
        rss = [rss_kb(p.pid) for p in procs]
        print(f"RSS per process after the burst: median {percentile(rss, 50) / 1024:.1f} MB, "
              f"max {max(rss) / 1024:.1f} MB")
        print(f"Redis used_memory after the burst: {used_memory(port)} bytes")
        return 0 if leaks == 0 and handled == sent else 1
    finally:
        for p in procs:
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        for p in procs:
            try:
                p.wait(timeout=30)
            except subprocess.TimeoutExpired:
                p.kill()
        server.terminate()
        server.wait()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
