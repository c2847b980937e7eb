"""Bring up, or reuse, a one-node Slurm cluster on this machine, for the ``slurm`` tests.

This is a helper module, not a test module. It needs root, because Slurm's daemons read
``/etc/slurm/slurm.conf`` (the Snakemake slurm-jobstep executor strips every ``SLURM_*``
variable, ``SLURM_CONF`` included, before its inner ``srun``, so the configuration must sit at
the default path) and because ``slurmd`` starts jobs as their owner.

What :func:`start` does, in order:

1. install ``slurmctld slurmd slurm-client munge`` with apt-get when a binary is missing;
2. if ``sinfo`` already answers with a usable node state, reuse that cluster and start nothing;
3. write ``/etc/slurm/slurm.conf`` for one node ``localhost`` with the machine's CPU count and
   ``RealMemory = MemTotal - max(512 MiB, MemTotal / 10)`` (slurmd drains a node that claims
   more memory than it has), ``MinJobAge=600`` (the executor plugin trusts ``squeue`` only when
   ``MinJobAge >= 3 * slurm-init-seconds-before-status-checks``) and no accounting;
4. create a munge key when missing, start ``munged``, ``slurmctld -D`` and ``slurmd -D -N
   localhost`` as children (the Debian postinst scripts cannot start them here);
5. wait until ``sinfo -h -o %t`` says ``idle`` and a trivial ``srun`` and ``sbatch --wait`` work.

:func:`stop` ends exactly the processes :func:`start` returned, SIGTERM first, SIGKILL after a
grace period, and treats a zombie (``State: Z`` in ``/proc/PID/status``) as gone.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

PACKAGES = ("slurmctld", "slurmd", "slurm-client", "munge")
BINARIES = ("slurmctld", "slurmd", "sinfo", "srun", "sbatch", "squeue", "scontrol", "munged")
SLURM_CONF = Path("/etc/slurm/slurm.conf")
MUNGE_KEY = Path("/etc/munge/munge.key")
STATE_DIR = Path(tempfile.gettempdir()) / "nngrid-slurm"
MARKER = "# written by nngrid tests/slurm_cluster.py"
PARTITION = "debug"
MIN_JOB_AGE = 600
# States in which a node accepts work: idle, mixed, allocated, completing.
UP_STATES = frozenset({"idle", "mix", "alloc", "comp"})


class SlurmClusterError(RuntimeError):
    """The cluster could not be brought up; the message names the step and where its log is."""


@dataclass
class Cluster:
    """A running cluster: ``pids`` are the daemons this process started (empty when reused)."""

    pids: list[int] = field(default_factory=list)
    reused: bool = False
    state_dir: Path = STATE_DIR
    cpus: int = 1
    memory_mb: int = 0


# Popen handles of the daemons we started, so that stop() can reap its own children.
_CHILDREN: dict[int, subprocess.Popen] = {}


def _run(cmd: list[str], timeout: float = 30, **kw) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, **kw)


def missing_binaries() -> list[str]:
    """The Slurm and munge programs not found on PATH (or in /usr/sbin)."""
    path = os.environ.get("PATH", "") + os.pathsep + "/usr/sbin" + os.pathsep + "/sbin"
    return [b for b in BINARIES if shutil.which(b, path=path) is None]


def ensure_packages() -> None:
    """Install the Debian Slurm and munge packages if any of their programs is missing."""
    if not missing_binaries():
        return
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    for cmd in (["apt-get", "update"], ["apt-get", "install", "-y", *PACKAGES]):
        proc = _run(cmd, timeout=900, env=env)
        if proc.returncode != 0:
            raise SlurmClusterError(f"{' '.join(cmd)} failed: {proc.stderr.strip()[-2000:]}")
    if missing := missing_binaries():
        raise SlurmClusterError(f"still missing after apt-get install: {', '.join(missing)}")


def machine_resources() -> tuple[int, int]:
    """(CPU count, memory in MiB that slurm.conf may claim: MemTotal minus a safety margin)."""
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    total_kib = 0
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemTotal:"):
            total_kib = int(line.split()[1])
            break
    total_mb = total_kib // 1024
    margin = max(512, total_mb // 10)
    return max(1, cpus or 1), max(256, total_mb - margin)


def render_conf(cpus: int, memory_mb: int, state_dir: Path) -> str:
    """The slurm.conf text for one node ``localhost`` in one default partition ``debug``."""
    def_mem = max(100, min(1024, memory_mb // cpus))
    return f"""{MARKER}
