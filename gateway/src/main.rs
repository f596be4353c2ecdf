//! `twinwire-gateway`: loads configuration, sets up logging, runs the gateway until SIGTERM/SIGINT.

use clap::Parser;
use std::path::PathBuf;
use std::process::ExitCode;
use twinwire_gateway::config::GatewayConfig;

#[derive(Parser)]
#[command(
    version,
    about = "twinwire gateway node: Eclipse Ditto's WebSocket binding, scaled out"
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
    let config = match GatewayConfig::load(args.config.as_deref(), &env) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("twinwire-gateway: {e}");
            return ExitCode::from(2);
        }
    };
    init_tracing(&config.log.level, &config.log.format);
    let result =
        actix_web::rt::System::new().block_on(twinwire_gateway::run(config, shutdown_signal()));
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!(error = %e, "gateway failed");
            ExitCode::FAILURE
        }
    }
}

fn init_tracing(level: &str, format: &str) {
    let filter = tracing_subscriber::EnvFilter::try_new(level)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(false);
    if format == "json" {
        builder.json().init();
    } else {
        builder.init();
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
