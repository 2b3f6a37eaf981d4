//! `assay config check FILE`: is this configuration valid? Exit 0 if so, 1 with the reasons if not.

use std::path::PathBuf;

use clap::Args;

use super::{EXIT_FAILED, EXIT_OK};
use crate::config::HostConfig;

#[derive(Debug, Args)]
pub struct CheckArgs {
    /// The configuration file to check (with the `ASSAY_…__…` environment applied, as `serve` would).
    pub file: PathBuf,
}

pub(super) fn run(args: CheckArgs) -> anyhow::Result<u8> {
    let (config, overrides) = match HostConfig::load(Some(&args.file)) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("assay: {e}");
            return Ok(EXIT_FAILED);
        }
    };
    let mut problems = Vec::new();
    if let Err(e) = config.check_serve() {
        problems.push(e);
    }
    // The certificate and key load as `serve` would load them.
    if let Some(tls) = &config.server.tls {
        let base = config.base_dir.clone().unwrap_or_else(|| ".".into());
        if let Err(e) = crate::api::tls::TlsFiles::new(tls, &base).load() {
            problems.push(e);
        }
    }
    // Channels build as `serve` builds them (a body_template compiles and renders).
    for c in &config.channels {
        if let Err(e) = crate::alerts::channels::Channel::new(c.clone()) {
            problems.push(e);
        }
    }
    // The routing tests read and name real channels (running them needs the
    // plugins: `assay alert route-test`).
    if let Some(path) = &config.alerting.route_tests
        && let Err(e) = crate::alerts::route_test::Cases::load_for(path, &config)
    {
        problems.push(e.to_string());
    }
    for m in &config.monitors {
        if !m.path.exists() {
            println!(
                "note: monitor {:?}: {} does not exist yet",
                m.name,
                m.path.display()
            );
        }
    }
    for o in &overrides {
        println!("note: {} is set by {}", o.key, o.var);
    }
    if problems.is_empty() {
        println!("{}: ok", args.file.display());
        Ok(EXIT_OK)
    } else {
        for p in &problems {
            eprintln!("assay: invalid config {}: {p}", args.file.display());
        }
        Ok(EXIT_FAILED)
    }
}
