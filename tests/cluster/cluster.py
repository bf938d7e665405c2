"""The simulated board cluster: shared code of tests/cluster/up, down and run.

Python 3.11 standard library only. Everything this module creates is named
with one prefix (default "ssc", SCALESMALL_CLUSTER_PREFIX) and recorded in a
state directory (default /tmp/scalesmall-cluster-<prefix>,
SCALESMALL_CLUSTER_DIR), so that `down` can remove exactly that, by PID and
by name, also after a failure.

The cluster (docs/cluster.md has the picture):

  * one "switch" network namespace per subnet, holding a Linux bridge
    (snooping off); the host's own namespace is never touched;
  * a router namespace with a leg in every subnet (IPv4 forwarding on, no
    multicast routing: multicast stays in its subnet, TCP crosses);
  * a controller namespace with a leg in every subnet (forwarding off), from
    which Ansible and ssh reach every board directly, even when the router
    is cut;
  * one namespace per board, with a mount and a UTS namespace of its own:
    private copy-on-write views of the directories in PRIVATE_DIRS, an empty
    /run, its hostname, a 224.0.0.0/4 route and its own sshd (key auth only)
    on its address.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PREFIX = os.environ.get("SCALESMALL_CLUSTER_PREFIX", "ssc")
STATE_ROOT = "/tmp/scalesmall-cluster-"
STATE = Path(os.environ.get("SCALESMALL_CLUSTER_DIR", f"{STATE_ROOT}{PREFIX}"))
# The process the cluster belongs to (test.sh's PID in the cluster suite):
# recorded with its start time in <state>/owner, so a later run can tell a
# cluster whose owner died mid-run (a killed CI job, a machine reset) from
# one still in use, and remove only the former (`down --stale`).
OWNER = os.environ.get("SCALESMALL_CLUSTER_OWNER", "")
# Prefixes the test suite makes: "sst" and the owner's PID. Namespaces with
# such a prefix and no state directory are orphans (up makes the state
# directory before any namespace, down removes it after the last one).
SUITE_PREFIX = re.compile(r"^sst[0-9]+$")

# The directories each board gets a private view of: an overlay whose lower
# layer is the host's directory (read only, never written) and whose upper
# layer is <state>/boards/<board>/upper/<dir>. Everything the role, sshd,
# useradd, Ansible and the node write lands there; the host's files stay as
# they are. (Overlays rather than plain bind mounts of empty directories:
# useradd replaces /etc/passwd by rename, and the board still needs the
# host's /etc/ssh, /etc/alternatives, python and so on.)
# /etc covers /etc/scalesmall, /etc/systemd, /etc/passwd|group|shadow;
# /opt covers /opt/scalesmall; /var/lib covers /var/lib/scalesmall; /var/log
# covers /var/log/scalesmall; /usr/local covers the CLI wrapper
# /usr/local/bin/scalesmall; /root covers Ansible's remote temp dir and the
# board's (empty) .bashrc.
PRIVATE_DIRS = ["/etc", "/opt", "/usr/local", "/var/lib", "/var/log", "/root", "/home"]
# A fresh tmpfs on each board: the node's control socket and PID files
# (/run/scalesmall) and sshd's /run/sshd.
PRIVATE_TMPFS = ["/run"]

NET = "10.231"  # subnet s is NET.s.0/24; router .1, controller .254, boards .11+
PORT = 29999


def log(msg: str) -> None:
    print(f"cluster: {msg}", flush=True)


class Failure(Exception):
    """A step failed; the message says what and how to go on."""


class CannotRun(Failure):
    """Not root, or tools missing: nothing was made (exit 77, a skip)."""


class Exists(Failure):
    """A cluster with this name exists: up leaves it alone."""


# --- processes ---------------------------------------------------------------

_live_groups: set[int] = set()
_live_lock = threading.Lock()


def run_cmd(argv: list[str], timeout: float, check: bool = False, input: str | None = None,
            env: dict | None = None, out_path: Path | None = None) -> subprocess.CompletedProcess:
    """Runs argv in its own process group with a time bound: on timeout the
    whole group is killed (not only the child) and rc is 124."""
    out = open(out_path, "w") if out_path else subprocess.PIPE
    try:
        p = subprocess.Popen(argv, stdin=subprocess.PIPE if input is not None else subprocess.DEVNULL,
                             stdout=out, stderr=subprocess.STDOUT if out_path else subprocess.PIPE,
                             text=True, start_new_session=True, env=env)
    except FileNotFoundError as e:
        if out_path:
            out.close()
        raise Failure(f"{argv[0]}: not found ({e})") from None
    with _live_lock:
        _live_groups.add(p.pid)
    try:
        stdout, stderr = p.communicate(input=input, timeout=timeout)
        rc = p.returncode
    except subprocess.TimeoutExpired:
        kill_group(p.pid)
        stdout, stderr = p.communicate()
        rc = 124
        stderr = (stderr or "") + f"\n(timed out after {timeout:.0f}s: {' '.join(argv[:6])} ...)"
    finally:
        kill_group(p.pid)  # stragglers the child left in its group
        with _live_lock:
            _live_groups.discard(p.pid)
        if out_path:
            out.close()
    cp = subprocess.CompletedProcess(argv, rc, stdout or "", stderr or "")
    if check and rc != 0:
        raise Failure(f"{' '.join(shlex.quote(a) for a in argv)} failed (exit {rc}): "
                      f"{(cp.stderr or cp.stdout or '').strip()[-600:]}")
    return cp


def kill_group(pgid: int) -> None:
    try:
        os.killpg(pgid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def kill_children() -> None:
    """Kills every process group run_cmd started that is still running."""
    with _live_lock:
        groups = list(_live_groups)
    for g in groups:
        kill_group(g)


def proc_start_time(pid: int) -> str | None:
    """Field 22 of /proc/PID/stat: tells a PID from a later reuse of it."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return stat.rsplit(")", 1)[1].split()[19]


