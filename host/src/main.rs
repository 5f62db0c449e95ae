//! `canbao-host up`: the command line of the local Spin-compatible host, mirroring `spin up`.

use anyhow::Result;
use canbao_host::UpOptions;
use clap::{Parser, Subcommand};
use std::net::SocketAddr;
use std::path::PathBuf;

/// Runs a Spin application locally on wasmtime.
#[derive(Parser)]
#[command(name = "canbao-host", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Start the application, like `spin up`.
    Up {
        /// The application manifest.
        #[arg(short = 'f', long = "from", default_value = "spin.toml")]
        from: PathBuf,
        /// Address to listen on.
        #[arg(long, default_value = "127.0.0.1:3000")]
        listen: SocketAddr,
        /// Where stores, databases and logs live [default: .spin next to the manifest].
        #[arg(long)]
        state_dir: Option<PathBuf>,
        /// Runtime config file defining extra key-value stores and SQLite databases.
        #[arg(long)]
        runtime_config_file: Option<PathBuf>,
        /// Do not echo component output (it still goes to <state-dir>/logs).
        #[arg(short, long)]
        quiet: bool,
    },
}

/// Buffers from this size up are mapped on their own and unmapped when freed.
///
/// glibc's default threshold follows the largest buffer freed so far, so after the first 4 MB
/// upload part every part came from a thread's heap, and freed parts stayed there: the host's
/// memory during one 77 MiB upload grew 34–59 MiB from run to run, 21–34 MiB with this setting
/// (`tests/intake_memory.rs`, session 7).
#[cfg(all(target_os = "linux", target_env = "gnu"))]
const MMAP_THRESHOLD: i32 = 256 << 10;

fn main() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: `mallopt` only sets an allocator parameter; no thread has started yet.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, MMAP_THRESHOLD);
    }
    let Cli {
        command:
            Command::Up {
                from,
                listen,
                state_dir,
                runtime_config_file,
                quiet,
            },
    } = Cli::parse();
    let state_dir = state_dir.unwrap_or_else(|| {
        from.parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(".".as_ref())
            .join(".spin")
    });
    let opts = UpOptions {
        manifest: from,
        listen,
        state_dir,
        runtime_config: runtime_config_file,
        env: Vec::new(),
        quiet,
    };
    if let Err(e) = run(opts) {
        eprintln!("Error: {e}");
        for cause in e.chain().skip(1) {
            eprintln!("  caused by: {cause}");
        }
        std::process::exit(1);
    }
}

fn run(opts: UpOptions) -> Result<()> {
    let app = canbao_host::start(opts)?;
    print!("{}", app.banner());
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?
        .block_on(shutdown_signal());
    println!("Shutting down...");
    app.stop();
    Ok(())
}

async fn shutdown_signal() {
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(s) => s,
                Err(_) => return std::future::pending().await,
            };
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
