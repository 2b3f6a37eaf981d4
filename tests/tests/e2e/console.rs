//! The web console and the public status page in a real browser (headless
//! Chromium over WebDriver): what each page shows, live updates, an
//! operator acting and a viewer not, the status page without JavaScript,
//! badges, and `/v1/metrics` with gzip.

use fantoccini::{Client, Locator};
use serde_json::Value;

use crate::browser::{Driver, runtime, screenshot, text, until};
use crate::common::{Env, shipped};
use crate::server::{Server, Start, eventually, json};
use crate::targets::HttpTarget;

const VIEWER: &str = "viewer-token-0123456789abcdef";
const OPERATOR: &str = "operator-token-0123456789abcdef";

fn config(web: &HttpTarget, api: &HttpTarget) -> String {
    let probe = |name: &str, t: &HttpTarget, extra: &str| {
        format!(
            "[[probe]]\nname = \"{name}\"\nplugin = \"http\"\ninterval = \"300ms\"\nallow_http = [\"{}\"]\n{extra}\nconfig = '{{\"url\": \"{}\"}}'\n",
            t.addr,
            t.url("/")
        )
    };
    format!(
        r#"
[ui]
public_status = true
status_title = "Example status"
status_probes = ["web", "api"]
refresh_secs = 1

[[auth.tokens]]
name = "wall"
token = "{VIEWER}"
role = "viewer"

[[auth.tokens]]
name = "oncall"
token = "{OPERATOR}"
role = "operator"

[[validator]]
name = "required-fields"
[validator.config]
fields = [{{ pointer = "/id", type = "string" }}, {{ pointer = "/owner" }}]

{}
{}"#,
        probe("web", web, ""),
        probe(
            "api",
            api,
            "failure_threshold = 3\nlabels = { team = \"payments\" }"
        ),
    )
}

fn start(env: &Env, web: &HttpTarget, api: &HttpTarget) -> Server {
    env.plugin(&shipped("http"), "http", None);
    env.plugin(&shipped("required-fields"), "required-fields", None);
    Server::start(
        env,
        Start {
            config: &config(web, api),
            ..Start::default()
        },
    )
}

