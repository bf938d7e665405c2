"""The scenarios of tests/cluster/run, against the simulated cluster (after
tests/cluster/up) or against real boards (--inventory FILE).

Everything is checked through the scalesmall CLI on the boards, over ssh
(the same commands an operator types; `ansible boards -a 'scalesmall ...'`
would do the same, only slower), and every wait polls a state with a
deadline.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shlex
import shutil
import subprocess
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import cluster
from cluster import Failure, STATE, ROOT, run_cmd

DEMO = "demo"  # declared in the inventory: each board claims its slice
TEST = "clustertest"  # written by the scenarios through the CLI
GROUPS = (DEMO, TEST)
RUN_DIR = "/run/scalesmall"


def say(msg: str) -> None:
    print(f"run: [{time.strftime('%H:%M:%S')}] {msg}", flush=True)


# --- boards and how to reach them -----------------------------------------------

@dataclass
class Host:
    name: str
    addr: str
    ssh: list[str]  # argv prefix up to and including user@host
    sudo: bool = False
    arch: str | None = None  # expected `arch` of scalesmall status (sim only)
    board: cluster.Board | None = None


class Target:
    """Where the scenarios run: the simulated cluster or real boards."""

    def __init__(self, sim: bool, hosts: list[Host], inventory: Path, ansible_env: dict,
                 ansible_prefix: list[str], layout: cluster.Layout | None, workdir: Path):
        self.sim = sim
        self.hosts = hosts
        self.inventory = inventory
        self.ansible_env = ansible_env
        self.ansible_prefix = ansible_prefix
        self.layout = layout
        self.workdir = workdir
        self.pool = ThreadPoolExecutor(max_workers=max(4, len(hosts)))
        self.ids: dict[str, str] = {}  # host name -> node id
        self.expected_demo: dict[str, set] = {}  # sim: host -> its declared demo claims

    def sh(self, h: Host, command: str, timeout: float = 20) -> subprocess.CompletedProcess:
        if h.sudo:
            command = "sudo -n sh -c " + shlex.quote(command)
        return run_cmd(self.ssh_argv(h) + [command], timeout=timeout)

    def ssh_argv(self, h: Host) -> list[str]:
        return list(h.ssh)

    def on_all(self, fn, hosts=None) -> dict:
        hosts = hosts or self.hosts
        futs = {h.name: self.pool.submit(fn, h) for h in hosts}
        return {n: f.result() for n, f in futs.items()}

    def host(self, name: str) -> Host:
        for h in self.hosts:
            if h.name == name:
                return h
        raise Failure(f"no board {name}")

    def playbook(self, playbook: str, logname: str, args: list[str] = (), timeout: float = 600) -> dict:
        """Runs ansible/<playbook> on the inventory; returns the recap
        {host: {ok, changed, unreachable, failed}}. A failure names the log."""
        logp = self.workdir / "logs" / logname
        logp.parent.mkdir(parents=True, exist_ok=True)
        argv = self.ansible_prefix + ["ansible-playbook", "-i", str(self.inventory),
                                      str(ROOT / "ansible" / playbook), *args]
        t0 = time.monotonic()
        cp = run_cmd(argv, timeout=timeout, env=self.ansible_env, out_path=logp)
        text = logp.read_text(errors="replace")
        recap = parse_recap(text)
        say(f"  {playbook} {' '.join(args)}: exit {cp.returncode} in {time.monotonic() - t0:.0f}s "
            f"(log {logp})")
        if cp.returncode != 0:
            tail = "\n".join(text.splitlines()[-40:])
            raise Failure(f"{playbook} failed (exit {cp.returncode}{', timed out' if cp.returncode == 124 else ''}); "
                          f"end of {logp}:\n{tail}")
        return recap


def parse_recap(text: str) -> dict:
    recap = {}
    part = text.split("PLAY RECAP", 1)[-1] if "PLAY RECAP" in text else ""
    for m in re.finditer(r"^(\S+)\s+:\s+ok=(\d+)\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)", part, re.M):
        recap[m.group(1)] = {"ok": int(m.group(2)), "changed": int(m.group(3)),
                             "unreachable": int(m.group(4)), "failed": int(m.group(5))}
    return recap


# --- what a board says --------------------------------------------------------------

SNAP_CMD = "; ".join(
    f"echo '@@@ {what}'; scalesmall {what} --json 2>&1; echo \"@@@ rc $?\""
    for what in ("status", f"topology {DEMO}", f"topology {TEST}", "peers"))


@dataclass
class Snap:
    host: str
    error: str | None = None
    status: dict = field(default_factory=dict)
    topo: dict = field(default_factory=dict)  # group -> frozenset of items
    peers: list = field(default_factory=list)

    def bytes(self) -> int:
        c = self.status.get("counters", {})
        return int(c.get("bytes_in", 0)) + int(c.get("bytes_out", 0))

    def live(self, group: str, node: str | None = None) -> set:
        """(node, start, end, priority, port) of the live serve items."""
        return {(i[0], i[3], i[4], i[5], i[6]) for i in self.topo.get(group, ())
                if i[1] == "add" and (node is None or i[0] == node)}


def snapshot(t: Target, h: Host) -> Snap:
    cp = t.sh(h, SNAP_CMD, timeout=25)
    s = Snap(h.name)
    if cp.returncode != 0 and "@@@" not in cp.stdout:
        s.error = f"ssh exit {cp.returncode}: {(cp.stderr or cp.stdout).strip()[-200:]}"
        return s
    parts = re.split(r"^@@@ ", cp.stdout, flags=re.M)
    docs = {}
    for p in parts[1:]:
        head, _, body = p.partition("\n")
        if head.startswith("rc "):
            continue
        docs[head.strip()] = body
    rcs = re.findall(r"^@@@ rc (\d+)", cp.stdout, re.M)
    try:
        st = json.loads(docs.get("status", ""))
    except ValueError:
        s.error = f"status: {docs.get('status', '').strip()[-200:] or 'no answer'} (exit {rcs[:1]})"
        return s
    s.status = st
    for g in GROUPS:
        body = docs.get(f"topology {g}", "")
        try:
            items = json.loads(body).get("items", [])
        except ValueError:
            items = []  # an unknown group: refused
        s.topo[g] = frozenset((i["node"], i["op"], i["kind"], i["start"], i["end"], i["priority"],
                               i["port"], i["clock"]) for i in items)
    try:
        s.peers = json.loads(docs.get("peers", "")).get("peers", [])
    except ValueError:
        s.peers = []
    return s


def snapshot_all(t: Target, hosts=None) -> dict[str, Snap]:
    snaps = t.on_all(lambda h: snapshot(t, h), hosts)
    for n, s in snaps.items():
        if not s.error and s.status.get("id"):
            t.ids[n] = s.status["id"]
    return snaps


# --- expectations ------------------------------------------------------------------------

class Expect:
    """What every board must end up holding: the declared demo claims (sim)
    and the clustertest claims the scenarios made or dropped (by host). A
    write whose outcome is unknown (the CLI call timed out) may go either way."""

    def __init__(self) -> None:
        self.demo: dict[str, set] = {}  # host -> {(start, end, priority, port)}
        self.test: dict[str, set] = {}
        self.unsure: dict[str, set] = {}
        self.lock = threading.Lock()
        self.next_range = 0

    def new_range(self) -> tuple[int, int]:
        with self.lock:
            s = 0x10000 * self.next_range
            self.next_range += 1
        return s, s + 0xfff

    def claim(self, t: Target, h: Host, rng: tuple[int, int], timeout: float = 20) -> bool:
        return self._write(t, h, "claim", rng, timeout)

    def release(self, t: Target, h: Host, rng: tuple[int, int], timeout: float = 20) -> bool:
        return self._write(t, h, "release", rng, timeout)

    def _write(self, t, h, verb, rng, timeout) -> bool:
        extra = " --priority 1 --port 7" if verb == "claim" else ""
        if verb == "claim":
            # join first: claim may require membership
            cmd = f"scalesmall join {TEST} >/dev/null && scalesmall claim {TEST} {rng[0]:#x}..{rng[1]:#x}{extra}"
        else:
            cmd = f"scalesmall release {TEST} {rng[0]:#x}..{rng[1]:#x}"
        cp = t.sh(h, cmd, timeout=timeout)
        item = (rng[0], rng[1], 1, 7)
        with self.lock:
            if cp.returncode == 0:
                (self.test.setdefault(h.name, set()).add if verb == "claim" else
                 self.test.setdefault(h.name, set()).discard)(item)
                self.unsure.get(h.name, set()).discard(item)
                return True
            if cp.returncode in (124, 255):  # ssh trouble or timeout: unknown
                self.unsure.setdefault(h.name, set()).add(item)
        return False


def agreement(t: Target, snaps: dict[str, Snap], exp: Expect | None, hosts=None,
              need_alive=True) -> str | None:
    """None if the boards agree, else why not (one line)."""
    hosts = hosts or t.hosts
    names = [h.name for h in hosts]
    bad = [f"{n}: {snaps[n].error}" for n in names if snaps[n].error]
    if bad:
        return "; ".join(bad)
    for g in GROUPS:
        views = {n: snaps[n].topo[g] for n in names}
        first = views[names[0]]
        diff = [n for n in names if views[n] != first]
        if diff:
            return (f"{g}: {names[0]} holds {len(first)} items, "
                    + ", ".join(f"{n} {len(views[n])} (differs)" for n in diff))
    if exp is not None:
        s0 = snaps[names[0]]
        for h in hosts:
            node = t.ids.get(h.name)
            if node is None:
                return f"{h.name}: node id unknown"
            if t.sim and h.name in exp.demo:
                got = {x[1:] for x in s0.live(DEMO, node)}
                if got != exp.demo[h.name]:
                    return f"{DEMO}: {h.name}'s claims are {sorted(got)}, expected {sorted(exp.demo[h.name])}"
            got = {x[1:] for x in s0.live(TEST, node)}
            want = exp.test.get(h.name, set())
            unsure = exp.unsure.get(h.name, set())
            if not (want <= got and got <= want | unsure):
                missing = sorted(want - got)
                extra = sorted(got - want - unsure)
                return (f"{TEST}: {h.name}'s claims differ from its confirmed writes "
                        f"(missing {[f'{a:#x}' for a, *_ in missing]}, unexpected {[f'{a:#x}' for a, *_ in extra]})")
    if need_alive:
        ids = {t.ids.get(n) for n in names}
        for n in names:
            st = {p["id"]: p["state"] for p in snaps[n].peers}
            notalive = [m for m in ids if m and m != t.ids.get(n) and st.get(m) != "alive"]
            if notalive:
                return f"{n} sees {len(notalive)} board(s) not alive ({', '.join(st.get(m, 'unknown') for m in notalive)})"
    notconv = [n for n in names if not snaps[n].status.get("converged")]
    if notconv:
        return "not converged (status): " + " ".join(notconv)
    return None


def wait_agreement(t: Target, exp: Expect | None, bound: float, hosts=None, what="all boards agree",
                   need_alive=True) -> float:
    """Polls until the boards agree; returns the seconds it took."""
    t0 = time.monotonic()
    why = "not checked yet"
    while True:
        snaps = snapshot_all(t, hosts)
        why = agreement(t, snaps, exp, hosts, need_alive)
        if why is None:
            dt = time.monotonic() - t0
            say(f"  {what}: after {dt:.1f}s")
            return dt
        if time.monotonic() - t0 > bound:
            raise Failure(f"{what}: not within {bound:.0f}s: {why}")
        time.sleep(1.0)


# --- auto mode ------------------------------------------------------------------------

AUTO = "autotest"  # put in auto mode on every board by the auto power-cut scenario
AUTO_HOLD_DOWN = 20  # [auto] hold_down_secs of the simulated cluster (inventory)


def keys_held(view, node: str) -> int:
    """Keys `node` serves in a view (its live serve ranges, overlaps once)."""
    spans = sorted((a, b) for (n, kind, a, b) in view if n == node and kind == "serve")
    total, end = 0, -1
    for a, b in spans:
        if b > end:
            total += b - max(a, end + 1) + 1
            end = b
    return total


def auto_why(views: dict, ids: dict, dead: set, need: str | None) -> str | None:
    """None if every view is the same and in it the live auto members
    (auto markers of nodes not in `dead`) serve every key exactly twice."""
    if any(v is None for v in views.values()):
        return "a board did not answer topology: " + ", ".join(n for n, v in views.items() if v is None)
    if len(set(views.values())) != 1:
        return "the boards' views differ"
    view = next(iter(views.values()))
    auto = {n for (n, kind, _, _) in view if kind == "auto"} - dead
    mine = {ids[n] for n in views}
    if not mine <= auto | dead:
        return f"not every board is an auto member yet ({len(auto)} markers)"
    # Sweep the live members' ranges: the coverage of every key.
    events = []
    for node in auto:
        spans = sorted((a, b) for (n, kind, a, b) in view if n == node and kind == "serve")
        for a, b in spans:
            events += [(a, 1), (b + 1, -1)]
    events.sort()
    depth, pos, lo, hi = 0, 0, None, 0
    for x, d in events:
        if x > pos:
            lo = depth if lo is None else min(lo, depth)
            hi = max(hi, depth)
        depth += d
        pos = x
    if pos <= 0xffff_ffff:
        lo = 0 if lo is None else min(lo, depth)
    if lo != 2 or hi != 2:
        return f"coverage among the live auto members is {lo}..{hi}, not exactly 2"
    if need and keys_held(view, need) == 0:
        return f"{need} serves nothing yet"
    return None


# --- traffic and watching while playbooks run ----------------------------------------------

class Churn(threading.Thread):
    """Keeps changing claims while a playbook runs: every `every` seconds (slower than the
    announces, or no board would ever report converged) a new claim in clustertest on the next board of `hosts` (round robin), and
    a release of the oldest once a board holds three. Failures of a board
    being restarted are expected and only counted."""

    def __init__(self, t: Target, exp: Expect, hosts: list[Host], every: float = 4.0):
        super().__init__(daemon=True)
        self.t, self.exp, self.hosts, self.every = t, exp, hosts, every
        self.stop = threading.Event()
        self.ok = self.failed = 0
        self.mine: dict[str, list] = {}

    def run(self) -> None:
        i = 0
        while not self.stop.is_set():
            h = self.hosts[i % len(self.hosts)]
            i += 1
            rng = self.exp.new_range()
            if self.exp.claim(self.t, h, rng, timeout=15):
                self.ok += 1
                held = self.mine.setdefault(h.name, [])
                held.append(rng)
                if len(held) > 3:
                    old = held.pop(0)
                    if self.exp.release(self.t, h, old, timeout=15):
                        self.ok += 1
                    else:
                        self.failed += 1
            else:
                self.failed += 1
            self.stop.wait(self.every)


class Watch(threading.Thread):
    """Asks every board `scalesmall status` about once a second and records
    the most boards whose node did not answer at the same time."""

    def __init__(self, t: Target):
        super().__init__(daemon=True)
        self.t = t
        self.stop = threading.Event()
        self.max_down = 0
        self.rounds = 0
        self.down_seen: set = set()

    def run(self) -> None:
        while not self.stop.is_set():
            r = self.t.on_all(lambda h: self.t.sh(h, "scalesmall status --json >/dev/null", timeout=15).returncode)
            down = [n for n, rc in r.items() if rc not in (0, 255, 124)]  # 255/124: ssh trouble, not a verdict
            self.down_seen.update(down)
            self.max_down = max(self.max_down, len(down))
            self.rounds += 1
            self.stop.wait(1.0)


class KeyWatch(threading.Thread):
    """Asks every board `scalesmall keys list --json` about twice a second
    during a key rotation: when the first board switched away from the old
    key id, and when every board sent with the new one and heard every peer
    it holds alive on it (the key id of each peer's last frame)."""

    def __init__(self, t: Target, old: str):
        super().__init__(daemon=True)
        self.t = t
        self.old = old
        self.stop = threading.Event()
        self.first: float | None = None
        self.all: float | None = None
        self.new: str | None = None

    def view(self, h: Host):
        cp = self.t.sh(h, "scalesmall keys list --json", timeout=10)
        try:
            return json.loads(cp.stdout) if cp.returncode == 0 else None
        except ValueError:
            return None

    def run(self) -> None:
        while not self.stop.is_set():
            views = self.t.on_all(self.view)
            now = time.monotonic()
            prim = [v["primary"] for v in views.values() if v]
            if self.first is None and any(p != self.old for p in prim):
                self.first = now
            done = len(prim) == len(views) and len(set(prim)) == 1 and prim[0] != self.old and all(
                p["key_id"] == prim[0] for v in views.values() for p in v["peers"] if p["state"] == "alive")
            if done and self.all is None:
                self.all, self.new = now, prim[0]
            self.stop.wait(0.5)

    def seconds(self) -> float | None:
        return None if self.first is None or self.all is None else self.all - self.first


# --- faults (sim only) -------------------------------------------------------------------------

def nft(ns: str, script: str) -> None:
    cp = run_cmd(["ip", "netns", "exec", ns, "nft", "-f", "-"], timeout=20, input=script)
    if cp.returncode != 0:
        raise Failure(f"nft in {ns} failed: {cp.stderr.strip()}")


def nft_try(ns: str, script: str) -> None:
    run_cmd(["ip", "netns", "exec", ns, "nft", "-f", "-"], timeout=20, input=script)


def nft_counters(ns: str, table: str) -> dict[str, int]:
    """Packets counted by each rule's comment in table (family inet/bridge/netdev)."""
    cp = run_cmd(["ip", "netns", "exec", ns, "nft", "-j", "list", "ruleset"], timeout=20)
    out: dict[str, int] = {}
    try:
        doc = json.loads(cp.stdout)
    except ValueError:
        return out
    for e in doc.get("nftables", []):
        r = e.get("rule")
        if not r or r.get("table") != table:
            continue
        key = r.get("comment", "")
        for x in r.get("expr", []):
            if "counter" in x:
                out[key] = out.get(key, 0) + int(x["counter"].get("packets", 0))
    return out


def cut_router(t: Target) -> None:
    nft(t.layout.router, """table inet ssc_cut {
  chain forward { type filter hook forward priority -10; policy drop; }
}
""")


def cut_subnet(t: Target, subnet: int) -> None:
    """The router stops forwarding to and from one subnet: two sides, the
    subnet and the rest (which still reach each other through the router)."""
    net = f"{cluster.NET}.{subnet}.0/24"
    nft(t.layout.router, f"""table inet ssc_split {{
  chain forward {{ type filter hook forward priority -10; policy accept;
    ip saddr {net} drop
    ip daddr {net} drop
  }}
}}
""")


def heal_router(t: Target) -> None:
    """Removes both cuts (cut_router, cut_subnet); each on its own, as a
    batch with a missing table fails as a whole."""
    nft_try(t.layout.router, "delete table inet ssc_cut\n")
    nft_try(t.layout.router, "delete table inet ssc_split\n")


LOSS_PCT = 10
DUP_PCT = 5


def add_loss(t: Target) -> None:
    """On every switch: drop LOSS_PCT% of the frames the bridge forwards
    (each receiver's copy on its own), and duplicate DUP_PCT% of what enters
    from each port to each other port (netdev ingress `dup`: the bridge
    family has no dup)."""
    lay = t.layout
    for s, sw in enumerate(lay.switches, start=1):
        ports = ["router", "ctl"] + [b.name for b in lay.subnet_boards(s)]
        dup = []
        for p in ports:
            rules = "\n".join(f'    numgen random mod 100 < {DUP_PCT} counter dup to "{q}" comment "dup"'
                              for q in ports if q != p and q != "ctl")
            dup.append(f'  chain in_{p} {{ type filter hook ingress device "{p}" priority 0;\n{rules}\n  }}')
        nft(sw, f"""table bridge ssc_loss {{
  chain forward {{ type filter hook forward priority 0; policy accept;
    numgen random mod 100 < {LOSS_PCT} counter drop comment "drop"
  }}
}}
table netdev ssc_dup {{
{chr(10).join(dup)}
}}
""")


def remove_loss(t: Target) -> dict[str, int]:
    total = {"drop": 0, "dup": 0}
    for sw in t.layout.switches:
        for tab in ("ssc_loss", "ssc_dup"):
            for k, v in nft_counters(sw, tab).items():
                total[k] = total.get(k, 0) + v
        nft_try(sw, "delete table bridge ssc_loss\ndelete table netdev ssc_dup\n")
    return total


# --- the scenarios ---------------------------------------------------------------------------------------

@dataclass
class Result:
    name: str
    boards: int
    converge: float | None = None
    seconds: float = 0
    kb_per_board: float | None = None
    status: str = "FAIL"
    note: str = ""


class Runner:
    def __init__(self, t: Target, upgrade_dist: Path | None, dist: Path):
        self.t = t
        self.exp = Expect()
        self.exp.demo = dict(t.expected_demo)
        self.upgrade_dist = upgrade_dist
        self.dist = dist
        self.results: list[Result] = []
        self.deployed = False
        self.skip_deploy = False

    def bytes_now(self) -> dict[str, int]:
        snaps = snapshot_all(self.t)
        return {n: s.bytes() for n, s in snaps.items() if not s.error}

    def scenario(self, name: str, fn, needs_sim: str | None = None, needs_deploy=True) -> None:
        t = self.t
        r = Result(name, len(t.hosts))
        self.results.append(r)
        if needs_sim and not t.sim:
            r.status, r.note = "SKIP", needs_sim
            say(f"scenario {name}: SKIP ({needs_sim})")
            return
        if needs_deploy and not self.deployed:
            r.status, r.note = "SKIP", "the deploy failed"
            say(f"scenario {name}: SKIP (the deploy failed)")
            return
        say(f"scenario {name}")
        b0 = self.bytes_now() if self.deployed else {}
        t0 = time.monotonic()
        try:
            out = fn(r)
            r.status = "SKIP" if out == "skip" else "pass"
        except Failure as e:
            r.status = "FAIL"
            r.note = str(e).splitlines()[0][:160]
            say(f"scenario {name}: FAILED: {e}")
            self.dump_logs()
        r.seconds = time.monotonic() - t0
        if self.deployed:
            try:
                b1 = self.bytes_now()
                # A restarted node counts from 0 again: then its count since the restart.
                d = [b1[n] - b0[n] if b1[n] >= b0.get(n, 0) else b1[n] for n in b1 if n in b0]
                if d:
                    r.kb_per_board = sum(d) / len(d) / 1024
            except Failure:
                pass
        say(f"scenario {name}: {r.status} in {r.seconds:.0f}s" + (f" ({r.note})" if r.note else ""))

    def dump_logs(self) -> None:
        for h in self.t.hosts:
            if self.t.sim:
                p = STATE / "boards" / h.name / "upper" / "var" / "log" / "scalesmall" / "node.log"
                text = p.read_text(errors="replace") if p.exists() else "(no node.log)"
            else:
                text = self.t.sh(h, "tail -n 15 /var/log/scalesmall/node.log 2>/dev/null || "
                                    "journalctl -u scalesmall -n 15 --no-pager", timeout=20).stdout
            say(f"--- {h.name}: end of node.log\n" + "\n".join(text.splitlines()[-15:]))

    # 0. check mode on the fresh boards: it must pass (no key generated yet,
    # every handler notified, the restart included, which must not wait for
    # a node) and change nothing on the boards or the controller.
    def s_check_mode(self, r: Result) -> None:
        t = self.t
        secrets = t.inventory.parent / "scalesmall-secrets"
        had_secrets = secrets.exists()
        before = t.on_all(lambda h: t.sh(h, "ls -d /etc/scalesmall/scalesmall.toml 2>/dev/null || true"))
        t0 = time.monotonic()
        recap = t.playbook("site.yml", "check-mode.log", args=["--check", "--diff"], timeout=300)
        r.note = f"site.yml --check --diff {time.monotonic() - t0:.0f}s"
        if len(recap) != len(t.hosts):
            raise Failure(f"recap lists {len(recap)} hosts, expected {len(t.hosts)}")
        if not had_secrets and secrets.exists():
            raise Failure(f"check mode created {secrets} on the controller")
        after = t.on_all(lambda h: t.sh(h, "ls -d /etc/scalesmall/scalesmall.toml 2>/dev/null || true"))
        wrote = [n for n in after if after[n].stdout != before[n].stdout]
        if wrote:
            raise Failure(f"check mode wrote scalesmall.toml on {wrote}")
        r.note += f"; changed {sum(v['changed'] for v in recap.values())} tasks, wrote nothing"

    # 1. deploy + converge
    def s_converge(self, r: Result) -> None:
        t = self.t
        t0 = time.monotonic()
        if self.skip_deploy:
            r.note = "no site.yml (--skip-deploy)"
        else:
            t.playbook("site.yml", "site-1.log", timeout=480)
            r.note = f"site.yml {time.monotonic() - t0:.0f}s"
        self.deployed = True
        self.leave_test_group()
        r.converge = wait_agreement(t, self.exp, 180, what="converged after deploy")
        snaps = snapshot_all(t)
        arches = {n: s.status.get("arch") for n, s in snaps.items()}
        if t.sim:
            wrong = [f"{h.name}={arches[h.name]} (expected {h.arch})" for h in t.hosts if arches[h.name] != h.arch]
            if wrong:
                raise Failure("arch in status: " + ", ".join(wrong))
            lone = [h for h in t.hosts if h.board and h.board.subnet == 3]
            r.note += f"; arch {'/'.join(sorted(set(arches.values())))}; lone board {lone[0].name} included"
        else:
            r.note += f"; arch {'/'.join(sorted(set(map(str, arches.values()))))}"

    def leave_test_group(self, rejoin: bool = True) -> None:
        """Retracts what an earlier run wrote in clustertest (real boards keep
        it), then (with `rejoin`) joins it again on every board: only members
        hold a group (interest, ALGORITHM.md 8.6), and every board's view is
        compared."""
        cmd = f"scalesmall leave {TEST}; rc=$?; [ $rc -eq 0 ] || [ $rc -eq 4 ] || exit $rc"
        if rejoin:
            cmd += f"; scalesmall join {TEST}"
        res = self.t.on_all(lambda h: self.t.sh(h, cmd, timeout=30))
        bad = {n: (cp.stderr or cp.stdout).strip()[-200:] for n, cp in res.items() if cp.returncode != 0}
        if bad:
            raise Failure(f"scalesmall leave/join {TEST}: {bad}")

    # 2. second site.yml: changed=0
    def s_rerun(self, r: Result) -> None:
        recap = self.t.playbook("site.yml", "site-2.log", timeout=480)
        changed = {h: v["changed"] for h, v in recap.items() if v["changed"] or v["failed"] or v["unreachable"]}
        if len(recap) != len(self.t.hosts):
            raise Failure(f"recap lists {len(recap)} hosts, expected {len(self.t.hosts)}")
        if changed:
            raise Failure(f"second site.yml changed something: {changed} (see {self.t.workdir}/logs/site-2.log)")
        r.note = "changed=0 on every board"

    def cut_power(self, victim: Host) -> list[str] | None:
        """Kills the board's supervisor and node with SIGKILL (a power cut
        for the node); returns their PIDs, or None on a real board without
        the daemon supervisor's PID files."""
        t = self.t
        cp = t.sh(victim, f"cat {RUN_DIR}/supervise.pid {RUN_DIR}/node.pid")
        pids = cp.stdout.split()
        if cp.returncode != 0 or len(pids) != 2:
            if not t.sim:
                return None
            raise Failure(f"{victim.name}: cannot read the supervisor's and node's PID files: {cp.stderr.strip()}")
        if t.sim:
            for pid in map(int, pids):
                ns = cluster.netns_of(pid)
                if ns != victim.board.ns:
                    raise Failure(f"PID {pid} from {victim.name}'s PID files runs in namespace {ns}, not {victim.board.ns}")
            for pid in map(int, pids):
                os.kill(pid, 9)
        else:
            kc = t.sh(victim, f"kill -9 {pids[0]} {pids[1]}")
            if kc.returncode != 0:
                raise Failure(f"kill -9 on {victim.name}: {kc.stderr.strip()}")
        return pids

    # 3. power cut
    def s_power_cut(self, r: Result) -> str | None:
        t = self.t
        victim = next((h for h in t.hosts if h.board and h.board.subnet == 3), t.hosts[-1])
        others = [h for h in t.hosts if h is not victim]
        before = snapshot(t, victim)
        if before.error:
            raise Failure(f"{victim.name}: {before.error}")
        vid, inc0, clock0 = before.status["id"], before.status["incarnation"], before.status["clock"]
        pids = self.cut_power(victim)
        if pids is None:
            r.note = "no daemon-supervisor PID files on the board (systemd): cut its power by hand"
            return "skip"
        say(f"  power cut: killed supervisor {pids[0]} and node {pids[1]} on {victim.name} (node {vid})")
        t_cut = time.monotonic()

        def all_see_down():
            snaps = snapshot_all(t, others)
            states = {n: {p["id"]: p["state"] for p in s.peers}.get(vid) for n, s in snaps.items()}
            return all(v == "down" for v in states.values()) or None

        if not cluster.wait_until(all_see_down, 120, 1.0):
            snaps = snapshot_all(t, others)
            states = {n: {p["id"]: p["state"] for p in s.peers}.get(vid) for n, s in snaps.items()}
            raise Failure(f"not every board reported {victim.name} down within 120s: {states}")
        t_down = time.monotonic() - t_cut
        say(f"  every other board reports {victim.name} down after {t_down:.1f}s")
        cp = t.sh(victim, "/opt/scalesmall/daemon.sh start", timeout=60)
        if cp.returncode != 0:
            raise Failure(f"{victim.name}: daemon.sh start: {(cp.stderr or cp.stdout).strip()}")
        t_start = time.monotonic()

        def back():
            s = snapshot(t, victim)
            return s if not s.error and s.status.get("incarnation", 0) > inc0 else None

        s = cluster.wait_until(back, 60, 0.5)
        if not s:
            raise Failure(f"{victim.name} did not come back with a new incarnation within 60s")
        mine = s.live(DEMO, vid)
        if t.sim and {x[1:] for x in mine} != self.exp.demo[victim.name]:
            raise Failure(f"{victim.name} came back without its claims: {mine}")
        # A write after the restart gets a clock above every clock before it.
        rng = self.exp.new_range()
        if not self.exp.claim(t, victim, rng):
            raise Failure(f"{victim.name}: claim after the restart failed")
        s2 = snapshot(t, victim)
        new_clock = max((i[7] for i in s2.topo.get(TEST, ()) if i[0] == vid and i[3] == rng[0]), default=0)
        if new_clock <= clock0:
            raise Failure(f"{victim.name}: the write after the restart has clock {new_clock}, not above {clock0}")
        r.converge = wait_agreement(t, self.exp, 120, what=f"all agree with {victim.name} back")
        r.converge += time.monotonic() - t_start - r.converge  # from the restart
        r.note = (f"{victim.name}: down seen by all after {t_down:.0f}s; incarnation {inc0}->{s.status['incarnation']}, "
                  f"clock {clock0}->{new_clock}")

    # 3b. power cut with auto mode on
    def s_auto_power_cut(self, r: Result) -> str | None:
        """Every board in auto mode for AUTO (R = 2): the key space is covered
        twice; the lone board loses power past the hold-down; the others pick
        up its ranges (coverage 2 among the living, in every survivor's view);
        it returns and gets its share back, the stand-ins release (exactly
        2 copies of every key again, no surplus)."""
        t = self.t
        victim = next((h for h in t.hosts if h.board and h.board.subnet == 3), t.hosts[-1])
        others = [h for h in t.hosts if h is not victim]
        res = t.on_all(lambda h: t.sh(h, f"scalesmall claim {AUTO} --auto --port 9", timeout=30))
        bad = {n: (cp.stderr or cp.stdout).strip()[-200:] for n, cp in res.items() if cp.returncode != 0}
        if bad:
            raise Failure(f"scalesmall claim {AUTO} --auto: {bad}")
        try:
            t0 = time.monotonic()
            ids, views = self.auto_settled(t.hosts, set(), "every board in auto mode", 180)
            t_boot = time.monotonic() - t0
            vid = ids[victim.name]
            share0 = keys_held(next(iter(views.values())), vid)
            if self.cut_power(victim) is None:
                r.note = "no daemon-supervisor PID files on the board (systemd): cut its power by hand"
                return "skip"
            say(f"  auto power cut: {victim.name} (node {vid}) held {share0 / 2**32:.0%} of the keys")
            t_cut = time.monotonic()
            self.auto_settled(others, {vid}, f"{victim.name}'s ranges picked up by the others", 240)
            t_taken = time.monotonic() - t_cut
            cp = t.sh(victim, "/opt/scalesmall/daemon.sh start", timeout=60)
            if cp.returncode != 0:
                raise Failure(f"{victim.name}: daemon.sh start: {(cp.stderr or cp.stdout).strip()}")
            t_start = time.monotonic()
            ids, views = self.auto_settled(t.hosts, set(), f"{victim.name}'s share handed back", 180,
                                           need=vid)
            t_back = time.monotonic() - t_start
            share1 = keys_held(next(iter(views.values())), vid)
            r.converge = t_back
            r.note = (f"R=2 in {t_boot:.0f}s; {victim.name} ({share0 / 2**32:.0%} of keys) cut: "
                      f"picked up after {t_taken:.0f}s (hold-down {AUTO_HOLD_DOWN}s); back with "
                      f"{share1 / 2**32:.0%} after {t_back:.0f}s, no surplus")
        finally:
            t.on_all(lambda h: t.sh(h, f"scalesmall leave {AUTO}", timeout=30))

    def auto_settled(self, hosts: list[Host], dead: set, what: str, bound: float,
                     need: str | None = None) -> tuple[dict, dict]:
        """Polls until every board of `hosts` sees the same AUTO topology in
        which the auto members not in `dead` hold every key exactly twice
        (and `need`, if given, holds some); returns (ids, views)."""
        t = self.t
        t0 = time.monotonic()
        why = "not checked yet"
        while time.monotonic() - t0 <= bound:
            snaps = snapshot_all(t, hosts)
            ids = {n: s.status.get("id") for n, s in snaps.items()}
            res = t.on_all(lambda h: t.sh(h, f"scalesmall topology {AUTO} --json", timeout=20), hosts)
            views = {}
            for n, cp in res.items():
                try:
                    views[n] = frozenset((i["node"], i["kind"], i["start"], i["end"])
                                         for i in json.loads(cp.stdout).get("items", []) if i["op"] != "rmv")
                except ValueError:
                    views[n] = None
            why = auto_why(views, ids, dead, need)
            if why is None:
                say(f"  {what}: after {time.monotonic() - t0:.1f}s")
                return ids, views
            time.sleep(1.0)
        raise Failure(f"{what}: not within {bound:.0f}s: {why}")

    # 4. partition
    def s_partition(self, r: Result) -> None:
        t = self.t
        sides = [[h for h in t.hosts if h.board.subnet == s] for s in (1, 2, 3)]
        cut_router(t)
        try:
            say("  router cut: no forwarding between the subnets")
            writes = {}
            for side in sides:
                rng = self.exp.new_range()
                if not self.exp.claim(t, side[0], rng):
                    raise Failure(f"{side[0].name}: claim during the partition failed")
                writes[side[0].name] = rng
            # Each side converges inside: every board of a side holds the
            # side's write and none of the others'.
            t0 = time.monotonic()
            for side in sides:
                names = {h.name for h in side}

                def side_ok(side=side, names=names):
                    snaps = snapshot_all(t, side)
                    if any(s.error for s in snaps.values()):
                        return None
                    views = {n: s.topo[TEST] for n, s in snaps.items()}
                    if len(set(views.values())) != 1:
                        return None
                    held = {(i[3], i[4]) for i in next(iter(views.values())) if i[1] == "add"}
                    for w, rng in writes.items():
                        if (rng in held) != (w in names):
                            return None
                    return True

                if not cluster.wait_until(side_ok, 90, 1.0):
                    raise Failure(f"side {sorted(names)} did not converge inside within 90s")
            inside = time.monotonic() - t0
            say(f"  every side converged inside after {inside:.1f}s")
        finally:
            heal_router(t)
        say("  router healed")
        r.converge = wait_agreement(t, self.exp, 180, what="all agree after healing")
        r.note = f"3 sides converged inside in {inside:.0f}s; nothing lost after healing"

    # 5. lossy network
    def s_lossy(self, r: Result) -> None:
        t = self.t
        add_loss(t)
        counts = {}
        try:
            say(f"  nftables on every switch: {LOSS_PCT}% dropped, {DUP_PCT}% duplicated per receiver")
            writers = [t.hosts[0], t.hosts[len(t.hosts) // 2], t.hosts[-1]]
            for h in writers:
                rng = self.exp.new_range()
                if not self.exp.claim(t, h, rng, timeout=30):
                    raise Failure(f"{h.name}: claim on the lossy network failed")
            r.converge = wait_agreement(t, self.exp, 180, what="all agree on the lossy network")
        finally:
            counts = remove_loss(t)
        if counts.get("drop", 0) == 0 or counts.get("dup", 0) == 0:
            raise Failure(f"the loss rules did not act (counters {counts})")
        r.note = f"{counts.get('drop', 0)} frames dropped, {counts.get('dup', 0)} duplicated"

    # 6. rolling upgrade
    def s_upgrade(self, r: Result) -> str | None:
        t = self.t
        new = self.upgrade_dist
        if new is None:
            if not t.sim:
                r.note = "give --upgrade-dist DIR (a second build) to upgrade real boards"
                return "skip"
            new = t.workdir / "dist-upgrade"
            if not (new / "SHA256SUMS").exists():
                say("  building the upgrade: deploy/build-arm --profile cluster-upgrade (no LTO)")
                t0 = time.monotonic()
                cp = run_cmd([str(ROOT / "deploy" / "build-arm"), "--profile", "cluster-upgrade",
                              "--out-dir", str(new)], timeout=900, out_path=t.workdir / "logs" / "build-upgrade.log")
                if cp.returncode != 0:
                    raise Failure(f"deploy/build-arm --profile cluster-upgrade failed; see {t.workdir}/logs/build-upgrade.log")
                say(f"  built in {time.monotonic() - t0:.0f}s")
        sums = (new / "SHA256SUMS").read_text()
        want = {line.split()[1].lstrip("*").rsplit("-", 1)[1]: line.split()[0] for line in sums.splitlines() if line.strip()}
        # The inventory's dist dir now holds the new build.
        for f in self.dist.iterdir():
            f.unlink()
        for f in new.iterdir():
            if f.name.startswith("scalesmall-") or f.name == "SHA256SUMS":
                shutil.copy2(f, self.dist / f.name)
        churn, watch = Churn(t, self.exp, t.hosts), Watch(t)
        r.note = self.playbook_under_churn(churn, watch, "upgrade.yml", "upgrade.log", [], 900)
        t1 = time.monotonic()
        r.converge = wait_agreement(t, self.exp, 120, what="all agree after the upgrade")
        r.converge = time.monotonic() - t1
        got = t.on_all(lambda h: t.sh(h, "sha256sum /opt/scalesmall/bin/scalesmall").stdout.split()[:1])
        arch_of = {h.name: (h.board.arch if h.board else None) for h in t.hosts}
        old = [n for n, s in got.items() if not s or (arch_of[n] and s[0] != want.get(arch_of[n]))]
        if old:
            raise Failure(f"not running the new binary: {old}")
        if watch.max_down > 1:
            raise Failure(f"{watch.max_down} boards were down at once (seen down: {sorted(watch.down_seen)})")
        r.note += f"; at most {watch.max_down} board down at a time"

    def playbook_under_churn(self, churn, watch, playbook: str, log: str, args: list[str],
                             timeout: float) -> str:
        """Runs a playbook while `churn` writes and `watch` counts boards
        down; stops both whatever happens. Returns the note's first part."""
        churn.start()
        watch.start()
        t0 = time.monotonic()
        try:
            self.t.playbook(playbook, log, args=args, timeout=timeout)
        finally:
            churn.stop.set()
            watch.stop.set()
            churn.join(30)
            watch.join(30)
        return f"{playbook} {time.monotonic() - t0:.0f}s; {churn.ok} writes during it ({churn.failed} refused)"

    # 7. key rotation, without restarts (`scalesmall keys`)
    def s_rotate(self, r: Result) -> None:
        t = self.t
        keyf = t.inventory.parent / "scalesmall-secrets" / "cluster.key"
        old = keyf.read_text().strip() if keyf.exists() else None
        before = KeyWatch(t, "").view(t.hosts[0])
        if not before:
            raise Failure(f"{t.hosts[0].name}: `scalesmall keys list --json` did not answer")
        churn, watch, keys = Churn(t, self.exp, t.hosts), Watch(t), KeyWatch(t, before["primary"])
        keys.start()
        try:
            r.note = self.playbook_under_churn(churn, watch, "rotate-key.yml", "rotate.log", [], 600)
        finally:
            keys.stop.set()
            keys.join(30)
        t1 = time.monotonic()
        wait_agreement(t, self.exp, 120, what="all agree after the rotation")
        r.converge = time.monotonic() - t1
        switch = keys.seconds()
        if switch is None:
            raise Failure(f"the boards never all sent with one new key (old {before['primary']})")
        say(f"  every board on the new key {keys.new} {switch:.1f}s after the first one switched")
        if switch > 30:
            raise Failure(f"every board on the new key only after {switch:.0f}s (target 30 s)")
        if keyf.exists():
            new = keyf.read_text().strip()
            if new == old:
                raise Failure("the controller's cluster.key did not change")
            want = hashlib.sha256(new.encode()).hexdigest()
            got = t.on_all(lambda h: t.sh(h, "tr -d '\\n' </etc/scalesmall/cluster.key | sha256sum").stdout.split()[:1])
            stale = [n for n, s in got.items() if s != [want]]
            if stale:
                raise Failure(f"boards without the new key in cluster.key: {stale}")
        after = t.on_all(keys.view)
        off = [n for n, v in after.items() if not v or v["primary"] != keys.new or v["source"] != "config"
               or v["accepted"] != [keys.new]]
        if off:
            raise Failure(f"boards not on the new key alone from their config (keys list): {off}")
        if watch.max_down > 0:
            raise Failure(f"{watch.max_down} board(s) down during the rotation (seen down: {sorted(watch.down_seen)})")
        r.note += f"; every board on the new key {switch:.0f}s after the first; no board down"

    def run_all(self, only: list[str] | None) -> None:
        import long_partition as lp  # it builds on this module

        ROUTER_ONLY = "needs control of the router (simulated cluster only)"
        plan = [
            ("check-mode", self.s_check_mode, None, False),
            ("converge", self.s_converge, None, False),
            ("rerun", self.s_rerun, None, True),
            # After rerun the boards have been up about 60 s (the late cut's
            # moment) and have seen no fault yet.
            ("long-partition-late", lambda r: lp.late(self, r), ROUTER_ONLY, True),
            ("long-partition-early", lambda r: lp.early(self, r), ROUTER_ONLY, True),
            ("power-cut", self.s_power_cut, None, True),
            ("auto-power-cut", self.s_auto_power_cut, None, True),
            ("partition", self.s_partition, ROUTER_ONLY, True),
            ("lossy", self.s_lossy, "needs nftables on the switches (simulated cluster only)", True),
            ("upgrade", self.s_upgrade, None, True),
            ("rotate-key", self.s_rotate, None, True),
        ]
        for name, fn, needs_sim, needs_deploy in plan:
            family = name.rsplit("-", 1)[0] if name.startswith("long-partition-") else name
            if only and name not in only and family not in only and name != "converge":
                continue
            self.scenario(name, fn, needs_sim, needs_deploy)
        if self.deployed:
            try:
                self.leave_test_group(rejoin=False)  # leave real boards as they were
            except Failure as e:
                say(f"cleanup: {e}")

    def table(self) -> str:
        rows = [("scenario", "boards", "converged after", "wire KiB/board", "time", "result", "notes")]
        for r in self.results:
            rows.append((r.name, str(r.boards), "-" if r.converge is None else f"{r.converge:.1f} s",
                         "-" if r.kb_per_board is None else f"{r.kb_per_board:.0f}",
                         f"{r.seconds:.0f} s", r.status, r.note))
        out = ["| " + " | ".join(rows[0]) + " |", "|" + "|".join("---" for _ in rows[0]) + "|"]
        out += ["| " + " | ".join(x.replace("|", "/") for x in row) + " |" for row in rows[1:]]
        return "\n".join(out)
