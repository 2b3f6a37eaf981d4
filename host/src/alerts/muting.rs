//! What mutes an alert: silences (operator-made, time-bound) and inhibition
//! (another firing alert), behind one trait so the engine asks both alike.

use super::matchers::InhibitRule;
use super::model::Alert;
use super::silences::Silence;

/// Something that can mute alerts.
pub(super) trait Muting {
    /// What mutes `target` at `now`: silence ids, or the fingerprints of the
    /// inhibiting alerts (`firing` holds every firing alert, `target` too).
    fn muted_by(&self, target: &Alert, firing: &[&Alert], now: i64) -> Vec<String>;
}

impl Muting for [Silence] {
    fn muted_by(&self, target: &Alert, _: &[&Alert], now: i64) -> Vec<String> {
        self.iter()
            .filter(|s| s.is_active(now) && s.matches(&target.labels))
            .map(|s| s.id.clone())
            .collect()
    }
}

impl Muting for [InhibitRule] {
    fn muted_by(&self, target: &Alert, firing: &[&Alert], _: i64) -> Vec<String> {
        let mut by = Vec::new();
        for rule in self {
            for src in firing {
                if src.fingerprint != target.fingerprint && rule.mutes(&src.labels, &target.labels)
                {
                    by.push(src.fingerprint.clone());
                }
            }
        }
        by
    }
}

/// Why an alert is muted now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Mute {
    /// By these silences.
    Silenced(Vec<String>),
    /// By these firing alerts (fingerprints).
    Inhibited(Vec<String>),
    /// Held back: it fired again within `resolve_cooldown` of its resolution.
    Held,
}
