//! `[server.tls]`: HTTPS against a test CA made with the real `openssl`,
//! checked with real clients (curl, `openssl s_client`, reqwest), mutual
//! TLS, and certificate rotation on disk under load with no failed request.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use crate::common::Env;
use crate::server::{Server, Start};

/// A test CA and what it signed, in one directory.
struct Pki {
    dir: PathBuf,
}

fn openssl(dir: &Path, args: &[&str]) {
    let out = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("openssl is not installed (cargo xtask test installs it)");
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

impl Pki {
    fn new(dir: &Path) -> Pki {
        let dir = dir.join("pki");
        std::fs::create_dir_all(&dir).unwrap();
        openssl(
            &dir,
            &[
                "req",
                "-x509",
                "-newkey",
                "ec",
                "-pkeyopt",
                "ec_paramgen_curve:P-256",
                "-nodes",
                "-keyout",
                "ca.key",
                "-out",
                "ca.pem",
                "-days",
                "2",
                "-subj",
                "/CN=assay test CA",
            ],
        );
        std::fs::write(
            dir.join("server.ext"),
            "subjectAltName=DNS:localhost,IP:127.0.0.1\n",
        )
        .unwrap();
        std::fs::write(dir.join("client.ext"), "extendedKeyUsage=clientAuth\n").unwrap();
        Pki { dir }
    }

    /// Issues `name.pem` and `name.key` (a server certificate for
    /// localhost, or a client one), and answers the certificate's serial.
    fn issue(&self, name: &str, client: bool) -> String {
        let subject = format!("/CN={name}");
        let key = format!("{name}.key");
        let csr = format!("{name}.csr");
        let pem = format!("{name}.pem");
        let ext = if client { "client.ext" } else { "server.ext" };
        openssl(
            &self.dir,
            &[
                "req",
                "-newkey",
                "ec",
                "-pkeyopt",
                "ec_paramgen_curve:P-256",
                "-nodes",
                "-keyout",
                &key,
                "-out",
                &csr,
                "-subj",
                &subject,
            ],
        );
        openssl(
            &self.dir,
            &[
                "x509",
                "-req",
                "-in",
                &csr,
                "-CA",
                "ca.pem",
                "-CAkey",
                "ca.key",
                "-CAcreateserial",
                "-out",
                &pem,
                "-days",
                "2",
                "-extfile",
                ext,
            ],
        );
        self.serial(&self.path(&pem))
    }

    fn serial(&self, pem: &Path) -> String {
        let out = Command::new("openssl")
            .args(["x509", "-noout", "-serial", "-in"])
            .arg(pem)
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).trim().to_owned()
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    /// Certificate and key in one PEM, as reqwest's `Identity` takes them.
    fn identity(&self, name: &str) -> PathBuf {
        let mut pem = std::fs::read(self.path(&format!("{name}.pem"))).unwrap();
        pem.extend(std::fs::read(self.path(&format!("{name}.key"))).unwrap());
        let p = self.path(&format!("{name}.identity.pem"));
        std::fs::write(&p, pem).unwrap();
        p
    }
}

fn config(pki: &Pki, extra: &str) -> String {
    format!(
        "[server.tls]\ncert = \"{}\"\nkey = \"{}\"\n{extra}\n",
        pki.path("live.pem").display(),
        pki.path("live.key").display()
    )
}

/// The live certificate and key become `name`'s, each by an atomic rename.
fn install(pki: &Pki, name: &str, pause: Duration) {
    for ext in ["pem", "key"] {
        let tmp = pki.path(&format!(".live.{ext}.tmp"));
        std::fs::copy(pki.path(&format!("{name}.{ext}")), &tmp).unwrap();
        std::fs::rename(&tmp, pki.path(&format!("live.{ext}"))).unwrap();
        std::thread::sleep(pause);
    }
}

/// A server that requires client certificates from the test CA, and whose
/// harness client presents `client`'s.
fn mutual_tls_server(env: &Env, client: &str) -> (Pki, Server) {
    let pki = Pki::new(env.work_dir());
    pki.issue("one", false);
    pki.issue(client, true);
    install(&pki, "one", Duration::ZERO);
    let ca = pki.path("ca.pem");
    let identity = pki.identity(client);
    let server = Server::start(
        env,
        Start {
            config: &config(&pki, &format!("client_ca = \"{}\"", ca.display())),
            ca: Some(&ca),
            identity: Some(&identity),
            ..Start::default()
        },
    );
    (pki, server)
}

fn port(server: &Server) -> String {
    server.base.rsplit(':').next().unwrap().to_owned()
}

/// `openssl s_client` against the server with `args`, its output through `then` (shell).
fn s_client(server: &Server, args: &str, then: &str) -> String {
    let out = Command::new("sh")
        .arg("-c")
        .arg(format!(
            "openssl s_client -connect 127.0.0.1:{} {args} </dev/null {then}",
            port(server)
        ))
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

/// The serial of the certificate the server presents now.
fn served_serial(pki: &Pki, server: &Server) -> String {
    let ca = pki.path("ca.pem");
    s_client(
        server,
        &format!("-servername localhost -CAfile {}", ca.display()),
        "2>/dev/null | openssl x509 -noout -serial",
    )
}

fn curl(args: &[&str]) -> (bool, String) {
    let out = Command::new("curl")
        .args(["-sS", "--max-time", "10"])
        .args(args)
        .output()
        .expect("curl");
    (
        out.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

#[test]
fn https_with_a_test_ca_speaks_tls_1_3_and_refuses_plain_http() {
    let env = Env::new();
    let pki = Pki::new(env.work_dir());
    pki.issue("one", false);
    install(&pki, "one", Duration::ZERO);
    let ca = pki.path("ca.pem");
    let server = Server::start(
        &env,
        Start {
            config: &config(&pki, ""),
            ca: Some(&ca),
            ..Start::default()
        },
    );
    assert!(server.base.starts_with("https://"), "{}", server.base);
    assert!(server.log().contains("listening on https://"));

    let (ok, out) = curl(&["--cacert", ca.to_str().unwrap(), &server.url("/health")]);
    assert!(ok, "{out}");
    assert!(out.contains("\"status\""), "{out}");
    // Without the CA the certificate is not trusted; plain HTTP gets no answer.
    let (ok, out) = curl(&[&server.url("/health")]);
    assert!(!ok, "an untrusted certificate was accepted: {out}");
    let (ok, _) = curl(&[&format!("http://127.0.0.1:{}/health", port(&server))]);
    assert!(!ok, "plain HTTP was answered on a TLS listener");

    let text = s_client(
        &server,
        &format!("-servername localhost -CAfile {}", ca.display()),
        "2>&1",
    );
    assert!(text.contains("TLSv1.3"), "{text}");
    assert!(text.contains("Verify return code: 0 (ok)"), "{text}");
    // TLS 1.1 and older are refused.
    assert!(
        !s_client(&server, "-tls1_1", "2>&1").contains("Cipher is TLS"),
        "TLS 1.1 was accepted"
    );
    // The API works as usual over TLS.
    let (status, v) = crate::server::json(server.get("/v1/plugins").send().unwrap());
    assert_eq!(status, 200, "{v}");
}

#[test]
fn with_client_ca_a_client_without_a_certificate_is_refused() {
    let env = Env::new();
    let (pki, server) = mutual_tls_server(&env, "ops");
    let ca = pki.path("ca.pem");
    // With its certificate: served (the harness's client has one).
    assert_eq!(server.get("/ready").send().unwrap().status(), 200);
    let (ok, out) = curl(&[
        "--cacert",
        ca.to_str().unwrap(),
        "--cert",
        pki.path("ops.pem").to_str().unwrap(),
        "--key",
        pki.path("ops.key").to_str().unwrap(),
        &server.url("/health"),
    ]);
    assert!(ok, "{out}");
    // Without one: the handshake fails, nothing is served.
    let (ok, out) = curl(&["--cacert", ca.to_str().unwrap(), &server.url("/health")]);
    assert!(!ok, "served without a client certificate: {out}");
    let bare = reqwest::blocking::Client::builder()
        .add_root_certificate(reqwest::Certificate::from_pem(&std::fs::read(&ca).unwrap()).unwrap())
        .build()
        .unwrap();
    assert!(bare.get(server.url("/health")).send().is_err());
    // A certificate from another CA is refused too.
    let other = Pki::new(&env.work_dir().join("other"));
    other.issue("stranger", true);
    let (ok, _) = curl(&[
        "--cacert",
        ca.to_str().unwrap(),
        "--cert",
        other.path("stranger.pem").to_str().unwrap(),
        "--key",
        other.path("stranger.key").to_str().unwrap(),
        &server.url("/health"),
    ]);
    assert!(!ok, "a stranger's certificate was accepted");
    crate::server::eventually(10, "the refused handshakes counted", || {
        let m = server.get("/metrics").send().unwrap().text().unwrap();
        m.lines()
            .find(|l| {
                l.starts_with("assay_tls_handshake_failures_total{reason=\"client_certificate\"}")
            })
            .and_then(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
            .filter(|n| *n >= 2.0)
    });
}

#[test]
fn a_rotated_certificate_is_picked_up_under_load_without_a_failed_request() {
    let env = Env::new();
    let pki = Pki::new(env.work_dir());
    let first = pki.issue("one", false);
    let second = pki.issue("two", false);
    let third = pki.issue("three", false);
    assert_ne!(first, second);
    install(&pki, "one", Duration::ZERO);
    let ca = pki.path("ca.pem");
    let server = Arc::new(Server::start(
        &env,
        Start {
            config: &config(&pki, "reload_secs = 1"),
            ca: Some(&ca),
            ..Start::default()
        },
    ));
    assert_eq!(served_serial(&pki, &server), first);

    // Load: four clients; two keep their connections, two open a new one
    // for every request (so they see each new certificate).
    let stop = Arc::new(AtomicBool::new(false));
    let done = Arc::new(AtomicUsize::new(0));
    let failed = Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
    let root = reqwest::Certificate::from_pem(&std::fs::read(&ca).unwrap()).unwrap();
    let workers: Vec<_> = (0..4)
        .map(|i| {
            let (stop, done, failed, server, root) = (
                stop.clone(),
                done.clone(),
                failed.clone(),
                server.clone(),
                root.clone(),
            );
            std::thread::spawn(move || {
                let client = |fresh: bool| {
                    let mut b = reqwest::blocking::Client::builder()
                        .add_root_certificate(root.clone())
                        .timeout(Duration::from_secs(10));
                    if fresh {
                        b = b.pool_max_idle_per_host(0);
                    }
                    b.build().unwrap()
                };
                let c = client(i % 2 == 1);
                while !stop.load(Ordering::Relaxed) {
                    match c.get(server.url("/health")).send() {
                        Ok(r) if r.status() == 200 => {
                            done.fetch_add(1, Ordering::Relaxed);
                        }
                        Ok(r) => failed
                            .lock()
                            .unwrap()
                            .push(format!("status {}", r.status())),
                        Err(e) => failed.lock().unwrap().push(format!("{e:?}")),
                    }
                }
            })
        })
        .collect();

    // A clean rotation.
    std::thread::sleep(Duration::from_millis(500));
    install(&pki, "two", Duration::ZERO);
    wait_serial(&pki, &server, &second);
    // A rotation caught half-way: the new certificate 1.5 s before its key.
    // Meanwhile the pair on disk does not match; the old one keeps serving.
    install(&pki, "three", Duration::from_millis(1500));
    wait_serial(&pki, &server, &third);
    std::thread::sleep(Duration::from_millis(500));

    stop.store(true, Ordering::Relaxed);
    for w in workers {
        w.join().unwrap();
    }
    let failed = failed.lock().unwrap();
    let n = done.load(Ordering::Relaxed);
    assert!(
        failed.is_empty(),
        "{} of {n} requests failed: {:?}",
        failed.len(),
        &failed[..failed.len().min(5)]
    );
    assert!(n > 100, "only {n} requests made: no load");
    let log = server.log();
    assert!(log.contains("TLS: reloaded"), "{log}");
    assert!(
        log.contains("TLS: keeping the current certificate"),
        "{log}"
    );
}

fn wait_serial(pki: &Pki, server: &Server, want: &str) {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let got = served_serial(pki, server);
        if got == want {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "still serving {got}, not {want}:\n{}",
            server.log()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// A real Prometheus scrapes `/metrics` over mutual TLS, configured as
/// `deploy/prometheus/prometheus.yml`'s TLS variant says.
#[test]
fn prometheus_scrapes_over_mutual_tls() {
    let env = Env::new();
    let (pki, server) = mutual_tls_server(&env, "prometheus");
    let ca = pki.path("ca.pem");
    let dir = env.work_dir();
    let prom_port = crate::targets::closed_port();
    std::fs::write(
        dir.join("prometheus.yml"),
        format!(
            "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n\
             scrape_configs:\n  - job_name: assay\n    scheme: https\n    metrics_path: /metrics\n\
             \x20   tls_config:\n      ca_file: {ca}\n      cert_file: {cert}\n      key_file: {key}\n      server_name: localhost\n\
             \x20   static_configs:\n      - targets: [\"127.0.0.1:{port}\"]\n",
            ca = ca.display(),
            cert = pki.path("prometheus.pem").display(),
            key = pki.path("prometheus.key").display(),
            port = port(&server),
        ),
    )
    .unwrap();
    let mut prom = Command::new("prometheus")
        .arg(format!(
            "--config.file={}",
            dir.join("prometheus.yml").display()
        ))
        .arg(format!(
            "--storage.tsdb.path={}",
            dir.join("prom-data").display()
        ))
        .arg(format!("--web.listen-address=127.0.0.1:{prom_port}"))
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("prometheus is not installed (cargo xtask test installs it)");
    let plain = reqwest::blocking::Client::new();
    let health = crate::server::eventually(60, "Prometheus to scrape assay over TLS", || {
        let v: serde_json::Value = plain
            .get(format!("http://127.0.0.1:{prom_port}/api/v1/targets"))
            .send()
            .ok()?
            .json()
            .ok()?;
        let t = &v["data"]["activeTargets"][0];
        (t["health"] == "up").then(|| t.clone())
    });
    let _ = prom.kill();
    let _ = prom.wait();
    assert_eq!(
        health["scrapeUrl"],
        format!("https://127.0.0.1:{}/metrics", port(&server))
    );
}
