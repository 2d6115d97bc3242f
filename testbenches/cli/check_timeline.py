#!/usr/bin/env python3
"""Runs `iommusim run ... --timeline FILE` and checks FILE is valid trace-event JSON:
check_timeline.py IOMMUSIM CONFIG OUTDIR CATEGORY[,CATEGORY...] [more run arguments]"""
import json
import os
import subprocess
import sys


def main():
    exe, cfg, out, cats = sys.argv[1:5]
    os.makedirs(out, exist_ok=True)
    path = os.path.join(out, "timeline.json")
    if os.path.exists(path):
        os.remove(path)
    r = subprocess.run([exe, "run", cfg, "-q", "--out", out, "--timeline", path] + sys.argv[5:])
    if r.returncode != 0:
        sys.exit(f"iommusim exited with {r.returncode}")
    with open(path) as f:
        doc = json.load(f)
    assert doc["displayTimeUnit"] == "ns", "displayTimeUnit"
    threads, procs, seen = set(), set(), {}
    for e in doc["traceEvents"]:
        if e["ph"] == "M":
            if e["name"] == "process_name":
                procs.add(e["pid"])
            if e["name"] == "thread_name":
                threads.add((e["pid"], e["tid"]))
    for e in doc["traceEvents"]:
        if e["ph"] == "M":
            continue
        assert e["ph"] in ("X", "i"), e
        assert e["pid"] in procs and (e["pid"], e["tid"]) in threads, f"undeclared track: {e}"
        assert isinstance(e["ts"], (int, float)) and e["ts"] >= 0, e
        if e["ph"] == "X":
            assert isinstance(e["dur"], (int, float)) and e["dur"] >= 0, e
        seen[e["cat"]] = seen.get(e["cat"], 0) + 1
    missing = [c for c in cats.split(",") if not seen.get(c)]
    if missing:
        sys.exit(f"{path}: no events of {', '.join(missing)} (seen: {seen})")
    print(f"{path}: {sum(seen.values())} events, {len(threads)} tracks: {seen}")


if __name__ == "__main__":
    main()
