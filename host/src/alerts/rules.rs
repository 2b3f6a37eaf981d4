//! `[[alert_rule]]`s: thresholds on the host's own metrics over a window.
//!
//! Every `rule_interval` the host samples its counters (cache hits and
//! misses, validation-duration buckets, plugin calls by outcome); a rule
//! compares the change over its window with its threshold. Too few events
//! in the window (`min_events`) leave the rule as it was.

use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};

use prometheus::core::Collector;

use super::Alerting;
use super::model::Alert;
use crate::config::{AlertRuleSection, RuleMetric};
use crate::tasks::Tasks;
use crate::telemetry::Metrics;

/// One sample of the counters the rules read.
#[derive(Debug, Clone, Default)]
struct Sample {
    cache_hits: f64,
    cache_misses: f64,
    /// Cumulative counts by upper bound, all levels together.
    buckets: Vec<(f64, f64)>,
    validations: f64,
    calls: f64,
    failed_calls: f64,
}

/// Where the rules read the host's numbers: from the parts that own them
/// (the result cache counts its own hits; the validation histogram and the
/// call counters are read from their own collectors, not looked up by name
/// among everything `/metrics` shows).
#[derive(Clone)]
pub struct Stats {
    pub metrics: Metrics,
    pub cache: Arc<dyn Fn() -> crate::validate::CacheStats + Send + Sync>,
}

impl Stats {
    fn sample(&self) -> Sample {
        let cache = (self.cache)();
        let mut s = Sample {
            cache_hits: cache.hits as f64,
            cache_misses: cache.misses as f64,
            ..Sample::default()
        };
        let mut buckets: BTreeMap<u64, (f64, f64)> = BTreeMap::new();
        for family in self.metrics.validation_seconds.collect() {
            for metric in family.get_metric() {
                let h = metric.get_histogram();
                s.validations += h.get_sample_count() as f64;
                for b in h.get_bucket() {
                    let e = (buckets.entry(b.upper_bound().to_bits()))
                        .or_insert((b.upper_bound(), 0.0));
                    e.1 += b.cumulative_count() as f64;
                }
            }
        }
        for family in self.metrics.plugin_calls.collect() {
            for metric in family.get_metric() {
                let v = metric.get_counter().get_value();
                s.calls += v;
                let failed = (metric.get_label().iter()).any(|l| {
                    l.name() == "outcome" && (l.value() == "error" || l.value() == "timeout")
                });
                if failed {
                    s.failed_calls += v;
                }
            }
        }
        let mut b: Vec<(f64, f64)> = buckets.into_values().collect();
        b.sort_by(|x, y| x.0.total_cmp(&y.0));
        s.buckets = b;
        s
    }
}

/// The rule's value over the change from `old` to `new`, with its event count.
fn value(metric: RuleMetric, old: &Sample, new: &Sample) -> (Option<f64>, f64) {
    match metric {
        RuleMetric::CacheHitRate => {
            let hits = new.cache_hits - old.cache_hits;
            let total = hits + new.cache_misses - old.cache_misses;
            ((total > 0.0).then(|| hits / total), total)
        }
        RuleMetric::PluginErrorRate => {
            let calls = new.calls - old.calls;
            let failed = new.failed_calls - old.failed_calls;
            ((calls > 0.0).then(|| failed / calls), calls)
        }
        RuleMetric::ValidationP95Seconds => {
            let n = new.validations - old.validations;
            if n <= 0.0 {
                return (None, 0.0);
            }
            let old_at = |bound: f64| {
                old.buckets
                    .iter()
                    .find(|(b, _)| *b == bound)
                    .map_or(0.0, |(_, c)| *c)
            };
            let want = 0.95 * n;
            let p95 = new
                .buckets
                .iter()
                .find(|(bound, c)| c - old_at(*bound) >= want)
                .map_or(f64::INFINITY, |(bound, _)| *bound);
            (Some(p95), n)
        }
    }
}

