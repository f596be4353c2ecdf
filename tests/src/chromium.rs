//! A real headless Chromium (Debian's `chromium-headless-shell`) for browser checks, driven over
//! the DevTools protocol with the harness's own WebSocket client: it opens one page and reports
//! what the page logs to its console and which requests it sends, so a test sees exactly what a
//! browser did, reconnects included. A missing browser fails the test with how to install it.

use crate::client::{Client, Frame};
use crate::locate::require_tool;
use crate::process::Proc;
use serde_json::{json, Value};
use std::collections::{HashMap, VecDeque};
use std::path::Path;
use std::time::Duration;

/// How long a page may stay silent before the test fails.
const WAIT: Duration = Duration::from_secs(20);

/// What the page did.
#[derive(Debug, Clone, PartialEq)]
pub enum PageEvent {
    /// A `console.log` of one string.
    Console(String),
    /// A request the page sent, with the headers it went out with.
    Request { url: String, headers: Value },
}

/// The browser and the DevTools connection to its one page.
pub struct Chromium {
    proc: Proc,
    devtools: Client,
    next_id: u64,
    /// Events that arrived while a command waited for its answer.
    pending: VecDeque<Value>,
    /// Requests seen in one of their two events, by request id: URLs and sent headers.
    urls: HashMap<String, String>,
    sent_headers: HashMap<String, Value>,
}

impl Chromium {
    /// Starts the browser on a blank page, its profile and log in `dir`.
    pub async fn start(dir: &Path) -> Chromium {
        let bin = require_tool(
            "chromium-headless-shell",
            "install Debian's chromium-headless-shell package (`make test-deps` does)",
        );
        let dir = dir.join("chromium");
        let profile = dir.join("profile");
        std::fs::create_dir_all(&profile).expect("chromium dir");
        // Root has no sandbox here; port 0 lets the browser pick its DevTools port, which it
        // writes to DevToolsActivePort in the profile.
        let args: Vec<String> = [
            "--no-sandbox",
            "--no-proxy-server",
            "--no-first-run",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--remote-debugging-address=127.0.0.1",
            "--remote-debugging-port=0",
        ]
        .iter()
        .map(|s| s.to_string())
        .chain([
            format!("--user-data-dir={}", profile.display()),
            "about:blank".into(),
        ])
        .collect();
        // Chromium forks its renderers and helpers: they go with it.
        let proc = Proc::spawn_group("chromium", &bin, &args, &[], &dir.join("chromium.log"));
        // DevToolsActivePort: the port, then the browser endpoint's path. (Its HTTP endpoints keep
        // connections open whatever the request says, so the test speaks WebSocket only.)
        let port_file = profile.join("DevToolsActivePort");
        let mut endpoint = None;
        for _ in 0..400 {
            assert!(!proc.has_exited(), "chromium exited: {}", proc.log_tail(20));
            let text = std::fs::read_to_string(&port_file).unwrap_or_default();
            let mut lines = text.lines();
            if let (Some(port), Some(path)) = (lines.next(), lines.next()) {
                endpoint = Some((port.trim().to_owned(), path.trim().to_owned()));
                break;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        let (port, path) = endpoint
            .unwrap_or_else(|| panic!("chromium wrote no DevTools port: {}", proc.log_tail(20)));
        let mut browser_ws = Client::connect_with(&format!("ws://127.0.0.1:{port}{path}"), &[])
            .await
            .unwrap_or_else(|e| panic!("DevTools browser connection: {e}"));
        browser_ws
            .send_json(&json!({ "id": 1, "method": "Target.getTargets", "params": {} }))
            .await;
        let targets = loop {
            let msg = match browser_ws.recv_within(WAIT).await {
                Some(Frame::Text(t)) => serde_json::from_str::<Value>(&t).expect("DevTools JSON"),
                other => panic!("DevTools browser connection: {other:?}"),
            };
            if msg["id"] == 1 {
                break msg["result"]["targetInfos"].clone();
            }
        };
        let page = targets
            .as_array()
            .and_then(|t| t.iter().find(|t| t["type"] == "page"))
            .and_then(|t| t["targetId"].as_str())
            .unwrap_or_else(|| panic!("no page target: {targets}"))
            .to_owned();
        browser_ws.close().await;
        let devtools =
            Client::connect_with(&format!("ws://127.0.0.1:{port}/devtools/page/{page}"), &[])
                .await
                .unwrap_or_else(|e| panic!("DevTools page connection: {e}"));
        let mut browser = Chromium {
            proc,
            devtools,
            next_id: 0,
            pending: VecDeque::new(),
            urls: HashMap::new(),
            sent_headers: HashMap::new(),
        };
        browser.call("Runtime.enable", json!({})).await;
        browser.call("Network.enable", json!({})).await;
        browser
    }

    /// Opens `url` in the page.
    pub async fn navigate(&mut self, url: &str) {
        let r = self.call("Page.navigate", json!({ "url": url })).await;
        assert!(r.get("errorText").is_none(), "navigating to {url}: {r}");
    }

    /// Sends a DevTools command and returns its result, keeping the events that come first.
    async fn call(&mut self, method: &str, params: Value) -> Value {
        self.next_id += 1;
        let id = self.next_id;
        self.devtools
            .send_json(&json!({ "id": id, "method": method, "params": params }))
            .await;
        loop {
            let msg = self.receive().await;
            if msg["id"] == id {
                if let Some(e) = msg.get("error") {
                    panic!("DevTools {method}: {e}");
                }
                return msg["result"].clone();
            }
            if msg.get("method").is_some() {
                self.pending.push_back(msg);
            }
        }
    }

    async fn receive(&mut self) -> Value {
        match self.devtools.recv_within(WAIT).await {
            Some(Frame::Text(t)) => serde_json::from_str(&t).expect("DevTools message JSON"),
            other => panic!(
                "DevTools connection: {other:?}; browser log: {}",
                self.proc.log_tail(20)
            ),
        }
    }

    /// The next console line or request of the page; an uncaught exception in the page fails
    /// the test.
    pub async fn next(&mut self) -> PageEvent {
        loop {
            let msg = match self.pending.pop_front() {
                Some(m) => m,
                None => self.receive().await,
            };
            let p = &msg["params"];
            match msg["method"].as_str() {
                Some("Runtime.consoleAPICalled") => {
                    let line = p["args"][0]["value"]
                        .as_str()
                        .unwrap_or_else(|| panic!("console call without a string: {p}"));
                    return PageEvent::Console(line.to_owned());
                }
                // A request's URL and the headers it went out with (Last-Event-ID among them)
                // come in two events, in either order.
                Some("Network.requestWillBeSent") => {
                    let id = p["requestId"].as_str().unwrap_or_default().to_owned();
                    let url = p["request"]["url"].as_str().unwrap_or_default().to_owned();
                    match self.sent_headers.remove(&id) {
                        Some(headers) => return PageEvent::Request { url, headers },
                        None => {
                            self.urls.insert(id, url);
                        }
                    }
                }
                Some("Network.requestWillBeSentExtraInfo") => {
                    let id = p["requestId"].as_str().unwrap_or_default().to_owned();
                    let headers = p["headers"].clone();
                    match self.urls.remove(&id) {
                        Some(url) => return PageEvent::Request { url, headers },
                        None => {
                            self.sent_headers.insert(id, headers);
                        }
                    }
                }
                Some("Runtime.exceptionThrown") => panic!("the page threw: {p}"),
                _ => {}
            }
        }
    }
}
