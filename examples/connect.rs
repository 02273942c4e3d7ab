//! An `nc -z`-like probe that prints every connection attempt with its timing.
//!
//! ```text
//! cargo run --example connect -- HOST:PORT [--delay MS] [--interleave N] [--sequential]
//!                                [--timeout MS] [--attempt-timeout MS] [--v4 | --v6]
//!                                [--report] [--qlog FILE]
//! ```
//!
//! `--report` prints the connection's timeline (its `Establishment`);
//! `--qlog FILE` writes it as a qlog trace of Happy Eyeballs events.
//!
//! Exits 0 when a connection was made, 1 when not, 2 on bad arguments.

use std::process::ExitCode;
use std::time::{Duration, Instant};

use tokio_endpoints::{ConnectionBuilder, Family, QlogSink};

fn usage() -> ExitCode {
    eprintln!(
        "usage: connect HOST:PORT [--delay MS] [--interleave N] [--sequential] \
         [--timeout MS] [--attempt-timeout MS] [--v4 | --v6] [--report] [--qlog FILE]"
    );
    ExitCode::from(2)
}

#[tokio::main]
async fn main() -> ExitCode {
    let mut args = std::env::args().skip(1);
    let Some(target) = args.next() else {
        return usage();
    };
    let mut builder = ConnectionBuilder::new(target.as_str()).all_errors(true);
    let mut report = false;
    let mut qlog = None;
    while let Some(flag) = args.next() {
        if flag == "--report" {
            report = true;
            continue;
        }
        if flag == "--qlog" {
            let Some(path) = args.next() else {
                return usage();
            };
            match QlogSink::file(&path) {
                Ok(sink) => qlog = Some(sink),
                Err(e) => {
                    eprintln!("{e}");
                    return ExitCode::from(2);
                }
            }
            continue;
        }
        let mut number = || args.next().and_then(|v| v.parse::<u64>().ok());
        builder = match flag.as_str() {
            "--delay" => match number() {
                Some(ms) => builder.happy_eyeballs(Duration::from_millis(ms)),
                None => return usage(),
            },
            "--interleave" => match number() {
                Some(n) => builder.interleave(n as usize),
                None => return usage(),
            },
            "--timeout" => match number() {
                Some(ms) => builder.connect_timeout(Duration::from_millis(ms)),
                None => return usage(),
            },
            "--attempt-timeout" => match number() {
                Some(ms) => builder.attempt_timeout(Duration::from_millis(ms)),
                None => return usage(),
            },
            "--sequential" => builder.sequential(),
            "--v4" => builder.family(Family::V4),
            "--v6" => builder.family(Family::V6),
            _ => return usage(),
        };
    }

    // Every attempt's start, failure and win is a tracing event.
    use tracing_subscriber::layer::SubscriberExt;
    use tracing_subscriber::util::SubscriberInitExt;
    tracing_subscriber::fmt()
        .with_max_level(tracing::Level::DEBUG)
        // Started just before the connect: log times count from its start.
        .with_timer(tracing_subscriber::fmt::time::uptime())
        .with_target(false)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .compact()
        .finish()
        // This crate's events only (`Targets`: no regex engine to build).
        .with(
            tracing_subscriber::filter::Targets::new()
                .with_target("tokio_endpoints", tracing::Level::DEBUG),
        )
        .init();

    let t0 = Instant::now();
    let connected = if report || qlog.is_some() {
        builder
            .connect_reported()
            .await
            .map(|(stream, established)| {
                if report {
                    println!("{established}");
                }
                if let Some(sink) = &qlog {
                    sink.write(&established);
                }
                stream
            })
    } else {
        builder.connect().await
    };
    match connected {
        Ok(stream) => {
            let peer = stream
                .peer_addr()
                .map(|a| a.to_string())
                .unwrap_or_default();
            println!(
                "Connection to {target} ({peer}) succeeded after {:?}",
                t0.elapsed()
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            // The message, then every attempt with its start and duration
            // (what `fn main() -> io::Result<()>` prints for it).
            println!("{e:?}");
            ExitCode::FAILURE
        }
    }
}
