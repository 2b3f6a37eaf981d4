//! The live settings among replicas: one stored row (`live_settings`) that
//! every replica follows, so a `PUT /v1/config` on any of them reaches all
//! within [`FOLLOW`].
//!
//! - A change is written only if the row is still at the revision it was
//!   made against (a conditional update), together with its audit entry;
//!   two replicas changing at once cannot both win, and the loser is told.
//! - The row remembers the config file's settings it was made against
//!   (`base`). A replica that starts with the same file adopts the stored
//!   settings, so a restart (or a new replica) does not undo a change made
//!   through the API; one whose file's settings differ publishes them as a
//!   new revision: an edited and rolled-out config file wins over earlier
//!   API changes, as it does on a single host.

use std::sync::Arc;
use std::time::Duration;

use super::Live;
use crate::audit::{AuditEntry, AuditLog};
use crate::clock::now_ms;
use crate::store::{Stmt, Store, StoreError, args};
use crate::tasks::Tasks;

/// How often a replica looks for changes made on the others.
pub(crate) const FOLLOW: Duration = Duration::from_millis(500);

/// The stored live settings.
#[derive(Clone)]
pub(crate) struct Shared {
    store: Arc<Store>,
    node: String,
}

/// A stored row.
struct Stored {
    revision: i64,
    base: String,
    /// `None`: unreadable (written by another version of assay).
    live: Option<Live>,
}

impl Shared {
    /// Joins the replicas' live settings: adopts the stored ones when they
    /// were made against the same file settings as `file`'s, and publishes
    /// `file` otherwise. Answers the settings to run with.
    pub(crate) async fn join(
        store: Arc<Store>,
        node: &str,
        file: &Live,
    ) -> Result<(Shared, Live), StoreError> {
        let me = Shared {
            store,
            node: node.to_owned(),
        };
        let base = base_of(file);
        for _ in 0..10 {
            let Some(stored) = me.read_row().await? else {
                let first = Live {
                    revision: 1,
                    ..file.clone()
                };
                let insert = Stmt::exec(
                    "INSERT INTO live_settings (id, revision, base, body, changed_ms, change_id)
                     VALUES (1, 1, ?1, ?2, ?3, ?4) ON CONFLICT (id) DO NOTHING",
                    args![base.as_str(), body(&first), now_ms(), me.change_id()],
                );
                me.store.write(vec![insert]).wait().await?;
                continue;
            };
            match stored.live {
                Some(live) if stored.base == base => {
                    if live != first_of(file, live.revision) {
                        tracing::info!(
                            revision = live.revision,
                            "live settings: following the replicas' changes made through the API"
                        );
                    }
                    return Ok((me, live));
                }
                ref unreadable => {
                    let next = Live {
                        revision: stored.revision as u64 + 1,
                        ..file.clone()
                    };
                    if me
                        .replace(stored.revision, &next, Some(&base), None)
                        .await?
                    {
                        if unreadable.is_none() {
                            tracing::warn!(
                                "live settings: the stored ones are unreadable; replaced by the config file's"
                            );
                        } else {
                            tracing::info!(
                                revision = next.revision,
                                "live settings: the config file's differ from those the replicas ran with; they replace them"
                            );
                        }
                        return Ok((me, next));
                    }
                }
            }
        }
        Err(StoreError::Postgres(
            "live settings: other replicas kept changing them while this one started".into(),
        ))
    }

    /// The stored settings (`None`: unreadable, or no row).
    pub(crate) async fn read(&self) -> Result<Option<Live>, StoreError> {
        Ok(self.read_row().await?.and_then(|s| s.live))
    }

    /// Stores `next`, made against revision `from`, with its audit entry,
    /// in one commit; answers false (and writes nothing) when the stored
    /// settings are no longer at `from`.
    pub(crate) async fn publish(
        &self,
        from: u64,
        next: &Live,
        audit: AuditEntry,
    ) -> Result<bool, StoreError> {
        self.replace(from as i64, next, None, Some(audit)).await
    }

