//! A throwaway PostgreSQL server for the tests: `initdb` in a temporary
//! directory, as an unprivileged user, on a free port; stopped when dropped.
//!
//! The tests find it through the environment ([`TestPostgres::env`]):
//! - `ASSAY_TEST_PG`: `postgres://assay@127.0.0.1:PORT` (no database: each
//!   test makes its own);
//! - `ASSAY_TEST_PG_BIN`: the directory of `createdb`, `pg_ctl` and friends;
//! - `ASSAY_TEST_PG_DATA`: the data directory, and `ASSAY_TEST_PG_AS`: the
//!   user it runs as, so that a test can stop and start the server (the
//!   "database down" tests);
//! - `ASSAY_TEST_PG_CA`: the CA (PEM) of the server's certificate: the
//!   server speaks TLS (`ssl = on`, a certificate for 127.0.0.1 and
//!   localhost from a throwaway CA), so every test connection that
//!   prefers TLS, as assay does by default, gets it.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, bail};

pub(crate) struct TestPostgres {
    bin: PathBuf,
    dir: PathBuf,
    port: u16,
    /// `Some("postgres")` when we are root: PostgreSQL refuses to run as root.
    user: Option<String>,
}

/// The newest `/usr/lib/postgresql/N/bin` (Debian's layout), else the directory of `pg_ctl` on PATH.
pub(crate) fn bin_dir() -> Option<PathBuf> {
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let v = e.file_name().to_str()?.parse().ok()?;
            let bin = e.path().join("bin");
            bin.join("initdb").exists().then_some((v, bin))
        })
        .collect();
    versions.sort();
    if let Some((_, bin)) = versions.pop() {
        return Some(bin);
    }
    let out = Command::new("sh")
        .args(["-c", "command -v initdb"])
        .output()
        .ok()?;
    let path = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
    path.parent()
        .filter(|_| out.status.success())
        .map(Path::to_owned)
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}

