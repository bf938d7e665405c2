#!/usr/bin/env python3
"""Plots the simulator's convergence curves as one SVG, with no dependencies.

    cargo run --release --bin sim -- curve --seed 7 > docs/sim-curve.csv
    python3 docs/plot_sim.py docs/sim-curve.csv docs/sim-convergence.svg

Input: the CSV that `sim curve` prints (axis, x, seed, converge_p50_ms,
converge_max_ms, idle_bytes_per_node). Output: two panels, the time a single
write takes to reach every node versus the number of nodes (log scale) and
versus the datagram loss rate.
"""

import csv
import math
import sys

W, H = 980, 380
PANEL_W, PANEL_H = 360, 250
MARGIN_L, MARGIN_T = 70, 50


def read(path):
    rows = {"nodes": [], "loss": []}
    with open(path, newline="") as f:
        for r in csv.DictReader(f):
            if r.get("axis") in rows:
                rows[r["axis"]].append(
                    (float(r["x"]), float(r["converge_p50_ms"]), float(r["converge_max_ms"]))
                )
    for v in rows.values():
        v.sort()
    return rows


def nice_max(v):
    if v <= 0:
        return 1.0
    mag = 10 ** math.floor(math.log10(v))
    for m in (1, 2, 5, 10):
        if v <= m * mag:
            return m * mag
    return 10 * mag


def panel(ox, oy, title, xlabel, points, xs_log, xfmt):
    out = []
    if not points:
        return out
    xs = [p[0] for p in points]
    ymax = nice_max(max(p[2] for p in points) * 1.1)
    if xs_log:
        lo, hi = math.log10(min(xs)), math.log10(max(xs))
        fx = lambda x: ox + (math.log10(x) - lo) / max(hi - lo, 1e-9) * PANEL_W
    else:
        lo, hi = min(xs), max(xs)
        fx = lambda x: ox + (x - lo) / max(hi - lo, 1e-9) * PANEL_W
    fy = lambda y: oy + PANEL_H - y / ymax * PANEL_H
    out.append(f'<text x="{ox + PANEL_W / 2}" y="{oy - 18}" text-anchor="middle" font-weight="bold">{title}</text>')
    out.append(f'<rect x="{ox}" y="{oy}" width="{PANEL_W}" height="{PANEL_H}" fill="none" stroke="#999"/>')
    for k in range(5):
        y = ymax * k / 4
        out.append(f'<line x1="{ox}" x2="{ox + PANEL_W}" y1="{fy(y):.1f}" y2="{fy(y):.1f}" stroke="#eee"/>')
        out.append(f'<text x="{ox - 6}" y="{fy(y) + 4:.1f}" text-anchor="end" font-size="11">{y:g}</text>')
    for x in xs:
        out.append(f'<text x="{fx(x):.1f}" y="{oy + PANEL_H + 16}" text-anchor="middle" font-size="11">{xfmt(x)}</text>')
    out.append(f'<text x="{ox + PANEL_W / 2}" y="{oy + PANEL_H + 34}" text-anchor="middle" font-size="12">{xlabel}</text>')
    out.append(
        f'<text x="{ox - 48}" y="{oy + PANEL_H / 2}" text-anchor="middle" font-size="12" '
        f'transform="rotate(-90 {ox - 48} {oy + PANEL_H / 2})">ms until every node has it</text>'
    )
    for idx, color, name in ((2, "#d62728", "max"), (1, "#1f77b4", "median")):
        pts = " ".join(f"{fx(p[0]):.1f},{fy(p[idx]):.1f}" for p in points)
        out.append(f'<polyline points="{pts}" fill="none" stroke="{color}" stroke-width="2"/>')
        for p in points:
            out.append(f'<circle cx="{fx(p[0]):.1f}" cy="{fy(p[idx]):.1f}" r="3" fill="{color}"/>')
        lx = ox + 10 + (0 if idx == 1 else 90)
        out.append(f'<rect x="{lx}" y="{oy + 8}" width="12" height="3" fill="{color}"/>')
        out.append(f'<text x="{lx + 16}" y="{oy + 13}" font-size="11">{name}</text>')
    return out


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    rows = read(sys.argv[1])
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" font-family="sans-serif">',
        f'<rect width="{W}" height="{H}" fill="white"/>',
    ]
    parts += panel(MARGIN_L, MARGIN_T, "A write reaching every node, vs nodes (no loss)", "nodes (log scale; N/32 subnets, at most 32)", rows["nodes"], True, lambda x: f"{int(x)}")
    parts += panel(MARGIN_L + PANEL_W + 110, MARGIN_T, "... vs datagram loss (100 nodes, 4 subnets)", "loss rate", rows["loss"], False, lambda x: f"{x * 100:g}%")
    parts.append("</svg>")
    with open(sys.argv[2], "w") as f:
        f.write("\n".join(parts) + "\n")


if __name__ == "__main__":
    main()