/// Signs in through the form with `token`.
async fn sign_in(c: &Client, s: &Server, token: &str) {
    c.goto(&s.url("/")).await.unwrap();
    // No token yet: the console shows the sign-in form, nothing else.
    assert!(c.current_url().await.unwrap().path().ends_with("/login"));
    c.find(Locator::Css("#token"))
        .await
        .unwrap()
        .send_keys(token)
        .await
        .unwrap();
    c.find(Locator::Css("form button[type=submit]"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    until(10, "the overview", || async {
        let h1 = c.find(Locator::Css("h1")).await.ok()?.text().await.ok()?;
        (h1 == "Overview").then_some(())
    })
    .await;
}

/// The `data-state` of a probe's row on the probes page.
async fn row_state(c: &Client, probe: &str) -> Option<String> {
    let row = c
        .find(Locator::Css(&format!("tr[data-probe='{probe}']")))
        .await
        .ok()?;
    row.attr("data-state").await.ok()?
}

#[test]
fn the_console_shows_what_is_stored_and_an_operator_acts_where_a_viewer_cannot() {
    let env = Env::new();
    let (web, api) = (HttpTarget::start(), HttpTarget::start());
    let s = start(&env, &web, &api);
    let bearer = |r: reqwest::blocking::RequestBuilder| r.bearer_auth(OPERATOR);
    // A report with findings: a missing field and a mistyped one.
    let (code, report) = json(
        bearer(s.post("/v1/validate?level=standard&name=order.json"))
            .body(r#"{"id": 7}"#)
            .send()
            .unwrap(),
    );
    assert_eq!(code, 200, "{report}");
    assert_eq!(report["verdict"], "fail", "{report}");
    let report_id = eventually(10, "the report to be stored", || {
        let (_, v) = json(bearer(s.get("/v1/reports")).send().unwrap());
        v["reports"][0]["id"].as_i64()
    });
    eventually(20, "both probes to pass", || {
        let (_, v) = json(bearer(s.get("/v1/probes")).send().unwrap());
        let states: Vec<&str> = v["probes"]
            .as_array()?
            .iter()
            .filter_map(|p| p["state"].as_str())
            .collect();
        (states == ["passing", "passing"]).then_some(())
    });

    let driver = Driver::start();
    runtime().block_on(async {
        let c = driver.session(true).await;
        sign_in(&c, &s, OPERATOR).await;
        assert!(text(&c, ".who").await.contains("oncall · operator"));
        assert!(text(&c, "#summary .banner").await.contains("All healthy"));
        screenshot(&c, "console-overview").await;

        // Probes: both passing, with uptime; then `api` starts failing and
        // its row turns red after 3 failures, with no reload of the page.
        c.goto(&s.url("/probes")).await.unwrap();
        assert_eq!(row_state(&c, "web").await.as_deref(), Some("passing"));
        assert_eq!(row_state(&c, "api").await.as_deref(), Some("passing"));
        let web_row = text(&c, "tr[data-probe='web']").await;
        assert!(
            web_row.contains("100%"),
            "uptime of a passing probe: {web_row}"
        );
        c.execute("window.__not_reloaded = true;", vec![])
            .await
            .unwrap();
        api.set_status(503);
        until(30, "api's row to turn failing", || async {
            (row_state(&c, "api").await? == "failing").then_some(())
        })
        .await;
        let kept = c
            .execute("return window.__not_reloaded === true;", vec![])
            .await
            .unwrap();
        assert_eq!(
            kept,
            Value::Bool(true),
            "the page was reloaded instead of updated"
        );
        let api_row = text(&c, "tr[data-probe='api']").await;
        assert!(
            api_row.contains("failing") && api_row.contains("503"),
            "{api_row}"
        );
        let first = c.find(Locator::Css("#probes tbody tr")).await.unwrap();
        assert_eq!(
            first.attr("data-probe").await.unwrap().as_deref(),
            Some("api"),
            "failing probes come first"
        );
        screenshot(&c, "console-probes").await;

        // A probe's page: uptime, response times, state changes.
        c.goto(&s.url("/probes/api")).await.unwrap();
        assert!(text(&c, "#state").await.contains("failing"));
        let changes = text(&c, "#changes").await;
        assert!(
            changes.contains("failing") && changes.contains("passing"),
            "{changes}"
        );
        c.find(Locator::Css("svg.chart rect"))
            .await
            .expect("a response-time chart");
        screenshot(&c, "console-probe").await;

        // The overview now leads with it.
        c.goto(&s.url("/")).await.unwrap();
        until(10, "the overview to show api failing", || async {
            let t = c
                .find(Locator::Css("#failing"))
                .await
                .ok()?
                .text()
                .await
                .ok()?;
            t.contains("api").then_some(())
        })
        .await;
        assert!(
            text(&c, "#summary .banner")
                .await
                .contains("1 probe(s) failing")
        );
        screenshot(&c, "console-overview-failing").await;

        // A report: findings grouped by plugin and severity.
        c.goto(&s.url("/reports")).await.unwrap();
        let row = text(&c, &format!("tr[data-report='{report_id}']")).await;
        assert!(row.contains("fail") && row.contains("order.json"), "{row}");
        c.find(Locator::Css(&format!("tr[data-report='{report_id}'] a")))
            .await
            .unwrap()
            .click()
            .await
            .unwrap();
        until(10, "the report page", || async {
            let h1 = c.find(Locator::Css("h1")).await.ok()?.text().await.ok()?;
            (h1 == format!("Report {report_id}")).then_some(())
        })
        .await;
        let group = text(&c, "section.group").await;
        assert!(
            group.contains("required-fields") && group.contains("error"),
            "{group}"
        );
        assert!(
            group.contains("field.missing") && group.contains("/owner"),
            "{group}"
        );
        assert!(
            group.contains("field.type") && group.contains("/id"),
            "{group}"
        );
        screenshot(&c, "console-report").await;

        // Alerts: the probe's alert fires; the operator acknowledges it...
        c.goto(&s.url("/alerts")).await.unwrap();
        let alert_row = "#active tr[data-name='ProbeFailing']";
        until(20, "the probe's alert", || async {
            c.find(Locator::Css(alert_row)).await.ok()
        })
        .await;
        c.find(Locator::Css(&format!("{alert_row} input[name=comment]")))
            .await
            .unwrap()
            .send_keys("looking")
            .await
            .unwrap();
        c.find(Locator::Css(&format!(
            "{alert_row} form[action$='/ack'] button"
        )))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
        until(10, "the acknowledgement", || async {
            let t = c
                .find(Locator::Css(".notice.ok"))
                .await
                .ok()?
                .text()
                .await
                .ok()?;
            t.contains("Acknowledged").then_some(())
        })
        .await;
        assert!(text(&c, alert_row).await.contains("by oncall: looking"));
        // ...and silences it from its row, shown on the status page as maintenance.
        c.find(Locator::Css(&format!("{alert_row} a")))
            .await
            .unwrap()
            .click()
            .await
            .unwrap();
        let matchers = c
            .find(Locator::Css("#matchers"))
            .await
            .unwrap()
            .prop("value")
            .await
            .unwrap()
            .unwrap_or_default();
        assert!(
            matchers.contains("alertname=\"ProbeFailing\"") && matchers.contains("probe=\"api\""),
            "{matchers}"
        );
        c.find(Locator::Css("#duration"))
            .await
            .unwrap()
            .clear()
            .await
            .unwrap();
        c.find(Locator::Css("#duration"))
            .await
            .unwrap()
            .send_keys("1h")
            .await
            .unwrap();
        c.find(Locator::Css("#comment"))
            .await
            .unwrap()
            .send_keys("api database upgrade")
            .await
            .unwrap();
        c.find(Locator::Css("input[name=maintenance]"))
            .await
            .unwrap()
            .click()
            .await
            .unwrap();
        c.find(Locator::Css("#new-silence + form button[type=submit]"))
            .await
            .unwrap()
            .click()
            .await
            .unwrap();
        until(10, "the silence", || async {
            let t = c
                .find(Locator::Css(".notice.ok"))
                .await
                .ok()?
                .text()
                .await
                .ok()?;
            t.contains("created").then_some(())
        })
        .await;
        screenshot(&c, "console-alerts").await;
        c.close().await.unwrap();
    });
    let (_, alerts) = json(bearer(s.get("/v1/alerts")).send().unwrap());
    let probe_alert = alerts["alerts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["alert"]["name"] == "ProbeFailing")
        .unwrap();
    assert_eq!(probe_alert["acknowledged"]["by"], "oncall", "{probe_alert}");
    let (_, silences) = json(bearer(s.get("/v1/silences")).send().unwrap());
    let silence = &silences["silences"][0];
    assert_eq!(
        silence["comment"], "maintenance: api database upgrade",
        "{silences}"
    );
    assert_eq!(silence["created_by"], "oncall");

    // A viewer sees the same pages without the actions, and a forged action is refused.
    runtime().block_on(async {
        let c = driver.session(true).await;
        sign_in(&c, &s, VIEWER).await;
        c.goto(&s.url("/alerts")).await.unwrap();
        assert!(text(&c, "#active").await.contains("ProbeFailing"));
        assert!(
            c.find(Locator::Css("form[action$='/ack']")).await.is_err(),
            "a viewer was offered ack"
        );
        assert!(
            c.find(Locator::Css("#new-silence")).await.is_err(),
            "a viewer was offered a silence"
        );
        assert!(
            c.find(Locator::Css("form[action$='/expire']"))
                .await
                .is_err()
        );
        c.close().await.unwrap();
    });
    let fp = probe_alert["alert"]["fingerprint"].as_str().unwrap();
    // A silence posted from the console's form with `cookie`, and from `origin` if given.
    let post_silence = |cookie: &str, origin: Option<&str>| {
        let mut req = reqwest::blocking::Client::new()
            .post(s.url("/silences"))
            .header("cookie", format!("assay_token={cookie}"));
        if let Some(o) = origin {
            req = req.header("origin", o);
        }
        req.form(&[
            ("matchers", "alertname=\"X\""),
            ("duration", "1h"),
            ("comment", "x"),
        ])
        .send()
        .unwrap()
    };
    let forged = post_silence(VIEWER, None);
    assert_eq!(forged.status(), 403);
    assert!(forged.text().unwrap().contains("needs the operator role"));
    let anonymous = reqwest::blocking::Client::new()
        .post(s.url(&format!("/alerts/{fp}/ack")))
        .form(&[("comment", "x")])
        .send()
        .unwrap();
    assert_eq!(anonymous.status(), 401);
    // From another site, even an operator's cookie does not act.
    let cross = post_silence(OPERATOR, Some("https://evil.example"));
    assert_eq!(cross.status(), 403);
    let (_, silences) = json(bearer(s.get("/v1/silences")).send().unwrap());
    assert_eq!(
        silences["silences"].as_array().unwrap().len(),
        1,
        "{silences}"
    );
}

#[test]
fn the_public_status_page_works_without_javascript_and_badges_follow_the_probes() {
    let env = Env::new();
    let (web, api) = (HttpTarget::start(), HttpTarget::start());
    let s = start(&env, &web, &api);
    api.set_status(500);
    eventually(20, "web passing and api failing", || {
        let (_, v) = json(s.get("/v1/probes").bearer_auth(VIEWER).send().unwrap());
        let state = |n: &str| {
            v["probes"]
                .as_array()
                .unwrap()
                .iter()
                .find(|p| p["name"] == n)
                .map(|p| p["state"].clone())
        };
        (state("web")? == "passing" && state("api")? == "failing").then_some(())
    });
    let (code, _) = json(
        s.post("/v1/silences")
            .bearer_auth(OPERATOR)
            .json(&serde_json::json!({"matchers": ["probe=\"api\""], "comment": "Maintenance: moving the api", "duration": "2h"}))
            .send()
            .unwrap(),
    );
    assert_eq!(code, 201);
    let driver = Driver::start();
    runtime().block_on(async {
        let c = driver.session(false).await;
        c.goto(&s.url("/status")).await.unwrap();
        assert_eq!(text(&c, "h1").await, "Example status");
        assert!(text(&c, ".banner").await.contains("1 of 2 services down"));
        let web_row = text(&c, "[data-probe='web']").await;
        assert!(
            web_row.contains("passing") && web_row.contains("24 h 100%"),
            "{web_row}"
        );
        let api_row = text(&c, "[data-probe='api']").await;
        assert!(api_row.contains("failing"), "{api_row}");
        let bars = c
            .find_all(Locator::Css("[data-probe='web'] svg.bars rect"))
            .await
            .unwrap();
        assert_eq!(bars.len(), 30);
        assert!(
            text(&c, "#maintenance + .status-row")
                .await
                .contains("moving the api")
        );
        // The alert about api is an incident (silenced for the maintenance, still down).
        let incident = text(&c, "#incidents + .status-row").await;
        assert!(
            incident.contains("api: ProbeFailing") && incident.contains("Affects api"),
            "{incident}"
        );
        // Never the probe's message: it names the target's address.
        let page = c.source().await.unwrap();
        assert!(
            !page.contains("127.0.0.1") && !page.contains("status 500"),
            "{page}"
        );
        screenshot(&c, "status-page").await;
        // The console itself stays behind the sign-in form.
        c.goto(&s.url("/probes")).await.unwrap();
        assert!(c.current_url().await.unwrap().path().ends_with("/login"));
        c.close().await.unwrap();
    });
    // Badges: public for the status page's probes.
    let badge = s.get("/badge/probe/api.svg").send().unwrap();
    assert_eq!(badge.status(), 200);
    assert_eq!(badge.headers()["content-type"], "image/svg+xml");
    assert!(badge.text().unwrap().contains("api: failing"));
    let up = s
        .get("/badge/probe/web/uptime.svg?window=24h")
        .send()
        .unwrap()
        .text()
        .unwrap();
    assert!(up.contains("uptime 24h: 100%"), "{up}");
    assert_eq!(
        s.get("/badge/probe/web/uptime.svg?window=1y")
            .send()
            .unwrap()
            .status(),
        400
    );
    // Others need a token: an unknown name tells nothing without one.
    assert_eq!(s.get("/badge/probe/nope.svg").send().unwrap().status(), 401);
    let unknown = s
        .get("/badge/probe/nope.svg")
        .bearer_auth(VIEWER)
        .send()
        .unwrap();
    assert_eq!(unknown.status(), 404);
}
