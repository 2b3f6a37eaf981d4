//! OpenTelemetry traces: a local OTLP/HTTP receiver (protobuf decoded here,
//! from the spec's field numbers) gets one trace per request that links
//! the API request, its plugin calls and, for an alert, its delivery; the
//! webhook and the probe's target get `traceparent`; and a collector that
//! is down or hangs costs dropped spans, counted, and no time.

use std::collections::BTreeMap;
use std::time::Instant;

use serde_json::json;

use crate::common::{Env, shipped, test_plugin};
use crate::receivers::{Mode, Receiver};
use crate::server::{FAST_ALERTING, Server, eventually, json};

/// A decoded span: ids in hex, its attributes as text.
#[derive(Debug, Clone)]
struct Span {
    trace: String,
    id: String,
    parent: String,
    name: String,
    kind: u64,
    attrs: BTreeMap<String, String>,
}

/// One protobuf field: (number, varint or fixed value, or bytes).
enum Field<'a> {
    Int(u64),
    Bytes(&'a [u8]),
}

fn varint(buf: &[u8], at: &mut usize) -> u64 {
    let mut v = 0u64;
    for shift in (0..64).step_by(7) {
        let b = buf[*at];
        *at += 1;
        v |= u64::from(b & 0x7f) << shift;
        if b < 0x80 {
            break;
        }
    }
    v
}

fn fields(buf: &[u8]) -> Vec<(u64, Field<'_>)> {
    let mut out = Vec::new();
    let mut at = 0;
    while at < buf.len() {
        let key = varint(buf, &mut at);
        let field = match key & 7 {
            0 => Field::Int(varint(buf, &mut at)),
            1 => {
                at += 8;
                Field::Int(u64::from_le_bytes(buf[at - 8..at].try_into().unwrap()))
            }
            2 => {
                let len = varint(buf, &mut at) as usize;
                at += len;
                Field::Bytes(&buf[at - len..at])
            }
            5 => {
                at += 4;
                Field::Int(u64::from(u32::from_le_bytes(
                    buf[at - 4..at].try_into().unwrap(),
                )))
            }
            w => panic!("wire type {w} in an OTLP message"),
        };
        out.push((key >> 3, field));
    }
    out
}

fn bytes<'a>(fs: &[(u64, Field<'a>)], n: u64) -> Vec<&'a [u8]> {
    fs.iter()
        .filter_map(|(k, f)| match f {
            Field::Bytes(b) if *k == n => Some(*b),
            _ => None,
        })
        .collect()
}

fn text(fs: &[(u64, Field<'_>)], n: u64) -> String {
    bytes(fs, n)
        .first()
        .map(|b| String::from_utf8_lossy(b).into_owned())
        .unwrap_or_default()
}

/// `KeyValue { key = 1; AnyValue value = 2 }`, `AnyValue { string 1, bool 2, int 3, double 4 }`.
fn attribute(kv: &[u8]) -> (String, String) {
    let fs = fields(kv);
    let value =
        bytes(&fs, 2)
            .first()
            .map_or(String::new(), |v| match fields(v).into_iter().next() {
                Some((1, Field::Bytes(s))) => String::from_utf8_lossy(s).into_owned(),
                Some((2, Field::Int(b))) => (b != 0).to_string(),
                Some((3, Field::Int(i))) => (i as i64).to_string(),
                Some((4, Field::Int(d))) => f64::from_bits(d).to_string(),
                _ => String::new(),
            });
    (text(&fs, 1), value)
}

/// The spans of an `ExportTraceServiceRequest` (resource_spans 1 → scope_spans 2 → spans 2),
/// with the resource's attributes under `resource.`.
fn spans(body: &[u8]) -> Vec<Span> {
    let mut out = Vec::new();
    for rs in bytes(&fields(body), 1) {
        let rs = fields(rs);
        let resource: Vec<(String, String)> = bytes(&rs, 1)
            .first()
            .map(|r| bytes(&fields(r), 1).into_iter().map(attribute).collect())
            .unwrap_or_default();
        for ss in bytes(&rs, 2) {
            for s in bytes(&fields(ss), 2) {
                let fs = fields(s);
                let hex_of = |n| bytes(&fs, n).first().map(hex::encode).unwrap_or_default();
                let mut attrs: BTreeMap<String, String> =
                    bytes(&fs, 9).into_iter().map(attribute).collect();
                for (k, v) in &resource {
                    attrs.insert(format!("resource.{k}"), v.clone());
                }
                out.push(Span {
                    trace: hex_of(1),
                    id: hex_of(2),
                    parent: hex_of(4),
                    name: text(&fs, 5),
                    kind: fs
                        .iter()
                        .find_map(|(k, f)| match f {
                            Field::Int(v) if *k == 6 => Some(*v),
                            _ => None,
                        })
                        .unwrap_or(0),
                    attrs,
                });
            }
        }
    }
    out
}

fn exported(collector: &Receiver) -> Vec<Span> {
    collector
        .all()
        .iter()
        .filter(|r| r.path == "/v1/traces")
        .flat_map(|r| {
            assert_eq!(r.header("content-type"), Some("application/x-protobuf"));
            spans(&r.body)
        })
        .collect()
}

fn find<'a>(all: &'a [Span], trace: &str, name: &str) -> Option<&'a Span> {
    all.iter().find(|s| s.trace == trace && s.name == name)
}

