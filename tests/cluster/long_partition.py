"""The long-partition scenario of tests/cluster/run (issue 16, docs/cluster.md).

A cut that outlasts the failure detector's verdict: the router stops
forwarding to and from subnet 1, so the cluster has two sides (subnet 1, and
subnets 2 and 3, which still reach each other). The cut is held until every
board reports every board of the other side `down` (or never heard of it),
with a claim on every board right after the cut and another once the other
side is down everywhere; then it heals, and within HEAL_BOUND seconds every
board must hold the same topology with every write made on either side, and
see every other board alive.

Two variants, two rows of the table:

  * late: the cut starts LATE_AT seconds after boot (the youngest board's
    uptime; boards already up more than LATE_SLACK seconds longer are
    restarted first), in a cluster that has settled (every far peer alive);
  * early: every board's daemon is stopped and all are started again at
    once; the cut starts as soon as every board has heard of every other,
    and at the latest EARLY_WITHIN seconds after the last board's start
    (a cluster cut during boot).

Everything is checked with the CLI over ssh, and every wait polls a state
with a deadline (the late variant waits for a moment in time: LATE_AT).
"""

from __future__ import annotations

import json
import time
from concurrent.futures import wait as wait_futures

import scenarios as sc
from cluster import Failure

CUT_SUBNET = 1  # one side of the cut; the other is every other subnet
LATE_AT = 60.0  # s after boot: the late cut
LATE_SLACK = 30.0  # s: boards up longer than LATE_AT + this are restarted first
EARLY_WITHIN = 5.0  # s after the last board's start: the early cut at the latest
EARLY_LOOK = 4.0  # s the early cut waits for every board to know every other
HOLD_BOUND = 90.0  # s: every board reports the other side down
HEAL_BOUND = 30.0  # s after the heal: all agree, nothing lost (issue 16)
DAEMON = "/opt/scalesmall/daemon.sh"

Write = tuple[str, tuple[int, int]]  # (host that wrote, claimed range)


def sides(t: sc.Target) -> dict[str, list[sc.Host]]:
    """Host name -> the boards on the other side of the cut."""
    inside = [h for h in t.hosts if h.board.subnet == CUT_SUBNET]
    outside = [h for h in t.hosts if h.board.subnet != CUT_SUBNET]
    if not inside or not outside:
        raise Failure(f"the cut of subnet {CUT_SUBNET} leaves a side without boards")
    return {h.name: (outside if h in inside else inside) for h in t.hosts}


def late(runner: sc.Runner, r: sc.Result) -> None:
    """The cut LATE_AT s after the youngest board's start; boards older
    than LATE_AT + LATE_SLACK are restarted first."""
    t = runner.t
    ids_known(t)
    snaps = sc.snapshot_all(t)
    bad = [f"{n}: {s.error}" for n, s in snaps.items() if s.error]
    if bad:
        raise Failure("; ".join(bad))
    youngest = min(int(s.status.get("uptime_ms", 0)) for s in snaps.values()) / 1000
    t_boot = time.monotonic() - youngest
    if youngest > LATE_AT + LATE_SLACK:
        sc.say(f"  the boards have been up {youngest:.0f}s: restarting them for a cut at {LATE_AT:.0f}s")
        t_boot = restart_all(t)
    sc.wait_agreement(t, runner.exp, 60, what="all agree before the cut")
    left = t_boot + LATE_AT - time.monotonic()
    if left > 0:
        sc.say(f"  the cut comes {LATE_AT:.0f}s after the youngest board's start: in {left:.0f}s")
        time.sleep(left)
    sc.cut_subnet(t, CUT_SUBNET)
    t_cut = time.monotonic()
    at = t_cut - t_boot
    sc.say(f"  subnet {CUT_SUBNET} cut off {at:.1f}s after the youngest board's start")
    hold_and_heal(runner, r, t_cut, f"cut {at:.0f}s after boot")