def netns_pids(ns: str) -> list[int]:
    cp = run_cmd(["ip", "netns", "pids", ns], timeout=10)
    return [int(x) for x in cp.stdout.split() if x.isdigit()] if cp.returncode == 0 else []


def netns_of(pid: int) -> str | None:
    cp = run_cmd(["ip", "netns", "identify", str(pid)], timeout=10)
    return cp.stdout.strip() or None if cp.returncode == 0 else None


def list_netns() -> list[str]:
    cp = run_cmd(["ip", "netns", "list"], timeout=10)
    return [line.split()[0] for line in cp.stdout.splitlines() if line.strip()]


def ours(name: str) -> bool:
    return name.startswith(PREFIX + "-")


# --- the cluster's shape -------------------------------------------------------

@dataclass
class Board:
    name: str
    subnet: int  # 1-based
    addr: str
    arch: str  # aarch64 | armv7
    ns: str

    @property
    def qemu(self) -> str:
        return "qemu-aarch64-static" if self.arch == "aarch64" else "qemu-arm-static"

    @property
    def status_arch(self) -> str:
        return "aarch64" if self.arch == "aarch64" else "arm"


@dataclass
class Layout:
    boards: list[Board]
    subnets: int = 3
    router: str = f"{PREFIX}-router"
    controller: str = f"{PREFIX}-ctl"
    switches: list[str] = field(default_factory=list)

    def to_json(self) -> dict:
        return {"prefix": PREFIX, "subnets": self.subnets, "router": self.router,
                "controller": self.controller, "switches": self.switches,
                "net": NET, "port": PORT,
                "boards": [b.__dict__ for b in self.boards]}

    @staticmethod
    def from_json(d: dict) -> "Layout":
        return Layout(boards=[Board(**b) for b in d["boards"]], subnets=d["subnets"],
                      router=d["router"], controller=d["controller"], switches=d["switches"])

    def namespaces(self) -> list[str]:
        return self.switches + [self.router, self.controller] + [b.ns for b in self.boards]

    def subnet_boards(self, s: int) -> list[Board]:
        return [b for b in self.boards if b.subnet == s]


