//! `/api/v2/…`: the part of Alertmanager's API v2 that Prometheus, Grafana,
//! vmalert and `amtool` use, over assay's own alerting: alerts posted here
//! meet the same routers, silences, inhibition and durable outbox as every
//! other alert, and silences made here are assay's silences.
//!
//! Errors are answered as Alertmanager answers them: a JSON string.

mod wire;

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::Extension;
use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::json;

use super::auth::Actor;
use crate::alerts::{Alerting, AlertingError, Matcher};
use crate::clock::{now_ms, rfc3339};
use crate::service::Service;
pub(super) use wire::is_label_name;
use wire::{GettableAlert, PostableAlert, PostableSilence};

/// At most this many alerts in one post (Prometheus sends at most 64).
const MAX_POSTED: usize = 10_000;

/// An answer in Alertmanager's error shape.
pub(super) struct AmError(StatusCode, String);

impl IntoResponse for AmError {
    fn into_response(self) -> Response {
        (self.0, axum::Json(self.1)).into_response()
    }
}

fn bad(m: impl Into<String>) -> AmError {
    AmError(StatusCode::BAD_REQUEST, m.into())
}

impl From<AlertingError> for AmError {
    fn from(e: AlertingError) -> AmError {
        AmError(StatusCode::SERVICE_UNAVAILABLE, e.to_string())
    }
}

impl From<crate::store::StoreError> for AmError {
    fn from(e: crate::store::StoreError) -> AmError {
        AmError(
            StatusCode::SERVICE_UNAVAILABLE,
            format!("the store failed: {e}"),
        )
    }
}

/// The `filter` matchers and other parameters of a query string.
struct Params {
    filter: Vec<Matcher>,
    flags: std::collections::HashMap<String, bool>,
    receiver: Option<Matcher>,
    /// `creator=` of silences.
    creators: Vec<String>,
}

impl Params {
    fn parse(query: Option<String>) -> Result<Params, AmError> {
        let mut p = Params {
            filter: Vec::new(),
            flags: Default::default(),
            receiver: None,
            creators: Vec::new(),
        };
        let query = query.unwrap_or_default();
        for (k, v) in form_urlencoded::parse(query.as_bytes()) {
            match k.as_ref() {
                "filter" => p.filter.push(Matcher::parse(&v).map_err(bad)?),
                "receiver" => {
                    p.receiver = Some(Matcher::from_parts("receiver", &v, true, true).map_err(bad)?)
                }
                "active" | "silenced" | "inhibited" | "unprocessed" => {
                    let on = v
                        .parse::<bool>()
                        .map_err(|_| bad(format!("{k}: {v:?} is neither true nor false")))?;
                    p.flags.insert(k.into_owned(), on);
                }
                "creator" => p.creators.push(v.into_owned()),
                _ => {}
            }
        }
        Ok(p)
    }

    fn flag(&self, name: &str) -> bool {
        self.flags.get(name).copied().unwrap_or(true)
    }

    fn wants(&self, a: &GettableAlert) -> bool {
        let st = &a.status;
        let silenced = !st.silenced_by.is_empty();
        let inhibited = !st.inhibited_by.is_empty();
        let shown = match st.state {
            "active" => self.flag("active"),
            "unprocessed" => self.flag("unprocessed"),
            // Suppressed: by silences and inhibitions as asked; by a router
            // or a hold, as an active one.
            _ if silenced || inhibited => {
                (!silenced || self.flag("silenced")) && (!inhibited || self.flag("inhibited"))
            }
            _ => self.flag("active"),
        };
        let receiver = self.receiver.as_ref().is_none_or(|m| {
            a.receivers
                .iter()
                .any(|r| m.matches_with(|_| Some(r.name.as_str())))
        });
        shown && receiver && self.filter.iter().all(|m| m.matches(&a.labels))
    }
}

/// `POST /api/v2/alerts`: alerts as Prometheus sends them (re-sent while they fire).
pub(super) async fn post_alerts(
    State(svc): State<Arc<Service>>,
    actor: Option<Extension<Actor>>,
    body: Bytes,
) -> Result<Response, AmError> {
    let posted: Vec<PostableAlert> = serde_json::from_slice(&body)
        .map_err(|e| bad(format!("the body is not a list of alerts: {e}")))?;
    if posted.len() > MAX_POSTED {
        return Err(bad(format!("at most {MAX_POSTED} alerts in one request")));
    }
    if posted.is_empty() {
        return Ok(StatusCode::OK.into_response());
    }
    let actor = actor.map_or_else(|| Actor::anonymous().name, |a| a.name.clone());
    let source = format!("api/v2:{actor}");
    let now = now_ms();
    let timeout = svc.config.alerting.resolve_timeout.as_millis() as i64;
    let alerts = (posted.into_iter().enumerate())
        .map(|(i, a)| {
            a.into_alert(&source, now, timeout)
                .map_err(|e| bad(format!("alerts[{i}]: {e}")))
        })
        .collect::<Result<Vec<_>, _>>()?;
    svc.alerts.submit_all(alerts).await?;
    Ok(StatusCode::OK.into_response())
}

/// The active alerts Alertmanager would show, as `params` filter them.
async fn shown(alerts: &Alerting, params: &Params) -> Result<Vec<GettableAlert>, AmError> {
    Ok((alerts.list().await?.iter())
        .filter_map(wire::gettable)
        .filter(|a| params.wants(a))
        .collect())
}

/// `GET /api/v2/alerts`.
pub(super) async fn get_alerts(
    State(alerts): State<Alerting>,
    RawQuery(q): RawQuery,
) -> Result<Response, AmError> {
    let params = Params::parse(q)?;
    Ok(axum::Json(shown(&alerts, &params).await?).into_response())
}

