//! Headless Chromium driven over WebDriver (chromedriver's HTTP JSON API,
//! through the small client in `http.rs`), for the status page test.
//!
//! Debian's `chromium` and `chromium-driver` at explicit paths
//! (`/usr/bin/chromium`, `/usr/bin/chromedriver`; override with
//! `SCALESMALL_CHROMIUM` and `SCALESMALL_CHROMEDRIVER`). Chromium runs with
//! a fresh profile and the flags that keep it off the network. Nothing here
//! downloads a browser.
//!
//! Nothing here waits by sleeping: chromedriver is ready when it prints its
//! start line, and [`Browser::wait_for`] re-checks its condition inside the
//! page at each change of the document, with a deadline.
//!
//! Cleanup is by PID, also when a test fails: on drop the session is ended,
//! then every process descending from our chromedriver, and every process
//! whose command line names our private profile directory (Chromium's
//! helpers may detach from their parent), is killed; then chromedriver.

// Deadlines for real processes need the real clock.
#![allow(clippy::disallowed_methods)]

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ChildStdout;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use serde_json::{Value, json};

use super::http;
use super::procs::free_port;

/// The browser and its driver, if installed.
pub struct Tools {
    /// The Chromium binary.
    pub chromium: PathBuf,
    /// The chromedriver binary.
    pub chromedriver: PathBuf,
}

/// Finds Chromium and chromedriver; `Err` says which is missing and how to
/// install it.
pub fn find() -> Result<Tools, String> {
    let path = |var: &str, default: &str| {
        std::env::var_os(var).map_or_else(|| PathBuf::from(default), PathBuf::from)
    };
    let tools = Tools {
        chromium: path("SCALESMALL_CHROMIUM", "/usr/bin/chromium"),
        chromedriver: path("SCALESMALL_CHROMEDRIVER", "/usr/bin/chromedriver"),
    };
    for p in [&tools.chromium, &tools.chromedriver] {
        if !p.exists() {
            return Err(format!(
                "{} not found (apt-get install chromium chromium-driver)",
                p.display()
            ));
        }
    }
    Ok(tools)
}

/// A chromedriver with one Chromium session; everything killed on drop.
pub struct Browser {
    driver: Option<Child>,
    addr: SocketAddr,
    session: Option<String>,
    profile: PathBuf,
    /// chromedriver's log (for failure messages).
    pub log: PathBuf,
}