# A one-node test cluster: node and controller are this machine, called localhost.
ClusterName=nngrid
SlurmctldHost=localhost
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
StateSaveLocation={state_dir}/ctld
SlurmdSpoolDir={state_dir}/d
SlurmctldPidFile={state_dir}/slurmctld.pid
SlurmdPidFile={state_dir}/slurmd.pid
SlurmctldLogFile={state_dir}/slurmctld.log
SlurmdLogFile={state_dir}/slurmd.log
SlurmctldDebug=info
SlurmdDebug=info
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
MpiDefault=none
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU_Memory
DefMemPerCPU={def_mem}
# Keep finished jobs visible to squeue for 10 minutes: the executor's status checks rely on it.
MinJobAge={MIN_JOB_AGE}
SchedulerParameters=batch_sched_delay=0,sched_min_interval=0
ReturnToService=2
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
JobCompType=jobcomp/none
MailProg=/bin/true
NodeName=localhost CPUs={cpus} RealMemory={memory_mb} State=UNKNOWN
PartitionName={PARTITION} Nodes=localhost Default=YES MaxTime=INFINITE State=UP
"""


def write_conf(state_dir: Path = STATE_DIR) -> tuple[int, int]:
    """Write /etc/slurm/slurm.conf (a foreign file is kept as slurm.conf.nngrid-backup)."""
    cpus, memory_mb = machine_resources()
    for sub in ("ctld", "d"):
        (state_dir / sub).mkdir(parents=True, exist_ok=True)
    SLURM_CONF.parent.mkdir(parents=True, exist_ok=True)
    if SLURM_CONF.exists() and MARKER not in SLURM_CONF.read_text():
        shutil.copy2(SLURM_CONF, SLURM_CONF.with_name("slurm.conf.nngrid-backup"))
    SLURM_CONF.write_text(render_conf(cpus, memory_mb, state_dir))
    return cpus, memory_mb


def ensure_munge_key() -> None:
    """Create /etc/munge/munge.key (mode 0400, owner munge) if it does not exist."""
    if MUNGE_KEY.exists():
        return
    MUNGE_KEY.parent.mkdir(parents=True, exist_ok=True)
    if shutil.which("mungekey", path="/usr/sbin:/usr/bin:/sbin"):
        cmd = ["mungekey", "--create", "--keyfile", str(MUNGE_KEY)]
    else:
        cmd = ["create-munge-key", "-f"]
    proc = _run(cmd, env=dict(os.environ, PATH="/usr/sbin:/usr/bin:/sbin:/bin"))
    if proc.returncode != 0:
        raise SlurmClusterError(f"{' '.join(cmd)} failed: {proc.stderr.strip()}")
    shutil.chown(MUNGE_KEY, "munge", "munge")
    MUNGE_KEY.chmod(0o400)


def controller_answers() -> bool:
    """True when ``scontrol ping`` reports a controller UP (instant, unlike sinfo's retries)."""
    try:
        proc = _run(["scontrol", "ping"], timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return proc.returncode == 0 and "is UP" in proc.stdout


def node_state() -> str | None:
    """The node state ``sinfo -h -o %t`` prints (e.g. ``idle``), or None if sinfo fails."""
    if not controller_answers():
        return None
    try:
        proc = _run(["sinfo", "-h", "-o", "%t"], timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return None
    if proc.returncode != 0 or not proc.stdout.strip():
        return None
    return proc.stdout.split()[0].rstrip("*~#!%$@^-")


def cluster_is_up() -> bool:
    """True when sinfo answers and the node can take jobs."""
    return node_state() in UP_STATES


def munge_works() -> bool:
    """True when a credential can be encoded and decoded (munged answers)."""
    try:
        enc = _run(["munge", "-n"], timeout=10)
        if enc.returncode != 0:
            return False
        return _run(["unmunge"], timeout=10, input=enc.stdout).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


def _spawn(cmd: list[str], log: Path, **kw) -> int:
    with log.open("ab") as out:
        proc = subprocess.Popen(
            cmd,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            **kw,
        )
    _CHILDREN[proc.pid] = proc
    return proc.pid


def _wait_for(predicate, timeout: float, what: str, log: Path | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.25)
    tail = ""
    if log is not None and log.exists():
        tail = "\n" + "\n".join(log.read_text(errors="replace").splitlines()[-20:])
    raise SlurmClusterError(f"timed out after {timeout:.0f} s waiting for {what}{tail}")


def _start_munged(state_dir: Path) -> int | None:
    """Start munged in the foreground as user munge; None if a munged already answers."""
    if munge_works():
        return None
    run_dir = Path("/run/munge")
    run_dir.mkdir(parents=True, exist_ok=True)
    for d in (run_dir, Path("/var/lib/munge"), Path("/var/log/munge")):
        d.mkdir(parents=True, exist_ok=True)
        shutil.chown(d, "munge", "munge")
    pid = _spawn(
        ["/usr/sbin/munged", "--foreground"], state_dir / "munged.out", user="munge", group="munge"
    )
    _wait_for(munge_works, 20, "munged", state_dir / "munged.out")
    return pid


def smoke_test(timeout: float = 60) -> None:
    """Run ``srun -N1 true`` and ``sbatch --wait --wrap true``; raise if either fails."""
    for cmd in (
        ["srun", "-N1", "-t", "1", "true"],
        ["sbatch", "--wait", "-t", "1", "-o", "/dev/null", "--wrap", "true"],
    ):
        proc = _run(cmd, timeout=timeout, cwd=tempfile.gettempdir())
        if proc.returncode != 0:
            raise SlurmClusterError(f"{' '.join(cmd)} failed: {proc.stderr.strip()}")


def start(state_dir: Path = STATE_DIR, timeout: float = 60) -> Cluster:
    """Ensure a usable one-node cluster; return the daemons started here (none if reused)."""
    if os.geteuid() != 0:
        raise SlurmClusterError("starting Slurm daemons needs root (run the slurm tests as root)")
    ensure_packages()
    if cluster_is_up():
        smoke_test()
        return Cluster(reused=True, state_dir=state_dir)
    state_dir.mkdir(parents=True, exist_ok=True)
    # A controller that already answers keeps its configuration; we only add what is missing.
    ctld_running = node_state() is not None
    cpus, memory_mb = machine_resources() if ctld_running else write_conf(state_dir)
    ensure_munge_key()
    cluster = Cluster(state_dir=state_dir, cpus=cpus, memory_mb=memory_mb)
    try:
        if (pid := _start_munged(state_dir)) is not None:
            cluster.pids.append(pid)
        if not ctld_running:
            ctld = ["/usr/sbin/slurmctld", "-D", "-i"]
            cluster.pids.append(_spawn(ctld, state_dir / "ctld.out"))
            _wait_for(
                lambda: node_state() is not None, timeout, "slurmctld", state_dir / "slurmctld.log"
            )
        cluster.pids.append(
            _spawn(["/usr/sbin/slurmd", "-D", "-N", "localhost"], state_dir / "slurmd.out")
        )
        _wait_for(
            lambda: node_state() == "idle", timeout, "node localhost idle", state_dir / "slurmd.log"
        )
        smoke_test()
    except BaseException:
        stop(cluster.pids)
        raise
    return cluster


def _proc_state(pid: int) -> str | None:
    """The one-letter state from /proc/PID/status, or None when the process is gone."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("State:"):
                return line.split()[1]
    except (FileNotFoundError, ProcessLookupError, IndexError):
        return None
    return None


def _alive(pid: int) -> bool:
    """True while pid runs; reaps it first if it is our own exited child."""
    child = _CHILDREN.get(pid)
    if child is not None and child.poll() is not None:
        return False
    state = _proc_state(pid)
    return state is not None and state not in ("Z", "X")


def stop(pids: list[int], grace: float = 10) -> None:
    """SIGTERM exactly ``pids``, wait up to ``grace`` seconds, then SIGKILL the survivors.

    Processes are stopped in reverse start order (slurmd, slurmctld, munged). A zombie counts
    as stopped; our own children are reaped.
    """
    for pid in reversed(pids):
        if not _alive(pid):
            continue
        try:
            os.kill(pid, signal.SIGTERM)
        except ProcessLookupError:
            continue
        deadline = time.monotonic() + grace
        while _alive(pid) and time.monotonic() < deadline:
            time.sleep(0.1)
        if _alive(pid):
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            deadline = time.monotonic() + 5
            while _alive(pid) and time.monotonic() < deadline:
                time.sleep(0.1)
        child = _CHILDREN.pop(pid, None)
        if child is not None:
            try:
                child.wait(timeout=1)
            except subprocess.TimeoutExpired:
                pass


if __name__ == "__main__":  # python tests/slurm_cluster.py: bring a cluster up and leave it
    c = start()
    print(f"reused={c.reused} pids={c.pids} cpus={c.cpus} memory_mb={c.memory_mb}")
