//! The manifest a plugin carries inside its component (the `assay:manifest`
//! custom section): what it is, which contract and host it needs, and the
//! grants it asks for, each with a reason.
//!
//! Each SDK's build writes it from the project's `plugin.toml` (the Python
//! and JavaScript builds append it to the component; Rust plugins embed it
//! with `assay_plugin_sdk::manifest!`). The section holds that TOML verbatim.
//! A component without one still loads: the manifest is how a plugin says
//! what it needs, and the host's checks apply when it does.

use std::fmt;
use std::path::Path;

use serde::{Deserialize, Serialize};

use super::PluginKind;
use crate::config::grants::{Grants, HostPattern, HostPort};

/// The custom section's name.
pub const SECTION: &str = "assay:manifest";

/// The contract version this host serves (`package assay:plugin@…` in `wit/plugin.wit`).
pub const CONTRACT_VERSION: &str = "0.1.0";

/// This host's version.
pub const HOST_VERSION: &str = env!("CARGO_PKG_VERSION");

/// A plugin's manifest (`plugin.toml`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    pub name: String,
    pub version: String,
    pub kind: PluginKind,
    #[serde(default)]
    pub description: String,
    /// The `assay:plugin` contract version it was built against.
    #[serde(default = "default_contract")]
    pub contract: String,
    /// The oldest host that can run it.
    #[serde(default)]
    pub min_host: Option<String>,
    #[serde(default)]
    pub authors: Vec<String>,
    #[serde(default)]
    pub license: Option<String>,
    #[serde(default)]
    pub source: Option<String>,
    /// Its author's word that a call leaves nothing behind that changes the
    /// next call's answer, so the host may run its calls on one kept
    /// instance (validators and routers), where the operator allows it with
    /// `reuse_instances = true`.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub stateless: bool,
    /// What it needs the operator to grant (`[[grant]]` entries).
    #[serde(default, rename = "grant")]
    pub grants: Vec<Grant>,
}

fn default_contract() -> String {
    CONTRACT_VERSION.to_owned()
}

/// One grant a plugin asks for, and why.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Grant {
    pub kind: GrantKind,
    /// `host:port` for `http` and `tcp`, a path for `read`; none for `dns`
    /// and `system`.
    #[serde(default)]
    pub target: Option<String>,
    pub reason: String,
}

/// The kinds of grant, named after the probe settings that give them
/// (`allow_http`, `allow_tcp`, `allow_dns`, `allow_read`, `allow_system`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum GrantKind {
    Http,
    Tcp,
    Dns,
    Read,
    System,
}

impl GrantKind {
    pub fn as_str(self) -> &'static str {
        match self {
            GrantKind::Http => "http",
            GrantKind::Tcp => "tcp",
            GrantKind::Dns => "dns",
            GrantKind::Read => "read",
            GrantKind::System => "system",
        }
    }
}

impl Grant {
    /// What is asked, without the reason: `http 127.0.0.1:8080`, `dns`.
    pub fn what(&self) -> String {
        match &self.target {
            Some(t) => format!("{} {t}", self.kind.as_str()),
            None => self.kind.as_str().to_owned(),
        }
    }
}

impl fmt::Display for Grant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.what(), self.reason)
    }
}

/// Why a manifest cannot be read or served.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ManifestError {
    #[error("its {SECTION} section is not a valid manifest: {0}")]
    Invalid(String),
    #[error("it carries {count} {SECTION} sections; a component has one")]
    Several { count: usize },
    #[error(
        "it was built for contract assay:plugin@{plugin}, but this host serves assay:plugin@{host}; rebuild it against this host's contract (`assay plugin wit`) or run a host that serves {plugin}"
    )]
    Contract { plugin: String, host: String },
    #[error(
        "it needs assay {needs} or later (min_host in its manifest), but this host is assay {host}; upgrade the host"
    )]
    Host { needs: String, host: String },
    #[error("its manifest says kind = {manifest}, but it exports the {actual} interface")]
    Kind {
        manifest: PluginKind,
        actual: PluginKind,
    },
}

/// The manifest in `wasm`'s custom sections (at the top level or in any
/// nested module), if it has one.
pub fn read(wasm: &[u8]) -> Result<Option<Manifest>, ManifestError> {
    let sections: Vec<Vec<u8>> = wasmparser::Parser::new(0)
        .parse_all(wasm)
        .filter_map(|payload| match payload {
            Ok(wasmparser::Payload::CustomSection(c)) if c.name() == SECTION => {
                Some(c.data().to_vec())
            }
            _ => None,
        })
        .collect();
    match sections.as_slice() {
        [] => Ok(None),
        [one] => parse(one).map(Some),
        many => Err(ManifestError::Several { count: many.len() }),
    }
}

