//! Local receivers for alert notifications: an HTTP receiver that records
//! every request and can be told to fail or hang, an SMTP sink (Python's
//! aiosmtpd), and a real Prometheus Alertmanager on loopback.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::targets::closed_port;

/// How the HTTP receiver answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Mode {
    /// 200.
    Accept,
    /// This status, at once.
    Fail(u16),
    /// Reads the request and never answers (until stopped).
    Hang,
    /// This status, with the request's line and headers quoted back in the
    /// body, as many error pages do (URL tokens and credentials included).
    Echo(u16),
}

/// One request the receiver saw.
#[derive(Debug, Clone)]
pub(crate) struct Received {
    pub(crate) path: String,
    /// Lower-case names.
    pub(crate) headers: Vec<(String, String)>,
    pub(crate) body: Vec<u8>,
    /// What it answered (0: nothing, it hung).
    pub(crate) status: u16,
    pub(crate) at: Instant,
}

impl Received {
    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    pub(crate) fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| {
            panic!(
                "{}: body is not JSON ({e}): {}",
                self.path,
                String::from_utf8_lossy(&self.body)
            )
        })
    }

    pub(crate) fn delivered(&self) -> bool {
        (200..300).contains(&self.status)
    }
}

/// An HTTP/1.1 receiver on 127.0.0.1 that records every request.
pub(crate) struct Receiver {
    pub(crate) addr: SocketAddr,
    mode: Arc<Mutex<Mode>>,
    log: Arc<Mutex<Vec<Received>>>,
    stop: Arc<AtomicBool>,
}

impl Receiver {
    pub(crate) fn start() -> Receiver {
        Self::bind("127.0.0.1:0".parse().unwrap(), Arc::default())
    }

    fn bind(addr: SocketAddr, log: Arc<Mutex<Vec<Received>>>) -> Receiver {
        let listener = TcpListener::bind(addr).unwrap();
        let r = Receiver {
            addr: listener.local_addr().unwrap(),
            mode: Arc::new(Mutex::new(Mode::Accept)),
            log,
            stop: Arc::default(),
        };
        let (mode, log, stop) = (r.mode.clone(), r.log.clone(), r.stop.clone());
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                if stop.load(Ordering::Relaxed) {
                    return;
                }
                let Ok(conn) = conn else { continue };
                let (mode, log, stop) = (mode.clone(), log.clone(), stop.clone());
                std::thread::spawn(move || serve(conn, &mode, &log, &stop));
            }
        });
        r
    }

    /// Stops listening (connections are refused from now on); answers the
    /// address, for [`Receiver::restart`].
    pub(crate) fn stop(self) -> (SocketAddr, Arc<Mutex<Vec<Received>>>) {
        self.stop.store(true, Ordering::Relaxed);
        let _ = TcpStream::connect(self.addr);
        (self.addr, self.log.clone())
    }

    /// Listens again on `addr`, keeping the record.
    pub(crate) fn restart(addr: SocketAddr, log: Arc<Mutex<Vec<Received>>>) -> Receiver {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            match std::panic::catch_unwind(|| Self::bind(addr, log.clone())) {
                Ok(r) => return r,
                Err(_) if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(100))
                }
                Err(e) => std::panic::resume_unwind(e),
            }
        }
    }

    pub(crate) fn set_mode(&self, mode: Mode) {
        *self.mode.lock().unwrap() = mode;
    }

    pub(crate) fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// A `[[channel]]` named `name`: a webhook to this receiver's `/name`,
    /// with `extra` settings lines.
    pub(crate) fn channel(&self, name: &str, extra: &str) -> String {
        format!(
            "[[channel]]\nname = \"{name}\"\ntype = \"webhook\"\nurl = \"{}\"\n{extra}\n",
            self.url(&format!("/{name}"))
        )
    }

    /// Every request so far (answered or not).
    pub(crate) fn all(&self) -> Vec<Received> {
        self.log.lock().unwrap().clone()
    }

    /// The requests to `path` that were answered 2xx.
    pub(crate) fn delivered(&self, path: &str) -> Vec<Received> {
        self.all()
            .into_iter()
            .filter(|r| r.path == path && r.delivered())
            .collect()
    }

    /// Waits until `n` requests to `path` were delivered; answers them.
    pub(crate) fn wait_delivered(&self, path: &str, n: usize, secs: u64) -> Vec<Received> {
        let deadline = Instant::now() + Duration::from_secs(secs);
        loop {
            let got = self.delivered(path);
            if got.len() >= n {
                return got;
            }
            assert!(
                Instant::now() < deadline,
                "{path}: {} of {n} deliveries after {secs} s; all requests: {:?}",
                got.len(),
                self.all()
                    .iter()
                    .map(|r| (&r.path, r.status))
                    .collect::<Vec<_>>()
            );
            std::thread::sleep(Duration::from_millis(25));
        }
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        let _ = TcpStream::connect(self.addr);
    }
}

