//! `[[alert_rule]]`s: thresholds on the host's own metrics over a window.
//!
//! Every `rule_interval` the host samples its counters (cache hits and
//! misses, validation-duration buckets, plugin calls by outcome); a rule
//! compares the change over its window with its threshold. Too few events
//! in the window (`min_events`) leave the rule as it was.

use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::model::Alert;
use crate::config::{AlertRuleSection, RuleMetric};
use crate::service::Service;

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

fn sample(svc: &Service) -> Sample {
    let m = &svc.metrics;
    // From the cache itself: the Prometheus counters are only brought up
    // to date when something scrapes /metrics, so a rule that read them
    // never fired without a scrape.
    let cache = svc.pipeline.cache().stats();
    let mut s = Sample {
        cache_hits: cache.hits as f64,
        cache_misses: cache.misses as f64,
        ..Sample::default()
    };
    let mut buckets: BTreeMap<u64, (f64, f64)> = BTreeMap::new();
    for family in m.gather() {
        match family.name() {
            "assay_validation_duration_seconds" => {
                for metric in family.get_metric() {
                    let h = metric.get_histogram();
                    s.validations += h.get_sample_count() as f64;
                    for b in h.get_bucket() {
                        let e = buckets
                            .entry(b.upper_bound().to_bits())
                            .or_insert((b.upper_bound(), 0.0));
                        e.1 += b.cumulative_count() as f64;
                    }
                }
            }
            "assay_plugin_calls_total" => {
                for metric in family.get_metric() {
                    let v = metric.get_counter().get_value();
                    s.calls += v;
                    let outcome = metric
                        .get_label()
                        .iter()
                        .find(|l| l.name() == "outcome")
                        .map(|l| l.value().to_owned())
                        .unwrap_or_default();
                    if outcome == "error" || outcome == "timeout" {
                        s.failed_calls += v;
                    }
                }
            }
            _ => {}
        }
    }
    let mut b: Vec<(f64, f64)> = buckets.into_values().collect();
    b.sort_by(|x, y| x.0.total_cmp(&y.0));
    s.buckets = b;
    s
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

/// Samples and evaluates every rule, forever.
pub fn spawn(svc: Arc<Service>) {
    let rules = svc.config.alert_rules.clone();
    if rules.is_empty() {
        return;
    }
    let every = svc.config.alerting.rule_interval;
    let longest = rules.iter().map(|r| r.window).max().unwrap_or_default();
    tokio::spawn(async move {
        let mut samples: VecDeque<(Instant, Sample)> = VecDeque::new();
        let mut firing: BTreeMap<String, bool> = BTreeMap::new();
        let mut tick = tokio::time::interval(every);
        loop {
            tick.tick().await;
            if svc.is_shutting_down() {
                return;
            }
            let now = Instant::now();
            samples.push_back((now, sample(&svc)));
            while samples
                .front()
                .is_some_and(|(t, _)| now.duration_since(*t) > longest + every)
            {
                samples.pop_front();
            }
            for rule in &rules {
                evaluate(&svc, rule, &samples, now, &mut firing);
            }
        }
    });
}

fn evaluate(
    svc: &Arc<Service>,
    rule: &AlertRuleSection,
    samples: &VecDeque<(Instant, Sample)>,
    now: Instant,
    firing: &mut BTreeMap<String, bool>,
) {
    let Some((_, new)) = samples.back() else {
        return;
    };
    // The oldest sample inside the window (the window's start).
    let Some((_, old)) = samples
        .iter()
        .find(|(t, _)| now.duration_since(*t) <= rule.window + Duration::from_millis(1))
    else {
        return;
    };
    let (v, events) = value(rule.metric, old, new);
    let Some(v) = v.filter(|_| events >= rule.min_events as f64) else {
        return;
    };
    let breach = match (rule.below, rule.above) {
        (Some(b), _) => v < b,
        (_, Some(a)) => v > a,
        _ => false,
    };
    let was = firing.get(&rule.name).copied().unwrap_or(false);
    if breach == was {
        return;
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
    svc.alerts
        .raise(svc, if breach { alert } else { alert.resolved() });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_and_the_p95_bucket_come_from_the_window_change() {
        let old = Sample {
            cache_hits: 10.0,
            cache_misses: 10.0,
            buckets: vec![(0.1, 5.0), (1.0, 5.0), (f64::INFINITY, 5.0)],
            validations: 5.0,
            calls: 100.0,
            failed_calls: 0.0,
        };
        let new = Sample {
            cache_hits: 13.0,
            cache_misses: 17.0,
            buckets: vec![(0.1, 95.0), (1.0, 104.0), (f64::INFINITY, 105.0)],
            validations: 105.0,
            calls: 200.0,
            failed_calls: 20.0,
        };
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