/// Parses a manifest's TOML text and checks its fields.
pub fn parse(bytes: &[u8]) -> Result<Manifest, ManifestError> {
    let invalid = |m: String| ManifestError::Invalid(m);
    let text = std::str::from_utf8(bytes).map_err(|e| invalid(format!("not UTF-8: {e}")))?;
    let m: Manifest = toml::from_str(text).map_err(|e| invalid(e.message().to_owned()))?;
    version(&m.contract).map_err(|e| invalid(format!("contract = {:?}: {e}", m.contract)))?;
    if let Some(h) = &m.min_host {
        version(h).map_err(|e| invalid(format!("min_host = {h:?}: {e}")))?;
    }
    for g in &m.grants {
        let needs_target = matches!(g.kind, GrantKind::Http | GrantKind::Tcp | GrantKind::Read);
        match (&g.target, needs_target) {
            (None, true) => {
                return Err(invalid(format!(
                    "a {} grant needs a target",
                    g.kind.as_str()
                )));
            }
            (Some(t), false) => {
                return Err(invalid(format!(
                    "a {} grant takes no target (got {t:?})",
                    g.kind.as_str()
                )));
            }
            _ => {}
        }
        if g.reason.trim().is_empty() {
            return Err(invalid(format!("the grant {} gives no reason", g.what())));
        }
    }
    Ok(m)
}

fn version(text: &str) -> Result<semver::Version, String> {
    semver::Version::parse(text.trim_start_matches('v')).map_err(|e| e.to_string())
}

impl Manifest {
    /// Whether this host can serve the plugin: its contract version (the
    /// same major, or for 0.x the same minor, and not newer than the host's)
    /// and its `min_host`.
    pub fn check_versions(&self) -> Result<(), ManifestError> {
        self.versions_against(CONTRACT_VERSION, HOST_VERSION)
    }

    fn versions_against(&self, contract: &str, host: &str) -> Result<(), ManifestError> {
        let served = version(contract).expect("the host's contract version is valid");
        let wanted = version(&self.contract).map_err(ManifestError::Invalid)?;
        let compatible =
            semver::VersionReq::parse(&format!("^{wanted}")).is_ok_and(|req| req.matches(&served));
        if !compatible {
            return Err(ManifestError::Contract {
                plugin: self.contract.clone(),
                host: contract.to_owned(),
            });
        }
        if let Some(needs) = &self.min_host {
            let host_v = version(host).expect("the host's version is valid");
            if version(needs).map_err(ManifestError::Invalid)? > host_v {
                return Err(ManifestError::Host {
                    needs: needs.clone(),
                    host: host.to_owned(),
                });
            }
        }
        Ok(())
    }

    /// Whether the plugin is the kind its manifest says.
    pub fn check_kind(&self, actual: PluginKind) -> Result<(), ManifestError> {
        if self.kind != actual {
            return Err(ManifestError::Kind {
                manifest: self.kind,
                actual,
            });
        }
        Ok(())
    }

    /// The grants this manifest asks for that `old` did not (a permission
    /// diff on upgrade); reasons do not count, only what is asked.
    pub fn new_grants<'a>(&'a self, old: Option<&Manifest>) -> Vec<&'a Grant> {
        let before: std::collections::BTreeSet<String> = old
            .map(|o| o.grants.iter().map(Grant::what).collect())
            .unwrap_or_default();
        self.grants
            .iter()
            .filter(|g| !before.contains(&g.what()))
            .collect()
    }

    /// The grants this version asks for that `old` did not, and that the
    /// operator's grants (`operator`: each probe instance's) already give:
    /// what an upgrade would gain silently. Empty: it may switch at once.
    pub fn new_and_given<'a>(
        &'a self,
        old: Option<&Manifest>,
        operator: &[&Grants],
    ) -> Vec<&'a Grant> {
        self.new_grants(old)
            .into_iter()
            .filter(|g| operator.iter().any(|grants| g.given_by(grants)))
            .collect()
    }
}

