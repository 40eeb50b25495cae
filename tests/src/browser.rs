//! A real headless Chromium driven over the DevTools protocol: a small
//! synchronous client (one WebSocket, one page) with what the console's
//! tests need: open a page, fill and submit forms, read text and the
//! response status, take screenshots, allow downloads.

use std::io::{BufRead, BufReader};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use base64::Engine as _;
use serde_json::{Value, json};
use tungstenite::{Message, WebSocket};

/// One Chromium with one tab.
pub struct Browser {
    child: Child,
    ws: WebSocket<TcpStream>,
    next: u64,
    session: String,
    _profile: tempfile::TempDir,
    /// With [`Browser::start_trusting`]: the home holding its NSS database.
    _home: Option<tempfile::TempDir>,
}

/// Whether Debian's chromium is installed (scripts/install-deps installs it).
pub fn chromium() -> Option<&'static str> {
    ["/usr/bin/chromium", "/usr/bin/chromium-browser"]
        .into_iter()
        .find(|p| Path::new(p).exists())
}

impl Browser {
    /// Starts headless Chromium (trusting any certificate: the relay's is
    /// made by its own CA) and opens a blank tab.
    pub fn start() -> Self {
        Self::launch(None)
    }

    /// Starts headless Chromium that trusts what a technician's browser
    /// trusts after README's step: `ca` imported as an authority for
    /// websites (into the profile's own NSS database, with `certutil`),
    /// and no certificate error ignored; WebTransport then has only the
    /// page's certificate hash to go by.
    pub fn start_trusting(ca: &Path) -> Self {
        let home = tempfile::tempdir().unwrap();
        let db = home.path().join(".pki/nssdb");
        std::fs::create_dir_all(&db).unwrap();
        let db_arg = format!("sql:{}", db.display());
        let certutil = |args: &[&str]| {
            let ok = Command::new("certutil")
                .args(args)
                .status()
                .expect("certutil is missing; run scripts/install-deps (libnss3-tools)")
                .success();
            assert!(ok, "certutil {args:?} failed");
        };
        certutil(&["-d", &db_arg, "-N", "--empty-password"]);
        let ca = ca.to_str().unwrap();
        certutil(&[
            "-d",
            &db_arg,
            "-A",
            "-t",
            "C,,",
            "-n",
            "lifeline-relay",
            "-i",
            ca,
        ]);
        Self::launch(Some(home))
    }

    fn launch(home: Option<tempfile::TempDir>) -> Self {
        let exe = chromium().expect("chromium is not installed; run scripts/install-deps");
        let profile = tempfile::tempdir().unwrap();
        let mut cmd = Command::new(exe);
        match &home {
            Some(h) => {
                cmd.env("HOME", h.path());
            }
            None => {
                cmd.arg("--ignore-certificate-errors");
            }
        }
        let mut child = cmd
            .args([
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--no-first-run",
                "--disable-extensions",
                "--disable-background-networking",
                "--disable-dev-shm-usage",
                // Input waits for a frame; a tab taken for hidden gets none.
                "--disable-renderer-backgrounding",
                "--disable-background-timer-throttling",
                "--disable-backgrounding-occluded-windows",
                "--window-size=1280,860",
                "--remote-debugging-port=0",
            ])
            .arg(format!("--user-data-dir={}", profile.path().display()))
            .args(std::env::var_os("LIFELINE_CHROMIUM_LOG").map(|_| "--enable-logging=stderr"))
            .arg("about:blank")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let stderr = child.stderr.take().unwrap();
        let mut lines = BufReader::new(stderr).lines();
        let url = loop {
            let line = lines
                .next()
                .expect("chromium exited before it listened")
                .unwrap();
            if let Some(u) = line.strip_prefix("DevTools listening on ") {
                break u.trim().to_owned();
            }
        };
        // LIFELINE_CHROMIUM_LOG=1 shows Chromium's log (the page's console too).
        let log = std::env::var_os("LIFELINE_CHROMIUM_LOG").is_some();
        std::thread::spawn(move || {
            for line in lines.map_while(Result::ok) {
                if log {
                    eprintln!("chromium: {line}");
                }
            }
        });
        let hostport = url
            .strip_prefix("ws://")
            .and_then(|r| r.split('/').next())
            .unwrap()
            .to_owned();
        let tcp = TcpStream::connect(&hostport).unwrap();
        tcp.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
        let (ws, _) = tungstenite::client(url.as_str(), tcp).unwrap();
        let mut b = Self {
            child,
            ws,
            next: 0,
            session: String::new(),
            _profile: profile,
            _home: home,
        };
        let target = b.call("Target.createTarget", json!({"url": "about:blank"}));
        let id = target["targetId"].as_str().unwrap().to_owned();
        let attached = b.call(
            "Target.attachToTarget",
            json!({"targetId": id, "flatten": true}),
        );
        b.session = attached["sessionId"].as_str().unwrap().to_owned();
        // The tab in front and focused, as a person's would be: a tab in
        // the background gets no frames, and input waits for one.
        b.call("Page.bringToFront", json!({}));
        b.call(
            "Emulation.setFocusEmulationEnabled",
            json!({"enabled": true}),
        );
        b
    }

