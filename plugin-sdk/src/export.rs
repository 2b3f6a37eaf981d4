//! Adapters from the plain traits to the generated component exports.
//!
//! `export_validator!(T)` expands to the generated export macro applied to
//! `ValidatorAdapter<T>`, which converts between the SDK's types and the
//! generated ones. Each kind's bindings have their own copy of the `types`
//! interface, so the conversions are stamped out per kind by a macro.
#![allow(unsafe_code)]

#[allow(unused_imports)]
use std::marker::PhantomData;

/// Conversions between `crate::types` and one generated copy of the `types` interface.
#[allow(unused_macros)]
macro_rules! conversions {
    ($w:path) => {
        use crate::types as t;
        use $w as w;

        impl From<t::PluginInfo> for w::PluginInfo {
            fn from(i: t::PluginInfo) -> Self {
                w::PluginInfo {
                    name: i.name,
                    version: i.version,
                    description: i.description,
                }
            }
        }

        impl From<t::Severity> for w::Severity {
            fn from(s: t::Severity) -> Self {
                match s {
                    t::Severity::Info => w::Severity::Info,
                    t::Severity::Warning => w::Severity::Warning,
                    t::Severity::Error => w::Severity::Error,
                    t::Severity::Critical => w::Severity::Critical,
                }
            }
        }

        impl From<w::Severity> for t::Severity {
            fn from(s: w::Severity) -> Self {
                match s {
                    w::Severity::Info => t::Severity::Info,
                    w::Severity::Warning => t::Severity::Warning,
                    w::Severity::Error => t::Severity::Error,
                    w::Severity::Critical => t::Severity::Critical,
                }
            }
        }
    };
}

#[cfg(feature = "validator")]
pub(crate) mod validator {
    use super::PhantomData;
    use crate::bindings::validator::Guest as Preparation;
    use crate::bindings::validator::exports::assay::plugin::validation::Guest;
    use crate::kinds::{PreparedValidator, Validator, parse_config};
    conversions!(crate::bindings::validator::assay::plugin::types);

    fn subject(s: w::Subject) -> t::Subject {
        t::Subject {
            name: s.name,
            content_type: s.content_type,
            data: s.data,
        }
    }

    impl From<w::Level> for t::Level {
        fn from(l: w::Level) -> Self {
            match l {
                w::Level::Minimal => t::Level::Minimal,
                w::Level::Standard => t::Level::Standard,
                w::Level::Comprehensive => t::Level::Comprehensive,
                w::Level::Full => t::Level::Full,
            }
        }
    }

    impl From<t::Validation> for w::Validation {
        fn from(v: t::Validation) -> Self {
            match v {
                t::Validation::NotApplicable(why) => w::Validation::NotApplicable(why),
                t::Validation::Findings(fs) => w::Validation::Findings(
                    fs.into_iter()
                        .map(|f| w::Finding {
                            severity: f.severity.into(),
                            code: f.code,
                            message: f.message,
                            path: f.path,
                        })
                        .collect(),
                ),
            }
        }
    }

    /// Implements the generated `validation` export for any [`Validator`].
    pub struct ValidatorAdapter<T>(PhantomData<T>);

    impl<T: Validator> Guest for ValidatorAdapter<T> {
        fn info() -> w::PluginInfo {
            T::info().into()
        }

        fn validate(
            s: w::Subject,
            level: w::Level,
            config: String,
        ) -> Result<w::Validation, String> {
            let config = parse_config::<T::Config>(&config)?;
            T::validate(&subject(s), level.into(), config).map(Into::into)
        }
    }

    /// A plain validator prepares nothing, but its config is checked at load.
    impl<T: Validator> Preparation for ValidatorAdapter<T> {
        fn prepare(config: String) -> Result<(), String> {
            parse_config::<T::Config>(&config).map(|_| ())
        }
    }

    /// Implements `validation` and `prepare` for any [`PreparedValidator`].
    pub struct PreparedValidatorAdapter<T>(PhantomData<T>);

    fn build<T: PreparedValidator>(config: &str) -> Result<T::Prepared, String> {
        T::prepare(parse_config::<T::Config>(config)?)
    }

    impl<T: PreparedValidator> Guest for PreparedValidatorAdapter<T> {
        fn info() -> w::PluginInfo {
            T::info().into()
        }

        fn validate(
            s: w::Subject,
            level: w::Level,
            config: String,
        ) -> Result<w::Validation, String> {
            let s = subject(s);
            crate::prepared::with(
                &config,
                || build::<T>(&config),
                |p| T::validate(p, &s, level.into()),
            )
            .map(Into::into)
        }
    }