def early(runner: sc.Runner, r: sc.Result) -> None:
    """Every daemon stopped, all started at once, the cut within
    EARLY_WITHIN s of the last start."""
    t = runner.t
    ids_known(t)
    t_last = restart_all(t)
    try:
        known = cut_early(t, t_last)
        t_cut = time.monotonic()
        delay = t_cut - t_last
        sc.say(f"  subnet {CUT_SUBNET} cut off {delay:.1f}s after the last board's start; {known}")
        if delay > EARLY_WITHIN:
            raise Failure(f"the cut came {delay:.1f}s after the last board's start, not within "
                          f"{EARLY_WITHIN:.0f}s (an overloaded machine?)")
    except BaseException:
        sc.heal_router(t)
        raise
    hold_and_heal(runner, r, t_cut, f"cut {delay:.1f}s after the last start ({known})")


def ids_known(t: sc.Target) -> None:
    """Every board's node id is known (from converge's snapshots; a node
    keeps its id across restarts)."""
    missing = [h.name for h in t.hosts if not t.ids.get(h.name)]
    if missing:
        raise Failure(f"node id unknown for {', '.join(missing)}")


def restart_all(t: sc.Target) -> float:
    """Stops every board's daemon, then starts all at once; returns when the
    last start returned (monotonic)."""
    stops = t.on_all(lambda h: t.sh(h, f"{DAEMON} stop", timeout=60))
    bad = {n: (cp.stderr or cp.stdout).strip()[-200:] for n, cp in stops.items() if cp.returncode != 0}
    if bad:
        raise Failure(f"{DAEMON} stop: {bad}")

    def start(h: sc.Host):
        cp = t.sh(h, f"{DAEMON} start", timeout=60)
        return cp, time.monotonic()

    starts = t.on_all(start)
    bad = {n: (cp.stderr or cp.stdout).strip()[-200:] for n, (cp, _) in starts.items() if cp.returncode != 0}
    if bad:
        raise Failure(f"{DAEMON} start: {bad}")
    t_first = min(ts for _, ts in starts.values())
    t_last = max(ts for _, ts in starts.values())
    sc.say(f"  every daemon stopped, all started again within {t_last - t_first:.1f}s")
    return t_last


def peer_states(t: sc.Target, h: sc.Host, timeout: float) -> dict[str, str] | None:
    """Peer id -> state in the board's view, or None without an answer."""
    cp = t.sh(h, "scalesmall peers --json", timeout=max(1.0, timeout))
    try:
        return {p["id"]: p["state"] for p in json.loads(cp.stdout).get("peers", [])}
    except (ValueError, KeyError, TypeError, AttributeError):
        return None


def cut_early(t: sc.Target, t_last: float) -> str:
    """Cuts as soon as every board has heard of every other, at the latest
    EARLY_LOOK s after t_last; returns how many far boards each knew at the
    last answer before the cut."""
    far = sides(t)
    deadline = t_last + EARLY_LOOK
    seen: dict[str, dict[str, str] | None] = {}
    while (left := deadline - time.monotonic()) > 0:
        futs = {h.name: t.pool.submit(peer_states, t, h, left) for h in t.hosts}
        done, _ = wait_futures(list(futs.values()), timeout=left)
        if len(done) < len(futs):
            break  # the deadline came first: cut now
        seen = {n: f.result() for n, f in futs.items()}
        if all(v is not None and all(t.ids[o] in v for o in t.ids if o != n) for n, v in seen.items()):
            break
        time.sleep(0.2)
    sc.cut_subnet(t, CUT_SUBNET)
    if not seen:
        return "no board had answered peers yet"
    parts = []
    for h in t.hosts:
        v = seen.get(h.name)
        knew = "?" if v is None else str(sum(1 for o in far[h.name] if t.ids[o.name] in v))
        parts.append(f"{h.name} knew {knew}/{len(far[h.name])}")
    return "far boards known at the cut: " + ", ".join(parts)


def write_everywhere(runner: sc.Runner, when: str) -> list[Write]:
    """A new claim in clustertest on every board at once."""
    t, exp = runner.t, runner.exp
    rngs = {h.name: exp.new_range() for h in t.hosts}
    ok = t.on_all(lambda h: exp.claim(t, h, rngs[h.name]))
    failed = sorted(n for n, v in ok.items() if not v)
    if failed:
        raise Failure(f"claim {when} failed on {', '.join(failed)}")
    return sorted(rngs.items())


