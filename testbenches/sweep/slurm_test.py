#!/usr/bin/env python3
"""A sweep through a real single-node Slurm (slurmctld + slurmd + munge on localhost).

usage: slurm_test.py IOMMUSIM SWEEP.yaml [--set key=value]...

Starts munged (unless one already answers), slurmctld and slurmd with a scratch configuration,
runs the sweep with `--slurm --submit`, waits for the gather job and checks that results.csv is
byte-identical to a local `--jobs 2` run of the same sweep. The daemons are always stopped and
/etc/slurm/slurm.conf (written only when absent) and a munge key this test created are removed.
Exit status 77 (ctest: Skipped) with the reason when Slurm cannot run here.
"""
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

SKIP = 77
MARK = "# iommusim slurm_test.py: temporary single-node configuration"
CONF = "/etc/slurm/slurm.conf"
KEY = "/etc/munge/munge.key"


def skip(msg):
    print("SKIP: " + msg, flush=True)
    sys.exit(SKIP)


def run(cmd, **kw):
    return subprocess.run(cmd, capture_output=True, text=True, **kw)


def munge_ok():
    try:
        enc = run(["munge", "-n"], timeout=5)
        return enc.returncode == 0 and run(["unmunge"], input=enc.stdout, timeout=5).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


def port_free(port):
    s = socket.socket()
    try:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(("0.0.0.0", port))
        return True
    except OSError:
        return False
    finally:
        s.close()


def stop_pidfile(path, name):
    try:
        pid = int(open(path).read().strip())
    except (OSError, ValueError):
        return
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    for _ in range(100):
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.1)
    print(f"{name} ({pid}) ignored SIGTERM; killing it", flush=True)
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def tail(path, n=5):
    try:
        return " | ".join(open(path, errors="replace").read().strip().splitlines()[-n:])
    except OSError:
        return "(no log)"


def wait_for(pred, seconds, step=0.2):
    end = time.time() + seconds
    while time.time() < end:
        if pred():
            return True
        time.sleep(step)
    return pred()


