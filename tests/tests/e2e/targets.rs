//! Local things for probes to probe: an HTTP server whose answer the test
//! controls, and a TCP server that accepts and never answers.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU16, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// An HTTP/1.1 server on 127.0.0.1 answering every request with the
/// current status and body (`Connection: close`).
pub(crate) struct HttpTarget {
    pub(crate) addr: SocketAddr,
    status: Arc<AtomicU16>,
    body: Arc<Mutex<String>>,
    delay_ms: Arc<AtomicU64>,
    pub(crate) hits: Arc<AtomicU64>,
    stop: Arc<AtomicBool>,
}

impl HttpTarget {
    pub(crate) fn start() -> HttpTarget {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let t = HttpTarget {
            addr: listener.local_addr().unwrap(),
            status: Arc::new(AtomicU16::new(200)),
            body: Arc::new(Mutex::new("{\"status\":\"ok\"}".into())),
            delay_ms: Arc::new(AtomicU64::new(0)),
            hits: Arc::default(),
            stop: Arc::default(),
        };
        let (status, body, delay, hits, stop) = (
            t.status.clone(),
            t.body.clone(),
            t.delay_ms.clone(),
            t.hits.clone(),
            t.stop.clone(),
        );
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                if stop.load(Ordering::Relaxed) {
                    return;
                }
                let Ok(mut conn) = conn else { continue };
                let (status, body, delay, hits) =
                    (status.clone(), body.clone(), delay.clone(), hits.clone());
                std::thread::spawn(move || {
                    if read_head(&mut conn).is_none() {
                        return;
                    }
                    hits.fetch_add(1, Ordering::Relaxed);
                    std::thread::sleep(Duration::from_millis(delay.load(Ordering::Relaxed)));
                    let body = body.lock().unwrap().clone();
                    let code = status.load(Ordering::Relaxed);
                    let _ = write!(
                        conn,
                        "HTTP/1.1 {code} X\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                        body.len()
                    );
                });
            }
        });
        t
    }

    pub(crate) fn set_status(&self, code: u16) {
        self.status.store(code, Ordering::Relaxed);
    }

    pub(crate) fn set_body(&self, body: &str) {
        *self.body.lock().unwrap() = body.to_owned();
    }

    pub(crate) fn set_delay_ms(&self, ms: u64) {
        self.delay_ms.store(ms, Ordering::Relaxed);
    }

    pub(crate) fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    pub(crate) fn hits(&self) -> u64 {
        self.hits.load(Ordering::Relaxed)
    }
}

impl Drop for HttpTarget {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        let _ = TcpStream::connect(self.addr);
    }
}

/// Reads up to the end of the request head.
fn read_head(conn: &mut TcpStream) -> Option<()> {
    let mut buf = Vec::new();
    let mut byte = [0u8; 1024];
    while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
        let n = conn.read(&mut byte).ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&byte[..n]);
    }
    Some(())
}

/// Accepts connections and holds them open without a byte in reply.
pub(crate) struct SilentTarget {
    pub(crate) addr: SocketAddr,
}

impl SilentTarget {
    pub(crate) fn start() -> SilentTarget {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        std::thread::spawn(move || {
            let mut held = Vec::new();
            for conn in listener.incoming().flatten() {
                held.push(conn);
            }
        });
        SilentTarget { addr }
    }
}

/// A port on 127.0.0.1 that nothing listens on (bound, then released).
pub(crate) fn closed_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}
