//! `twinwire-hub`: loads configuration, sets up logging, runs the hub until SIGTERM/SIGINT.

use clap::Parser;
use std::path::PathBuf;
use std::process::ExitCode;
use twinwire_hub::config::HubConfig;

/// The round allocates and frees many small values per command (decoded entries, twins, frames,
/// pipeline arguments); with glibc's allocator malloc and free were 40 % of the hub's CPU in the
/// commands profile (issue 13).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(
    version,
    about = "twinwire hub: owns twins by shard, applies commands, fans out signals"
)]
struct Args {
    /// A TOML or YAML configuration file; TWINWIRE_* environment variables override it.
    #[arg(long, env = "TWINWIRE_CONFIG_FILE")]
    config: Option<PathBuf>,
}

fn main() -> ExitCode {
    let args = Args::parse();
    let env = std::env::vars()
        .filter(|(k, _)| k != "TWINWIRE_CONFIG_FILE")
        .collect();
    let config = match HubConfig::load(args.config.as_deref(), &env) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("twinwire-hub: {e}");
            return ExitCode::from(2);
        }
    };
    let filter = tracing_subscriber::EnvFilter::try_new(&config.log.level)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(false);
    if config.log.format == "json" {
        builder.json().init();
    } else {
        builder.init();
    }
    let result =
        actix_web::rt::System::new().block_on(twinwire_hub::run(config, shutdown_signal()));
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!(error = %e, "hub failed");
            ExitCode::FAILURE
        }
    }
}

async fn shutdown_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    // Installing signal handlers only fails when the runtime has no signal driver, which ours has.
    let mut term = signal(SignalKind::terminate()).expect("SIGTERM handler");
    let mut int = signal(SignalKind::interrupt()).expect("SIGINT handler");
    tokio::select! {
        _ = term.recv() => {},
        _ = int.recv() => {},
    }
}