def plan(n: int) -> Layout:
    """N boards in 3 subnets: the last board alone in subnet 3, the others
    split between subnets 1 and 2 (1 gets the odd one). Boards alternate
    between aarch64 and armv7."""
    if n < 3:
        raise Failure(f"--boards {n}: at least 3 (two subnets with boards and a lone board)")
    if n > 40:
        raise Failure(f"--boards {n}: at most 40 on one machine")
    rest = n - 1
    a = (rest + 1) // 2
    boards = []
    for i in range(n):
        s = 1 if i < a else (2 if i < rest else 3)
        name = f"b{i + 1}"
        boards.append(Board(name=name, subnet=s, addr=f"{NET}.{s}.{11 + i}",
                            arch="aarch64" if i % 2 == 0 else "armv7", ns=f"{PREFIX}-{name}"))
    return Layout(boards=boards, switches=[f"{PREFIX}-sw{s}" for s in (1, 2, 3)])


def load_layout() -> Layout:
    p = STATE / "cluster.json"
    if not p.exists():
        raise Failure(f"no cluster: {p} not found. Start one with tests/cluster/up")
    return Layout.from_json(json.loads(p.read_text()))


# --- up ------------------------------------------------------------------------------

REQUIRED_TOOLS = {
    "ip": "apt-get install iproute2",
    "unshare": "util-linux",
    "nsenter": "util-linux",
    "nft": "apt-get install nftables",
    "/usr/sbin/sshd": "apt-get install openssh-server",
    "ssh": "apt-get install openssh-client",
    "ssh-keygen": "apt-get install openssh-client",
    "start-stop-daemon": "dpkg",
    "/usr/bin/python3": "the boards' Python (apt-get install python3)",
    "qemu-aarch64-static": "apt-get install qemu-user-static",
    "qemu-arm-static": "apt-get install qemu-user-static",
    "ansible-playbook": "pip install ansible-core==2.19.14",
    "ansible-inventory": "pip install ansible-core==2.19.14",
}


def missing_tools(names=None) -> list[str]:
    out = []
    for t, how in REQUIRED_TOOLS.items():
        if names is not None and t not in names:
            continue
        if not (os.access(t, os.X_OK) if t.startswith("/") else shutil.which(t)):
            out.append(f"{t} ({how})")
    return out


class Recorder:
    """Appends what `up` creates to <state>/made, one line each, before it
    exists, so that `down` finds it even if `up` dies half way."""

    def __init__(self) -> None:
        self.path = STATE / "made"

    def add(self, kind: str, name: str, extra: str = "") -> None:
        with open(self.path, "a") as f:
            f.write(f"{kind} {name} {extra}".rstrip() + "\n")
            f.flush()
            os.fsync(f.fileno())


def sh(argv: list[str], timeout: float = 20) -> str:
    return run_cmd(argv, timeout=timeout, check=True).stdout