/// A group of `/api/v2/alerts/groups`: the channel, and the `group_by` labels.
type GroupKey = (String, Vec<(String, String)>);

/// `GET /api/v2/alerts/groups`: per channel, by `[alerting] group_by`.
pub(super) async fn get_groups(
    State(svc): State<Arc<Service>>,
    RawQuery(q): RawQuery,
) -> Result<Response, AmError> {
    let params = Params::parse(q)?;
    let group_by = &svc.config.alerting.group_by;
    let mut groups: BTreeMap<GroupKey, Vec<GettableAlert>> = BTreeMap::new();
    for a in shown(&svc.alerts, &params).await? {
        let labels: Vec<(String, String)> = (group_by.iter())
            .filter_map(|k| a.labels.get(k).map(|v| (k.clone(), v.clone())))
            .collect();
        for r in &a.receivers {
            groups
                .entry((r.name.clone(), labels.clone()))
                .or_default()
                .push(a.clone());
        }
    }
    let out: Vec<_> = (groups.into_iter())
        .map(|((receiver, labels), alerts)| {
            let labels: BTreeMap<_, _> = labels.into_iter().collect();
            json!({"labels": labels, "receiver": {"name": receiver}, "alerts": alerts})
        })
        .collect();
    Ok(axum::Json(out).into_response())
}

/// `GET /api/v2/silences`.
pub(super) async fn get_silences(
    State(alerts): State<Alerting>,
    RawQuery(q): RawQuery,
) -> Result<Response, AmError> {
    let params = Params::parse(q)?;
    let now = now_ms();
    let all = alerts.repo().silences(i64::MIN).await?;
    let out: Vec<_> = (all.iter())
        .filter(|s| params.creators.is_empty() || params.creators.contains(&s.created_by))
        .filter(|s| wire::silence_matches(s, &params.filter))
        .map(|s| wire::gettable_silence(s, now))
        .collect();
    Ok(axum::Json(out).into_response())
}

/// `GET /api/v2/silence/{id}`.
pub(super) async fn get_silence(
    State(alerts): State<Alerting>,
    Path(id): Path<String>,
) -> Result<Response, AmError> {
    let all = alerts.repo().silences(i64::MIN).await?;
    let s = (all.iter().find(|s| s.id == id))
        .ok_or_else(|| AmError(StatusCode::NOT_FOUND, format!("silence {id} not found")))?;
    Ok(axum::Json(wire::gettable_silence(s, now_ms())).into_response())
}

/// `POST /api/v2/silences`: a new silence, or (with `id`) one replacing
/// that silence, which ends now.
pub(super) async fn post_silence(
    State(alerts): State<Alerting>,
    body: Bytes,
) -> Result<Response, AmError> {
    let posted: PostableSilence = serde_json::from_slice(&body)
        .map_err(|e| bad(format!("the body is not a silence: {e}")))?;
    let replaces = posted.id.clone().filter(|id| !id.is_empty());
    if let Some(id) = &replaces {
        let all = alerts.repo().silences(i64::MIN).await?;
        if !all.iter().any(|s| &s.id == id) {
            return Err(AmError(
                StatusCode::NOT_FOUND,
                format!("silence {id} not found"),
            ));
        }
    }
    let silence = posted.into_silence(uuid(), now_ms()).map_err(bad)?;
    alerts.repo().insert_silence(&silence).await?;
    if let Some(id) = &replaces {
        alerts.repo().expire_silence(id).await?;
    }
    alerts.silences_changed().await?;
    Ok(axum::Json(json!({ "silenceID": silence.id })).into_response())
}

/// `DELETE /api/v2/silence/{id}`: ends it now.
pub(super) async fn delete_silence(
    State(alerts): State<Alerting>,
    Path(id): Path<String>,
) -> Result<Response, AmError> {
    if !alerts.repo().expire_silence(&id).await? {
        return Err(AmError(
            StatusCode::NOT_FOUND,
            format!("silence {id} not found, or already expired"),
        ));
    }
    alerts.silences_changed().await?;
    Ok(StatusCode::OK.into_response())
}

/// `GET /api/v2/status`.
pub(super) async fn status(State(svc): State<Arc<Service>>) -> Response {
    let started = now_ms() - svc.started.elapsed().as_millis() as i64;
    let original = format!(
        "# assay {}: alerting is configured in assay.toml ([alerting], [[channel]], [[router]],\n\
         # [[inhibit_rule]]); its live settings are at GET /v1/config.\n",
        env!("CARGO_PKG_VERSION")
    );
    axum::Json(json!({
        "cluster": {"name": svc.cluster.node(), "status": "ready", "peers": []},
        "versionInfo": {
            "version": env!("CARGO_PKG_VERSION"),
            "revision": "",
            "branch": "",
            "buildUser": "assay",
            "buildDate": "",
            "goVersion": "none (assay is written in Rust)",
        },
        "config": {"original": original},
        "uptime": rfc3339(started),
    }))
    .into_response()
}

/// `GET /api/v2/receivers`: the channels.
pub(super) async fn receivers(State(svc): State<Arc<Service>>) -> Response {
    let names: Vec<_> = (svc.config.channels.iter())
        .map(|c| json!({"name": c.name}))
        .collect();
    axum::Json(names).into_response()
}

/// A random (version 4) UUID, as Alertmanager's silence ids are.
fn uuid() -> String {
    let mut b: [u8; 16] = std::array::from_fn(|_| fastrand::u8(..));
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let h = hex::encode(b);
    format!(
        "{}-{}-{}-{}-{}",
        &h[..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..]
    )
}