    /// Sends a command (to the tab once attached) and waits for its answer.
    pub fn call(&mut self, method: &str, params: Value) -> Value {
        match self.try_call(method, params) {
            Ok(v) => v,
            Err(e) => panic!("{method}: {e}"),
        }
    }

    /// [`Browser::call`], with the protocol's error as `Err`.
    pub fn try_call(&mut self, method: &str, params: Value) -> Result<Value, Value> {
        self.next += 1;
        let id = self.next;
        let mut msg = json!({"id": id, "method": method, "params": params});
        if !self.session.is_empty()
            && !method.starts_with("Target.")
            && !method.starts_with("Browser.")
        {
            msg["sessionId"] = json!(self.session);
        }
        self.ws.send(Message::text(msg.to_string())).unwrap();
        loop {
            let read = self.ws.read();
            let Message::Text(text) =
                read.unwrap_or_else(|e| panic!("no answer to {method} {msg}: {e}"))
            else {
                continue;
            };
            let v: Value = serde_json::from_str(&text).unwrap();
            if v["id"] == json!(id) {
                return match v.get("error") {
                    Some(e) => Err(e.clone()),
                    None => Ok(v["result"].clone()),
                };
            }
        }
    }

    /// Evaluates JavaScript in the page; returns its value.
    pub fn eval(&mut self, js: &str) -> Value {
        let r = self.call(
            "Runtime.evaluate",
            json!({"expression": js, "returnByValue": true, "awaitPromise": true}),
        );
        assert!(r.get("exceptionDetails").is_none(), "{js}: {r}");
        r["result"]["value"].clone()
    }

    /// Evaluates JavaScript that may race a navigation: `None` when the
    /// page went away under it.
    fn try_eval(&mut self, js: &str) -> Option<Value> {
        let r = self
            .try_call(
                "Runtime.evaluate",
                json!({"expression": js, "returnByValue": true, "awaitPromise": true}),
            )
            .ok()?;
        r.get("exceptionDetails")
            .is_none()
            .then(|| r["result"]["value"].clone())
    }

