//! `assay serve` authentication: roles, refusals, the audit log, and start-up rules.

use crate::common::{Env, test_plugin};
use crate::server::{Server, Start, code, json};

const VIEWER: &str = "viewer-token-0123456789abcdef";
const OPERATOR: &str = "operator-token-0123456789abcdef";
const ADMIN: &str = "admin-token-0123456789abcdef";

const CONFIG: &str = r#"
[[auth.tokens]]
name = "dashboards"
token = "${T_VIEWER}"
role = "viewer"

[[auth.tokens]]
name = "ci"
token = "${T_OPERATOR}"
role = "operator"

[[auth.tokens]]
name = "ops-admin"
token = "${T_ADMIN}"
role = "admin"
"#;

fn start(env: &Env) -> Server {
    env.plugin(&test_plugin("trivial"), "trivial", None);
    Server::start(
        env,
        Start {
            config: CONFIG,
            env: &[
                ("T_VIEWER", VIEWER),
                ("T_OPERATOR", OPERATOR),
                ("T_ADMIN", ADMIN),
            ],
            ..Start::default()
        },
    )
}

#[test]
fn each_role_may_do_what_it_should_and_no_more() {
    let env = Env::new();
    let s = start(&env);
    let status = |req: reqwest::blocking::RequestBuilder, token: Option<&str>| {
        let req = match token {
            Some(t) => req.bearer_auth(t),
            None => req,
        };
        let resp = req.send().unwrap();
        let st = resp.status().as_u16();
        let challenge = resp.headers().get("www-authenticate").is_some();
        let (_, body) = json(resp);
        (st, body, challenge)
    };
    // Probe endpoints stay open.
    for path in ["/health", "/ready"] {
        assert_eq!(status(s.get(path), None).0, 200, "{path}");
    }
    assert_eq!(s.get("/metrics").send().unwrap().status(), 200);

    // Missing and wrong tokens: 401 with a challenge.
    let (st, body, challenge) = status(s.get("/v1/plugins"), None);
    assert_eq!((st, code(&body), challenge), (401, "unauthenticated", true));
    let (st, body, _) = status(s.get("/v1/plugins"), Some("not-a-token-0123456789"));
    assert_eq!((st, code(&body)), (401, "invalid_token"));
    let (st, _, _) = status(s.get("/v1/plugins"), Some(&ADMIN[..ADMIN.len() - 1]));
    assert_eq!(st, 401, "a prefix of a token is not the token");

    // Viewer: reads only.
    assert_eq!(status(s.get("/v1/plugins"), Some(VIEWER)).0, 200);
    assert_eq!(status(s.get("/v1/reports"), Some(VIEWER)).0, 200);
    assert_eq!(status(s.get("/v1/config"), Some(VIEWER)).0, 200);
    let (st, body, _) = status(s.post("/v1/validate").body("{}"), Some(VIEWER));
    assert_eq!((st, code(&body)), (403, "forbidden"));
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("needs the operator role")
    );
    assert_eq!(status(s.post("/v1/cache/clear"), Some(VIEWER)).0, 403);

    // Operator: validates and clears the cache, but cannot reconfigure.
    let (st, report, _) = status(s.post("/v1/validate").body("{}"), Some(OPERATOR));
    assert_eq!(st, 200);
    assert_eq!(report["actor"], "ci");
    assert_eq!(status(s.post("/v1/cache/clear"), Some(OPERATOR)).0, 200);
    let change = r#"{"default_level": "full"}"#;
    assert_eq!(
        status(s.put("/v1/config").body(change), Some(OPERATOR)).0,
        403
    );
    assert_eq!(status(s.get("/v1/audit"), Some(OPERATOR)).0, 403);

    // Admin: everything.
    let (st, cfg, _) = status(s.put("/v1/config").body(change), Some(ADMIN));
    assert_eq!((st, cfg["default_level"].as_str()), (200, Some("full")));
    let (st, audit, _) = status(s.get("/v1/audit"), Some(ADMIN));
    assert_eq!(st, 200);
    let who: Vec<(&str, &str)> = audit["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (e["actor"].as_str().unwrap(), e["action"].as_str().unwrap()))
        .collect();
    assert_eq!(who, [("ops-admin", "config.update"), ("ci", "cache.clear")]);

    // Tokens are never logged.
    let log = s.log();
    assert!(log.contains("auth: 3 token(s)"), "{log}");
    for t in [VIEWER, OPERATOR, ADMIN] {
        assert!(!log.contains(t), "a token leaked into the log");
    }
}

#[test]
fn probe_endpoints_can_be_closed_too() {
    let env = Env::new();
    env.plugin(&test_plugin("trivial"), "trivial", None);
    let s = Server::start(
        &env,
        Start {
            config: &format!("[auth]\npublic = [\"/health\"]\n{CONFIG}"),
            env: &[
                ("T_VIEWER", VIEWER),
                ("T_OPERATOR", OPERATOR),
                ("T_ADMIN", ADMIN),
            ],
            wait_ready: false,
            ..Start::default()
        },
    );
    assert_eq!(s.get("/health").send().unwrap().status(), 200);
    assert_eq!(s.get("/metrics").send().unwrap().status(), 401);
    assert_eq!(
        s.get("/metrics")
            .bearer_auth(VIEWER)
            .send()
            .unwrap()
            .status(),
        200
    );
}

#[test]
fn an_open_server_on_a_public_address_refuses_to_start() {
    let env = Env::new();
    env.plugin(&test_plugin("trivial"), "trivial", None);
    let run = env.run(&["serve", "--listen", "0.0.0.0:0"]);
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(
        run.stderr.contains("refusing to start") && run.stderr.contains("[[auth.tokens]]"),
        "{}",
        run.stderr
    );

    // A missing ${ENV} secret is a config error that names the variable.
    let config = env.subject("assay.toml", CONFIG);
    let run = env.run(&["--config", config.to_str().unwrap(), "serve"]);
    assert_eq!(run.code, 2);
    assert!(run.stderr.contains("T_VIEWER is not set"), "{}", run.stderr);
}

#[test]
fn without_tokens_on_loopback_auth_is_off_and_the_log_says_so() {
    let env = Env::new();
    env.plugin(&test_plugin("trivial"), "trivial", None);
    let s = Server::start(&env, Start::default());
    assert_eq!(s.put("/v1/config").body("{}").send().unwrap().status(), 200);
    assert!(s.log().contains("auth: off"), "{}", s.log());
}
