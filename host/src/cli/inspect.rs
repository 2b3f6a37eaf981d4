//! `assay plugin inspect`: what a plugin file is, before deploying it.

use std::io::Write;
use std::path::PathBuf;

use clap::Args;
use serde::Serialize;

use super::{EXIT_OK, Format, GlobalArgs, write_line};
use crate::registry::{Info, PluginKind, load_plugin};

#[derive(Debug, Args)]
pub struct InspectArgs {
    /// The plugin file (`NAME.wasm`); a `NAME.toml` beside it is read too.
    #[arg(value_name = "FILE.wasm")]
    pub file: PathBuf,

    /// Output format.
    #[arg(long, short, value_enum, default_value_t = Format::Text)]
    pub format: Format,
}

#[derive(Serialize)]
struct Inspection {
    name: String,
    file: String,
    kind: PluginKind,
    info: Info,
    /// Its `assay:manifest` section, if it carries one.
    manifest: Option<crate::registry::manifest::Manifest>,
    size: u64,
    digest: String,
    /// Whether the compiled code came from the on-disk cache.
    compiled_from_cache: bool,
    imports: Vec<String>,
    exports: Vec<String>,
    config: serde_json::Value,
    timeout_ms: u128,
    memory_limit_mib: usize,
    min_level: crate::validate::Level,
}

pub(super) async fn run(global: &GlobalArgs, args: InspectArgs) -> anyhow::Result<u8> {
    let config = super::host_config(global)?;
    let runtime = super::runtime(&config)?;
    if !args.file.is_file() {
        anyhow::bail!("{}: no such file", args.file.display());
    }
    let plugin = load_plugin(&runtime, &args.file, &config).await?;
    let ty = plugin.component.component_type();
    let engine = runtime.engine();
    let inspection = Inspection {
        name: plugin.name.to_string(),
        file: plugin.file.display().to_string(),
        kind: plugin.kind,
        info: plugin.info.clone(),
        manifest: plugin.manifest.as_deref().cloned(),
        size: plugin.size,
        digest: plugin.digest.clone(),
        compiled_from_cache: plugin.from_cache,
        imports: ty.imports(engine).map(|(n, _)| n.to_string()).collect(),
        exports: ty.exports(engine).map(|(n, _)| n.to_string()).collect(),
        config: serde_json::from_str(&plugin.settings.config_json)?,
        timeout_ms: plugin.settings.limits.timeout.as_millis(),
        memory_limit_mib: plugin.settings.limits.memory >> 20,
        min_level: plugin.settings.min_level,
    };
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    match args.format {
        Format::Json => write_line(&mut out, &serde_json::to_string(&inspection)?)?,
        Format::Text => {
            let mut s = format!("{} ({})\n", inspection.name, inspection.file);
            s.push_str(&format!("  kind:        {}\n", inspection.kind));
            let i = &inspection.info;
            s.push_str(&format!("  info:        {} {}\n", i.name, i.version));
            s.push_str(&format!("  description: {}\n", i.description));
            match &inspection.manifest {
                None => s.push_str("  manifest:    none (no assay:manifest section)\n"),
                Some(m) => {
                    s.push_str(&format!(
                        "  manifest:    {} {} ({}), contract {}, min host {}\n",
                        m.name,
                        m.version,
                        m.kind,
                        m.contract,
                        m.min_host.as_deref().unwrap_or("any")
                    ));
                    if !m.authors.is_empty() {
                        s.push_str(&format!("  authors:     {}\n", m.authors.join(", ")));
                    }
                    if let Some(l) = &m.license {
                        s.push_str(&format!("  license:     {l}\n"));
                    }
                    if let Some(src) = &m.source {
                        s.push_str(&format!("  source:      {src}\n"));
                    }
                    if m.stateless {
                        s.push_str("  stateless:   yes (its calls may share an instance where the operator sets reuse_instances = true)\n");
                    }
                    if m.grants.is_empty() {
                        s.push_str("  grants:      none asked\n");
                    } else {
                        s.push_str("  grants:\n");
                        for g in &m.grants {
                            s.push_str(&format!("    {}: {}\n", g.what(), g.reason));
                        }
                    }
                }
            }
            s.push_str(&format!("  size:        {} bytes\n", inspection.size));
            s.push_str(&format!("  digest:      {}\n", inspection.digest));
            s.push_str(&format!(
                "  compiled:    {}\n",
                if inspection.compiled_from_cache {
                    "loaded from the cache"
                } else {
                    "just now"
                }
            ));
            s.push_str(&format!(
                "  settings:    min_level {}, timeout {} ms, memory {} MiB, config {}\n",
                inspection.min_level,
                inspection.timeout_ms,
                inspection.memory_limit_mib,
                inspection.config
            ));
            s.push_str("  imports:\n");
            for i in &inspection.imports {
                s.push_str(&format!("    {i}\n"));
            }
            s.push_str("  exports:\n");
            for e in &inspection.exports {
                s.push_str(&format!("    {e}\n"));
            }
            out.write_all(s.as_bytes())?;
        }
    }
    Ok(EXIT_OK)
}