def up(n: int) -> None:
    if os.geteuid() != 0:
        raise CannotRun("needs root (network and mount namespaces); run it with sudo")
    miss = missing_tools()
    if miss:
        raise CannotRun("missing " + ", ".join(miss))
    leftovers = [ns for ns in list_netns() if ours(ns)]
    if STATE.exists() or leftovers:
        what = []
        if STATE.exists():
            what.append(f"state directory {STATE}")
        if leftovers:
            what.append("namespaces " + " ".join(leftovers))
        raise Exists(f"a cluster named {PREFIX!r} exists already ({'; '.join(what)}). "
                      f"Remove it with tests/cluster/down (or pick another name with "
                      f"SCALESMALL_CLUSTER_PREFIX=...)")
    lay = plan(n)
    t0 = time.monotonic()
    STATE.mkdir(parents=True, mode=0o700)
    if OWNER.isdigit():
        (STATE / "owner").write_text(f"{OWNER} {proc_start_time(int(OWNER)) or ''}\n")
    (STATE / "cluster.json").write_text(json.dumps(lay.to_json(), indent=1) + "\n")
    rec = Recorder()
    rec.add("dir", str(STATE))

    def addns(ns: str) -> None:
        rec.add("netns", ns)
        sh(["ip", "netns", "add", ns])
        sh(["ip", "-n", ns, "link", "set", "lo", "up"])
        # Explicit, whatever a new namespace inherits: only the router forwards.
        sh(["ip", "netns", "exec", ns, "sysctl", "-qw", "net.ipv4.ip_forward=0"])

    for sw in lay.switches:
        addns(sw)
        sh(["ip", "-n", sw, "link", "add", "br0", "type", "bridge", "mcast_snooping", "0"])
        sh(["ip", "-n", sw, "link", "set", "br0", "up"])

    def attach(ns: str, ifname: str, sw: str, port: str, cidr: str) -> None:
        sh(["ip", "link", "add", ifname, "netns", ns, "type", "veth", "peer", "name", port, "netns", sw])
        sh(["ip", "-n", sw, "link", "set", port, "master", "br0"])
        sh(["ip", "-n", sw, "link", "set", port, "up"])
        sh(["ip", "-n", ns, "addr", "add", cidr, "dev", ifname])
        sh(["ip", "-n", ns, "link", "set", ifname, "up"])

    addns(lay.router)
    addns(lay.controller)
    for s in (1, 2, 3):
        sw = lay.switches[s - 1]
        attach(lay.router, f"eth{s}", sw, "router", f"{NET}.{s}.1/24")
        attach(lay.controller, f"eth{s}", sw, "ctl", f"{NET}.{s}.254/24")
    sh(["ip", "netns", "exec", lay.router, "sysctl", "-qw", "net.ipv4.ip_forward=1"])

    # SSH keys: one client key for the controller, one host key per board.
    sshdir = STATE / "ssh"
    sshdir.mkdir(mode=0o700)
    sh(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "scalesmall-cluster", "-f", str(sshdir / "client")])
    shutil.copy(sshdir / "client.pub", sshdir / "authorized_keys")
    (STATE / "pids").write_text("")

    for b in lay.boards:
        addns(b.ns)
        sw = lay.switches[b.subnet - 1]
        attach(b.ns, "eth0", sw, b.name, f"{b.addr}/24")
        sh(["ip", "-n", b.ns, "route", "add", "default", "via", f"{NET}.{b.subnet}.1"])
        sh(["ip", "-n", b.ns, "route", "add", "224.0.0.0/4", "dev", "eth0"])
        start_board(lay, b, rec)

    # Up when every sshd answers (polled, with a deadline).
    deadline = time.monotonic() + 30
    pending = list(lay.boards)
    while pending:
        pending = [b for b in pending if ssh_board(lay, b, "true", timeout=5).returncode != 0]
        if not pending:
            break
        if time.monotonic() > deadline:
            for b in pending:
                p = STATE / "boards" / b.name / "sshd.log"
                log(f"--- {p}\n{p.read_text() if p.exists() else '(none)'}")
            raise Failure("sshd did not answer within 30 s on " + " ".join(b.name for b in pending))
        time.sleep(0.3)
    # Each board tells its own hostname.
    for b in lay.boards:
        got = ssh_board(lay, b, "hostname", timeout=10).stdout.strip()
        if got != b.name:
            raise Failure(f"{b.name}: hostname is {got!r}, expected {b.name!r} (UTS namespace)")
    (STATE / "up.ok").write_text(f"{time.time()}\n")
    log(f"up: {n} boards in 3 subnets in {time.monotonic() - t0:.1f}s")
    for s in (1, 2, 3):
        bs = lay.subnet_boards(s)
        log(f"  subnet {s} {NET}.{s}.0/24: " + ", ".join(f"{b.name} {b.addr} ({b.arch})" for b in bs))
    log(f"  router {lay.router}; controller {lay.controller} ({NET}.s.254); state {STATE}")
    log(f"  a shell on a board: ip netns exec {lay.controller} ssh -F /dev/null -i {sshdir}/client "
        f"-o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null root@{lay.boards[0].addr}")


