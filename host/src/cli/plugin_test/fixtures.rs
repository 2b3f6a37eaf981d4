//! What `assay plugin test` serves a probe for one case: an HTTP answer, a
//! TCP banner or a file, each on 127.0.0.1 or in a temporary directory, and
//! the grant that lets the probe reach it (and nothing else).

use std::time::Duration;

use anyhow::Context;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::task::JoinHandle;

use super::cases::Fixture;

/// A running fixture; stops when dropped.
pub(crate) struct Running {
    /// `${name}` placeholders and what they become.
    pub(crate) vars: Vec<(&'static str, String)>,
    pub(crate) allow_http: Vec<String>,
    pub(crate) allow_tcp: Vec<String>,
    pub(crate) allow_read: Vec<std::path::PathBuf>,
    server: Option<JoinHandle<()>>,
    _dir: Option<tempfile::TempDir>,
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Some(s) = &self.server {
            s.abort();
        }
    }
}

impl Running {
    fn none() -> Running {
        Running {
            vars: Vec::new(),
            allow_http: Vec::new(),
            allow_tcp: Vec::new(),
            allow_read: Vec::new(),
            server: None,
            _dir: None,
        }
    }
}

/// Starts `fixture` (none: nothing to serve, nothing granted).
pub(crate) async fn start(fixture: Option<&Fixture>) -> anyhow::Result<Running> {
    let Some(fixture) = fixture else {
        return Ok(Running::none());
    };
    let mut running = Running::none();
    match fixture.clone() {
        Fixture::Http {
            status,
            body,
            delay_ms,
            content_type,
        } => {
            let status = axum::http::StatusCode::from_u16(status)
                .with_context(|| format!("fixture status {status} is not an HTTP status"))?;
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
            let addr = listener.local_addr()?;
            let app = axum::Router::new().fallback(move || {
                let (body, content_type) = (body.clone(), content_type.clone());
                async move {
                    tokio::time::sleep(Duration::from_millis(delay_ms)).await;
                    (
                        status,
                        [(axum::http::header::CONTENT_TYPE, content_type)],
                        body,
                    )
                }
            });
            running.server = Some(tokio::spawn(async move {
                let _ = axum::serve(listener, app).await;
            }));
            running.vars = vec![
                ("url", format!("http://{addr}/")),
                ("addr", addr.to_string()),
            ];
            running.allow_http = vec![addr.to_string()];
        }
        Fixture::Tcp { banner } => {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
            let addr = listener.local_addr()?;
            running.server = Some(tokio::spawn(async move {
                while let Ok((mut socket, _)) = listener.accept().await {
                    let banner = banner.clone();
                    tokio::spawn(async move {
                        let _ = socket.write_all(banner.as_bytes()).await;
                        // Keep the connection open until the probe closes it
                        // (or a while passes), as a server would.
                        let mut sink = [0u8; 1024];
                        let _ = tokio::time::timeout(Duration::from_secs(10), async {
                            while matches!(socket.read(&mut sink).await, Ok(n) if n > 0) {}
                        })
                        .await;
                    });
                }
            }));
            running.vars = vec![("addr", addr.to_string())];
            running.allow_tcp = vec![addr.to_string()];
        }
        Fixture::File { content } => {
            let dir = tempfile::tempdir().context("a directory for the file fixture")?;
            let path = dir.path().join("fixture");
            std::fs::write(&path, content).context("writing the file fixture")?;
            running.vars = vec![
                ("path", path.display().to_string()),
                ("dir", dir.path().display().to_string()),
            ];
            running.allow_read = vec![dir.path().to_owned()];
            running._dir = Some(dir);
        }
    }
    Ok(running)
}

/// `value` with every `${name}` of `vars` filled in, in every string.
pub(crate) fn fill(value: &mut toml::Value, vars: &[(&str, String)]) {
    match value {
        toml::Value::String(s) => {
            for (name, v) in vars {
                *s = s.replace(&format!("${{{name}}}"), v);
            }
        }
        toml::Value::Array(items) => items.iter_mut().for_each(|v| fill(v, vars)),
        toml::Value::Table(t) => t.iter_mut().for_each(|(_, v)| fill(v, vars)),
        _ => {}
    }
}
