#!/usr/bin/env python3
"""Whole-process timing: run command A (and, with --vs, a baseline B in turn: A B A B ...) and
print the median wall time, CPU time (user + system) and peak RSS of each, and the median of
the pair-by-pair ratios A/B (pairing keeps a ratio meaningful when the machine's speed drifts).

Usage: runs.py [--runs N] [--warmup W] [--label TEXT] [--vs 'B command'] -- A command ...
Commands run without a shell (write `sh -c '...'` for a pipe or a redirection); their output
goes to /dev/null. Wall is a monotonic clock around fork and reap; CPU and peak RSS are the
kernel's rusage of the reaped child (os.wait4), so they cover the process the command is, not
grandchildren it does not wait for.
Output: one tab-separated line:
  label  A_wall_ms  A_cpu_ms  A_rss_mib  B_wall_ms  B_cpu_ms  B_rss_mib  wall_ratio  cpu_ratio  exit
(B's fields and the ratios are "-" without --vs; exit is "0" or the first non-zero status).
"""

import argparse
import os
import shlex
import statistics
import subprocess
import sys
import time


def run_once(argv):
    t = time.monotonic()
    with open(os.devnull, "wb") as null:
        p = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=null, stderr=null)
        _, status, ru = os.wait4(p.pid, 0)
        p.returncode = os.waitstatus_to_exitcode(status)
    wall = (time.monotonic() - t) * 1000
    cpu = (ru.ru_utime + ru.ru_stime) * 1000
    return wall, cpu, ru.ru_maxrss / 1024, p.returncode  # ru_maxrss is KiB on Linux


def med(xs):
    return statistics.median(xs) if xs else float("nan")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--warmup", type=int, default=1)
    ap.add_argument("--label", default=None)
    ap.add_argument("--vs", default=None)
    ap.add_argument("cmd", nargs=argparse.REMAINDER)
    a = ap.parse_args()
    cmd = a.cmd[1:] if a.cmd[:1] == ["--"] else a.cmd
    if not cmd:
        sys.exit("runs.py: no command (put it after --)")
    b = shlex.split(a.vs) if a.vs else None

    for _ in range(a.warmup):
        run_once(cmd)
        if b:
            run_once(b)
    ra, rb, exit_code = [], [], 0
    for _ in range(a.runs):
        x = run_once(cmd)
        ra.append(x)
        exit_code = exit_code or x[3]
        if b:
            y = run_once(b)
            rb.append(y)
            exit_code = exit_code or y[3]

    def cols(rs):
        return [f"{med([r[0] for r in rs]):.1f}", f"{med([r[1] for r in rs]):.1f}",
                f"{med([r[2] for r in rs]):.1f}"]

    out = [a.label or " ".join(cmd)] + cols(ra)
    if b:
        wall_ratio = med([x[0] / y[0] for x, y in zip(ra, rb) if y[0] > 0])
        cpu_ratio = med([x[1] / y[1] for x, y in zip(ra, rb) if y[1] > 0])
        out += cols(rb) + [f"{wall_ratio:.2f}", f"{cpu_ratio:.2f}"]
    else:
        out += ["-"] * 5
    out.append(str(exit_code))
    print("\t".join(out), flush=True)


if __name__ == "__main__":
    main()