impl TestPostgres {
    /// Starts a fresh server.
    pub(crate) fn start() -> anyhow::Result<TestPostgres> {
        let bin = bin_dir().context("PostgreSQL is not installed (no initdb found)")?;
        let user = is_root().then(|| "postgres".to_owned());
        let dir = std::env::temp_dir().join(format!("assay-test-pg-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
        if let Some(u) = &user {
            crate::run(Command::new("chown").arg(format!("{u}:")).arg(&dir))?;
        }
        let port = std::net::TcpListener::bind("127.0.0.1:0")?
            .local_addr()?
            .port();
        let pg = TestPostgres {
            bin,
            dir,
            port,
            user,
        };
        let data = pg.dir.join("data");
        crate::run(
            pg.as_user(&pg.bin.join("initdb"))
                .args([
                    "-A",
                    "trust",
                    "-U",
                    "assay",
                    "-E",
                    "UTF8",
                    "--no-sync",
                    "-D",
                ])
                .arg(&data)
                .stdout(std::process::Stdio::null()),
        )?;
        pg.certificates()?;
        // The same settings every start (the tests' own restarts too).
        let conf = format!(
            "port = {port}\nlisten_addresses = '127.0.0.1'\nunix_socket_directories = '{dir}'\n\
             fsync = off\nsynchronous_commit = off\nfull_page_writes = off\nmax_connections = 400\n\
             ssl = on\nssl_cert_file = '{dir}/server.crt'\nssl_key_file = '{dir}/server.key'\n",
            dir = pg.dir.display()
        );
        std::fs::OpenOptions::new()
            .append(true)
            .open(data.join("postgresql.conf"))
            .and_then(|mut f| std::io::Write::write_all(&mut f, conf.as_bytes()))
            .context("writing postgresql.conf")?;
        crate::run(
            pg.as_user(&pg.bin.join("pg_ctl"))
                .args(["-w", "-l"])
                .arg(pg.dir.join("log"))
                .arg("-D")
                .arg(&data)
                .arg("start")
                .stdout(std::process::Stdio::null()),
        )?;
        eprintln!(
            "xtask: PostgreSQL for the tests on 127.0.0.1:{port} ({})",
            pg.dir.display()
        );
        Ok(pg)
    }

    /// A throwaway CA and the server's certificate and key (readable by the server's user only).
    fn certificates(&self) -> anyhow::Result<()> {
        let d = &self.dir;
        let openssl = |args: &[&str]| {
            crate::run(
                Command::new("openssl")
                    .args(args)
                    .current_dir(d)
                    .stdout(std::process::Stdio::null())
                    .stderr(std::process::Stdio::null()),
            )
        };
        let ec = [
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
        ];
        openssl(
            &[
                &["req", "-x509"],
                &ec[..],
                &[
                    "-keyout",
                    "ca.key",
                    "-out",
                    "ca.pem",
                    "-days",
                    "3",
                    "-subj",
                    "/CN=assay test CA",
                    "-addext",
                    "basicConstraints=critical,CA:TRUE",
                    "-addext",
                    "keyUsage=critical,keyCertSign",
                ],
            ]
            .concat(),
        )?;
        openssl(
            &[
                &["req"],
                &ec[..],
                &[
                    "-keyout",
                    "server.key",
                    "-out",
                    "server.csr",
                    "-subj",
                    "/CN=127.0.0.1",
                ],
            ]
            .concat(),
        )?;
        std::fs::write(
            d.join("server.ext"),
            "subjectAltName = IP:127.0.0.1, DNS:localhost\n",
        )?;
        openssl(&[
            "x509",
            "-req",
            "-in",
            "server.csr",
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-out",
            "server.crt",
            "-days",
            "3",
            "-extfile",
            "server.ext",
        ])?;
        crate::run(Command::new("chmod").arg("600").arg(d.join("server.key")))?;
        if let Some(u) = &self.user {
            crate::run(
                Command::new("chown")
                    .arg(format!("{u}:"))
                    .arg(d.join("server.key"))
                    .arg(d.join("server.crt")),
            )?;
        }
        Ok(())
    }

    fn as_user(&self, program: &Path) -> Command {
        match &self.user {
            Some(u) => {
                let mut c = Command::new("runuser");
                c.args(["-u", u, "--"]).arg(program);
                c
            }
            None => Command::new(program),
        }
    }

    /// What the tests read to reach it.
    pub(crate) fn env(&self) -> Vec<(&'static str, String)> {
        vec![
            (
                "ASSAY_TEST_PG",
                format!("postgres://assay@127.0.0.1:{}", self.port),
            ),
            ("ASSAY_TEST_PG_BIN", self.bin.display().to_string()),
            (
                "ASSAY_TEST_PG_DATA",
                self.dir.join("data").display().to_string(),
            ),
            ("ASSAY_TEST_PG_AS", self.user.clone().unwrap_or_default()),
            (
                "ASSAY_TEST_PG_CA",
                self.dir.join("ca.pem").display().to_string(),
            ),
        ]
    }
}

impl Drop for TestPostgres {
    fn drop(&mut self) {
        let stopped = self
            .as_user(&self.bin.join("pg_ctl"))
            .args(["-m", "immediate", "-D"])
            .arg(self.dir.join("data"))
            .arg("stop")
            .stdout(std::process::Stdio::null())
            .status();
        if !stopped.is_ok_and(|s| s.success()) {
            eprintln!(
                "xtask: stopping the tests' PostgreSQL failed; its log: {}",
                self.dir.join("log").display()
            );
            return;
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Fails with a clear message when PostgreSQL cannot be found after installing.
pub(crate) fn check_installed() -> anyhow::Result<()> {
    if bin_dir().is_none() {
        bail!("PostgreSQL's initdb was not found after installing the `postgresql` package");
    }
    Ok(())
}