    impl<T: PreparedValidator> Preparation for PreparedValidatorAdapter<T> {
        fn prepare(config: String) -> Result<(), String> {
            crate::prepared::prepare(&config, || build::<T>(&config))
        }
    }
}

#[cfg(feature = "probe")]
pub(crate) mod probe {
    use super::PhantomData;
    use crate::bindings::probe::exports::assay::plugin::probing::Guest;
    use crate::kinds::{Probe, parse_config};
    conversions!(crate::bindings::probe::assay::plugin::types);

    /// Implements the generated `probing` export for any [`Probe`].
    pub struct ProbeAdapter<T>(PhantomData<T>);

    impl<T: Probe> Guest for ProbeAdapter<T> {
        fn info() -> w::PluginInfo {
            T::info().into()
        }

        fn probe(config: String) -> Result<w::ProbeOutcome, String> {
            let config = parse_config::<T::Config>(&config)?;
            let o = T::probe(config)?;
            Ok(w::ProbeOutcome {
                status: match o.status {
                    t::ProbeStatus::Pass => w::ProbeStatus::Pass,
                    t::ProbeStatus::Warn => w::ProbeStatus::Warn,
                    t::ProbeStatus::Fail => w::ProbeStatus::Fail,
                },
                message: o.message,
                observations: o
                    .observations
                    .into_iter()
                    .map(|x| w::Observation {
                        name: x.name,
                        value: x.value,
                        unit: x.unit,
                    })
                    .collect(),
            })
        }
    }
}

#[cfg(feature = "router")]
pub(crate) mod router {
    use super::PhantomData;
    use crate::bindings::router::Guest as Preparation;
    use crate::bindings::router::exports::assay::plugin::routing::Guest;
    use crate::kinds::{PreparedRouter, Router, parse_config};
    conversions!(crate::bindings::router::assay::plugin::types);

    fn alert(a: w::Alert) -> t::Alert {
        t::Alert {
            name: a.name,
            status: match a.status {
                w::AlertStatus::Firing => t::AlertStatus::Firing,
                w::AlertStatus::Resolved => t::AlertStatus::Resolved,
            },
            severity: a.severity.into(),
            summary: a.summary,
            description: a.description,
            labels: a.labels,
            annotations: a.annotations,
            source: a.source,
            fingerprint: a.fingerprint,
            starts_at_ms: a.starts_at_ms,
            ends_at_ms: a.ends_at_ms,
        }
    }

    fn decision(d: t::RoutingDecision) -> w::RoutingDecision {
        match d {
            t::RoutingDecision::Deliver {
                deliveries,
                continue_chain,
            } => w::RoutingDecision::Deliver(w::Deliveries {
                to: deliveries
                    .into_iter()
                    .map(|d| w::Delivery {
                        channel: d.channel,
                        title: d.title,
                        body: d.body,
                        labels: d.labels,
                        repeat_interval_ms: d.repeat_interval_ms,
                    })
                    .collect(),
                continue_chain,
            }),
            t::RoutingDecision::Suppress(why) => w::RoutingDecision::Suppress(why),
        }
    }

    /// Implements the generated `routing` export for any [`Router`].
    pub struct RouterAdapter<T>(PhantomData<T>);

    impl<T: Router> Guest for RouterAdapter<T> {
        fn info() -> w::PluginInfo {
            T::info().into()
        }

        fn route(a: w::Alert, config: String) -> Result<w::RoutingDecision, String> {
            let config = parse_config::<T::Config>(&config)?;
            T::route(&alert(a), config).map(decision)
        }
    }

    /// A plain router prepares nothing, but its config is checked when prepared.
    impl<T: Router> Preparation for RouterAdapter<T> {
        fn prepare(config: String) -> Result<(), String> {
            parse_config::<T::Config>(&config).map(|_| ())
        }
    }

    /// Implements `routing` and `prepare` for any [`PreparedRouter`].
    pub struct PreparedRouterAdapter<T>(PhantomData<T>);

    fn build<T: PreparedRouter>(config: &str) -> Result<T::Prepared, String> {
        T::prepare(parse_config::<T::Config>(config)?)
    }

    impl<T: PreparedRouter> Guest for PreparedRouterAdapter<T> {
        fn info() -> w::PluginInfo {
            T::info().into()
        }

        fn route(a: w::Alert, config: String) -> Result<w::RoutingDecision, String> {
            let a = alert(a);
            crate::prepared::with(&config, || build::<T>(&config), |p| T::route(p, &a))
                .map(decision)
        }
    }

    impl<T: PreparedRouter> Preparation for PreparedRouterAdapter<T> {
        fn prepare(config: String) -> Result<(), String> {
            crate::prepared::prepare(&config, || build::<T>(&config))
        }
    }
}
