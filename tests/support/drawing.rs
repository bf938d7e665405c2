//! Checks of what the status page *draws*, for `tests/status_page.rs`: the
//! replication depth per key computed from the topology API, the page's
//! depth runs and claim runs against it, screenshot pixels of the band
//! classified by the page's own depth colours (read from `page.html` by
//! `scalesmall::control::palette`), and the boxes of the labels against
//! the band.

use std::collections::BTreeMap;

use scalesmall::control::palette::{self, Rgb};
use serde_json::Value;

use super::browser::Browser;

pub const MAX: u64 = 0xffff_ffff;
const KEYS: f64 = 4_294_967_296.0;

fn u(v: &Value) -> u64 {
    v.as_u64().unwrap_or(u64::MAX)
}

/// Each node's live claims in a topology document, merged into maximal
/// runs of adjacent or overlapping ranges: node -> `(start, end, claims)`.
pub fn claim_runs(topology: &Value) -> BTreeMap<String, Vec<(u64, u64, u64)>> {
    let mut per: BTreeMap<String, Vec<(u64, u64)>> = BTreeMap::new();
    for i in topology["items"].as_array().into_iter().flatten() {
        if i["op"] == "add" && i["kind"] == "serve" {
            let node = i["node"].as_str().unwrap_or_default().to_owned();
            per.entry(node)
                .or_default()
                .push((u(&i["start"]), u(&i["end"])));
        }
    }
    per.into_iter()
        .map(|(node, mut rs)| {
            rs.sort_unstable();
            let mut runs: Vec<(u64, u64, u64)> = Vec::new();
            for (s, e) in rs {
                match runs.last_mut() {
                    Some(last) if s <= last.1.saturating_add(1) => {
                        last.1 = last.1.max(e);
                        last.2 += 1;
                    }
                    _ => runs.push((s, e, 1)),
                }
            }
            (node, runs)
        })
        .collect()
}

/// The replication depth of every key (the number of nodes with a live
/// claim on it), as parts `(start, end, depth)` tiling the key space,
/// neighbours differing.
pub fn depth_parts(topology: &Value) -> Vec<(u64, u64, usize)> {
    let mut edges: BTreeMap<u64, i64> = BTreeMap::new();
    for runs in claim_runs(topology).values() {
        for (s, e, _) in runs {
            *edges.entry(*s).or_default() += 1;
            *edges.entry(e + 1).or_default() -= 1;
        }
    }
    let mut parts: Vec<(u64, u64, usize)> = Vec::new();
    let (mut at, mut prev) = (0i64, 0u64);
    for k in edges.keys().copied().chain([MAX + 1]) {
        if k > prev {
            let d = usize::try_from(at).unwrap_or(0);
            match parts.last_mut() {
                Some(last) if last.2 == d => last.1 = k - 1,
                _ => parts.push((prev, k - 1, d)),
            }
        }
        at += edges.get(&k).copied().unwrap_or(0);
        prev = k;
    }
    parts
}

/// The depth of `key` in `parts`.
pub fn depth_at(parts: &[(u64, u64, usize)], key: u64) -> usize {
    let i = parts.partition_point(|p| p.1 < key);
    parts.get(i).map_or(0, |p| p.2)
}

/// Checks the drawn depth runs (`drawn["runs"]`) against the API's depth:
/// they tile the key space in order, neighbours differ in depth or live
/// count (else they would be one run), and every key of a run has the
/// run's depth in `api`. Returns the runs as `(start, end, depth, alive)`.
pub fn check_runs(drawn: &Value, api: &[(u64, u64, usize)]) -> Vec<(u64, u64, u64, u64)> {
    let runs: Vec<(u64, u64, u64, u64)> = drawn["runs"]
        .as_array()
        .expect("runs drawn")
        .iter()
        .map(|r| (u(&r["start"]), u(&r["end"]), u(&r["depth"]), u(&r["alive"])))
        .collect();
    assert!(!runs.is_empty(), "no depth run drawn");
    let mut next = 0;
    for (i, &(start, end, depth, alive)) in runs.iter().enumerate() {
        assert_eq!(start, next, "the runs tile the key space: {runs:?}");
        assert!(start <= end && end <= MAX, "{runs:?}");
        if i > 0 {
            let (_, _, d0, a0) = runs[i - 1];
            assert!(
                (d0, a0) != (depth, alive),
                "neighbouring runs that look alike are one run: {runs:?}"
            );
        }
        let first = api.partition_point(|p| p.1 < start);
        for p in api[first..].iter().take_while(|p| p.0 <= end) {
            assert_eq!(
                p.2 as u64, depth,
                "the API says keys {:#x}..{:#x} have depth {}, the page draws {start:#x}..{end:#x} at depth {depth}",
                p.0, p.1, p.2
            );
        }
        next = end + 1;
    }
    assert_eq!(next, MAX + 1, "the runs reach the last key");
    runs
}

/// What the band's pixels say.
#[derive(Debug, Default)]
pub struct Pixels {
    /// Pixels compared (away from a change of depth).
    pub sampled: usize,
    /// Of those, pixels whose colour is the API's depth.
    pub matched: usize,
    /// Pixels compared, by the API's depth (3 = 3 or more).
    pub by_depth: BTreeMap<usize, usize>,
    /// The first mismatches, described.
    pub mismatches: Vec<String>,
}

