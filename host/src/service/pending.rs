//! Permission diff on upgrade: a new version of a running plugin that asks
//! for grants its running version did not, and that the operator's grants
//! already give, waits for an operator instead of switching silently.
//!
//! The check compares the two versions' manifests ([`Manifest::new_and_given`]):
//! a grant the new version asks for but no `[[probe]]` gives cannot be used,
//! so it holds nothing. A held version is `pending`: the old one keeps
//! serving, `/v1/plugins` and the reload events show what it asks and why,
//! and `PluginUpgradePending` fires. It goes live when an admin approves
//! it (`POST /v1/plugins/{name}/approve`, audited), or when the operator
//! changes that plugin's grants (its sidecar's or `assay.toml`'s
//! `[[probe]]` `allow_*` entries): having looked at them is the decision.
//! A newer file replaces what is pending; removing or reverting the file
//! drops it.
//!
//! Pending state is in memory: a restart loads the files as they are.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::sync::{Arc, Mutex};

use serde::Serialize;

use super::Service;
use super::reload::event;
use crate::alerts::HostEvent;
use crate::clock::{now_ms, rfc3339};
use crate::config::grants::Grants;
use crate::registry::manifest::Grant;
use crate::registry::{Plugin, ReloadAction, ReloadEvent, ReloadOutcome};

/// The version a plugin's manifest gives (what its author released), else its `info()`'s.
fn shown_version(p: &Plugin) -> &str {
    p.manifest.as_ref().map_or(p.version(), |m| &m.version)
}

/// A new version held back until an operator approves it.
#[derive(Debug, Clone, Serialize)]
pub struct PendingUpgrade {
    pub version: String,
    pub digest: String,
    /// When it was first held (RFC 3339).
    pub since: String,
    /// What it asks for that the running version did not, and the
    /// operator's grants give.
    pub new_grants: Vec<Grant>,
    /// The operator's grants for the plugin when it was held: a change to
    /// them approves it.
    #[serde(skip)]
    grants_seen: String,
}

/// The upgrades waiting for approval, and approvals not yet applied.
#[derive(Default)]
pub(crate) struct Pending {
    held: Mutex<BTreeMap<String, PendingUpgrade>>,
    /// Plugin name → the digest an operator approved, until a rescan loads it.
    approved: Mutex<HashMap<String, String>>,
}

impl Pending {
    /// The upgrades waiting now, by plugin name.
    pub(crate) fn all(&self) -> BTreeMap<String, PendingUpgrade> {
        self.held.lock().expect("pending lock").clone()
    }

    pub(crate) fn get(&self, name: &str) -> Option<PendingUpgrade> {
        self.held.lock().expect("pending lock").get(name).cloned()
    }

    /// Plugin name → approved digest, until a rescan uses it.
    fn approvals(&self) -> std::sync::MutexGuard<'_, HashMap<String, String>> {
        self.approved.lock().expect("approvals lock")
    }

    fn take(&self, name: &str) -> Option<PendingUpgrade> {
        self.held.lock().expect("pending lock").remove(name)
    }

    pub(super) fn put(&self, name: &str, p: PendingUpgrade) {
        self.held
            .lock()
            .expect("pending lock")
            .insert(name.to_owned(), p);
    }

    fn holds(&self, name: &str) -> bool {
        self.held.lock().expect("pending lock").contains_key(name)
    }

    /// Drops what waits for files that are gone; answers their names.
    fn forget_missing(&self, present: &dyn Fn(&str) -> bool) -> Vec<String> {
        let mut held = self.held.lock().expect("pending lock");
        let gone: Vec<String> = held.keys().filter(|n| !present(n)).cloned().collect();
        for n in &gone {
            held.remove(n);
        }
        gone
    }
}

/// What to do with a new version of a running plugin.
pub(super) enum Hold {
    /// It asks for nothing new that is given: switch.
    Go,
    /// It waited and may now switch: `why`.
    Approved(&'static str),
    /// The same version waits, as before (no new event).
    Still(PendingUpgrade),
    /// It waits, from now.
    Held(PendingUpgrade),
}

/// Why an approval was refused.
#[derive(Debug, thiserror::Error)]
pub enum ApproveError {
    #[error("plugin {0:?} has no version waiting for approval")]
    NotPending(String),
    #[error(
        "plugin {name:?} has {pending} waiting, not {asked}; look at what it asks (GET /v1/plugins/{name}) and approve that digest"
    )]
    OtherDigest {
        name: String,
        pending: String,
        asked: String,
    },
}

/// What an approval did: the version approved, and the rescan's event for it.
#[derive(Debug, Serialize)]
pub struct Approval {
    pub plugin: String,
    pub approved: PendingUpgrade,
    /// `None` when the file had gone by the rescan.
    pub event: Option<ReloadEvent>,
}

