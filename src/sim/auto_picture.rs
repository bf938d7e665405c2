//! A picture of the key space under auto-claim: a self-contained SVG with
//! one panel per moment of a run of [`super::auto`], one band per node
//! showing the ranges it serves along `0..=0xffff_ffff`, and a coverage
//! strip per panel.
//!
//! Numbers say how little moves; a picture shows where: the slices a dead
//! board leaves behind scattered over every survivor (rendezvous hashing),
//! and the same slices going back to it on its return. Slices a node newly
//! picked up since the panel before are drawn in a second colour. Pure:
//! returns the SVG text, the caller writes it.

use std::fmt::Write as _;

use crate::protocol::auto_claim::Policy;

use super::auto::Holdings;

/// Drawing width of the key axis (px).
const AXIS: f64 = 860.0;
/// Left margin for the node labels (px).
const LEFT: f64 = 110.0;
/// Height of one node band (px).
const BAND: f64 = 14.0;
/// Gap between bands (px).
const GAP: f64 = 3.0;

const KEPT: &str = "#4878a8";
const NEW: &str = "#d9622b";
const EMPTY: &str = "#eef0f3";
const GONE: &str = "#c6ccd4";

/// One panel: a title and every node's served slices at that moment.
#[derive(Clone, Debug)]
pub struct Panel {
    /// What the moment is.
    pub title: String,
    /// Served slices per node (`None`: not running).
    pub holdings: Holdings,
}

/// Runs of consecutive equal values over `0..n`: `(first, len, value)`.
fn runs<T: PartialEq + Copy>(n: usize, value: impl Fn(usize) -> T) -> Vec<(usize, usize, T)> {
    let mut out: Vec<(usize, usize, T)> = Vec::new();
    for s in 0..n {
        let v = value(s);
        match out.last_mut() {
            Some((_, len, last)) if *last == v => *len += 1,
            _ => out.push((s, 1, v)),
        }
    }
    out
}

fn x_of(slice: usize, slices: usize) -> f64 {
    LEFT + AXIS * slice as f64 / slices.max(1) as f64
}

