#!/usr/bin/env python3
"""Writes deploy/grafana/scalesmall.json, the Grafana dashboard for a
scalesmall cluster (docs/operations.md "Dashboard"). Edit the panels here,
run this script, commit both files; tests/metrics_contract.rs checks that
every metric the dashboard queries exists on a live node, and that the
committed JSON is what this script writes."""
import json
import pathlib

DS = {"type": "prometheus", "uid": "${datasource}"}
SEL = 'job=~"$job"'


def target(expr, legend, ref="A"):
    return {"datasource": DS, "expr": expr, "legendFormat": legend, "refId": ref}


def panel(pid, title, kind, x, y, w, h, targets, unit="short", desc="", extra=None):
    p = {
        "id": pid,
        "title": title,
        "description": desc,
        "type": kind,
        "datasource": DS,
        "gridPos": {"x": x, "y": y, "w": w, "h": h},
        "targets": [target(e, l, chr(65 + i)) for i, (e, l) in enumerate(targets)],
        "fieldConfig": {"defaults": {"unit": unit}, "overrides": []},
        "options": {},
    }
    if extra:
        p.update(extra)
    return p


def stat(pid, title, x, expr, desc, red_from=1):
    thresholds = {
        "mode": "absolute",
        "steps": [{"color": "green", "value": None}, {"color": "red", "value": red_from}],
    }
    p = panel(pid, title, "stat", x, 0, 4, 4, [(expr, "")], desc=desc)
    p["fieldConfig"]["defaults"]["thresholds"] = thresholds
    p["options"] = {"colorMode": "background", "reduceOptions": {"calcs": ["lastNotNull"]}}
    return p


def dashboard():
    panels = [
        stat(1, "Boards down", 0, f"max(scalesmall_peers{{{SEL},state=\"down\"}})",
             "The most boards any node sees down (its failure detector's verdict)."),
        stat(2, "Boards suspect", 4, f"max(scalesmall_peers{{{SEL},state=\"suspect\"}})",
             "Boards some node suspects: missed probes, not yet down."),
        stat(3, "Keys with no live server", 8,
             f"sum(max by (group) (scalesmall_group_uncovered_keys{{{SEL}}}))",
             "Keys whose lookup answers no live server, summed over groups."),
        stat(4, "Unreachable islands", 12, f"max(scalesmall_islands_unreachable{{{SEL}}})",
             "Multicast islands (subnets) all of whose boards are down in some node's view: a split."),
        stat(5, "Nodes not converged", 16, f"count(scalesmall_converged{{{SEL}}} == 0) or vector(0)",
             "Nodes whose group digests differ from a recent peer's."),
        stat(6, "Nodes scraped", 20, f"count(up{{{SEL}}} == 1)",
             "scalesmall nodes Prometheus reaches.", red_from=1e12),
        panel(7, "Peers by state (worst view)", "timeseries", 0, 4, 12, 8,
              [(f"max by (state) (scalesmall_peers{{{SEL}}})", "{{state}}")],
              desc="Per state, the largest count any node reports."),
        panel(8, "Group members by state", "timeseries", 12, 4, 12, 8,
              [(f"max by (group, state) (scalesmall_group_members{{{SEL}}})", "{{group}} {{state}}")],
              desc="Members of each group by liveness, in the worst node's view."),
        panel(9, "Keys with no live server, per group", "timeseries", 0, 12, 12, 8,
              [(f"max by (group) (scalesmall_group_uncovered_keys{{{SEL}}})", "{{group}}")],
              desc="Out of 4,294,967,296 keys."),
        panel(10, "Live replication depth", "timeseries", 12, 12, 12, 8,
              [(f"min by (group) (scalesmall_group_min_live_depth{{{SEL}}})", "{{group}} min depth"),
               (f"max by (group) (scalesmall_group_replication_target{{{SEL}}})", "{{group}} target R")],
              desc="The smallest number of live servers over any key, beside an auto group's R."),
        panel(11, "Auto share against fair share", "timeseries", 0, 20, 12, 8,
              [(f"scalesmall_group_auto_share_ratio{{{SEL}}}", "{{instance}} {{group}}")],
              desc="1 is this board's fair share of an auto group's keys (its weight's part of R copies)."),
        panel(12, "Traffic", "timeseries", 12, 20, 12, 8,
              [(f"sum by (instance) (rate(scalesmall_bytes_out_total{{{SEL}}}[5m]))", "{{instance}} out"),
               (f"sum by (instance) (rate(scalesmall_bytes_in_total{{{SEL}}}[5m]))", "{{instance}} in")],
              unit="Bps"),
        panel(13, "Frames dropped, by reason", "timeseries", 0, 28, 12, 8,
              [(f"sum by (reason) (rate(scalesmall_drops_total{{{SEL}}}[5m]))", "{{reason}}")],
              unit="ops", desc="auth_failed or unknown_key_id: a board with another key."),
        panel(14, "Resident memory", "timeseries", 12, 28, 6, 8,
              [(f"process_resident_memory_bytes{{{SEL}}}", "{{instance}}")], unit="bytes"),
        panel(15, "CPU", "timeseries", 18, 28, 6, 8,
              [(f"rate(process_cpu_seconds_total{{{SEL}}}[5m])", "{{instance}}")], unit="percentunit"),
        panel(16, "Versions", "table", 0, 36, 24, 6,
              [(f"scalesmall_build_info{{{SEL}}}", "")],
              desc="One row per node: version and architecture.",
              extra={"transformations": [{"id": "labelsToFields", "options": {}}]}),
    ]
    for p in panels:
        if p["targets"] and p["type"] == "table":
            p["targets"][0]["format"] = "table"
            p["targets"][0]["instant"] = True
    return {
        "title": "scalesmall",
        "uid": "scalesmall",
        "description": "A scalesmall board cluster: liveness, key coverage, traffic (deploy/grafana/generate.py).",
        "tags": ["scalesmall"],
        "timezone": "browser",
        "schemaVersion": 39,
        "version": 1,
        "editable": True,
        "refresh": "30s",
        "time": {"from": "now-6h", "to": "now"},
        "templating": {"list": [
            {"name": "datasource", "label": "Prometheus", "type": "datasource",
             "query": "prometheus", "current": {}, "hide": 0},
            {"name": "job", "label": "Job", "type": "query", "datasource": DS,
             "query": "label_values(scalesmall_build_info, job)", "refresh": 2,
             "current": {"text": "scalesmall", "value": "scalesmall"}, "includeAll": False, "hide": 0},
        ]},
        "annotations": {"list": []},
        "panels": panels,
    }


def main():
    out = pathlib.Path(__file__).with_name("scalesmall.json")
    out.write_text(json.dumps(dashboard(), indent=2) + "\n")


if __name__ == "__main__":
    main()