/// The depth class (0 uncovered, 1, 2, 3 = 3 or more) of a pixel: the
/// nearest (ΔE) of the page's depth colours and the hatch's dark stroke.
fn class_of(px: [u8; 3], depths: &[Rgb]) -> usize {
    let c = Rgb(px[0], px[1], px[2]);
    let hatch = Rgb(0xb3, 0x59, 0x00);
    let mut best = (c.delta_e76(hatch), 0);
    for (i, d) in depths.iter().enumerate() {
        let e = c.delta_e76(*d);
        if e < best.0 {
            best = (e, i);
        }
    }
    best.1
}

/// Samples one pixel row across the depth band of a screenshot and
/// compares each pixel's colour with the API's depth at the keys it shows
/// (every board alive, so no key is hatched for having no live server).
/// Pixels within 2 px of a change of depth in `api` or of the band's ends
/// are skipped (the page widens runs narrower than 1.5 units; edges are
/// anti-aliased).
pub fn sample_band(b: &Browser, api: &[(u64, u64, usize)]) -> Pixels {
    // The band's ends are the first and last axis lines (keys 0 and
    // 2^32); the row is 2.5 units into the band's 20-unit height, above
    // the depth digits.
    let geo = b.eval(
        r"
        const band = document.getElementById('band');
        const run = band.querySelector('rect.run');
        const xs = [...band.querySelectorAll(':scope > line')].map((l) => l.x1.baseVal.value);
        if (!run || xs.length < 2) return null;
        band.scrollIntoView({ block: 'start' });
        const m = band.getScreenCTM(), dpr = window.devicePixelRatio, y = run.y.baseVal.value + 2.5;
        const at = (x) => new DOMPoint(x, y).matrixTransform(m);
        const l = at(Math.min(...xs)), r = at(Math.max(...xs));
        return { left: l.x * dpr, right: r.x * dpr, row: Math.floor(l.y * dpr) };
        ",
    );
    let (left, right) = (geo["left"].as_f64(), geo["right"].as_f64());
    let (Some(left), Some(right), Some(row)) = (left, right, geo["row"].as_u64()) else {
        panic!("no band to sample: {geo}");
    };
    assert!(right - left > 100.0, "the band is {left}..{right} px");
    let png = b.screenshot_base64();
    // Two pixels in from either end: the band's own edges are
    // anti-aliased too.
    let from = left.ceil() as u32 + 2;
    let to = right.floor() as u32 - 2;
    let row = u32::try_from(row).unwrap_or(0);
    let px = b.pixels(&png, row, from, to);
    let depths = palette::depths();
    assert_eq!(depths.len(), 4, "the page's DEPTH colours");
    let key = |x: f64| ((x - left) / (right - left) * KEYS).clamp(0.0, KEYS - 1.0) as u64;
    let mut out = Pixels::default();
    for (i, p) in px.iter().enumerate() {
        let x = f64::from(from) + i as f64;
        let (lo, hi) = (key(x - 2.0), key(x + 3.0));
        let want = depth_at(api, lo);
        let first = api.partition_point(|q| q.1 < lo);
        if api[first..]
            .iter()
            .take_while(|q| q.0 <= hi)
            .any(|q| q.2 != want)
        {
            continue;
        }
        let (want, got) = (want.min(3), class_of(*p, &depths));
        out.sampled += 1;
        *out.by_depth.entry(want).or_default() += 1;
        if got == want {
            out.matched += 1;
        } else if out.mismatches.len() < 10 {
            out.mismatches.push(format!(
                "pixel {x} (key {:#x}): rgb{p:?} reads as depth {got}, the API says {want}",
                key(x + 0.5)
            ));
        }
    }
    out
}

/// The band's text boxes: every label left of the band (its right edge
/// before the key space's first axis line) and clear of every rectangle;
/// every text drawn inside a rectangle (`.inside`: depth digits, `p10`)
/// within that rectangle. Returns how many texts were checked and what
/// was wrong.
pub fn label_overlaps(b: &Browser) -> (u64, Vec<String>) {
    let v = b.eval(
        r"
        const band = document.getElementById('band');
        const box = (e) => { const b = e.getBBox(); return { x0: b.x, y0: b.y, x1: b.x + b.width, y1: b.y + b.height }; };
        const meet = (a, b) => a.x0 < b.x1 && b.x0 < a.x1 && a.y0 < b.y1 && b.y0 < a.y1;
        const within = (a, b) => a.x0 >= b.x0 && a.x1 <= b.x1 && a.y0 >= b.y0 && a.y1 <= b.y1;
        const shapes = [...band.querySelectorAll('rect.run, rect.claim, rect.claims')];
        const boxes = shapes.map(box);
        const left = Math.min(...[...band.querySelectorAll(':scope > line')].map((l) => l.x1.baseVal.value));
        const bad = [];
        let n = 0;
        for (const t of band.querySelectorAll('text')) {
          n += 1;
          const b = box(t), what = JSON.stringify(t.textContent) + ' at ' + [b.x0, b.y0, b.x1, b.y1].map((v) => v.toFixed(1)).join(',');
          if (t.classList.contains('inside')) {
            const r = t.previousElementSibling;
            if (!r || !shapes.includes(r) || !within(b, box(r))) bad.push(what + ' leaves the rectangle it labels');
            continue;
          }
          if (t.classList.contains('label') && b.x1 > left) bad.push(what + ' runs past the band\'s left edge ' + left);
          const i = boxes.findIndex((s) => meet(b, s));
          if (i >= 0) bad.push(what + ' overlaps ' + shapes[i].getAttribute('class') + ' from ' + shapes[i].dataset.start);
        }
        return { n, bad };
        ",
    );
    let bad = v["bad"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|s| s.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_else(|| vec![format!("no answer: {v}")]);
    (u(&v["n"]), bad)
}