    /// Runs `act` (which starts a navigation) and waits for the next page.
    fn navigating(&mut self, act: &str) {
        self.eval("window.__stale = true");
        // The page may be gone before the answer comes back.
        if let Err(e) = self.try_call(
            "Runtime.evaluate",
            json!({"expression": act, "returnByValue": true}),
        ) {
            assert!(e.to_string().contains("navigated"), "{act}: {e}");
        }
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let v =
                self.try_eval("window.__stale === undefined && document.readyState === 'complete'");
            if v == Some(json!(true)) {
                return;
            }
            assert!(Instant::now() < deadline, "no new page after {act}");
            std::thread::sleep(Duration::from_millis(25));
        }
    }

    /// Opens `url` and waits until it has loaded.
    pub fn goto(&mut self, url: &str) {
        self.navigating(&format!("location.href = {}", json!(url)));
    }

    /// Sets a form field's value.
    pub fn fill(&mut self, selector: &str, value: &str) {
        let js = format!(
            "(() => {{ const e = document.querySelector({}); if (!e) throw new Error('no ' + {0}); e.value = {}; }})()",
            json!(selector),
            json!(value)
        );
        self.eval(&js);
    }

    /// Submits the form `selector` names (as its button would) and waits.
    pub fn submit(&mut self, selector: &str) {
        let js = format!(
            "(() => {{ const f = document.querySelector({}); if (!f) throw new Error('no ' + {0}); f.requestSubmit(); }})()",
            json!(selector)
        );
        self.navigating(&js);
    }

    /// Clicks the first element `selector` matches (a link) and waits.
    pub fn click(&mut self, selector: &str) {
        let js = format!(
            "(() => {{ const e = document.querySelector({}); if (!e) throw new Error('no ' + {0}); e.click(); }})()",
            json!(selector)
        );
        self.navigating(&js);
    }

    /// Runs `js`, which starts a navigation, and waits for the new page.
    pub fn run_to_page(&mut self, js: &str) {
        self.navigating(js);
    }

    /// The text of the first element `selector` matches ("" if none).
    pub fn text(&mut self, selector: &str) -> String {
        let js = format!(
            "(() => {{ const e = document.querySelector({}); return e ? e.textContent : ''; }})()",
            json!(selector)
        );
        self.eval(&js).as_str().unwrap_or_default().to_owned()
    }

    /// How many elements `selector` matches.
    pub fn count(&mut self, selector: &str) -> u64 {
        self.eval(&format!(
            "document.querySelectorAll({}).length",
            json!(selector)
        ))
        .as_u64()
        .unwrap()
    }

    /// The page's path and query.
    pub fn path(&mut self) -> String {
        self.eval("location.pathname + location.search")
            .as_str()
            .unwrap()
            .to_owned()
    }

    /// The HTTP status the current page came with.
    pub fn status(&mut self) -> u64 {
        self.eval("performance.getEntriesByType('navigation')[0].responseStatus")
            .as_u64()
            .unwrap()
    }

    /// Saves a PNG of the viewport (the whole page's height).
    pub fn screenshot(&mut self, path: &Path) {
        let h = self
            .eval("Math.max(document.documentElement.scrollHeight, 400)")
            .as_u64()
            .unwrap_or(860);
        let r = self.call(
            "Page.captureScreenshot",
            json!({"format": "png", "captureBeyondViewport": true,
                   "clip": {"x": 0, "y": 0, "width": 1280, "height": h.min(2000), "scale": 1}}),
        );
        let png = base64::engine::general_purpose::STANDARD
            .decode(r["data"].as_str().unwrap())
            .unwrap();
        std::fs::write(path, png).unwrap();
    }

    /// Lets downloads land in `dir`.
    pub fn download_to(&mut self, dir: &Path) {
        self.call(
            "Browser.setDownloadBehavior",
            json!({"behavior": "allow", "downloadPath": dir.to_str().unwrap()}),
        );
    }

    /// Submits a form whose answer is a download (the page stays).
    pub fn submit_download(&mut self, selector: &str) {
        let js = format!(
            "document.querySelector({}).requestSubmit()",
            json!(selector)
        );
        self.eval(&js);
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Browser {
    /// Presses and releases one key as a keyboard would (`key` and `code`
    /// as `KeyboardEvent` names them; `text` what it types, if anything),
    /// to whatever has the page's focus.
    pub fn press(&mut self, key: &str, code: &str, text: &str, vk: u32) {
        for kind in ["keyDown", "keyUp"] {
            let mut ev = json!({
                "type": kind, "key": key, "code": code,
                "windowsVirtualKeyCode": vk, "nativeVirtualKeyCode": vk,
            });
            if kind == "keyDown" && !text.is_empty() {
                ev["text"] = json!(text);
            }
            self.call("Input.dispatchKeyEvent", ev);
        }
    }

    /// Moves the mouse to (`x`, `y`) in the page's CSS pixels.
    pub fn mouse_move(&mut self, x: f64, y: f64) {
        self.call(
            "Input.dispatchMouseEvent",
            json!({"type": "mouseMoved", "x": x, "y": y}),
        );
    }

    /// Clicks at (`x`, `y`) in the page's CSS pixels.
    pub fn mouse_click(&mut self, x: f64, y: f64) {
        for kind in ["mousePressed", "mouseReleased"] {
            self.call(
                "Input.dispatchMouseEvent",
                json!({"type": kind, "x": x, "y": y, "button": "left", "clickCount": 1}),
            );
        }
    }
}