def main():
    if len(sys.argv) < 3:
        print(__doc__)
        return 2
    exe, sweep, extra = os.path.abspath(sys.argv[1]), os.path.abspath(sys.argv[2]), sys.argv[3:]
    if os.geteuid() != 0:
        skip("starting munged, slurmctld and slurmd needs root")
    for tool in ("munged", "munge", "unmunge", "slurmctld", "slurmd", "sbatch", "sinfo", "squeue"):
        if not shutil.which(tool, path=os.environ.get("PATH", "") + ":/usr/sbin:/sbin"):
            skip(f"{tool} is not installed (apt-get install slurm-wlm munge, or scripts/install-deps)")
    if os.path.exists(CONF) and MARK not in open(CONF, errors="replace").read():
        skip(f"{CONF} belongs to a Slurm set up on this machine; this test does not touch it")
    for port in (6817, 6818):
        if not port_free(port):
            skip(f"port {port} is in use (another Slurm daemon?)")

    host = socket.gethostname().split(".")[0]
    scratch = tempfile.mkdtemp(prefix="iommusim-slurm-")
    started_munged = wrote_conf = made_key = made_etc_slurm = False
    ok = False
    try:
        # munge: reuse a running one, else a key (if none) and our own munged.
        if not munge_ok():
            if not os.path.exists(KEY):
                os.makedirs(os.path.dirname(KEY), exist_ok=True)
                with open(KEY, "wb") as f:
                    f.write(os.urandom(1024))
                shutil.chown(KEY, "munge", "munge")
                os.chmod(KEY, 0o400)
                made_key = True
            os.makedirs("/run/munge", exist_ok=True)
            shutil.chown("/run/munge", "munge", "munge")
            r = run(["su", "-s", "/bin/sh", "munge", "-c", "/usr/sbin/munged"])
            started_munged = True
            if not wait_for(munge_ok, 10):
                skip(f"munged did not start ({r.stderr.strip() or 'no message'}; {tail('/var/log/munge/munged.log')})")

        if not os.path.isdir("/etc/slurm"):
            os.makedirs("/etc/slurm")
            made_etc_slurm = True
        ncpu = os.cpu_count() or 1
        with open(CONF, "w") as f:
            f.write(f"""{MARK}
ClusterName=iommusim-test
SlurmctldHost={host}
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
StateSaveLocation={scratch}/state
SlurmdSpoolDir={scratch}/spool
SlurmctldPidFile={scratch}/slurmctld.pid
SlurmdPidFile={scratch}/slurmd.pid
SlurmctldLogFile={scratch}/slurmctld.log
SlurmdLogFile={scratch}/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
ReturnToService=2
MpiDefault=none
NodeName={host} CPUs={ncpu} RealMemory=2000 State=UNKNOWN
PartitionName=test Nodes={host} Default=YES MaxTime=INFINITE State=UP
""")
        wrote_conf = True
        os.makedirs(f"{scratch}/state")
        os.makedirs(f"{scratch}/spool")

        r = run(["slurmctld"])
        if r.returncode != 0 or not wait_for(lambda: run(["sinfo", "-h"]).returncode == 0, 20):
            skip(f"slurmctld did not start ({r.stderr.strip()}; {tail(scratch + '/slurmctld.log')})")
        r = run(["slurmd"])
        idle = lambda: run(["sinfo", "-h", "-o", "%T"]).stdout.strip() in ("idle", "mixed", "allocated")
        if r.returncode != 0 or not wait_for(idle, 30):
            skip(f"slurmd did not bring the node up ({r.stderr.strip()}; {tail(scratch + '/slurmd.log')})")
        print(f"slurm up on {host}: {run(['sinfo', '-h']).stdout.strip()}", flush=True)

        sets = [a for s in extra for a in ("--set", s)] if extra and extra[0] != "--set" else extra
        env = dict(os.environ, SYSTEMC_DISABLE_COPYRIGHT_MESSAGE="1")
        local = run([exe, "sweep", sweep, "--jobs", "2", "-q", "--out", f"{scratch}/local"] + sets, env=env)
        if local.returncode != 0:
            print("local sweep failed:", local.stdout, local.stderr, flush=True)
            return 1
        sub = run([exe, "sweep", sweep, "--slurm", "--submit", "--out", f"{scratch}/slurm"] + sets, env=env)
        print(sub.stdout.strip(), sub.stderr.strip(), flush=True)
        if sub.returncode != 0:
            return 1
        results = f"{scratch}/slurm/results.csv"
        queue_empty = lambda: run(["squeue", "-h"]).stdout.strip() == ""
        if not wait_for(lambda: os.path.exists(results) and queue_empty(), 300, 0.5):
            print("no results.csv from the gather job within 300 s; queue:", run(["squeue"]).stdout,
                  "gather log:", tail(f"{scratch}/slurm/slurm/gather.log", 20), flush=True)
            return 1
        a, b = open(f"{scratch}/local/results.csv").read(), open(results).read()
        if a != b:
            print("results.csv differs between the local and the Slurm run", flush=True)
            print(run(["diff", f"{scratch}/local/results.csv", results]).stdout, flush=True)
            return 1
        rows = len(a.splitlines()) - 1
        print(f"OK: Slurm and local results.csv identical ({rows} points)", flush=True)
        ok = True
        return 0
    finally:
        stop_pidfile(f"{scratch}/slurmd.pid", "slurmd")
        stop_pidfile(f"{scratch}/slurmctld.pid", "slurmctld")
        if started_munged:
            stop_pidfile("/run/munge/munged.pid", "munged")
        if wrote_conf:
            os.remove(CONF)
        if made_etc_slurm:
            try:
                os.rmdir("/etc/slurm")
            except OSError:
                pass
        if made_key:
            os.remove(KEY)
        if ok:
            shutil.rmtree(scratch, ignore_errors=True)
        else:
            print(f"kept {scratch} for inspection", flush=True)


if __name__ == "__main__":
    sys.exit(main())