impl Service {
    /// The operator's grants for plugin `name`: each `[[probe]]` instance of
    /// it, in `assay.toml` and in the new version's sidecar (disabled ones
    /// too: enabling one later should not widen a plugin unseen).
    fn operator_grants(&self, name: &str, new: &Plugin) -> Vec<Arc<Grants>> {
        let from_config = self.plugin_config().probe_specs().unwrap_or_default();
        (from_config.iter())
            .filter(|s| s.plugin == name)
            .chain(new.settings.probes.iter())
            .map(|s| s.grants.clone())
            .collect()
    }

    /// Whether the new version of `old` may go live now (`was`: what was
    /// pending for this plugin before this rescan).
    pub(super) fn hold_check(
        &self,
        name: &str,
        old: &Plugin,
        new: &Plugin,
        was: Option<&PendingUpgrade>,
    ) -> Hold {
        let operator = self.operator_grants(name, new);
        let given: Vec<&Grants> = operator.iter().map(|g| &**g).collect();
        let asked: Vec<Grant> = match &new.manifest {
            Some(m) => (m.new_and_given(old.manifest.as_deref(), &given).into_iter())
                .cloned()
                .collect(),
            None => Vec::new(),
        };
        let approved = self.reloads.pending.approvals().remove(name);
        if asked.is_empty() {
            return Hold::Go;
        }
        if approved.as_deref() == Some(new.digest.as_str()) {
            return Hold::Approved("approved by an operator");
        }
        let grants_seen = format!("{operator:?}");
        if let Some(was) = was.filter(|w| w.digest == new.digest) {
            if was.grants_seen != grants_seen {
                return Hold::Approved("its grants changed after it asked");
            }
            return Hold::Still(was.clone());
        }
        Hold::Held(PendingUpgrade {
            version: shown_version(new).to_owned(),
            digest: new.digest.clone(),
            since: rfc3339(now_ms()),
            new_grants: asked,
            grants_seen,
        })
    }

    /// Keeps `old` serving (as `serving`: with the file's current settings)
    /// while the new version waits; the event says what it asks.
    pub(super) fn hold(
        &self,
        trigger: &str,
        file: &Path,
        old: &Arc<Plugin>,
        serving: Arc<Plugin>,
        upgrade: PendingUpgrade,
    ) -> (Option<Arc<Plugin>>, Option<ReloadEvent>) {
        let name = &*old.name;
        let mut e =
            super::reload::with_old(event(trigger, name, file, ReloadAction::Changed), Some(old));
        e.outcome = ReloadOutcome::Pending;
        e.new_digest = Some(upgrade.digest.clone());
        e.new_version = Some(upgrade.version.clone());
        let asked: Vec<String> = upgrade.new_grants.iter().map(Grant::to_string).collect();
        e.error = Some(format!(
            "version {} asks for grants version {} did not: {}; its [[probe]] grants give them, so it waits for approval (POST /v1/plugins/{name}/approve) or a change to those grants; version {} keeps serving",
            upgrade.version,
            shown_version(old),
            asked.join(", "),
            shown_version(old),
        ));
        e.new_grants = upgrade.new_grants.clone();
        tracing::warn!(
            plugin = name,
            "plugin upgrade pending: {}",
            e.error.as_deref().unwrap_or_default()
        );
        self.reloads.pending.put(name, upgrade);
        self.publish(HostEvent::UpgradePending(Box::new(e.clone())));
        (Some(serving), Some(e))
    }

    /// Takes what is pending for `name` before its file is looked at again.
    pub(super) fn take_pending(&self, name: &str) -> Option<PendingUpgrade> {
        self.reloads.pending.take(name)
    }

    /// Resolves the alert of an upgrade that no longer waits.
    pub(super) fn settle_pending(&self, name: &str, was: Option<PendingUpgrade>) {
        if was.is_some() && !self.reloads.pending.holds(name) {
            self.publish(HostEvent::UpgradeSettled(name.to_owned()));
        }
    }

    /// Forgets upgrades whose files are gone.
    pub(super) fn forget_missing_pending(&self, present: &dyn Fn(&str) -> bool) {
        for name in self.reloads.pending.forget_missing(present) {
            self.publish(HostEvent::UpgradeSettled(name));
        }
    }

    /// Approves the version of `name` that waits (only `digest`, when
    /// given) and loads it with a rescan of its file.
    pub async fn approve(
        &self,
        name: &str,
        digest: Option<&str>,
    ) -> Result<Approval, ApproveError> {
        let upgrade = (self.reloads.pending.get(name))
            .ok_or_else(|| ApproveError::NotPending(name.to_owned()))?;
        if let Some(asked) = digest
            && asked != upgrade.digest
        {
            return Err(ApproveError::OtherDigest {
                name: name.to_owned(),
                pending: upgrade.digest,
                asked: asked.to_owned(),
            });
        }
        self.reloads
            .pending
            .approvals()
            .insert(name.to_owned(), upgrade.digest.clone());
        self.reloads.forget_stamp(name).await;
        let events = self.rescan("approve", false).await;
        // An approval the rescan did not use (the file changed meanwhile) lapses.
        self.reloads.pending.approvals().remove(name);
        Ok(Approval {
            plugin: name.to_owned(),
            approved: upgrade,
            event: events.into_iter().find(|e| e.plugin == name),
        })
    }
}
