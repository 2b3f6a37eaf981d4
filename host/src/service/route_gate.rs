//! The routing-test gate: with `[alerting] route_tests`, a routing change
//! (a router plugin's file or sidecar, the config file's `[[router]]`s or
//! `[[inhibit_rule]]`s) takes effect only if the cases pass with it. The
//! caller refuses a change the gate fails; this module runs the cases and
//! says so in the log, the `assay_route_tests_total` metric and the
//! `RouteTestsFailing` alert.

use std::sync::atomic::Ordering;

use super::Service;
use crate::alerts::route_test::{self, Cases};
use crate::alerts::routing::Chain;
use crate::alerts::{HostEvent, RouteTestFailure};
use crate::config::HostConfig;
use crate::registry::Registry;

impl Service {
    /// Runs the routing tests against `config`'s routing with `registry`'s
    /// router plugins. `Ok` when they pass (or none are configured); `Err`
    /// with one line saying what failed. `change` says what is being tried
    /// and `consequence` what a failure means for it (both for the log and
    /// the alert).
    pub(crate) async fn route_gate(
        &self,
        config: &HostConfig,
        registry: &Registry,
        change: &str,
        consequence: &str,
    ) -> Result<(), String> {
        let Some(path) = &config.alerting.route_tests else {
            return Ok(());
        };
        let outcome = async {
            let cases = Cases::load_for(path, config).map_err(|e| e.to_string())?;
            let chain = Chain::new(config, self.plugins.runtime().clone(), None);
            chain.check(registry)?;
            Ok::<_, String>(route_test::run(&cases, &chain, registry, config).await)
        }
        .await;
        let (result, failure) = match outcome {
            Ok(report) if report.ok() => ("passed", None),
            Ok(report) => (
                "failed",
                Some(RouteTestFailure {
                    summary: report.summary(),
                    consequence: consequence.to_owned(),
                    diff: report.diff(false),
                }),
            ),
            Err(e) => (
                "error",
                Some(RouteTestFailure {
                    summary: format!("the routing tests cannot run: {e}"),
                    consequence: consequence.to_owned(),
                    diff: String::new(),
                }),
            ),
        };
        self.metrics.route_tests.with_label_values(&[result]).inc();
        let failing = &self.reloads.route_tests_failing;
        match failure {
            None => {
                if failing.swap(false, Ordering::Relaxed) {
                    tracing::info!("routing tests pass again ({change})");
                    self.publish(HostEvent::RouteTests(None));
                }
                Ok(())
            }
            Some(f) => {
                tracing::error!(
                    "{change}: {consequence}: {}\n{}",
                    f.summary,
                    f.diff.trim_end()
                );
                failing.store(true, Ordering::Relaxed);
                let summary = f.summary.clone();
                self.publish(HostEvent::RouteTests(Some(Box::new(f))));
                Err(summary)
            }
        }
    }
}
