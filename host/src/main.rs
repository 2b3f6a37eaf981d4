//! The `assay` binary: parse the command line, set up tracing, run.

use clap::Parser;

fn main() -> std::process::ExitCode {
    let cli = assay_host::cli::Cli::parse();
    assay_host::telemetry::init(cli.default_log_level(), cli.global.log_format);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("assay: error: cannot start the async runtime: {e}");
            return std::process::ExitCode::from(assay_host::cli::EXIT_ERROR);
        }
    };
    runtime.block_on(assay_host::cli::run(cli))
}