impl Browser {
    /// Starts chromedriver, waits (up to 30 s) until it is ready, and opens
    /// a headless Chromium session with a `width`×`height` window.
    pub fn start(tools: &Tools, scratch: &Path, width: u32, height: u32) -> Browser {
        let port = free_port();
        let profile = scratch.join(format!("chromium-profile-{port}"));
        std::fs::create_dir_all(&profile).expect("profile dir");
        let log = scratch.join(format!("chromedriver-{port}.log"));
        let mut driver = Command::new(&tools.chromedriver)
            .arg(format!("--port={port}"))
            .arg(format!("--log-path={}", log.display()))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn chromedriver");
        let banner = driver.stdout.take().map(started_banner);
        let mut b = Browser {
            driver: Some(driver),
            addr: SocketAddr::from(([127, 0, 0, 1], port)),
            session: None,
            profile,
            log,
        };
        b.wait_ready(banner, Duration::from_secs(30));
        let args = [
            "--headless=new".to_owned(),
            "--no-sandbox".to_owned(),
            "--disable-gpu".to_owned(),
            "--disable-background-networking".to_owned(),
            "--disable-component-update".to_owned(),
            "--disable-sync".to_owned(),
            "--no-first-run".to_owned(),
            "--disable-quic".to_owned(),
            "--disable-dev-shm-usage".to_owned(),
            format!("--user-data-dir={}", b.profile.display()),
            format!("--window-size={width},{height}"),
        ];
        let caps = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": tools.chromium.display().to_string(),
                "args": args,
            },
        }}});
        let v = b.call("POST", "/session", &caps);
        b.session = v["sessionId"].as_str().map(str::to_owned);
        assert!(b.session.is_some(), "no session id in {v}");
        b
    }

    /// Waits for chromedriver's "started successfully" line on its
    /// stdout (up to `within`), then checks that it reports itself ready.
    fn wait_ready(&self, banner: Option<mpsc::Receiver<()>>, within: Duration) {
        let started = banner.is_some_and(|rx| rx.recv_timeout(within).is_ok());
        assert!(
            started,
            "chromedriver did not start within {within:?}; log:\n{}",
            self.log_text()
        );
        let r = http::request(self.addr, "GET", "/status", None)
            .unwrap_or_else(|e| panic!("chromedriver /status: {e}"));
        assert!(
            r.status == 200 && r.json()["value"]["ready"] == true,
            "chromedriver started but is not ready: {}",
            r.text()
        );
    }

    /// chromedriver's log so far.
    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// One WebDriver command; its `value`, panicking on a WebDriver error.
    fn call(&self, method: &str, path: &str, body: &Value) -> Value {
        let bytes = body.to_string();
        let r = http::request(self.addr, method, path, Some(bytes.as_bytes()))
            .unwrap_or_else(|e| panic!("WebDriver {method} {path}: {e}"));
        let v = r.json();
        assert!(
            r.status == 200,
            "WebDriver {method} {path}: {} {}",
            r.status,
            v["value"]
        );
        v["value"].clone()
    }

    fn session_path(&self, tail: &str) -> String {
        format!("/session/{}{tail}", self.session.as_deref().unwrap_or(""))
    }

    /// Opens `url`.
    pub fn goto(&self, url: &str) {
        self.call("POST", &self.session_path("/url"), &json!({ "url": url }));
    }

    /// Runs `script` (a function body; `return` a JSON-able value) in the
    /// page.
    pub fn eval(&self, script: &str) -> Value {
        self.call(
            "POST",
            &self.session_path("/execute/sync"),
            &json!({ "script": script, "args": [] }),
        )
    }

    /// Evaluates `script` (a function body) in the page now and again at
    /// every change of the document (a `MutationObserver`: the page shows
    /// all its state in the DOM), until it returns something other than
    /// `null` or `false`, up to `within`; `Err` with the last value at the
    /// deadline.
    pub fn wait_for(&self, within: Duration, script: &str) -> Result<Value, Value> {
        let ms = u64::try_from(within.as_millis()).unwrap_or(u64::MAX);
        // The driver's own limit on an async script, a little past ours.
        self.call(
            "POST",
            &self.session_path("/timeouts"),
            &json!({ "script": ms.saturating_add(10_000) }),
        );
        let waiter = format!(
            r"
            const done = arguments[arguments.length - 1];
            const check = () => {{ try {{ return (() => {{ {script} }})(); }} catch (e) {{ return null; }} }};
            const good = (v) => !(v === null || v === undefined || v === false);
            const first = check();
            if (good(first)) {{ done({{ ok: true, v: first }}); return; }}
            let over = false;
            let obs = null;
            let timer = null;
            const finish = (ok, v) => {{
              if (over) return;
              over = true;
              if (obs) obs.disconnect();
              if (timer) clearTimeout(timer);
              done({{ ok, v }});
            }};
            obs = new MutationObserver(() => {{ const v = check(); if (good(v)) finish(true, v); }});
            obs.observe(document, {{ subtree: true, childList: true, attributes: true, characterData: true }});
            timer = setTimeout(() => finish(false, check()), {ms});
            "
        );
        let r = self.call(
            "POST",
            &self.session_path("/execute/async"),
            &json!({ "script": waiter, "args": [] }),
        );
        let v = r["v"].clone();
        if r["ok"] == true { Ok(v) } else { Err(v) }
    }

    /// Makes the viewport exactly `width`×`height` CSS pixels, whatever
    /// the (headless) screen size (chromedriver's DevTools passthrough).
    pub fn viewport(&self, width: u32, height: u32) {
        self.call(
            "POST",
            &self.session_path("/goog/cdp/execute"),
            &json!({
                "cmd": "Emulation.setDeviceMetricsOverride",
                "params": { "width": width, "height": height, "deviceScaleFactor": 1, "mobile": false },
            }),
        );
    }

    /// A PNG of the viewport, base64-encoded (as WebDriver sends it).
    pub fn screenshot_base64(&self) -> String {
        let v = self.call("GET", &self.session_path("/screenshot"), &json!({}));
        v.as_str().unwrap_or("").to_owned()
    }

    /// The colours of pixels of a viewport screenshot: `row` (device
    /// pixels from the top) from column `from` to `to` (exclusive). The
    /// browser decodes the PNG (`createImageBitmap` on a `Blob`, which the
    /// page's Content-Security-Policy allows: nothing is fetched), so the
    /// tests need no image decoder of their own.
    pub fn pixels(&self, png_base64: &str, row: u32, from: u32, to: u32) -> Vec<[u8; 3]> {
        let script = r"
            const [png, row, from, to] = arguments, done = arguments[arguments.length - 1];
            const bytes = Uint8Array.from(atob(png), (c) => c.charCodeAt(0));
            createImageBitmap(new Blob([bytes], { type: 'image/png' })).then((bmp) => {
              const c = new OffscreenCanvas(bmp.width, bmp.height), g = c.getContext('2d');
              g.drawImage(bmp, 0, 0);
              const d = g.getImageData(from, row, to - from, 1).data, out = [];
              for (let i = 0; i < d.length; i += 4) out.push([d[i], d[i + 1], d[i + 2]]);
              done(out);
            }).catch((e) => done(String(e)));
            ";
        self.call(
            "POST",
            &self.session_path("/timeouts"),
            &json!({ "script": 30_000 }),
        );
        let v = self.call(
            "POST",
            &self.session_path("/execute/async"),
            &json!({ "script": script, "args": [png_base64, row, from, to] }),
        );
        let px: Option<Vec<[u8; 3]>> = v.as_array().and_then(|a| {
            a.iter()
                .map(|p| {
                    let c = |i: usize| p[i].as_u64().and_then(|v| u8::try_from(v).ok());
                    Some([c(0)?, c(1)?, c(2)?])
                })
                .collect()
        });
        px.unwrap_or_else(|| panic!("decoding the screenshot in the page: {v}"))
    }

    /// Saves a PNG of the viewport to `path`.
    pub fn screenshot(&self, path: &Path) {
        use base64::Engine as _;
        let png = base64::engine::general_purpose::STANDARD
            .decode(self.screenshot_base64())
            .expect("screenshot is base64");
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).expect("screenshot dir");
        }
        std::fs::write(path, png).expect("write screenshot");
    }
}

