//! `http`: requests a URL and judges the answer.
//!
//! Config:
//! ```json
//! {"url": "http://127.0.0.1:8080/health",
//!  "method": "GET", "headers": {"accept": "application/json"}, "body": "",
//!  "expect_status": [200, "2xx"],
//!  "body_contains": "ok", "body_regex": "\"status\":\\s*\"pass\"",
//!  "json": {"/status": "pass"},
//!  "warn_latency_ms": 500, "timeout_ms": 5000}
//! ```
//! Only `url` is required; `expect_status` defaults to `["2xx"]`. The
//! probe fails when the request fails (refused, denied by `allow_http`,
//! timed out), the status is not expected, or a body check does not hold;
//! it warns when everything holds but the answer took longer than
//! `warn_latency_ms`. Observations: `latency_seconds`, `status_code`,
//! `body_bytes`.
//!
//! TLS certificate expiry is not observable: `wasi:http` does not expose the
//! peer's certificate to a guest, so this probe cannot warn about it.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use assay_plugin_sdk::http::{self, Request, Response};
use assay_plugin_sdk::{PluginInfo, Probe, ProbeOutcome, ProbeStatus};
use serde::Deserialize;
use serde_json::Value;

#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields)]
pub struct Config {
    pub url: String,
    #[serde(default = "get")]
    pub method: String,
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    #[serde(default)]
    pub body: String,
    #[serde(default = "two_xx")]
    pub expect_status: Vec<StatusRule>,
    pub body_contains: Option<String>,
    pub body_regex: Option<String>,
    /// JSON Pointer → the value it must hold.
    #[serde(default)]
    pub json: BTreeMap<String, Value>,
    pub warn_latency_ms: Option<u64>,
    pub timeout_ms: Option<u64>,
}

fn get() -> String {
    "GET".into()
}

fn two_xx() -> Vec<StatusRule> {
    vec![StatusRule::Class("2xx".into())]
}

/// `200` or a class such as `"2xx"`.
#[derive(Deserialize, Debug, Clone, PartialEq)]
#[serde(untagged)]
pub enum StatusRule {
    Code(u16),
    Class(String),
}

impl StatusRule {
    fn matches(&self, status: u16) -> Result<bool, String> {
        match self {
            StatusRule::Code(c) => Ok(*c == status),
            StatusRule::Class(s) => {
                let b = s.as_bytes();
                match b {
                    [d @ b'1'..=b'5', b'x' | b'X', b'x' | b'X'] => {
                        Ok(u16::from(d - b'0') == status / 100)
                    }
                    _ => s.parse::<u16>().map(|c| c == status).map_err(|_| {
                        format!("expect_status: {s:?} is neither a code nor a class like \"2xx\"")
                    }),
                }
            }
        }
    }
}

pub struct HttpProbe;

impl Probe for HttpProbe {
    type Config = Config;

    fn info() -> PluginInfo {
        assay_plugin_sdk::plugin_info!()
    }

    fn probe(config: Config) -> Result<ProbeOutcome, String> {
        // Bad config is an error (the probe could not run), before any request.
        let regex = config
            .body_regex
            .as_deref()
            .map(regex_lite::Regex::new)
            .transpose()
            .map_err(|e| format!("body_regex: {e}"))?;
        for rule in &config.expect_status {
            rule.matches(0)?;
        }
        let mut request = Request::new(&config.method, &config.url);
        request.headers = config
            .headers
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        request.body = config.body.clone().into_bytes();
        request.timeout = config.timeout_ms.map(Duration::from_millis);
        let started = Instant::now();
        let response = http::send(&request);
        let latency = started.elapsed();
        Ok(judge(&config, regex.as_ref(), response, latency))
    }
}