    /// Applies changes made on other replicas (through `apply`) until `tasks` stop.
    pub(crate) fn follow(
        self,
        current: impl Fn() -> Arc<Live> + Send + 'static,
        apply: impl Fn(Live) + Send + 'static,
        tasks: &Tasks,
    ) {
        let stopping = tasks.clone();
        tasks.spawn(async move {
            let mut tick = tokio::time::interval(FOLLOW);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tokio::select! {
                    _ = tick.tick() => {}
                    _ = stopping.stopped() => return,
                }
                match self.read().await {
                    Ok(Some(live)) if live.revision != current().revision => {
                        tracing::info!(
                            revision = live.revision,
                            "live settings changed on another replica; applied"
                        );
                        apply(live);
                    }
                    Ok(_) => {}
                    Err(e) => tracing::debug!("live settings: cannot look for changes: {e}"),
                }
            }
        });
    }

    async fn read_row(&self) -> Result<Option<Stored>, StoreError> {
        let row = (self.store)
            .query_opt(
                "SELECT revision, base, body FROM live_settings WHERE id = 1",
                args![],
            )
            .await?;
        let Some(mut r) = row else { return Ok(None) };
        let revision: i64 = r.get(0)?;
        let live = serde_json::from_str::<Live>(&r.take_text(2)?)
            .ok()
            .map(|l| Live {
                revision: revision as u64,
                ..l
            });
        Ok(Some(Stored {
            revision,
            base: r.take_text(1)?,
            live,
        }))
    }

    /// Replaces the row at revision `from` by `next`, made against the file
    /// settings `base` (`None`: the same as before), with `audit` only if it did.
    async fn replace(
        &self,
        from: i64,
        next: &Live,
        base: Option<&str>,
        audit: Option<AuditEntry>,
    ) -> Result<bool, StoreError> {
        let change = self.change_id();
        let update = Stmt::exec(
            "UPDATE live_settings SET revision = ?2, base = COALESCE(?3, base), body = ?4, changed_ms = ?5, change_id = ?6
             WHERE id = 1 AND revision = ?1",
            args![from, next.revision as i64, base, body(next), now_ms(), change.as_str()],
        );
        let audit = audit.map(|a| {
            AuditLog::append_if(
                a,
                "EXISTS (SELECT 1 FROM live_settings WHERE id = 1 AND change_id = ?7)",
                args![change.as_str()],
            )
        });
        let answers = (self.store)
            .write([update].into_iter().chain(audit).collect())
            .each()
            .await?;
        Ok(answers.first().is_some_and(|a| a.count == 1))
    }

    /// An id no other change has: this node, the time, and a random part.
    fn change_id(&self) -> String {
        format!("{}/{}/{:016x}", self.node, now_ms(), fastrand::u64(..))
    }
}

/// The file's settings as compared across replicas (without a revision).
fn base_of(file: &Live) -> String {
    body(&first_of(file, 0))
}

fn first_of(file: &Live, revision: u64) -> Live {
    Live {
        revision,
        ..file.clone()
    }
}

fn body(live: &Live) -> String {
    serde_json::to_string(live).expect("live settings serialise")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::HostConfig;
    use crate::live::LivePatch;
    use crate::store::testing::stores;

    fn file(interval: u64) -> Live {
        let toml = format!("[[monitor]]\nname = \"m\"\npath = \"x\"\ninterval_secs = {interval}\n");
        let (c, _) = HostConfig::parse(&toml, "t", std::iter::empty()).unwrap();
        Live::from_config(&c)
    }

    fn entry(result: &str) -> AuditEntry {
        AuditEntry {
            at_ms: 1,
            actor: "test".into(),
            action: "config.update".into(),
            target: "/v1/config".into(),
            result: result.into(),
            detail: String::new(),
        }
    }

    async fn audited(store: &Store) -> Vec<String> {
        let rows = store
            .query("SELECT result FROM audit ORDER BY id", args![])
            .await
            .unwrap();
        rows.into_iter()
            .map(|mut r| r.take_text(0).unwrap())
            .collect()
    }

    #[tokio::test]
    async fn replicas_follow_one_revision_and_a_stale_change_loses_whole() {
        for t in stores().await {
            let store = t.store.clone();
            let (a, live_a) = Shared::join(store.clone(), "a", &file(60)).await.unwrap();
            let (b, live_b) = Shared::join(store.clone(), "b", &file(60)).await.unwrap();
            assert_eq!(live_a, live_b);
            assert_eq!(live_a.revision, 1);

            let patch: LivePatch =
                serde_json::from_str(r#"{"monitors":{"m":{"interval_secs":5}}}"#).unwrap();
            let next = live_a.patched(&patch).unwrap();
            assert!(
                a.publish(live_a.revision, &next, entry("ok a"))
                    .await
                    .unwrap()
            );
            // `b` made its change against revision 1 too: refused, and not audited as made.
            let other = live_b.patched(&patch).unwrap();
            assert!(
                !b.publish(live_b.revision, &other, entry("ok b"))
                    .await
                    .unwrap()
            );
            assert_eq!(audited(&store).await, ["ok a"], "{}", t.backend);
            let seen = b.read().await.unwrap().unwrap();
            assert_eq!((seen.revision, seen.monitors["m"].interval_secs), (2, 5));

            // A restart with the same file keeps the change; a changed file replaces it.
            let (_, again) = Shared::join(store.clone(), "c", &file(60)).await.unwrap();
            assert_eq!((again.revision, again.monitors["m"].interval_secs), (2, 5));
            let (_, edited) = Shared::join(store.clone(), "c", &file(30)).await.unwrap();
            assert_eq!(
                (edited.revision, edited.monitors["m"].interval_secs),
                (3, 30)
            );
            let (_, old) = Shared::join(store.clone(), "a", &file(30)).await.unwrap();
            assert_eq!(
                old.revision, 3,
                "{}: the same file again changes nothing",
                t.backend
            );
        }
    }
}