impl Grant {
    /// Whether `grants` (what the operator gave one probe instance) give
    /// this: a request to the asked authority would pass, the asked path
    /// overlaps a readable directory, DNS or the statistics are on. A
    /// target the host cannot test exactly (a `*.domain` or an address
    /// range) counts as given when any entry of its kind is there: the check
    /// errs toward asking the operator.
    pub fn given_by(&self, grants: &Grants) -> bool {
        let target = self.target.as_deref();
        match self.kind {
            GrantKind::Http => authority_given(target, &grants.http),
            GrantKind::Tcp => authority_given(target, &grants.tcp),
            GrantKind::Dns => grants.dns,
            GrantKind::System => grants.system,
            GrantKind::Read => match target {
                Some(t) => {
                    let asked = Path::new(t);
                    (grants.read.iter()).any(|d| asked.starts_with(d) || d.starts_with(asked))
                }
                None => !grants.read.is_empty(),
            },
        }
    }
}

/// Whether one of `entries` lets the asked `host:port` through.
fn authority_given(target: Option<&str>, entries: &[HostPort]) -> bool {
    let Some(asked) = target.and_then(|t| HostPort::parse(t).ok()) else {
        return !entries.is_empty();
    };
    let exact = match &asked.host {
        HostPattern::Name(n) => Some(n.clone()),
        HostPattern::Net(ip, bits) if u32::from(*bits) == if ip.is_ipv4() { 32 } else { 128 } => {
            Some(ip.to_string())
        }
        _ => None,
    };
    match exact {
        // A port the plugin leaves open (`host:*`) is given by any entry for the host.
        Some(host) => {
            (entries.iter()).any(|e| e.matches_authority(&host, asked.port.or(e.port).unwrap_or(0)))
        }
        None => !entries.is_empty(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PROBE: &str = r#"
name = "log-errors"
version = "0.2.0"
kind = "probe"
contract = "0.1.0"
min_host = "0.1.0"
[[grant]]
kind = "read"
target = "/var/log"
reason = "reads the log"
[[grant]]
kind = "system"
reason = "memory"
"#;

    fn probe() -> Manifest {
        parse(PROBE.as_bytes()).unwrap()
    }

    #[test]
    fn parses_and_serves_its_contract() {
        let m = probe();
        assert_eq!(m.grants.len(), 2);
        assert_eq!(m.grants[0].what(), "read /var/log");
        assert_eq!(m.check_versions(), Ok(()));
        assert_eq!(m.check_kind(PluginKind::Probe), Ok(()));
        assert_eq!(
            m.check_kind(PluginKind::Router),
            Err(ManifestError::Kind {
                manifest: PluginKind::Probe,
                actual: PluginKind::Router
            })
        );
    }

    #[test]
    fn refuses_other_contracts_and_newer_hosts_naming_both_versions() {
        let mut m = probe();
        m.contract = "0.2.0".into();
        let e = m.versions_against("0.1.0", "0.1.0").unwrap_err();
        let text = e.to_string();
        assert!(
            text.contains("assay:plugin@0.2.0") && text.contains("assay:plugin@0.1.0"),
            "{text}"
        );
        // A plugin built for an older patch of the same contract is served.
        m.contract = "0.1.0".into();
        assert_eq!(m.versions_against("0.1.3", "0.1.0"), Ok(()));
        // ...but not one built for a newer patch (it may use what 0.1.0 lacks).
        m.contract = "0.1.4".into();
        assert!(m.versions_against("0.1.3", "0.1.0").is_err());
        m.contract = "0.1.0".into();
        m.min_host = Some("0.3.0".into());
        let text = m
            .versions_against("0.1.0", "0.2.1")
            .unwrap_err()
            .to_string();
        assert!(text.contains("0.3.0") && text.contains("0.2.1"), "{text}");
    }

    #[test]
    fn rejects_bad_manifests_with_the_reason() {
        for (text, why) in [
            ("name = 1", "invalid type"),
            (
                "name = \"a\"\nversion = \"1\"\nkind = \"probe\"\ncolour = 1",
                "unknown field",
            ),
            (
                "name = \"a\"\nversion = \"1\"\nkind = \"gizmo\"",
                "unknown variant",
            ),
            (
                "name = \"a\"\nversion = \"1\"\nkind = \"probe\"\ncontract = \"one\"",
                "contract",
            ),
            (
                "name = \"a\"\nversion = \"1\"\nkind = \"probe\"\n[[grant]]\nkind = \"http\"\nreason = \"x\"",
                "needs a target",
            ),
            (
                "name = \"a\"\nversion = \"1\"\nkind = \"probe\"\n[[grant]]\nkind = \"dns\"\nreason = \" \"",
                "no reason",
            ),
        ] {
            let e = parse(text.as_bytes()).unwrap_err().to_string();
            assert!(e.contains(why), "{text:?}: {e}");
        }
    }

    #[test]
    fn new_grants_are_what_the_old_version_did_not_ask() {
        let old = probe();
        let mut new = probe();
        new.grants[0].reason = "reworded".into();
        assert!(new.new_grants(Some(&old)).is_empty());
        new.grants.push(Grant {
            kind: GrantKind::Http,
            target: Some("api:443".into()),
            reason: "health".into(),
        });
        let added: Vec<String> = new
            .new_grants(Some(&old))
            .iter()
            .map(|g| g.what())
            .collect();
        assert_eq!(added, ["http api:443"]);
        assert_eq!(new.new_grants(None).len(), 3);
    }

    #[test]
    fn reads_the_section_from_a_component() {
        // A component preamble, then a custom section (id 0).
        let component = b"\0asm\x0d\x00\x01\x00".to_vec();
        let mut body = vec![SECTION.len() as u8];
        body.extend_from_slice(SECTION.as_bytes());
        body.extend_from_slice(PROBE.as_bytes());
        let mut with = component.clone();
        with.push(0);
        with.push(body.len() as u8 | 0x80);
        with.push((body.len() >> 7) as u8);
        with.extend_from_slice(&body);
        assert_eq!(read(&with).unwrap(), Some(probe()));
        assert_eq!(read(&component).unwrap(), None);
    }

    fn grant(kind: GrantKind, target: Option<&str>) -> Grant {
        Grant {
            kind,
            target: target.map(str::to_owned),
            reason: "why".into(),
        }
    }

    fn operator(http: &[&str], tcp: &[&str], read: &[&str]) -> Grants {
        Grants {
            http: http.iter().map(|h| HostPort::parse(h).unwrap()).collect(),
            tcp: tcp.iter().map(|h| HostPort::parse(h).unwrap()).collect(),
            dns: false,
            read: read.iter().map(std::path::PathBuf::from).collect(),
            system: true,
        }
    }

    #[test]
    fn a_grant_is_given_when_the_operators_entries_let_it_through() {
        let op = operator(
            &["api.example.com:443", "127.0.0.1:*"],
            &["10.0.0.0/8:5432"],
            &["/var/log"],
        );
        let given = |kind, target| grant(kind, target).given_by(&op);
        assert!(given(GrantKind::Http, Some("api.example.com:443")));
        assert!(given(GrantKind::Http, Some("API.example.com:443")));
        assert!(!given(GrantKind::Http, Some("api.example.com:80")));
        assert!(!given(GrantKind::Http, Some("other.example.com:443")));
        assert!(given(GrantKind::Http, Some("127.0.0.1:9000")));
        assert!(
            given(GrantKind::Http, Some("api.example.com:*")),
            "an open port is given by any entry for the host"
        );
        // Not testable exactly: given when any entry of the kind is there.
        assert!(given(GrantKind::Http, Some("*.example.com:443")));
        assert!(given(GrantKind::Tcp, Some("10.1.2.3:5432")));
        assert!(!given(GrantKind::Tcp, Some("10.1.2.3:5433")));
        assert!(given(GrantKind::Read, Some("/var/log/app")));
        assert!(
            given(GrantKind::Read, Some("/var")),
            "a parent of a readable directory overlaps it"
        );
        assert!(!given(GrantKind::Read, Some("/etc")));
        assert!(!given(GrantKind::Dns, None));
        assert!(given(GrantKind::System, None));
        assert!(!grant(GrantKind::Http, Some("*.example.com:443")).given_by(&Grants::default()));
    }

    #[test]
    fn only_new_grants_the_operator_gives_hold_an_upgrade() {
        let old = probe();
        let mut new = probe();
        new.grants
            .push(grant(GrantKind::Http, Some("127.0.0.1:8080")));
        new.grants.push(grant(GrantKind::Dns, None));
        let op = operator(&["127.0.0.1:8080"], &[], &["/var/log"]);
        let held: Vec<String> = new
            .new_and_given(Some(&old), &[&op])
            .iter()
            .map(|g| g.what())
            .collect();
        assert_eq!(held, ["http 127.0.0.1:8080"], "dns is asked but not given");
        assert!(
            new.new_and_given(Some(&old), &[]).is_empty(),
            "no instance, nothing given"
        );
        assert!(old.new_and_given(Some(&old), &[&op]).is_empty());
    }
}