/// Samples and evaluates every rule every `every`, until `tasks` stop.
/// Among replicas, only the one deciding alert state evaluates them, on its own numbers.
pub fn spawn(
    rules: Vec<AlertRuleSection>,
    every: Duration,
    stats: Stats,
    alerting: Alerting,
    cluster: crate::cluster::Cluster,
    tasks: &Tasks,
) {
    if rules.is_empty() {
        return;
    }
    let longest = rules.iter().map(|r| r.window).max().unwrap_or_default();
    let t = tasks.clone();
    tasks.spawn(async move {
        let mut samples: VecDeque<(Instant, Sample)> = VecDeque::new();
        let mut firing: BTreeMap<String, bool> = BTreeMap::new();
        let mut tick = tokio::time::interval(every);
        loop {
            tokio::select! {
                _ = tick.tick() => {}
                _ = t.stopped() => return,
            }
            let now = Instant::now();
            samples.push_back((now, stats.sample()));
            while (samples.front()).is_some_and(|(t, _)| now.duration_since(*t) > longest + every) {
                samples.pop_front();
            }
            if cluster.holds(super::driver::LEASE).is_none() {
                // Another replica evaluates them; start afresh if this one takes over.
                firing.clear();
                continue;
            }
            for rule in &rules {
                if let Some(alert) = evaluate(rule, &samples, now, &mut firing) {
                    alerting.raise(alert);
                }
            }
        }
    });
}

/// The alert (firing or resolved) `rule` raises now, if its state changed.
fn evaluate(
    rule: &AlertRuleSection,
    samples: &VecDeque<(Instant, Sample)>,
    now: Instant,
    firing: &mut BTreeMap<String, bool>,
) -> Option<Alert> {
    let (_, new) = samples.back()?;
    // The oldest sample inside the window (the window's start).
    let (_, old) = samples
        .iter()
        .find(|(t, _)| now.duration_since(*t) <= rule.window + Duration::from_millis(1))?;
    let (v, events) = value(rule.metric, old, new);
    let v = v.filter(|_| events >= rule.min_events as f64)?;
    let breach = match (rule.below, rule.above) {
        (Some(b), _) => v < b,
        (_, Some(a)) => v > a,
        _ => false,
    };
    let was = firing.get(&rule.name).copied().unwrap_or(false);
    if breach == was {
        return None;
    }
    firing.insert(rule.name.clone(), breach);
    let (op, bound) = match (rule.below, rule.above) {
        (Some(b), _) => ("below", b),
        (_, a) => ("above", a.unwrap_or_default()),
    };
    let mut labels = rule.labels.clone();
    labels.insert("rule".into(), rule.name.clone());
    let summary = rule.summary.clone().unwrap_or_else(|| {
        format!(
            "{} is {v:.3} over {} ({op} {bound})",
            rule.metric.as_str(),
            humantime::format_duration(rule.window)
        )
    });
    let alert = Alert::firing(
        &rule.name,
        rule.severity,
        format!("rule:{}", rule.name),
        labels,
        summary,
    )
    .annotate("value", format!("{v}"))
    .annotate("metric", rule.metric.as_str());
    Some(if breach { alert } else { alert.resolved() })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_and_the_p95_bucket_come_from_the_window_change() {
        // (cache hits, misses), cumulative buckets, validations, (calls, failed calls)
        let sample =
            |cache: (f64, f64), buckets: [f64; 3], validations, calls: (f64, f64)| Sample {
                cache_hits: cache.0,
                cache_misses: cache.1,
                buckets: vec![
                    (0.1, buckets[0]),
                    (1.0, buckets[1]),
                    (f64::INFINITY, buckets[2]),
                ],
                validations,
                calls: calls.0,
                failed_calls: calls.1,
            };
        let old = sample((10.0, 10.0), [5.0, 5.0, 5.0], 5.0, (100.0, 0.0));
        let new = sample((13.0, 17.0), [95.0, 104.0, 105.0], 105.0, (200.0, 20.0));
        assert_eq!(
            value(RuleMetric::CacheHitRate, &old, &new),
            (Some(0.3), 10.0)
        );
        assert_eq!(
            value(RuleMetric::PluginErrorRate, &old, &new),
            (Some(0.2), 100.0)
        );
        // 90 of 100 within 0.1 s, 99 within 1 s: the 95th is in the 1 s bucket.
        assert_eq!(
            value(RuleMetric::ValidationP95Seconds, &old, &new),
            (Some(1.0), 100.0)
        );
        assert_eq!(value(RuleMetric::CacheHitRate, &new, &new).0, None);
    }
}