/// `traceparent`'s trace id and parent (span) id.
fn ids(traceparent: &str) -> (String, String) {
    let parts: Vec<&str> = traceparent.split('-').collect();
    assert_eq!(parts.len(), 4, "{traceparent}");
    (parts[1].to_owned(), parts[2].to_owned())
}

fn metric(s: &Server, series: &str) -> f64 {
    let text = s.get("/metrics").send().unwrap().text().unwrap();
    text.lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' '))
        .unwrap_or_else(|| panic!("{series} missing"))
        .parse()
        .unwrap()
}

fn median_validate_ms(s: &Server, n: usize) -> f64 {
    let mut took: Vec<f64> = (0..n)
        .map(|i| {
            let started = Instant::now();
            let (status, v) = s.validate(&format!("?name=m{i}"), "{}");
            assert_eq!(status, 200, "{v}");
            started.elapsed().as_secs_f64() * 1000.0
        })
        .collect();
    took.sort_by(f64::total_cmp);
    took[n / 2]
}

#[test]
fn one_trace_links_a_request_its_plugin_calls_and_its_delivery_and_a_dead_collector_costs_nothing()
{
    let env = Env::new();
    env.plugin(&test_plugin("trivial"), "trivial", None)
        .plugin(&shipped("severity-routes"), "severity-routes", None)
        .plugin(&shipped("http"), "http", None);
    let collector = Receiver::start();
    let hook = Receiver::start();
    let target = Receiver::start();
    let config = format!(
        r#"{FAST_ALERTING}
[telemetry]
otlp_endpoint = "{collector}"
service_name = "assay-e2e"
propagate = ["channels", "probes"]
export_timeout = "1s"
queue_size = 64

{channel}
[[router]]
plugin = "severity-routes"
[router.config]
[[router.config.rules]]
min_severity = "warning"
channels = ["ops"]

[[probe]]
name = "site"
plugin = "http"
interval = "1h"
allow_http = ["{target_addr}"]
config = '{{"url": "{target_url}"}}'
"#,
        collector = collector.url(""),
        channel = hook.channel("ops", ""),
        target_addr = target.addr,
        target_url = target.url("/health"),
    );
    let s = Server::with_config(&env, &config);
    assert!(
        s.log().contains(&format!(
            "traces: exporting to {}/v1/traces",
            collector.url("")
        )),
        "{}",
        s.log()
    );

    // A validation, continuing the caller's trace.
    let (caller_trace, caller_span) = ("4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7");
    let resp = s
        .post("/v1/validate?name=traced")
        .header("traceparent", format!("00-{caller_trace}-{caller_span}-01"))
        .body("{}")
        .send()
        .unwrap();
    assert_eq!(resp.status(), 200);

    // An alert, routed by a plugin and delivered to the webhook.
    let alert_trace = "0af7651916cd43dd8448eb211c80319c";
    let (status, v) = json(
        s.post("/v1/alerts")
            .header(
                "traceparent",
                format!("00-{alert_trace}-b7ad6b7169203331-01"),
            )
            .json(&json!({"alerts": [{"name": "DiskFull", "severity": "error"}]}))
            .send()
            .unwrap(),
    );
    assert_eq!(status, 202, "{v}");
    let delivered = hook.wait_delivered("/ops", 1, 30).remove(0);
    let key = delivered.header("idempotency-key").unwrap().to_owned();
    let (hook_trace, hook_parent) = ids(delivered
        .header("traceparent")
        .expect("the webhook got traceparent"));
    assert_eq!(
        hook_trace, alert_trace,
        "the delivery continues the alert's trace"
    );
    assert!(
        delivered.json().get("traceparent").is_none(),
        "the payload is unchanged"
    );

    // A probe run, whose request carries its trace.
    let (status, v) = json(s.post("/v1/probes/site/run").send().unwrap());
    assert_eq!(status, 200, "{v}");
    let probed = eventually(10, "the probe's request", || {
        target.all().into_iter().last()
    });
    let (probe_trace, probe_parent) = ids(probed
        .header("traceparent")
        .expect("the probe's request got traceparent"));

    let all = eventually(20, "every span exported", || {
        let all = exported(&collector);
        (find(&all, alert_trace, "deliver ops").is_some()
            && find(&all, caller_trace, "validator trivial").is_some()
            && all
                .iter()
                .any(|sp| sp.trace == probe_trace && sp.name == "probe site"))
        .then_some(all)
    });
    // The validation: server span under the caller's, the plugin call under it.
    let server = find(&all, caller_trace, "POST /v1/validate").expect("the request's span");
    assert_eq!(
        (server.parent.as_str(), server.kind),
        (caller_span, 2),
        "SERVER, the caller's child"
    );
    assert_eq!(server.attrs["http.request.method"], "POST");
    assert_eq!(server.attrs["http.route"], "/v1/validate");
    assert_eq!(server.attrs["http.response.status_code"], "200");
    assert_eq!(server.attrs["resource.service.name"], "assay-e2e");
    let call = find(&all, caller_trace, "validator trivial").unwrap();
    assert_eq!(call.parent, server.id);
    assert_eq!(call.attrs["assay.plugin.name"], "trivial");
    assert_eq!(call.attrs["assay.plugin.kind"], "validator");
    assert_eq!(call.attrs["assay.plugin.outcome"], "ok");
    assert!(!call.attrs["assay.plugin.version"].is_empty());
    assert!(
        call.attrs.contains_key("assay.plugin.queue_ms")
            && call.attrs.contains_key("assay.plugin.run_ms")
    );

    // The alert: request → routing → the router's call; and the delivery, in the same trace.
    let request = find(&all, alert_trace, "POST /v1/alerts").expect("the alert request's span");
    let route = find(&all, alert_trace, "route DiskFull").expect("the routing span");
    assert_eq!(route.parent, request.id);
    assert_eq!(route.attrs["assay.route.decision"], "deliver to ops");
    let router = find(&all, alert_trace, "router severity-routes").expect("the router's call");
    assert_eq!(router.parent, route.id);
    let deliver = find(&all, alert_trace, "deliver ops").unwrap();
    assert_eq!(deliver.kind, 3, "CLIENT");
    assert_eq!(deliver.attrs["assay.channel"], "ops");
    assert_eq!(deliver.attrs["assay.notification.idempotency_key"], key);
    assert_eq!(deliver.attrs["assay.delivery.outcome"], "delivered");
    assert_eq!(deliver.attrs["http.response.status_code"], "200");
    assert_eq!(
        hook_parent, deliver.id,
        "the webhook's parent is the delivery span"
    );

    // The probe run: its plugin call under it, the request under the call.
    let run = all
        .iter()
        .find(|sp| sp.trace == probe_trace && sp.name == "probe site")
        .unwrap();
    assert_eq!(run.attrs["assay.probe.status"], "pass");
    let probe_call = find(&all, &probe_trace, "probe http").expect("the probe's plugin call");
    assert_eq!(probe_call.parent, run.id);
    assert_eq!(probe_parent, probe_call.id);

    // The collector refuses connections, then hangs: spans are dropped and
    // counted, and validations take no longer than with it up.
    let up = median_validate_ms(&s, 40);
    let (addr, log) = collector.stop();
    let dropped_before = metric(
        &s,
        "assay_trace_spans_dropped_total{reason=\"export_failed\"}",
    );
    let refused = median_validate_ms(&s, 40);
    eventually(20, "spans counted as dropped (collector down)", || {
        (metric(
            &s,
            "assay_trace_spans_dropped_total{reason=\"export_failed\"}",
        ) > dropped_before)
            .then_some(())
    });
    let dropped = |s: &Server| {
        metric(
            s,
            "assay_trace_spans_dropped_total{reason=\"export_failed\"}",
        ) + metric(s, "assay_trace_spans_dropped_total{reason=\"queue_full\"}")
    };
    let hanging = Receiver::restart(addr, log);
    hanging.set_mode(Mode::Hang);
    // Past the export timeout: the export in flight hangs while the queue fills.
    std::thread::sleep(std::time::Duration::from_millis(600));
    let dropped_before = dropped(&s);
    let hung = median_validate_ms(&s, 200);
    eventually(20, "spans counted as dropped (collector hangs)", || {
        (dropped(&s) > dropped_before).then_some(())
    });
    for (what, ms) in [("down", refused), ("hanging", hung)] {
        assert!(
            ms <= up * 3.0 + 5.0,
            "median validation with the collector {what}: {ms:.2} ms, against {up:.2} ms with it up"
        );
    }
    assert!(metric(&s, "assay_trace_spans_exported_total") > 0.0);
    drop(hanging);
}

#[test]
fn without_an_endpoint_nothing_is_exported_and_a_bad_one_is_refused() {
    let env = Env::new();
    env.plugin(&test_plugin("trivial"), "trivial", None);
    let s = Server::with_config(&env, "");
    assert!(s.log().contains("traces: off"), "{}", s.log());
    assert_eq!(metric(&s, "assay_trace_spans_exported_total"), 0.0);
    drop(s);
    let config = env.subject(
        "bad.toml",
        "[telemetry]\notlp_endpoint = \"collector:4318\"\n",
    );
    let run = env.run(&[
        "--config",
        config.to_str().unwrap(),
        "serve",
        "--listen",
        "127.0.0.1:0",
    ]);
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(
        run.stderr.contains("telemetry.otlp_endpoint"),
        "{}",
        run.stderr
    );
    let run = env
        .assay()
        .args(["serve", "--listen", "127.0.0.1:0"])
        .env("OTEL_EXPORTER_OTLP_PROTOCOL", "http/json")
        .env("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:1")
        .output()
        .unwrap();
    assert_eq!(run.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&run.stderr).contains("http/json"));
}
