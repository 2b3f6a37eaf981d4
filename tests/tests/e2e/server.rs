//! A real `assay serve` on a free port, and an HTTP client for it.

use std::io::{BufRead, BufReader};
use std::process::{Child, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use reqwest::blocking::{Client, RequestBuilder, Response};
use serde_json::Value;

use crate::common::Env;

pub(crate) struct Server {
    child: Option<Child>,
    pub(crate) base: String,
    log: Arc<Mutex<String>>,
    client: Client,
}

/// Whether `assay.toml` text is given, and extra environment.
pub(crate) struct Start<'a> {
    pub(crate) config: &'a str,
    pub(crate) env: &'a [(&'a str, &'a str)],
    /// Wait for `/ready` before returning.
    pub(crate) wait_ready: bool,
    /// For a server with `[server.tls]`: the CA (PEM) its client trusts...
    pub(crate) ca: Option<&'a std::path::Path>,
    /// ...and the client's own certificate and key (one PEM), for mutual TLS.
    pub(crate) identity: Option<&'a std::path::Path>,
}

impl Default for Start<'_> {
    fn default() -> Self {
        Start {
            config: "",
            env: &[],
            wait_ready: true,
            ca: None,
            identity: None,
        }
    }
}

impl Server {
    /// Starts `assay serve` in `env`'s work directory with `config` as its
    /// `assay.toml` (the data directory is the work directory's `assay-data/`).
    pub(crate) fn start(env: &Env, start: Start<'_>) -> Server {
        let config = env.subject("assay.toml", start.config);
        let mut cmd = env.assay();
        cmd.args([
            "--config",
            config.to_str().unwrap(),
            "serve",
            "--listen",
            "127.0.0.1:0",
        ])
        .env("ASSAY_LOG", "info")
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
        for (k, v) in start.env {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().unwrap();
        let stderr = child.stderr.take().unwrap();
        let log = Arc::new(Mutex::new(String::new()));
        let (tx, rx) = std::sync::mpsc::channel();
        {
            let log = log.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(stderr).lines() {
                    let Ok(line) = line else { break };
                    for scheme in ["http", "https"] {
                        let needle = format!("listening on {scheme}://");
                        if let Some(addr) = line.split(&needle).nth(1) {
                            let _ = tx.send(format!("{scheme}://{}", addr.trim()));
                        }
                    }
                    let mut log = log.lock().unwrap();
                    log.push_str(&line);
                    log.push('\n');
                }
            });
        }
        let addr = rx
            .recv_timeout(Duration::from_secs(60))
            .unwrap_or_else(|_| {
                let _ = child.kill();
                panic!("assay serve did not start:\n{}", log.lock().unwrap())
            });
        let mut client = Client::builder().timeout(Duration::from_secs(60));
        if let Some(ca) = start.ca {
            let pem = std::fs::read(ca).unwrap();
            client = client.add_root_certificate(reqwest::Certificate::from_pem(&pem).unwrap());
        }
        if let Some(id) = start.identity {
            let pem = std::fs::read(id).unwrap();
            client = client.identity(reqwest::Identity::from_pem(&pem).unwrap());
        }
        let server = Server {
            child: Some(child),
            // Test certificates name `localhost`, not the address.
            base: addr.replace("https://127.0.0.1:", "https://localhost:"),
            log,
            client: client.build().unwrap(),
        };
        if start.wait_ready {
            server.wait_ready();
        }
        server
    }

    pub(crate) fn wait_ready(&self) {
        let deadline = Instant::now() + Duration::from_secs(120);
        while Instant::now() < deadline {
            if self.get("/ready").send().is_ok_and(|r| r.status() == 200) {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("not ready after 120 s:\n{}", self.log());
    }

    /// The server's process id.
    pub(crate) fn pid(&self) -> u32 {
        self.child.as_ref().expect("running").id()
    }

    pub(crate) fn log(&self) -> String {
        self.log.lock().unwrap().clone()
    }

    pub(crate) fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub(crate) fn get(&self, path: &str) -> RequestBuilder {
        self.client.get(self.url(path))
    }

    pub(crate) fn post(&self, path: &str) -> RequestBuilder {
        self.client.post(self.url(path))
    }

    pub(crate) fn delete(&self, path: &str) -> RequestBuilder {
        self.client.delete(self.url(path))
    }

    pub(crate) fn put(&self, path: &str) -> RequestBuilder {
        self.client.put(self.url(path))
    }

    /// `POST /v1/validate{query}` with `body`; answers (status, JSON).
    pub(crate) fn validate(
        &self,
        query: &str,
        body: impl Into<reqwest::blocking::Body>,
    ) -> (u16, Value) {
        json(
            self.post(&format!("/v1/validate{query}"))
                .body(body)
                .send()
                .unwrap(),
        )
    }

    /// Sends a signal (`TERM`, `INT`) to the server with kill(1) and waits for it to exit; answers the exit code.
    pub(crate) fn signal_and_wait(&mut self, signal: &str) -> i32 {
        let mut child = self.child.take().expect("running");
        let ok = std::process::Command::new("kill")
            .args([format!("-{signal}"), child.id().to_string()])
            .status()
            .unwrap()
            .success();
        assert!(ok, "kill -{signal} failed");
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Some(status) = child.try_wait().unwrap() {
                return status.code().unwrap_or(-1);
            }
            assert!(
                Instant::now() < deadline,
                "assay did not stop:\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Kills the server outright (SIGKILL), as a crash would.
    pub(crate) fn crash(&mut self) {
        let mut child = self.child.take().expect("running");
        child.kill().unwrap();
        child.wait().unwrap();
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

impl Server {
    /// [`Server::start`] with `config` as `assay.toml`, waiting for `/ready`.
    pub(crate) fn with_config(env: &Env, config: &str) -> Server {
        Server::start(
            env,
            Start {
                config,
                ..Start::default()
            },
        )
    }

    /// `POST /v1/alerts` with `{"alerts": alerts}`; answers the accepted list.
    pub(crate) fn post_alerts(&self, alerts: Value) -> Vec<Value> {
        let (status, v) = json(
            self.post("/v1/alerts")
                .json(&serde_json::json!({ "alerts": alerts }))
                .send()
                .unwrap(),
        );
        assert_eq!(status, 202, "{v}");
        v["accepted"].as_array().unwrap().clone()
    }

    /// `GET /v1/alerts`: the active alerts.
    pub(crate) fn alerts(&self) -> Vec<Value> {
        let (status, v) = json(self.get("/v1/alerts").send().unwrap());
        assert_eq!(status, 200, "{v}");
        v["alerts"].as_array().unwrap().clone()
    }

    /// `GET /v1/notifications{query}`.
    pub(crate) fn notifications(&self, query: &str) -> Vec<Value> {
        let (status, v) = json(
            self.get(&format!("/v1/notifications{query}"))
                .send()
                .unwrap(),
        );
        assert_eq!(status, 200, "{v}");
        v["notifications"].as_array().unwrap().clone()
    }
}

/// `[alerting]` timings short enough for tests. (Alerts posted in one
/// request reach the engine in one turn, so they group together whatever
/// `group_wait` is; the timing semantics themselves are unit-tested on a
/// fake clock in `host/src/alerts/engine/tests.rs`.)
pub(crate) const FAST_ALERTING: &str = r#"
[alerting]
group_wait = "100ms"
group_interval = "400ms"
tick = "25ms"
"#;

/// (status, body as JSON); panics with the body if it is not JSON.
pub(crate) fn json(resp: Response) -> (u16, Value) {
    let status = resp.status().as_u16();
    let text = resp.text().unwrap();
    let v = serde_json::from_str(&text)
        .unwrap_or_else(|e| panic!("status {status}: body is not JSON ({e}): {text}"));
    (status, v)
}

/// The error code of an error body.
pub(crate) fn code(v: &Value) -> &str {
    v["error"]["code"]
        .as_str()
        .unwrap_or_else(|| panic!("not an error: {v}"))
}

/// Polls `f` until it answers `Some`, for up to `secs`.
pub(crate) fn eventually<T>(secs: u64, what: &str, mut f: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}