/// `(pid, parent pid, command line)` of every process.
fn processes() -> Vec<(u32, u32, String)> {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    dir.flatten()
        .filter_map(|e| {
            let pid: u32 = e.file_name().to_str()?.parse().ok()?;
            let stat = std::fs::read_to_string(e.path().join("stat")).ok()?;
            // "pid (comm) state ppid ...": comm may hold spaces and parens.
            let after = stat.get(stat.rfind(')')? + 1..)?;
            let ppid = after.split_whitespace().nth(1)?.parse().ok()?;
            let cmd = std::fs::read(e.path().join("cmdline")).ok()?;
            Some((pid, ppid, String::from_utf8_lossy(&cmd).replace('\0', " ")))
        })
        .collect()
}

/// The processes descending from `root`, plus those naming `marker` on
/// their command line.
fn ours(root: u32, marker: &str) -> Vec<u32> {
    let all = processes();
    let mut found: Vec<u32> = all
        .iter()
        .filter(|(_, _, cmd)| cmd.contains(marker))
        .map(|(pid, _, _)| *pid)
        .collect();
    let mut frontier = vec![root];
    while let Some(p) = frontier.pop() {
        for (pid, ppid, _) in &all {
            if *ppid == p && !found.contains(pid) {
                found.push(*pid);
                frontier.push(*pid);
            }
        }
    }
    found.retain(|p| *p != root && *p != std::process::id());
    found
}

impl Drop for Browser {
    fn drop(&mut self) {
        if let Some(s) = self.session.take() {
            // Ends Chromium cleanly if the driver still answers.
            let _ = http::request(self.addr, "DELETE", &format!("/session/{s}"), None);
        }
        if let Some(mut driver) = self.driver.take() {
            let marker = self.profile.display().to_string();
            for pid in ours(driver.id(), &marker) {
                let _ = Command::new("kill")
                    .args(["-KILL", &pid.to_string()])
                    .stderr(Stdio::null())
                    .status();
            }
            let _ = driver.kill();
            let _ = driver.wait();
        }
        let _ = std::fs::remove_dir_all(&self.profile);
    }
}

/// Reads chromedriver's stdout on a thread and signals once it prints that
/// it started (the thread then drains the rest until the pipe closes).
fn started_banner(out: ChildStdout) -> mpsc::Receiver<()> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(out).lines() {
            let Ok(line) = line else { break };
            if line.contains("started successfully") {
                let _ = tx.send(());
            }
        }
    });
    rx
}
