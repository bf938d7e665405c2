//! The status page's colours, read from the page itself (its script's
//! `PALETTE` of board colours and `DEPTH` scale, `DEPTH[0]` being
//! "uncovered"), and the CIE76 colour difference (ΔE*ab) that the tests hold
//! them to: a board's claims must never look like a hole in the key space.
//!
//! Reading the colours from `page.html` rather than keeping a second copy
//! here means a test fails on the colours actually served. Nothing in the
//! node calls this; the page's unit tests and the browser test
//! (`tests/status_page.rs`, which classifies screenshot pixels by depth) do.

use super::page::PAGE;

/// An sRGB colour.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Rgb(pub u8, pub u8, pub u8);

/// The least ΔE (CIE76) between any board colour and "uncovered".
pub const MIN_DELTA_E_FROM_UNCOVERED: f64 = 25.0;

impl Rgb {
    /// `#rrggbb`, or `None`.
    #[must_use]
    pub fn parse(hex: &str) -> Option<Self> {
        let h = hex.strip_prefix('#')?;
        if h.len() != 6 || !h.is_ascii() {
            return None;
        }
        let byte = |i: usize| u8::from_str_radix(h.get(i..i + 2)?, 16).ok();
        Some(Self(byte(0)?, byte(2)?, byte(4)?))
    }

    /// CIE L*a*b* (D65 white, sRGB companding).
    #[must_use]
    pub fn lab(self) -> [f64; 3] {
        let lin = |c: u8| {
            let c = f64::from(c) / 255.0;
            if c <= 0.040_45 {
                c / 12.92
            } else {
                ((c + 0.055) / 1.055).powf(2.4)
            }
        };
        let (r, g, b) = (lin(self.0), lin(self.1), lin(self.2));
        let x = (0.412_456_4 * r + 0.357_576_1 * g + 0.180_437_5 * b) / 0.950_47;
        let y = 0.212_672_9 * r + 0.715_152_2 * g + 0.072_175 * b;
        let z = (0.019_333_9 * r + 0.119_192 * g + 0.950_304_1 * b) / 1.088_83;
        let f = |t: f64| {
            if t > 216.0 / 24_389.0 {
                t.cbrt()
            } else {
                (24_389.0 / 27.0 * t + 16.0) / 116.0
            }
        };
        let (fx, fy, fz) = (f(x), f(y), f(z));
        [116.0 * fy - 16.0, 500.0 * (fx - fy), 200.0 * (fy - fz)]
    }

    /// ΔE*ab (CIE76): the Euclidean distance in L*a*b*.
    #[must_use]
    pub fn delta_e76(self, other: Self) -> f64 {
        let (a, b) = (self.lab(), other.lab());
        a.iter()
            .zip(b)
            .map(|(p, q)| (p - q) * (p - q))
            .sum::<f64>()
            .sqrt()
    }
}

/// The colours of `const NAME = ['#rrggbb', ...];` in `src`, or `None` if
/// there is no such one-line array or an entry is not `'#rrggbb'`.
#[must_use]
pub fn array(src: &str, name: &str) -> Option<Vec<Rgb>> {
    let decl = format!("const {name} = [");
    let at = src.find(&decl)? + decl.len();
    let body = src.get(at..)?.split_once("];")?.0;
    body.split(',')
        .map(|item| Rgb::parse(item.trim().trim_matches('\'')))
        .collect()
}

/// The board colours the page draws claims with (`PALETTE`).
#[must_use]
pub fn boards() -> Vec<Rgb> {
    array(PAGE, "PALETTE").unwrap_or_default()
}

/// The depth scale (`DEPTH`): index 0 is "uncovered", then depth 1, 2, and
/// 3 or more.
#[must_use]
pub fn depths() -> Vec<Rgb> {
    array(PAGE, "DEPTH").unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(c: Rgb) -> String {
        format!("#{:02x}{:02x}{:02x}", c.0, c.1, c.2)
    }

    #[test]
    fn delta_e76_matches_published_values() {
        // L*a*b* of pure white and black, and the distance between them.
        let white = Rgb(255, 255, 255).lab();
        assert!((white[0] - 100.0).abs() < 1e-3 && white[1].abs() < 1e-3 && white[2].abs() < 1e-3);
        assert!(Rgb(0, 0, 0).lab().iter().all(|v| v.abs() < 1e-9));
        assert!((Rgb(255, 255, 255).delta_e76(Rgb(0, 0, 0)) - 100.0).abs() < 1e-3);
        // sRGB red is L* 53.24, a* 80.09, b* 67.20.
        let red = Rgb(255, 0, 0).lab();
        for (got, want) in red.iter().zip([53.24, 80.09, 67.20]) {
            assert!((got - want).abs() < 0.01, "{red:?}");
        }
        let c = Rgb(0x12, 0x34, 0x56);
        assert!(c.delta_e76(c).abs() < 1e-12);
    }

    #[test]
    fn parsing_takes_exactly_hex_colours() {
        assert_eq!(Rgb::parse("#ffd8a8"), Some(Rgb(0xff, 0xd8, 0xa8)));
        for bad in ["ffd8a8", "#ffd8a", "#ffd8a8a", "#gggggg", "#ffd8é", ""] {
            assert_eq!(Rgb::parse(bad), None, "{bad}");
        }
        let src = "const A = ['#000000', '#ffffff'];\nconst B = ['#000000', 'red'];";
        assert_eq!(
            array(src, "A"),
            Some(vec![Rgb(0, 0, 0), Rgb(255, 255, 255)])
        );
        assert_eq!(array(src, "B"), None);
        assert_eq!(array(src, "C"), None);
    }

    #[test]
    fn the_page_has_its_palettes() {
        assert!(boards().len() >= 8, "PALETTE in page.html: {:?}", boards());
        assert_eq!(depths().len(), 4, "DEPTH in page.html: {:?}", depths());
    }

    #[test]
    fn every_board_colour_is_far_from_uncovered() {
        let uncovered = depths()[0];
        for c in boards() {
            let d = c.delta_e76(uncovered);
            assert!(
                d >= MIN_DELTA_E_FROM_UNCOVERED,
                "board colour {} is only ΔE {d:.1} from uncovered {}",
                hex(c),
                hex(uncovered)
            );
        }
    }

    #[test]
    fn the_depths_and_the_boards_are_told_apart() {
        let d = depths();
        for (i, a) in d.iter().enumerate() {
            for b in &d[i + 1..] {
                assert!(
                    a.delta_e76(*b) >= 15.0,
                    "depth colours {} {}",
                    hex(*a),
                    hex(*b)
                );
            }
        }
        let b = boards();
        for (i, x) in b.iter().enumerate() {
            for y in &b[i + 1..] {
                assert!(
                    x.delta_e76(*y) >= 15.0,
                    "board colours {} {}",
                    hex(*x),
                    hex(*y)
                );
            }
        }
    }

    #[test]
    fn the_legend_and_the_hatch_use_the_depth_colours() {
        let d = depths();
        // The static legend (drawn without the script) names the same
        // colours; the hatch of uncovered keys is drawn on DEPTH[0].
        for c in &d {
            assert!(
                PAGE.contains(&format!("background:{}", hex(*c))),
                "legend swatch {}",
                hex(*c)
            );
        }
        assert!(PAGE.contains("fill: DEPTH[0]"));
    }
}