BOARD_INIT = r"""
set -e
state=$1 board=$2 cfg=$3
shift 3
hostname "$board"
for d in $PRIVATE_DIRS; do
    mkdir -p "$state/upper$d" "$state/work$d"
    mount -t overlay overlay -o "lowerdir=$d,upperdir=$state/upper$d,workdir=$state/work$d" "$d"
done
for d in $PRIVATE_TMPFS; do mount -t tmpfs -o mode=0755 tmpfs "$d"; done
mkdir -p /run/sshd
# A board has no pyenv: an empty .bashrc for the commands sshd runs (the
# host's starts pyenv, 0.4 s each time, and puts its shims on PATH).
: >/root/.bashrc
echo "$board" >/etc/hostname
exec /usr/sbin/sshd -D -e -f "$cfg"
"""


def start_board(lay: Layout, b: Board, rec: Recorder) -> None:
    d = STATE / "boards" / b.name
    d.mkdir(parents=True)
    sh(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(d / "hostkey")])
    (d / "sshd_config").write_text(f"""# board {b.name}: written by tests/cluster/up
ListenAddress {b.addr}
HostKey {d}/hostkey
PidFile none
AuthorizedKeysFile {STATE}/ssh/authorized_keys
PasswordAuthentication no
KbdInteractiveAuthentication no
PubkeyAuthentication yes
PermitRootLogin prohibit-password
UsePAM no
UseDNS no
StrictModes no
MaxStartups 64:30:128
Subsystem sftp /usr/lib/openssh/sftp-server
""")
    env = dict(os.environ, PRIVATE_DIRS=" ".join(PRIVATE_DIRS), PRIVATE_TMPFS=" ".join(PRIVATE_TMPFS))
    logf = open(d / "sshd.log", "w")
    # ip netns exec, unshare (no --fork) and sh's exec all keep the PID: the
    # PID recorded is sshd's.
    p = subprocess.Popen(["ip", "netns", "exec", b.ns, "unshare", "--mount", "--uts", "--propagation",
                          "private", "sh", "-c", BOARD_INIT, "sh", str(d), b.name, str(d / "sshd_config")],
                         stdin=subprocess.DEVNULL, stdout=logf, stderr=subprocess.STDOUT,
                         start_new_session=True, env=env)
    logf.close()
    st = None
    for _ in range(50):
        st = proc_start_time(p.pid)
        if st:
            break
        time.sleep(0.01)
    rec.add("pid", str(p.pid), f"{st} sshd-{b.name}")
    with open(STATE / "pids", "a") as f:
        f.write(f"{p.pid} {st} sshd-{b.name}\n")


# --- down ------------------------------------------------------------------------

def down() -> int:
    """Removes what up made: recorded PIDs (checked against their start
    time), every process left in our namespaces, the namespaces (which takes
    bridges, veths and the boards' mounts with them), the state directory.
    Idempotent; also removes namespaces with our prefix that a lost state
    directory no longer lists."""
    if os.geteuid() != 0:
        raise Failure("needs root")
    made = STATE / "made"
    recorded: list[tuple[int, str]] = []
    names: list[str] = []
    if made.exists():
        for line in made.read_text().splitlines():
            parts = line.split()
            if len(parts) >= 2 and parts[0] == "pid" and parts[1].isdigit():
                recorded.append((int(parts[1]), parts[2] if len(parts) > 2 else ""))
            elif len(parts) >= 2 and parts[0] == "netns":
                names.append(parts[1])
    names += [ns for ns in list_netns() if ours(ns) and ns not in names]
    killed = 0
    for pid, st in recorded:
        if st and proc_start_time(pid) == st:
            try:
                os.kill(pid, signal.SIGKILL)
                killed += 1
            except ProcessLookupError:
                pass
    existing = set(list_netns())
    for _ in range(3):  # a dying process may still fork once
        left = 0
        for ns in names:
            if ns not in existing:
                continue
            for pid in netns_pids(ns):
                try:
                    os.kill(pid, signal.SIGKILL)
                    killed += 1
                    left += 1
                except ProcessLookupError:
                    pass
        if not left:
            break
        wait_until(lambda: all(not netns_pids(ns) for ns in names if ns in existing), 5, 0.05)
    removed = []
    for ns in names:
        if ns in existing:
            cp = run_cmd(["ip", "netns", "del", ns], timeout=20)
            if cp.returncode != 0:
                raise Failure(f"ip netns del {ns}: {cp.stderr.strip()}")
            removed.append(ns)
    still = [ns for ns in list_netns() if ours(ns)]
    if still:
        raise Failure("namespaces left after down: " + " ".join(still))
    if STATE.exists():
        shutil.rmtree(STATE)
    log(f"down: killed {killed} processes, removed {len(removed)} namespaces"
        + (f" ({' '.join(removed)})" if removed else "") + f", state {STATE} gone")
    return 0


