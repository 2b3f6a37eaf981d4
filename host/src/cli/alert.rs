//! `assay alert test --channel NAME`: sends a test notification straight to
//! one configured channel (not through the outbox), so an operator can check
//! a channel's URL, credentials and formatting before relying on it.
//! Exit 0 when the channel took it, 1 when delivery failed, 2 on a bad config
//! or an unknown channel.

use clap::Args;

use super::{EXIT_ERROR, EXIT_FAILED, EXIT_OK, GlobalArgs};
use crate::alerts::Notification;
use crate::alerts::channels::Channel;

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