/// The verdict on one answer (or failure to get one).
pub fn judge(
    config: &Config,
    regex: Option<&regex_lite::Regex>,
    response: Result<Response, http::HttpError>,
    latency: Duration,
) -> ProbeOutcome {
    let response = match response {
        Ok(r) => r,
        Err(e) => {
            return ProbeOutcome::new(ProbeStatus::Fail, e.to_string()).observe(
                "latency_seconds",
                latency.as_secs_f64(),
                Some("seconds"),
            );
        }
    };
    let ms = latency.as_secs_f64() * 1000.0;
    let observed = |o: ProbeOutcome| {
        o.observe("latency_seconds", latency.as_secs_f64(), Some("seconds"))
            .observe("status_code", f64::from(response.status), None)
            .observe("body_bytes", response.body.len() as f64, Some("bytes"))
    };
    let fail = |m: String| observed(ProbeOutcome::new(ProbeStatus::Fail, m));
    if !config
        .expect_status
        .iter()
        .any(|r| r.matches(response.status).unwrap_or(false))
    {
        return fail(format!(
            "status {} is not one of the expected {}",
            response.status,
            describe(&config.expect_status)
        ));
    }
    let body = String::from_utf8_lossy(&response.body);
    if let Some(needle) = &config.body_contains
        && !body.contains(needle.as_str())
    {
        return fail(format!("the body does not contain {needle:?}"));
    }
    if let Some(re) = regex
        && !re.is_match(&body)
    {
        return fail(format!("the body does not match /{}/", re.as_str()));
    }
    if !config.json.is_empty() {
        let doc: Value = match serde_json::from_slice(&response.body) {
            Ok(v) => v,
            Err(e) => return fail(format!("the body is not JSON: {e}")),
        };
        for (pointer, want) in &config.json {
            match doc.pointer(pointer) {
                Some(got) if got == want => {}
                Some(got) => return fail(format!("{pointer} is {got}, expected {want}")),
                None => return fail(format!("{pointer} is missing, expected {want}")),
            }
        }
    }
    let summary = format!("{} {} in {ms:.0} ms", response.status, config.url);
    match config.warn_latency_ms {
        Some(w) if ms > w as f64 => observed(ProbeOutcome::new(
            ProbeStatus::Warn,
            format!("{summary}, slower than {w} ms"),
        )),
        _ => observed(ProbeOutcome::new(ProbeStatus::Pass, summary)),
    }
}

fn describe(rules: &[StatusRule]) -> String {
    let parts: Vec<String> = rules
        .iter()
        .map(|r| match r {
            StatusRule::Code(c) => c.to_string(),
            StatusRule::Class(s) => s.clone(),
        })
        .collect();
    format!("[{}]", parts.join(", "))
}

assay_plugin_sdk::export_probe!(HttpProbe);

#[cfg(test)]
mod tests {
    use super::*;
    use assay_plugin_sdk::parse_config;

    fn config(json: &str) -> Config {
        parse_config(json).unwrap()
    }

    fn answer(status: u16, body: &str) -> Result<Response, http::HttpError> {
        Ok(Response {
            status,
            body: body.as_bytes().to_vec(),
            ..Response::default()
        })
    }

    fn status(c: &Config, r: Result<Response, http::HttpError>, ms: u64) -> ProbeStatus {
        let re = c
            .body_regex
            .as_deref()
            .map(|r| regex_lite::Regex::new(r).unwrap());
        judge(c, re.as_ref(), r, Duration::from_millis(ms)).status
    }

    #[test]
    fn status_rules_default_to_2xx() {
        let c = config(r#"{"url": "http://h/"}"#);
        assert_eq!(status(&c, answer(204, ""), 1), ProbeStatus::Pass);
        assert_eq!(status(&c, answer(301, ""), 1), ProbeStatus::Fail);
        let c = config(r#"{"url": "http://h/", "expect_status": [404, "5xx"]}"#);
        assert_eq!(status(&c, answer(404, ""), 1), ProbeStatus::Pass);
        assert_eq!(status(&c, answer(503, ""), 1), ProbeStatus::Pass);
        assert_eq!(status(&c, answer(200, ""), 1), ProbeStatus::Fail);
    }

    #[test]
    fn body_checks_and_latency() {
        let c = config(
            r#"{"url": "http://h/", "body_contains": "ok", "body_regex": "v[0-9]+",
                "json": {"/a/b": 1}, "warn_latency_ms": 100}"#,
        );
        assert_eq!(
            status(&c, answer(200, r#"{"a":{"b":1},"s":"ok v2"}"#), 5),
            ProbeStatus::Pass
        );
        assert_eq!(
            status(&c, answer(200, r#"{"a":{"b":1},"s":"ok v2"}"#), 500),
            ProbeStatus::Warn
        );
        assert_eq!(
            status(&c, answer(200, r#"{"a":{"b":2},"s":"ok v2"}"#), 5),
            ProbeStatus::Fail
        );
        assert_eq!(
            status(&c, answer(200, r#"{"a":{"b":1},"s":"ok"}"#), 5),
            ProbeStatus::Fail
        );
        assert_eq!(
            status(&c, answer(200, r#"{"a":{"b":1},"s":"v2"}"#), 5),
            ProbeStatus::Fail
        );
        assert_eq!(
            status(&c, Err(http::HttpError::Denied("h:80".into())), 5),
            ProbeStatus::Fail
        );
    }

    #[test]
    fn bad_config_is_an_error_not_a_verdict() {
        assert!(HttpProbe::probe(config(r#"{"url": "http://h/", "body_regex": "("}"#)).is_err());
        let e = HttpProbe::probe(config(r#"{"url": "http://h/", "expect_status": ["2yy"]}"#));
        assert!(e.unwrap_err().contains("2yy"));
        assert!(parse_config::<Config>(r#"{"url": "x", "uri": 1}"#).is_err());
    }
}