def stale_clusters() -> list[tuple[str, Path]]:
    """(prefix, state directory) of every cluster whose recorded owner is
    no longer running, and of every suite-made prefix ("sst<PID>") whose
    namespaces outlived their state directory. Clusters without an owner
    (made by hand with up) are never stale: their maker removes them."""
    found: dict[str, Path] = {}
    for d in sorted(Path(STATE_ROOT).parent.glob(Path(STATE_ROOT).name + "*")):
        owner = d / "owner"
        if not d.is_dir() or not owner.exists():
            continue
        parts = owner.read_text().split()
        if parts and parts[0].isdigit():
            alive = proc_start_time(int(parts[0]))
            if alive is not None and (len(parts) < 2 or alive == parts[1]):
                continue
        prefix = d.name[len(Path(STATE_ROOT).name):]
        try:
            prefix = json.loads((d / "cluster.json").read_text()).get("prefix", prefix)
        except (OSError, ValueError):
            pass
        found[prefix] = d
    for ns in list_netns():
        prefix = ns.split("-", 1)[0]
        if "-" in ns and SUITE_PREFIX.match(prefix) and prefix not in found \
                and not Path(f"{STATE_ROOT}{prefix}").exists():
            found[prefix] = Path(f"{STATE_ROOT}{prefix}")
    return sorted(found.items())


def reap_stale() -> int:
    """Removes every stale cluster (see stale_clusters) with `down` under
    that cluster's prefix and state directory. Returns how many."""
    if os.geteuid() != 0:
        raise Failure("needs root")
    here = Path(__file__).resolve().parent
    n = 0
    for prefix, state in stale_clusters():
        log(f"removing stale cluster {prefix!r} (its owner is gone; state {state})")
        env = dict(os.environ, SCALESMALL_CLUSTER_PREFIX=prefix, SCALESMALL_CLUSTER_DIR=str(state))
        cp = run_cmd([sys.executable, str(here / "down")], timeout=120, env=env)
        if cp.returncode != 0:
            raise Failure(f"down of stale cluster {prefix!r} failed: {(cp.stderr or cp.stdout).strip()[-600:]}")
        n += 1
    return n


def wait_until(pred, timeout: float, every: float = 0.5):
    """Polls pred() until it returns something true or the deadline passes;
    returns the last value."""
    deadline = time.monotonic() + timeout
    while True:
        v = pred()
        if v or time.monotonic() >= deadline:
            return v
        time.sleep(every)


# --- reaching boards ------------------------------------------------------------

SSH_OPTS = ["-F", "/dev/null", "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null",
            "-o", "LogLevel=ERROR", "-o", "BatchMode=yes", "-o", "ControlMaster=no",
            "-o", "ConnectTimeout=5", "-o", "IdentitiesOnly=yes"]


def ssh_board(lay: Layout, b: Board, command: str, timeout: float = 15) -> subprocess.CompletedProcess:
    return run_cmd(["ip", "netns", "exec", lay.controller, "ssh", *SSH_OPTS, "-i", str(STATE / "ssh" / "client"),
                    f"root@{b.addr}", command], timeout=timeout)