/// Escapes text for SVG.
fn esc(t: &str) -> String {
    t.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// The SVG of `panels`, nodes labelled with `weights`.
#[must_use]
pub fn svg(policy: &Policy, weights: &[u16], panels: &[Panel], caption: &str) -> String {
    let slices = policy.slices() as usize;
    let nodes = weights.len();
    let panel_h = 22.0 + (nodes as f64 + 1.0) * (BAND + GAP) + 24.0;
    let height = 40.0 + panel_h * panels.len() as f64 + 40.0;
    let width = LEFT + AXIS + 20.0;
    let mut o = String::new();
    let _ = writeln!(
        o,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" viewBox="0 0 {width} {height}" font-family="sans-serif" font-size="11">"#
    );
    let _ = writeln!(
        o,
        r##"<rect width="100%" height="100%" fill="#ffffff"/><text x="8" y="20" font-size="14" font-weight="bold">{}</text>"##,
        esc(caption)
    );
    let mut previous: Option<&Holdings> = None;
    for (k, p) in panels.iter().enumerate() {
        let top = 40.0 + panel_h * k as f64;
        let _ = writeln!(
            o,
            r#"<text x="8" y="{}" font-size="12" font-weight="bold">{}</text>"#,
            top + 14.0,
            esc(&p.title)
        );
        let mut counts = vec![0usize; slices];
        for i in 0..nodes {
            let y = top + 22.0 + i as f64 * (BAND + GAP);
            let w = weights.get(i).copied().unwrap_or(1);
            let before = previous.map(|h| h.get(i).and_then(Option::as_ref));
            let held = p.holdings.get(i).and_then(Option::as_ref);
            node_band(&mut o, (i, w, y, slices), held, before, &mut counts);
        }
        // The coverage strip: running holders per slice.
        let y = top + 22.0 + nodes as f64 * (BAND + GAP);
        coverage_strip(&mut o, y, &counts, policy.replicas() as usize);
        key_axis(&mut o, y + BAND + 12.0);
        previous = Some(&p.holdings);
    }
    legend(&mut o, height - 18.0);
    o.push_str("</svg>\n");
    o
}

/// Node `i`'s band (weight `w`, at `y`): its label and the slices it
/// holds, marked against what it held in the panel before (`before`:
/// `None` in the first panel); counts its slices into `counts`.
fn node_band(
    o: &mut String,
    (i, w, y, slices): (usize, u16, f64, usize),
    held: Option<&Vec<u32>>,
    before: Option<Option<&Vec<u32>>>,
    counts: &mut [usize],
) {
    let state = if held.is_none() { " (off)" } else { "" };
    let _ = writeln!(
        o,
        r#"<text x="8" y="{}">node {i} w{w}{state}</text>"#,
        y + BAND - 3.0
    );
    let _ = writeln!(
        o,
        r#"<rect x="{LEFT}" y="{y}" width="{AXIS}" height="{BAND}" fill="{EMPTY}"/>"#
    );
    let Some(held) = held else { return };
    let first_panel = before.is_none();
    let before: &[u32] = before.flatten().map_or(&[], Vec::as_slice);
    let mut mark = vec![0u8; slices];
    for &s in before {
        if let Some(m) = mark.get_mut(s as usize) {
            *m = 3;
        }
    }
    for &s in held {
        let s = s as usize;
        if let Some(m) = mark.get_mut(s) {
            *m = if !first_panel && before.binary_search(&(s as u32)).is_err() {
                2
            } else {
                1
            };
        }
        if let Some(c) = counts.get_mut(s) {
            *c += 1;
        }
    }
    for (first, len, m) in runs(slices, |s| mark.get(s).copied().unwrap_or(0)) {
        let fill = match m {
            1 => KEPT,
            2 => NEW,
            3 => GONE,
            _ => continue,
        };
        let x = x_of(first, slices);
        let wd = x_of(first + len, slices) - x;
        let _ = writeln!(
            o,
            r#"<rect x="{x:.2}" y="{y}" width="{wd:.2}" height="{BAND}" fill="{fill}"/>"#
        );
    }
}

/// The coverage strip at `y`: running holders per slice against `r`.
fn coverage_strip(o: &mut String, y: f64, counts: &[usize], r: usize) {
    let slices = counts.len();
    let _ = writeln!(o, r#"<text x="8" y="{}">coverage</text>"#, y + BAND - 3.0);
    for (first, len, c) in runs(slices, |s| counts.get(s).copied().unwrap_or(0)) {
        let fill = if c == r {
            "#3a9a4a"
        } else if c + 1 == r {
            "#f0b429"
        } else if c < r {
            "#c0392b"
        } else {
            "#8e5bb5"
        };
        let x = x_of(first, slices);
        let wd = x_of(first + len, slices) - x;
        let _ = writeln!(
            o,
            r#"<rect x="{x:.2}" y="{y}" width="{wd:.2}" height="{BAND}" fill="{fill}"><title>{c} holders</title></rect>"#
        );
    }
}

/// The key axis at `ay`: five labels from 0 to the top of the key space.
fn key_axis(o: &mut String, ay: f64) {
    for (q, label) in [
        "0",
        "0x4000_0000",
        "0x8000_0000",
        "0xc000_0000",
        "0xffff_ffff",
    ]
    .iter()
    .enumerate()
    {
        let x = LEFT + AXIS * q as f64 / 4.0;
        let anchor = match q {
            0 => "start",
            4 => "end",
            _ => "middle",
        };
        let _ = writeln!(
            o,
            r##"<text x="{x}" y="{ay}" text-anchor="{anchor}" fill="#666">{label}</text>"##
        );
    }
}

/// The legend at `ly`.
fn legend(o: &mut String, ly: f64) {
    let legend = [
        (KEPT, "served (as in the panel above)"),
        (NEW, "newly picked up"),
        (GONE, "released"),
        ("#3a9a4a", "coverage R"),
        ("#f0b429", "R − 1"),
        ("#8e5bb5", "above R"),
        ("#c0392b", "below R − 1"),
    ];
    let mut x = 8.0;
    for (fill, text) in legend {
        let _ = writeln!(
            o,
            r#"<rect x="{x}" y="{}" width="12" height="10" fill="{fill}"/><text x="{}" y="{ly}">{}</text>"#,
            ly - 9.0,
            x + 16.0,
            esc(text)
        );
        x += 30.0 + 6.2 * text.chars().count() as f64;
    }
}
