#!/usr/bin/env python3
"""Local sweeps through the real CLI: a shipped sweep with --jobs 2 (rows, columns, run records,
resume), a sweep with a bad and a hanging point (each fails alone), and the progress line.

usage: local_test.py IOMMUSIM SOURCE_DIR WORK_DIR
"""
import csv
import itertools
import json
import os
import shutil
import subprocess
import sys

failures = []


def check(cond, what):
    if not cond:
        failures.append(what)
        print("FAIL: " + what, flush=True)


def run(cmd, **kw):
    env = dict(os.environ, SYSTEMC_DISABLE_COPYRIGHT_MESSAGE="1")
    return subprocess.run(cmd, capture_output=True, text=True, env=env, **kw)


def rows_of(path):
    with open(path, newline="") as f:
        return list(csv.reader(f))


def mtimes(out):
    pts = os.path.join(out, "points")
    return {p: os.stat(os.path.join(pts, p, "stats.json")).st_mtime_ns
            for p in sorted(os.listdir(pts)) if os.path.exists(os.path.join(pts, p, "stats.json"))}


def summary(stats_path):
    with open(stats_path) as f:
        return json.load(f)["summary"]


def main():
    exe, src, work = os.path.abspath(sys.argv[1]), sys.argv[2], sys.argv[3]
    shutil.rmtree(work, ignore_errors=True)
    os.makedirs(work)

    # 1. A shipped sweep, two points at a time.
    sweep = os.path.join(src, "configs/sweeps/strict-vs-lazy.yaml")
    out = os.path.join(work, "shipped")
    r = run([exe, "sweep", sweep, "--jobs", "2", "--out", out])
    check(r.returncode == 0, f"shipped sweep exits 0 (got {r.returncode}: {r.stderr.strip()})")
    rows = rows_of(os.path.join(out, "results.csv"))
    head = rows[0]
    check(head[:5] == ["point", "platform.host.dma_mode", "run.workloads.stream.buffer", "seed", "status"],
          f"results.csv leading columns: {head[:5]}")
    with open(os.path.join(out, "points/p0000/stats.json")) as f:
        first = json.load(f)
    check(head[5:] == list(first["summary"].keys()), "then the summary keys in stats.json order")
    want = list(itertools.product(["strict", "lazy"], ["4KiB", "16KiB", "64KiB", "256KiB"]))
    check(len(rows) == 1 + len(want), f"one row per point ({len(rows) - 1} rows, {len(want)} points)")
    for i, (row, (mode, buf)) in enumerate(zip(rows[1:], want)):
        check(row[:5] == [f"p{i:04d}", mode, buf, "1", "ok"], f"row {i}: {row[:5]}")
        s = summary(os.path.join(out, f"points/p{i:04d}/stats.json"))
        check(row[5:] == [json.dumps(v) if not isinstance(v, str) else v for v in s.values()],
              f"row {i} carries its point's summary")
        for f in ("config.resolved.yaml", "run.json", "stats.json", "complete", "log.txt"):
            check(os.path.exists(os.path.join(out, f"points/p{i:04d}", f)), f"p{i:04d}/{f} exists")
    # Lazy flushes batch the invalidations: fewer commands than strict at every buffer size.
    col = head.index("inv.commands")
    for i in range(4):
        check(float(rows[1 + 4 + i][col]) < float(rows[1 + i][col]), f"lazy issues fewer commands than strict ({i})")
    for f in ("sweep.yaml", "sweep.json"):
        check(os.path.exists(os.path.join(out, f)), f"sweep dir holds {f}")

    # 2. Re-running resumes: nothing re-runs, results.csv identical.
    before, csv_before = mtimes(out), open(os.path.join(out, "results.csv")).read()
    r = run([exe, "sweep", sweep, "--jobs", "2", "--out", out])
    check(r.returncode == 0, "resumed sweep exits 0")
    check("8 of 8 points already complete" in r.stderr, f"resume reports the skipped points ({r.stderr.strip()})")
    check(mtimes(out) == before, "no point ran again")
    check(open(os.path.join(out, "results.csv")).read() == csv_before, "results.csv unchanged")

    # 3. A bad point and a hanging one fail alone; the others are ok; a re-run retries only them.
    bad = os.path.join(src, "testbenches/sweep/bad-point.yaml")
    out_b = os.path.join(work, "bad")
    r = run([exe, "sweep", bad, "--jobs", "2", "--out", out_b])
    check(r.returncode == 1, f"a sweep with failed points exits 1 (got {r.returncode})")
    rows = rows_of(os.path.join(out_b, "results.csv"))
    st = rows[0].index("status")
    check([row[st] for row in rows[1:]] == ["ok", "failed", "timeout", "ok"], f"statuses: {[x[st] for x in rows[1:]]}")
    check(rows[2][st + 1:] == [""] * (len(rows[0]) - st - 1), "a failed point has no statistics")
    check("point p0001 failed: exit 2: " in r.stderr and "iotlb.entries" in r.stderr,
          f"the bad point's error is reported with its key ({r.stderr.strip()})")
    check("point p0002 timeout" in r.stderr, "the hanging point is reported as timed out")
    before = mtimes(out_b)
    r = run([exe, "sweep", bad, "--jobs", "2", "--out", out_b, "-q"])
    after = mtimes(out_b)
    check(after["p0000"] == before["p0000"] and after["p0003"] == before["p0003"], "complete points not re-run")
    check("point p0001 failed" in r.stderr, "the failed point ran again")

    # 4. Run records: run.json reruns the same point to the same statistics.
    with open(os.path.join(out, "points/p0005/run.json")) as f:
        info = json.load(f)
    for k in ("version", "seed", "config", "cwd", "command", "rerun"):
        check(k in info, f"run.json has {k}")
    s0 = summary(os.path.join(out, "points/p0005/stats.json"))
    rr = subprocess.run(info["rerun"], shell=True, capture_output=True, text=True)
    check(rr.returncode == 0 and summary(os.path.join(out, "points/p0005/stats.json")) == s0,
          "run.json's rerun command reproduces the point")

    # 5. Progress: forced on a pipe it prints lines; it changes no result; -q and a pipe show none.
    cfg = os.path.join(src, "configs/smmuv3-stream.yaml")
    a = run([exe, "run", cfg, "--progress", "--out", os.path.join(work, "prog")])
    b = run([exe, "run", cfg, "--out", os.path.join(work, "plain")])
    c = run([exe, "run", cfg, "--progress", "-q", "--out", os.path.join(work, "quiet")])
    check(a.returncode == b.returncode == c.returncode == 0, "runs succeed")
    check("progress: sim " in a.stderr and "DMA/s" in a.stderr and "done in" in a.stderr,
          f"forced progress lines ({a.stderr.strip()})")
    check("progress" not in b.stderr and "progress" not in c.stderr, "no progress line on a pipe or with -q")
    check(summary(os.path.join(work, "prog/stats.json")) == summary(os.path.join(work, "plain/stats.json")),
          "the progress sampler does not change the results")
    if shutil.which("script"):
        # A run of a few seconds (on an idle machine) on a pseudo-terminal: the line is redrawn in place, with an ETA
        # (all workloads are counted streams) and cleared at the end.
        long_cfg = os.path.join(src, "configs/iotlb-reach.yaml")
        t = subprocess.run(["script", "-qec", f"{exe} run {long_cfg} --set run.workloads.w64MiB.count=4000000 "
                            f"--out {work}/tty", "/dev/null"],
                           capture_output=True, env=dict(os.environ, SYSTEMC_DISABLE_COPYRIGHT_MESSAGE="1"))
        out_tty = t.stdout.decode(errors="replace")  # bytes: text mode would turn \r into \n
        check(t.returncode == 0, "terminal run succeeds")
        check("\r\x1b[Ksim " in out_tty and "DMA/s" in out_tty and "ETA " in out_tty and "progress:" not in out_tty,
              f"on a terminal the line is redrawn in place ({out_tty[:200]!r})")

    if failures:
        print(f"{len(failures)} check(s) failed; outputs in {work}")
        return 1
    print("OK")
    shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
