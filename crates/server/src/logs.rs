//! The server binary's logging: what `RUST_LOG` may turn on, and what it may not.
//!
//! Rule: no log line holds a token or a password, at any level.
//!
//! - Deskbell's own lines never take a token, a refresh token, a password or a hash as a field
//!   or in a message; request spans name the method and path only (a query string can carry
//!   the Engine.IO session id, which lets its holder poll that socket).
//! - The libraries that handle raw Socket.IO traffic do log it below INFO: socketioxide logs
//!   every received packet and the namespace CONNECT's `auth` (`{"token": …}`) at DEBUG,
//!   engineioxide logs packets and rejected HTTP requests (headers included) at DEBUG, and
//!   tungstenite (through `log`) logs websocket messages and frames at TRACE. Their targets
//!   (`PACKET_TARGETS`) are capped at INFO by a second filter that `RUST_LOG` cannot loosen:
//!   `RUST_LOG=trace` or `RUST_LOG=socketioxide=trace` still shows none of their packet lines.
//!
//! Dependencies: none inside the crate; a building block the others use.

use tracing::Subscriber;
use tracing_subscriber::filter::{EnvFilter, FilterExt, LevelFilter, Targets};
use tracing_subscriber::layer::{Filter, Layer, SubscriberExt};
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::util::SubscriberInitExt;

/// What is logged when `RUST_LOG` is unset or invalid.
pub const DEFAULT_DIRECTIVES: &str = "info,tower_http=warn,socketioxide=warn,engineioxide=warn";

/// Targets that log raw packets, auth included, below INFO (target prefixes: `socketioxide`
/// also covers `socketioxide_core` and `socketioxide_parser_common`).
pub const PACKET_TARGETS: &[&str] = &[
    "socketioxide",
    "engineioxide",
    "tungstenite",
    "tokio_tungstenite",
];

/// The most any of `PACKET_TARGETS` may log.
pub const PACKET_TARGETS_MAX: LevelFilter = LevelFilter::INFO;

/// The filter of the server's log output: `rust_log` (the `RUST_LOG` directives; the defaults
/// when absent or invalid) and, whatever it says, `PACKET_TARGETS` capped at INFO.
pub fn filter<S>(rust_log: Option<&str>) -> impl Filter<S> + Send + Sync + 'static
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    let wanted = rust_log
        .and_then(|directives| EnvFilter::try_new(directives).ok())
        .unwrap_or_else(|| EnvFilter::new(DEFAULT_DIRECTIVES));
    wanted.and(packet_cap())
}

/// Lets everything through except what `PACKET_TARGETS` log below `PACKET_TARGETS_MAX`.
pub fn packet_cap() -> Targets {
    PACKET_TARGETS.iter().fold(
        Targets::new().with_default(LevelFilter::TRACE),
        |targets, target| targets.with_target(*target, PACKET_TARGETS_MAX),
    )
}

/// Installs the process-wide logger: stderr, text or JSON lines, filtered by `filter` with
/// `RUST_LOG`. Records of the `log` crate (tungstenite's) go through the same filter.
pub fn init(json: bool) {
    let rust_log = std::env::var("RUST_LOG").ok();
    // Logs go to stderr; stdout carries only the demo banner, for scripts to read.
    let output = tracing_subscriber::fmt::layer().with_writer(std::io::stderr);
    let output = if json {
        output.json().boxed()
    } else {
        output.boxed()
    };
    tracing_subscriber::registry()
        .with(output.with_filter(filter(rust_log.as_deref())))
        .init();
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};
    use tracing::Level;

    /// Log output collected in memory.
    #[derive(Clone, Default)]
    struct Captured(Arc<Mutex<Vec<u8>>>);

    impl std::io::Write for Captured {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    impl Captured {
        fn text(&self) -> String {
            String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
        }
    }

    /// What `rust_log` lets through of a few lines like the libraries' and Deskbell's own.
    fn logged(rust_log: Option<&str>) -> String {
        let captured = Captured::default();
        let writer = captured.clone();
        let subscriber = tracing_subscriber::registry().with(
            tracing_subscriber::fmt::layer()
                .with_writer(move || writer.clone())
                .with_ansi(false)
                .with_filter(filter(rust_log)),
        );
        tracing::subscriber::with_default(subscriber, || {
            tracing::event!(target: "socketioxide::client", Level::DEBUG, "auth: secret-1");
            tracing::event!(target: "socketioxide::client", Level::TRACE, "packet secret-2");
            tracing::event!(target: "socketioxide_core::parser", Level::TRACE, "secret-3");
            tracing::event!(target: "socketioxide_parser_common", Level::TRACE, "secret-4");
            tracing::event!(target: "engineioxide::socket", Level::DEBUG, "packet secret-5");
            tracing::event!(target: "tungstenite::protocol", Level::TRACE, "message secret-6");
            tracing::event!(target: "tokio_tungstenite", Level::TRACE, "secret-7");
            tracing::event!(target: "socketioxide::ns", Level::WARN, "library warning");
            tracing::event!(target: "deskbell_server::realtime", Level::DEBUG, "own debug");
            tracing::event!(target: "deskbell_server::lib", Level::INFO, "own info");
        });
        captured.text()
    }

    /// One test on purpose: two tests with their own scoped subscribers on parallel threads
    /// would share the call sites' cached interest.
    #[test]
    fn packet_lines_never_pass_whatever_rust_log_says_which_chooses_the_rest() {
        // (RUST_LOG, whether it enables INFO for every target)
        for (rust_log, everything) in [
            (None, true),
            (Some("trace"), true),
            (Some("debug"), true),
            (Some("trace,socketioxide=trace,engineioxide=trace,tungstenite=trace"), true),
            (Some("socketioxide::client=trace,engineioxide::socket=debug"), false),
            (
                Some("socketioxide_core=trace,socketioxide_parser_common=trace,tokio_tungstenite=trace"),
                false,
            ),
            (Some("[request]=trace,trace"), true),
            (Some("not a = valid directive ["), true),
        ] {
            let out = logged(rust_log);
            assert!(!out.contains("secret-"), "RUST_LOG={rust_log:?} let through:\n{out}");
            if everything {
                // The cap is on packet lines only: the rest passes as RUST_LOG says.
                assert!(out.contains("library warning"), "RUST_LOG={rust_log:?}:\n{out}");
                assert!(out.contains("own info"), "RUST_LOG={rust_log:?}:\n{out}");
            }
        }
        assert!(!logged(None).contains("own debug"), "info by default");
        assert!(logged(Some("deskbell_server=debug")).contains("own debug"));
        assert!(!logged(Some("warn")).contains("own info"));
    }
}
