//! The status page: one hand-written HTML file (`page.html`, CSS and
//! JavaScript inline) embedded in the binary. No CDN, no build step, no
//! external resource: it only fetches the JSON API of the board that serves
//! it (the listener's Content-Security-Policy enforces that in the browser).
//! Read-only: it says so, and it has nothing that writes.
//!
//! What it draws carries `data-*` attributes (`data-node`, `data-start`,
//! `data-end`, `data-priority`, `data-depth`, `data-alive`, `data-nodes`,
//! `data-state`) so a browser test can compare the drawing with `lookup`.
//! The depth band draws one rectangle per *run* of neighbouring parts with
//! the same depth and live count (an auto group's 1,024 slices would
//! otherwise be 1,024 slivers), an auto member's row one per run of
//! adjacent slices, and labels are cut to end left of the band; the table
//! under the band keeps every part. Its colours are checked by
//! [`super::palette`].

/// The page.
pub const PAGE: &str = include_str!("page.html");

/// What the page may load: nothing but itself and its own API.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'unsafe-inline'; \
     style-src 'unsafe-inline'; connect-src 'self'; img-src 'self'; base-uri 'none'; \
     form-action 'none'; frame-ancestors 'none'";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_page_is_small_and_loads_nothing_from_elsewhere() {
        assert!(PAGE.len() < 24 * 1024, "{} bytes", PAGE.len());
        // The one absolute URL is the SVG namespace, which is never fetched.
        let without_ns = PAGE.replace("'http://www.w3.org/2000/svg'", "");
        for bad in [
            "http://",
            "https://",
            "src=\"//",
            "href=\"//",
            "@import",
            "url(http",
        ] {
            assert!(!without_ns.contains(bad), "the page mentions {bad:?}");
        }
    }

    #[test]
    fn the_page_says_it_is_read_only_and_works_without_javascript() {
        assert!(PAGE.contains("Read-only"));
        assert!(PAGE.contains("scalesmall claim"));
        assert!(PAGE.contains("<noscript>"));
        assert!(PAGE.starts_with("<!doctype html>"));
        assert!(PAGE.contains("<html lang=\"en\">"));
    }

    #[test]
    fn the_page_uses_every_api_path_it_documents() {
        for p in [
            "/api/v1/status",
            "/api/v1/peers",
            "/api/v1/groups",
            "/topology",
            "/lookup?key=",
        ] {
            assert!(PAGE.contains(p), "{p}");
        }
    }
}
