//! The `assay` binary: parse the command line, set up tracing, run.

use clap::Parser;

fn main() -> std::process::ExitCode {
    let cli = match assay_host::cli::Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            let code = match e.kind() {
                clap::error::ErrorKind::DisplayHelp | clap::error::ErrorKind::DisplayVersion => 0,
                // `assay probe run` is called by monitoring systems, for
                // which 2 means CRITICAL: bad arguments are UNKNOWN there.
                _ if is_probe_run() => assay_host::cli::probe::EXIT_UNKNOWN,
                _ => assay_host::cli::EXIT_ERROR,
            };
            return std::process::ExitCode::from(code);
        }
    };
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
    // Traces (serve only) export from a task on the runtime.
    let traces = {
        let _inside = runtime.enter();
        cli.traces()
    };
    let (traces, tracer) = match traces {
        Ok(Some((t, tracer))) => (Some(t), Some(tracer)),
        Ok(None) => (None, None),
        Err(e) => {
            eprintln!("assay: error: {e}");
            return std::process::ExitCode::from(assay_host::cli::EXIT_ERROR);
        }
    };
    assay_host::telemetry::init(cli.default_log_level(), cli.global.log_format, tracer);
    let code = runtime.block_on(assay_host::cli::run(cli));
    if let Some(t) = traces {
        // What is queued gets a moment to leave; a collector that is down costs no more.
        let _inside = runtime.enter();
        t.shutdown(std::time::Duration::from_secs(2));
    }
    code
}

fn is_probe_run() -> bool {
    let args: Vec<String> = std::env::args().collect();
    args.windows(2).any(|w| w[0] == "probe" && w[1] == "run")
}
