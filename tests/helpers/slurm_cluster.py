"""A throw-away one-node SLURM cluster on 127.0.0.1, for running the workflow through the profile.

Everything the cluster needs lives in one temporary directory: slurm.conf (clients find it through
SLURM_CONF; slurmd and its jobs see it as /etc/slurm/slurm.conf in a mount namespace of their
own, so the machine's /etc/slurm is never written), a private munge key and socket, free ports
for slurmctld and slurmd, state, spool and logs. The three daemons run in the foreground as
children of the test session; at teardown the remaining jobs are cancelled, the daemons stopped
(slurmd, slurmctld, munged) and the directory removed. A second cluster on the machine (another
test session, a real one) is never disturbed.

Like a production cluster, it holds each job to the memory it asked for (--mem): slurmstepd
samples the resident memory of every job step each second and kills a step beyond it
(jobacct_gather/linux with OverMemoryKill: no cgroups needed, so it works in a container).

Debian's packages are installed when missing (.ci/run installs them first). Without root or
apt-get, or when the install fails, the fixture skips with the reason (in CI, ``CI=true``, it fails
instead); a cluster that is installed but does not start is a failure, with the daemons' logs.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from helpers.workflow_runner import unavailable

PACKAGES = ["slurmctld", "slurmd", "slurm-client", "munge"]
SBIN = ["/usr/sbin", "/usr/bin", "/sbin", "/bin"]
DAEMONS = ["munged", "mungekey", "slurmctld", "slurmd", "unshare"]
CLIENTS = ["sbatch", "squeue", "sinfo", "scontrol", "srun", "scancel"]
NODE = "localhost"  # the node name slurmd is started with (-N); the hostname is something else


def which(name: str) -> str | None:
    path = os.pathsep.join([os.environ.get("PATH", ""), *SBIN])
    return shutil.which(name, path=path)


def missing_programs() -> list[str]:
    return [p for p in DAEMONS + CLIENTS if which(p) is None]


def install_reason() -> str | None:
    """None when SLURM and munge are (or have just been) installed, else why they cannot be."""
    if os.geteuid() != 0:
        return "a one-node SLURM cluster needs root (to start slurmd and munged)"
    if not missing_programs():
        return None
    if which("apt-get") is None:
        return f"SLURM is not installed ({', '.join(missing_programs())}) and apt-get is missing"
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    install = ["apt-get", "install", "-y", "-q", "--no-install-recommends", *PACKAGES]
    proc = subprocess.run(install, env=env, capture_output=True, text=True, timeout=600)
    if proc.returncode != 0:  # a fresh machine has no package lists yet
        subprocess.run(["apt-get", "update", "-q"], env=env, capture_output=True, timeout=600)
        proc = subprocess.run(install, env=env, capture_output=True, text=True, timeout=600)
    if proc.returncode != 0 or missing_programs():
        return f"installing {' '.join(PACKAGES)} failed: {proc.stderr.strip()[-500:]}"
    return None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def node_resources() -> tuple[int, int]:
    """CPUs and memory (MB) the node declares.

    Two CPUs per core (config_overrides stops slurmd draining a node that claims more than it
    has): a job of the tiny workflow spends most of its time starting Snakemake twice (batch
    script, then srun) and waiting for the next status check, so letting jobs overlap more
    than the cores would allow shortens the run. Results do not depend on it: each job still
    gets the threads its rule declares.
    """
    with open("/proc/meminfo") as f:
        total_kb = next(int(line.split()[1]) for line in f if line.startswith("MemTotal:"))
    return 2 * (os.cpu_count() or 1), max(total_kb // 1024 - 1024, 512)


SLURM_CONF = """\
ClusterName=ebteff-test
SlurmctldHost={node}(127.0.0.1)
SlurmctldPort={ctld_port}
SlurmdPort={slurmd_port}
SlurmUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket={munge_socket}
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
MpiDefault=none
ReturnToService=2
SlurmdParameters=config_overrides
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
JobAcctGatherType=jobacct_gather/linux
JobAcctGatherFrequency=task=1
JobAcctGatherParams=OverMemoryKill
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
MinJobAge=3600
StateSaveLocation={root}/state
SlurmdSpoolDir={root}/spool
SlurmctldPidFile={root}/slurmctld.pid
SlurmdPidFile={root}/slurmd.pid
SlurmctldLogFile={root}/slurmctld.log
SlurmdLogFile={root}/slurmd.log
SlurmctldDebug=info
SlurmdDebug=info
NodeName={node} NodeAddr=127.0.0.1 CPUs={cpus} RealMemory={memory_mb} State=UNKNOWN
PartitionName={partition} Nodes={node} Default=YES MaxTime=INFINITE State=UP
"""


@dataclass
class SlurmCluster:
    """A running cluster: pass ``env`` to anything that calls sbatch/squeue/srun."""

    root: Path
    partition: str = "main"
    cpus: int = 0  # as declared to SLURM
    env: dict = field(default_factory=dict)
    processes: list = field(default_factory=list)  # (name, Popen), in start order
    _stderr: list = field(default_factory=list)

    @property
    def conf(self) -> Path:
        return self.root / "etc" / "slurm.conf"

    @property
    def slurmctld_log(self) -> Path:
        return self.root / "slurm" / "slurmctld.log"

    def run(self, *cmd: str, timeout: int = 30) -> subprocess.CompletedProcess:
        return subprocess.run(
            list(cmd), env=self.env, capture_output=True, text=True, timeout=timeout
        )

    def logs(self) -> str:
        parts = []
        for path in sorted(self.root.rglob("*.log")):
            text = path.read_text(errors="replace")[-3000:]
            parts.append(f"--- {path.name} ---\n{text}")
        return "\n".join(parts)

    def start(self) -> None:
        munge = self.root / "munge"  # munged insists on a private directory it owns
        slurm = self.root / "slurm"
        for d in (munge, slurm / "state", slurm / "spool", self.conf.parent):
            d.mkdir(parents=True)
        key = munge / "munge.key"
        subprocess.run([which("mungekey"), "--create", f"--keyfile={key}"], check=True)
        shutil.chown(munge, "munge", "munge")
        shutil.chown(key, "munge", "munge")
        key.chmod(0o400)
        munge_socket = munge / "munge.socket"
        self._spawn(
            "munged",
            [which("munged"), "--foreground", f"--socket={munge_socket}", f"--key-file={key}"]
            + [f"--pid-file={munge}/munged.pid", f"--log-file={munge}/munged.log"]
            + [f"--seed-file={munge}/munged.seed"],
            user="munge",
        )
        self._wait(lambda: munge_socket.exists(), "munged did not create its socket")

        self.cpus, memory_mb = node_resources()
        self.conf.write_text(
            SLURM_CONF.format(
                node=NODE,
                root=slurm,
                ctld_port=free_port(),
                slurmd_port=free_port(),
                munge_socket=munge_socket,
                cpus=self.cpus,
                memory_mb=memory_mb,
                partition=self.partition,
            )
        )
        self.env = {**os.environ, "SLURM_CONF": str(self.conf)}
        self._spawn("slurmctld", [which("slurmctld"), "-D", "-c", "-f", str(self.conf)])
        # The plugin's job step strips SLURM_CONF before its nested srun, which then reads
        # /etc/slurm/slurm.conf: slurmd and so every job see ours there, in a mount namespace
        # of their own; the machine's /etc/slurm is untouched.
        Path("/etc/slurm").mkdir(exist_ok=True)  # the mount point; slurm-client creates it
        self._spawn(
            "slurmd",
            ["unshare", "--mount", "--propagation", "private", "--", "sh", "-c"]
            + ['mount --bind "$0" /etc/slurm && exec "$1" -D -N "$2" -f /etc/slurm/slurm.conf']
            + [str(self.conf.parent), which("slurmd"), NODE],
        )
        self._wait(self._idle, "the node did not become idle")

    def _spawn(self, name: str, cmd: list[str], user: str | None = None) -> None:
        stderr = open(self.root / f"{name}.stderr.log", "w")
        self._stderr.append(stderr)
        proc = subprocess.Popen(
            cmd,
            user=user,
            group=user,
            extra_groups=[] if user else None,
            env={**os.environ, "SLURM_CONF": str(self.conf)},
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=stderr,
            start_new_session=True,  # a Ctrl-C of pytest reaches us, not the daemons first
        )
        self.processes.append((name, proc))

    def _idle(self) -> bool:
        proc = self.run(which("sinfo"), "-h", "-o", "%T", timeout=10)
        return proc.stdout.strip() == "idle"

    def _wait(self, ready, what: str, seconds: float = 30) -> None:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            for name, proc in self.processes:
                if proc.poll() is not None:
                    raise RuntimeError(f"{name} exited ({proc.returncode})\n{self.logs()}")
            if ready():
                return
            time.sleep(0.5)
        raise RuntimeError(f"{what} within {seconds} s\n{self.logs()}")

    def stop(self) -> None:
        """Cancel what still runs, stop what we started, last first (slurmd, slurmctld,
        munged), and forget the state."""
        if self.env and all(p.poll() is None for _, p in self.processes):
            self.run(which("scancel"), f"--partition={self.partition}")  # after a timeout
            deadline = time.monotonic() + 20
            while time.monotonic() < deadline and self.run(which("squeue"), "-h").stdout:
                time.sleep(0.5)
        for _, proc in reversed(self.processes):
            if proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait(timeout=5)
        self.processes.clear()
        for f in self._stderr:
            f.close()
        shutil.rmtree(self.root, ignore_errors=True)


@pytest.fixture(scope="session")
def slurm_cluster():
    """A started one-node cluster for the session; skipped (with the reason) when impossible."""
    reason = install_reason()
    if reason:
        unavailable(reason)  # a failure in CI
    # not under pytest's basetemp: that is private to root, and munged runs as user munge
    cluster = SlurmCluster(root=Path(tempfile.mkdtemp(prefix="ebteff-slurm-")))
    cluster.root.chmod(0o755)
    try:
        cluster.start()
    except Exception as exc:
        cluster.stop()
        pytest.fail(f"SLURM is installed but the cluster did not start: {exc}")
    yield cluster
    cluster.stop()
