//! `assay alert test --channel NAME`: sends a test notification straight to
//! one configured channel (not through the outbox), so an operator can check
//! a channel's URL, credentials and formatting before relying on it.
//! Exit 0 when the channel took it, 1 when delivery failed, 2 on a bad config
//! or an unknown channel.
//!
//! `assay alert route-test CASES.toml`: runs routing test cases (see
//! [`crate::alerts::route_test`]) through the config's routers, inhibition
//! and grouping. Exit 0 when all pass, 1 when any fails, 2 on bad input.

use std::path::PathBuf;

use clap::Args;

use super::{EXIT_ERROR, EXIT_FAILED, EXIT_OK, Format, GlobalArgs};
use crate::alerts::Notification;
use crate::alerts::channels::Channel;
use crate::alerts::route_test::{self, Cases};
use crate::alerts::routing::Chain;

#[derive(Debug, Args)]
pub struct TestArgs {
    /// The `[[channel]]` to send to.
    #[arg(long, value_name = "NAME")]
    pub channel: String,
}

pub(super) async fn test(global: &GlobalArgs, args: TestArgs) -> anyhow::Result<u8> {
    let config = super::host_config(global)?;
    let Some(section) = config.channels.iter().find(|c| c.name == args.channel) else {
        let names: Vec<&str> = config.channels.iter().map(|c| c.name.as_str()).collect();
        eprintln!(
            "error: no channel named {:?} in the config (configured: {})",
            args.channel,
            if names.is_empty() {
                "none".to_owned()
            } else {
                names.join(", ")
            }
        );
        return Ok(EXIT_ERROR);
    };
    let channel = match Channel::new(section.clone()) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("error: channel {}: {e}", args.channel);
            return Ok(EXIT_ERROR);
        }
    };
    let n = Notification::test(&args.channel);
    match channel.deliver(&n).await {
        Ok(()) => {
            println!(
                "sent a test notification to {} ({}), idempotency key {}",
                args.channel,
                section.kind.as_str(),
                n.idempotency_key
            );
            Ok(EXIT_OK)
        }
        Err(e) => {
            eprintln!("error: delivering to {} failed: {e}", args.channel);
            Ok(EXIT_FAILED)
        }
    }
}

#[derive(Debug, Args)]
pub struct RouteTestArgs {
    /// The cases (TOML): each `[[case]]` raises `[[case.alert]]`s at a time
    /// `at`, with `[[case.silence]]`s in force, and says what each alert
    /// comes to: `expect = ["channel", …]`, `[]`, "silenced", "inhibited" or
    /// "suppressed". Default: `[alerting] route_tests` of the config.
    #[arg(value_name = "CASES")]
    pub cases: Option<PathBuf>,
    /// `text`: a diff of what failed; `json`: the whole report, one object.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
    /// Show every alert's outcome, not only the failures.
    #[arg(long, short)]
    pub verbose: bool,
}

pub(super) async fn route_test(global: &GlobalArgs, args: RouteTestArgs) -> anyhow::Result<u8> {
    let config = super::host_config(global)?;
    let Some(path) = args
        .cases
        .clone()
        .or_else(|| config.alerting.route_tests.clone())
    else {
        anyhow::bail!(
            "give the cases file (assay alert route-test CASES.toml), or set [alerting] route_tests in the config"
        );
    };
    let cases = Cases::load_for(&path, &config)?;
    let runtime = super::runtime(&config)?;
    let registry = super::load_registry(&runtime, &config).await?;
    let chain = Chain::new(&config, runtime, None);
    chain.check(&registry).map_err(anyhow::Error::msg)?;
    let report = route_test::run(&cases, &chain, &registry, &config).await;
    let text = match args.format {
        Format::Text => report.diff(args.verbose),
        Format::Json => serde_json::to_string(&report)? + "\n",
    };
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    out.write_all(text.as_bytes())?;
    out.flush()?;
    Ok(if report.ok() { EXIT_OK } else { EXIT_FAILED })
}
