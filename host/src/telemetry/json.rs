//! The metrics as JSON (`GET /v1/metrics`): the same families and values
//! as `/metrics`, for systems that do not read Prometheus's text format.
//!
//! ```json
//! {"timestamp": "2026-12-03T10:00:00.000Z", "timestamp_ms": 1796292000000,
//!  "families": [{"name": "assay_validations_total", "help": "…", "type": "counter",
//!    "metrics": [{"labels": {"verdict": "pass"}, "value": 3, "timestamp_ms": 1796292000000}]}]}
//! ```
//!
//! Histograms carry `count`, `sum` and cumulative `buckets` (`le`, `count`,
//! the last `le` being `"+Inf"`); summaries `count`, `sum` and `quantiles`.
//! A value that is not a finite number is the string `"+Inf"`, `"-Inf"` or
//! `"NaN"`, as in Prometheus's own HTTP API.

use prometheus::proto::{MetricFamily, MetricType};
use serde_json::{Map, Value, json};

use crate::clock::rfc3339;

fn number(v: f64) -> Value {
    if v.is_finite() {
        json!(v)
    } else if v.is_nan() {
        json!("NaN")
    } else if v > 0.0 {
        json!("+Inf")
    } else {
        json!("-Inf")
    }
}

/// `families`, gathered at `at_ms`, as JSON.
pub fn encode(families: &[MetricFamily], at_ms: i64) -> Value {
    let families: Vec<Value> = families
        .iter()
        .map(|f| {
            let kind = f.get_field_type();
            let metrics: Vec<Value> = f
                .get_metric()
                .iter()
                .map(|m| {
                    let labels: Map<String, Value> = m
                        .get_label()
                        .iter()
                        .map(|l| (l.name().to_owned(), json!(l.value())))
                        .collect();
                    let ts = if m.timestamp_ms() != 0 { m.timestamp_ms() } else { at_ms };
                    let mut out = json!({"labels": labels, "timestamp_ms": ts});
                    match kind {
                        MetricType::COUNTER => out["value"] = number(m.get_counter().get_value()),
                        MetricType::GAUGE => out["value"] = number(m.get_gauge().get_value()),
                        #[allow(deprecated)] // the only way prometheus 0.14 reads an untyped value
                        MetricType::UNTYPED => out["value"] = number(m.get_untyped().get_value()),
                        MetricType::HISTOGRAM => {
                            let h = m.get_histogram();
                            let mut buckets: Vec<Value> = h
                                .get_bucket()
                                .iter()
                                .map(|b| json!({"le": number(b.upper_bound()), "count": b.cumulative_count()}))
                                .collect();
                            if !h.get_bucket().iter().any(|b| b.upper_bound().is_infinite()) {
                                buckets.push(json!({"le": "+Inf", "count": h.get_sample_count()}));
                            }
                            out["count"] = json!(h.get_sample_count());
                            out["sum"] = number(h.get_sample_sum());
                            out["buckets"] = json!(buckets);
                        }
                        MetricType::SUMMARY => {
                            let s = m.get_summary();
                            out["count"] = json!(s.sample_count());
                            out["sum"] = number(s.sample_sum());
                            out["quantiles"] = s
                                .get_quantile()
                                .iter()
                                .map(|q| json!({"quantile": q.quantile(), "value": number(q.value())}))
                                .collect();
                        }
                    }
                    out
                })
                .collect();
            let kind = match kind {
                MetricType::COUNTER => "counter",
                MetricType::GAUGE => "gauge",
                MetricType::HISTOGRAM => "histogram",
                MetricType::SUMMARY => "summary",
                MetricType::UNTYPED => "untyped",
            };
            json!({"name": f.name(), "help": f.help(), "type": kind, "metrics": metrics})
        })
        .collect();
    json!({"timestamp": rfc3339(at_ms), "timestamp_ms": at_ms, "families": families})
}

#[cfg(test)]
mod tests {
    use prometheus::{Histogram, HistogramOpts, IntCounterVec, Opts, Registry};

    #[test]
    fn families_keep_their_names_labels_and_values() {
        let r = Registry::new();
        let c = IntCounterVec::new(Opts::new("x_total", "xs"), &["kind"]).unwrap();
        let h = Histogram::with_opts(HistogramOpts::new("t_seconds", "ts").buckets(vec![0.1, 1.0]))
            .unwrap();
        r.register(Box::new(c.clone())).unwrap();
        r.register(Box::new(h.clone())).unwrap();
        c.with_label_values(&["a"]).inc_by(3);
        h.observe(0.5);
        h.observe(5.0);
        let v = super::encode(&r.gather(), 42);
        let fams = v["families"].as_array().unwrap();
        let x = fams.iter().find(|f| f["name"] == "x_total").unwrap();
        assert_eq!(x["type"], "counter");
        assert_eq!(x["metrics"][0]["labels"]["kind"], "a");
        assert_eq!(x["metrics"][0]["value"], 3.0);
        assert_eq!(x["metrics"][0]["timestamp_ms"], 42);
        let t = fams.iter().find(|f| f["name"] == "t_seconds").unwrap();
        let m = &t["metrics"][0];
        assert_eq!(
            (m["count"].as_u64(), m["sum"].as_f64()),
            (Some(2), Some(5.5))
        );
        let counts: Vec<u64> = m["buckets"]
            .as_array()
            .unwrap()
            .iter()
            .map(|b| b["count"].as_u64().unwrap())
            .collect();
        assert_eq!(counts, [0, 1, 2]);
        assert_eq!(m["buckets"][2]["le"], "+Inf");
        assert_eq!(super::number(f64::NAN), "NaN");
    }
}
