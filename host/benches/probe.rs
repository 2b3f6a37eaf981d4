//! Cost of one HTTP probe: the shipped `http` plugin through the sandbox
//! (fresh instance, wasi:http, the grant check) against the same request sent
//! natively through the same transport (`wasmtime_wasi_http::default_send_request`)
//! and judged by the same plugin code compiled natively: the physical limit.
//!
//! Needs `plugins.d/http.wasm` (`cargo xtask build`); then
//! `cargo bench -p assay-host --bench probe`. Numbers go in BENCHMARKS.md.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use assay_host::config::{HostConfig, ProbeSection};
use assay_host::probes::{ResultStatus, run_once};
use assay_host::registry::load_plugin;
use assay_host::runtime::{Runtime, RuntimeOptions};
use assay_plugin_sdk::ProbeStatus;
use bytes::Bytes;
use criterion::{Criterion, criterion_group, criterion_main};
use http_body_util::{BodyExt, Empty};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// A minimal HTTP/1.1 responder on 127.0.0.1: one answer per connection.
async fn serve() -> std::net::SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let (mut conn, _) = listener.accept().await.unwrap();
            tokio::spawn(async move {
                let mut buf = [0u8; 2048];
                let mut seen = Vec::new();
                while !seen.windows(4).any(|w| w == b"\r\n\r\n") {
                    match conn.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => seen.extend_from_slice(&buf[..n]),
                    }
                }
                let body = br#"{"status":"ok"}"#;
                let head = format!(
                    "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
                    body.len()
                );
                let _ = conn.write_all(head.as_bytes()).await;
                let _ = conn.write_all(body).await;
            });
        }
    });
    addr
}

fn bench(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_owned();
    let wasm = std::env::var_os("ASSAY_SHIPPED_PLUGINS")
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join("plugins.d"))
        .join("http.wasm");
    assert!(
        wasm.exists(),
        "{} is missing: run `cargo xtask build` first",
        wasm.display()
    );
    let runtime = Arc::new(
        Runtime::new(RuntimeOptions {
            cache_dir: None,
            ..RuntimeOptions::default()
        })
        .unwrap(),
    );
    let addr = rt.block_on(serve());
    let url = format!("http://{addr}/health");
    let config = HostConfig::default();
    let plugin = Arc::new(rt.block_on(load_plugin(&runtime, &wasm, &config)).unwrap());
    let section: ProbeSection = toml::from_str(&format!(
        "name = \"b\"\nplugin = \"http\"\nallow_http = [\"{addr}\"]\nconfig = '{{\"url\": \"{url}\", \"json\": {{\"/status\": \"ok\"}}}}'\n"
    ))
    .unwrap();
    let spec = section.resolve(None, "bench", 1024).unwrap();
    let probe_config: probe_http::Config =
        assay_plugin_sdk::parse_config(&spec.config_json).unwrap();

    let mut g = c.benchmark_group("http_probe");
    g.measurement_time(Duration::from_secs(5));
    g.bench_function("wasm_sandboxed", |b| {
        b.iter(|| {
            let r = rt.block_on(run_once(&runtime, Some(&plugin), &spec, "manual"));
            assert_eq!(r.status, ResultStatus::Pass, "{}", r.message);
        })
    });
    g.bench_function("native_same_transport", |b| {
        b.iter(|| {
            rt.block_on(async {
                let started = Instant::now();
                let req = http::Request::get(url.as_str())
                    .body(Empty::<Bytes>::new().map_err(|never| match never {}))
                    .unwrap();
                let (resp, io) = wasmtime_wasi_http::default_send_request(req, None)
                    .await
                    .unwrap();
                let io = tokio::spawn(io);
                let status = resp.status().as_u16();
                let body = resp.into_body().collect().await.unwrap().to_bytes();
                let _ = io.await;
                let response = assay_plugin_sdk::http::Response {
                    status,
                    body: body.to_vec(),
                    ..Default::default()
                };
                let out = probe_http::judge(&probe_config, None, Ok(response), started.elapsed());
                assert_eq!(out.status, ProbeStatus::Pass);
            })
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