def held(s: sc.Snap) -> set[tuple[int, int]]:
    return {(i[3], i[4]) for i in s.topo.get(sc.TEST, ()) if i[1] == "add"}


def split_why(t: sc.Target, snaps: dict[str, sc.Snap], far: dict, writes: list[Write]) -> str | None:
    """None once every board reports every far board down (or never heard
    of it) and holds its own side's writes. A far write held is a leak in
    the cut: Failure."""
    for h in t.hosts:
        s = snaps[h.name]
        if s.error:
            return f"{h.name}: {s.error}"
        states = {p["id"]: p["state"] for p in s.peers}
        up = [f"{o.name} {states[t.ids[o.name]]}" for o in far[h.name]
              if states.get(t.ids[o.name], "down") != "down"]
        if up:
            return f"{h.name} still sees {', '.join(up)}"
        mine = held(s)
        far_names = {o.name for o in far[h.name]}
        for w, rng in writes:
            if w in far_names and rng in mine:
                raise Failure(f"the cut leaks: {h.name} holds {w}'s write {rng[0]:#x} made during it")
            if w not in far_names and rng not in mine:
                return f"{h.name} lacks {w}'s write {rng[0]:#x} from its own side"
    return None


def wait_split(t: sc.Target, far: dict, writes: list[Write]) -> str:
    """Polls until split_why says the split is complete; returns which far
    boards were never heard of (by board)."""
    t0 = time.monotonic()
    while True:
        snaps = sc.snapshot_all(t)
        why = split_why(t, snaps, far, writes)
        if why is None:
            break
        if time.monotonic() - t0 > HOLD_BOUND:
            raise Failure(f"the other side not down everywhere within {HOLD_BOUND:.0f}s: {why}")
        time.sleep(1.0)
    unknown = []
    for h in t.hosts:
        ids = {p["id"] for p in snaps[h.name].peers}
        missing = [o.name for o in far[h.name] if t.ids[o.name] not in ids]
        if missing:
            unknown.append(f"{h.name} never heard of {','.join(missing)}")
    return "; ".join(unknown)


def hold_and_heal(runner: sc.Runner, r: sc.Result, t_cut: float, how: str) -> None:
    t = runner.t
    try:
        far = sides(t)
        writes = write_everywhere(runner, "during the cut")
        unknown = wait_split(t, far, writes)
        t_down = time.monotonic() - t_cut
        sc.say(f"  every board reports the other side down {t_down:.1f}s after the cut"
               + (f" ({unknown})" if unknown else ""))
        writes += write_everywhere(runner, "with the other side down")
    finally:
        sc.heal_router(t)
    held_for = time.monotonic() - t_cut
    sc.say(f"  healed after {held_for:.0f}s: the router forwards to subnet {CUT_SUBNET} again")
    try:
        r.converge = sc.wait_agreement(t, runner.exp, HEAL_BOUND, what="all agree after the heal")
    except Failure as e:
        raise Failure(f"{e}\n{diagnose(t, far, writes)}") from None
    r.note = (f"{how}; other side down everywhere {t_down:.0f}s after the cut"
              + (f" ({unknown})" if unknown else "")
              + f"; held {held_for:.0f}s; {len(writes)} writes, none lost")


def diagnose(t: sc.Target, far: dict, writes: list[Write]) -> str:
    """Per board: the writes of the scenario it lacks and its view of the far side."""
    snaps = sc.snapshot_all(t)
    lines = [f"after the heal (bound {HEAL_BOUND:.0f}s), per board:"]
    for h in t.hosts:
        s = snaps[h.name]
        if s.error:
            lines.append(f"  {h.name}: {s.error}")
            continue
        mine = held(s)
        lacks = [f"{w}:{rng[0]:#x}" for w, rng in writes if rng not in mine]
        states = {p["id"]: p["state"] for p in s.peers}
        view = ", ".join(f"{o.name}={states.get(t.ids[o.name], 'unknown')}" for o in far[h.name])
        lines.append(f"  {h.name} ({t.ids.get(h.name)}): lacks {len(lacks)} of {len(writes)} writes "
                     f"[{' '.join(lacks)}]; far side {view}; converged={s.status.get('converged')}")
    return "\n".join(lines)