fn serve(mut conn: TcpStream, mode: &Mutex<Mode>, log: &Mutex<Vec<Received>>, stop: &AtomicBool) {
    let _ = conn.set_read_timeout(Some(Duration::from_secs(10)));
    let mut buf = Vec::new();
    let mut chunk = [0u8; 8192];
    let head_end = loop {
        if let Some(p) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break p + 4;
        }
        match conn.read(&mut chunk) {
            Ok(0) | Err(_) => return,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
    let mut lines = head.split("\r\n");
    let path = lines
        .next()
        .and_then(|l| l.split(' ').nth(1))
        .unwrap_or("")
        .to_owned();
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    let len: usize = headers
        .iter()
        .find(|(k, _)| k == "content-length")
        .and_then(|(_, v)| v.parse().ok())
        .unwrap_or(0);
    while buf.len() < head_end + len {
        match conn.read(&mut chunk) {
            Ok(0) | Err(_) => return,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    }
    let body = buf[head_end..head_end + len].to_vec();
    let mode = *mode.lock().unwrap();
    let status = match mode {
        Mode::Accept => 200,
        Mode::Fail(s) | Mode::Echo(s) => s,
        Mode::Hang => 0,
    };
    log.lock().unwrap().push(Received {
        path,
        headers,
        body,
        status,
        at: Instant::now(),
    });
    if status == 0 {
        let until = Instant::now() + Duration::from_secs(120);
        while !stop.load(Ordering::Relaxed) && Instant::now() < until {
            std::thread::sleep(Duration::from_millis(50));
        }
        return;
    }
    let echo;
    let body = if let Mode::Echo(_) = mode {
        echo = format!("cannot serve this request:\n{head}");
        echo.as_str()
    } else if status == 200 {
        "{}"
    } else {
        "{\"error\":\"told to fail\"}"
    };
    let _ = write!(
        conn,
        "HTTP/1.1 {status} X\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    );
}

/// Waits until something listens on `port`.
pub(crate) fn wait_listening(port: u16, what: &str, child: &mut Child) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        if let Ok(Some(status)) = child.try_wait() {
            panic!("{what} exited with {status} before listening");
        }
        assert!(
            Instant::now() < deadline,
            "{what} is not listening on {port}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A local SMTP sink: aiosmtpd writing each message to a maildir.
pub(crate) struct SmtpSink {
    pub(crate) port: u16,
    maildir: PathBuf,
    child: Child,
}

/// The Python with aiosmtpd (Debian's `python3-aiosmtpd` is for `/usr/bin/python3`).
fn python_with_aiosmtpd() -> Option<&'static str> {
    ["python3", "/usr/bin/python3"].into_iter().find(|py| {
        Command::new(py)
            .args(["-c", "import aiosmtpd"])
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    })
}

impl SmtpSink {
    pub(crate) fn start(dir: &Path) -> SmtpSink {
        let py = python_with_aiosmtpd().expect(
            "aiosmtpd is not installed: `apt-get install python3-aiosmtpd` (.ci/run installs it)",
        );
        let port = closed_port();
        let maildir = dir.join("maildir");
        let mut child = Command::new(py)
            .args(["-m", "aiosmtpd", "-n", "-l"])
            .arg(format!("127.0.0.1:{port}"))
            .args(["-c", "aiosmtpd.handlers.Mailbox"])
            .arg(&maildir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        wait_listening(port, "aiosmtpd", &mut child);
        SmtpSink {
            port,
            maildir,
            child,
        }
    }

    /// The messages received so far, as raw RFC 5322 text.
    pub(crate) fn messages(&self) -> Vec<String> {
        let Ok(entries) = std::fs::read_dir(self.maildir.join("new")) else {
            return Vec::new();
        };
        entries
            .flatten()
            .map(|e| std::fs::read_to_string(e.path()).unwrap())
            .collect()
    }
}

impl Drop for SmtpSink {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A real Prometheus Alertmanager (Debian's `prometheus-alertmanager`) on
/// loopback, forwarding every alert to `webhook` at once.
pub(crate) struct Alertmanager {
    pub(crate) port: u16,
    child: Child,
}

impl Alertmanager {
    /// `None` (with a note on stderr) when Alertmanager is not installed.
    pub(crate) fn start(dir: &Path, webhook: &str) -> Option<Alertmanager> {
        let bin = ["prometheus-alertmanager", "alertmanager"]
            .into_iter()
            .find(|b| {
                Command::new(b)
                    .arg("--version")
                    .stdout(Stdio::null())
                    .stderr(Stdio::null())
                    .status()
                    .is_ok_and(|s| s.success())
            });
        let Some(bin) = bin else {
            eprintln!(
                "SKIPPED: Prometheus Alertmanager is not installed \
                 (`apt-get install prometheus-alertmanager`; .ci/run installs it)"
            );
            return None;
        };
        let config = dir.join("alertmanager.yml");
        std::fs::write(
            &config,
            format!(
                "route:\n  receiver: rec\n  group_by: ['alertname']\n  group_wait: 0s\n  group_interval: 1s\n  repeat_interval: 1h\n\
                 receivers:\n  - name: rec\n    webhook_configs:\n      - url: '{webhook}'\n        send_resolved: true\n"
            ),
        )
        .unwrap();
        let port = closed_port();
        let mut child = Command::new(bin)
            .arg(format!("--config.file={}", config.display()))
            .arg(format!("--storage.path={}", dir.join("am-data").display()))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .arg("--cluster.listen-address=")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        wait_listening(port, "alertmanager", &mut child);
        Some(Alertmanager { port, child })
    }

    pub(crate) fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }
}

impl Drop for Alertmanager {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
