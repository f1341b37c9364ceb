#!/usr/bin/env python3
"""CPU and settle time of console keys: runs `sitrep --db DB` in a tmux pane and, for each step,
reads the process's CPU time before and after the keys.

CPU is the sum over the process's live threads of /proc/PID/task/TID/schedstat (nanoseconds);
the console's threads (UI loop, store worker, input reader, runtime) live as long as it does, so
none of a key's work is lost with an exited thread. A step is done when the CPU has not moved for
--quiet ms; "settle" is the time from the keys to the last CPU movement (the poll is ~5 ms).

Usage:
  console-keys.py --bin target/release/sitrep --db STORE.db [--runs 5] \
      --step 'G' --step 'g' --step '/ sev:high Enter' --step 'C-l' --step 'j'
A step is tmux send-keys arguments split on spaces (key names such as Enter, C-l, or literal
text). Steps run in order, --runs times over; each printed figure is the median over runs.
A step written 'KEYS => TEXT' (or '=> !TEXT') is instead timed on the screen: from the keys to
the pane showing (not showing) TEXT, polled every ~10 ms. That is the latency an analyst sees,
and it still means something while a sync in the same process keeps the CPU busy.
Output: one line per step, tab-separated: step, median CPU ms, median settle ms, min/max CPU ms
(a screen step: step, "-", median latency ms, min/max latency ms); at the end the console's
peak RSS (VmHWM).
The console is quit with `q` at the end; its store is opened as is (use a copy if keys write).
"""

import argparse
import os
import shlex
import statistics
import subprocess
import sys
import time


def tmux(*args, check=True):
    return subprocess.run(["tmux", *args], check=check, capture_output=True, text=True)


def cpu_ns(pid):
    total = 0
    try:
        tids = os.listdir(f"/proc/{pid}/task")
    except FileNotFoundError:
        raise SystemExit(f"console-keys: the console (pid {pid}) exited")
    for tid in tids:
        try:
            with open(f"/proc/{pid}/task/{tid}/schedstat") as f:
                total += int(f.read().split()[0])
        except (FileNotFoundError, ProcessLookupError):
            pass  # a thread that ended between listdir and open
    return total


def settle(pid, quiet_ms, limit_s, start):
    """Poll until the CPU has not moved for quiet_ms; return (cpu at the end, last move time)."""
    last = cpu_ns(pid)
    last_move = start
    while True:
        time.sleep(0.005)
        now = time.monotonic()
        c = cpu_ns(pid)
        if c != last:
            last, last_move = c, now
        elif (now - last_move) * 1000 >= quiet_ms:
            return last, last_move
        if now - start > limit_s:
            return last, last_move


def screen_wait(session, text, limit_s, start):
    """Poll the pane until it shows (or, for '!TEXT', no longer shows) TEXT; ms from start."""
    want = not text.startswith("!")
    text = text.lstrip("!")
    while time.monotonic() - start < limit_s:
        shown = text in tmux("capture-pane", "-p", "-t", session).stdout
        if shown == want:
            return (time.monotonic() - start) * 1000
        time.sleep(0.01)
    return float("inf")


def peak_rss_mib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--bin", required=True)
    ap.add_argument("--db", required=True)
    ap.add_argument("--config", help="config file (default: an empty one, no sources)")
    ap.add_argument("--step", action="append", required=True)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--quiet", type=int, default=400, help="ms without CPU that ends a step")
    ap.add_argument("--limit", type=float, default=60.0, help="seconds a step may take at most")
    ap.add_argument("--wait-for", help="before the steps, wait for the screen to show this")
    ap.add_argument("--no-idle", action="store_true", help="skip the idle check (a sync runs)")
    ap.add_argument("--size", default="200x50", help="terminal WIDTHxHEIGHT")
    a = ap.parse_args()

    cols, rows = a.size.split("x")
    session = f"sitrep-bench-{os.getpid()}"
    env = os.environ.copy()
    cfg = a.config
    tmpcfg = None
    if cfg is None:
        tmpcfg = f"/tmp/sitrep-bench-{os.getpid()}.toml"
        open(tmpcfg, "w").close()
        cfg = tmpcfg
    cmd = f"exec {shlex.quote(a.bin)} --db {shlex.quote(a.db)} --config {shlex.quote(cfg)}"
    tmux("new-session", "-d", "-s", session, "-x", cols, "-y", rows, cmd)
    try:
        pid = int(tmux("display-message", "-p", "-t", session, "#{pane_pid}").stdout.strip())
        t0 = time.monotonic()
        if a.no_idle:
            # A sync runs in the console: the CPU never rests, so wait for the screen only.
            shown = screen_wait(session, a.wait_for or "", a.limit, t0)
            print(f"start\t-\t{shown:.0f}\t(ms to the first screen)")
        else:
            c, moved = settle(pid, a.quiet, a.limit, t0)
            if a.wait_for:
                screen_wait(session, a.wait_for, a.limit, t0)
                c = cpu_ns(pid)
            print(f"start\t{c / 1e6:.1f}\t{(moved - t0) * 1000:.0f}\t(CPU ms to the first idle)")
            # Idle CPU: a console at rest should use none.
            time.sleep(1.0)
            idle = (cpu_ns(pid) - c) / 1e6
            print(f"idle 1 s\t{idle:.1f}\t-")
        results = [([], []) for _ in a.step]  # by position: a step may repeat (o o o)
        for _ in range(a.runs):
            for i, s in enumerate(a.step):
                keys, _, expect = s.partition(" => ")
                before = cpu_ns(pid)
                t = time.monotonic()
                tmux("send-keys", "-t", session, *keys.split(" "))
                if expect:
                    results[i][1].append(screen_wait(session, expect, a.limit, t))
                    continue
                after, moved = settle(pid, a.quiet, a.limit, t)
                results[i][0].append((after - before) / 1e6)
                results[i][1].append(max(0.0, (moved - t) * 1000))
        for s, (cpu, wall) in zip(a.step, results):
            if cpu:
                print(
                    f"{s}\t{statistics.median(cpu):.1f}\t{statistics.median(wall):.0f}"
                    f"\t{min(cpu):.1f}/{max(cpu):.1f}"
                )
            else:
                print(f"{s}\t-\t{statistics.median(wall):.0f}\t{min(wall):.0f}/{max(wall):.0f}")
        print(f"peak RSS MiB\t{peak_rss_mib(pid):.1f}")
        screen = tmux("capture-pane", "-p", "-t", session).stdout
        if "error" in screen.lower() and a.runs:
            print("note: the last screen mentions an error:", file=sys.stderr)
            print(screen, file=sys.stderr)
        tmux("send-keys", "-t", session, "q")
        time.sleep(0.3)
    finally:
        tmux("kill-session", "-t", session, check=False)
        if tmpcfg:
            os.unlink(tmpcfg)


if __name__ == "__main__":
    main()
