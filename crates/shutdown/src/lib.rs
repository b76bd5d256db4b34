//! The one shutdown signal of every Deskbell process — the server, the CLI and the desktop
//! app: Ctrl-C (SIGINT), or SIGTERM on Unix (what `kill`, service managers and session logout
//! send). Each process reacts by stopping cleanly; what it stops is its own business.
//!
//! Rules:
//! - The handlers are installed by [`ShutdownSignal::listen`], before anything waits: a signal
//!   that arrives between start-up and the first wait is not lost, and does not kill the
//!   process the default way.
//! - A handler that cannot be installed is logged and that signal is not waited on; the other
//!   one still is (a process that cannot hear SIGTERM still stops on Ctrl-C).

use std::fmt;

/// Which signal asked the process to stop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Signal {
    /// Ctrl-C (SIGINT).
    Interrupt,
    /// SIGTERM.
    Terminate,
}

impl fmt::Display for Signal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Signal::Interrupt => "SIGINT",
            Signal::Terminate => "SIGTERM",
        })
    }
}

/// Installed shutdown handlers; [`ShutdownSignal::recv`] waits for the first signal.
pub struct ShutdownSignal {
    #[cfg(unix)]
    interrupt: Option<tokio::signal::unix::Signal>,
    #[cfg(unix)]
    terminate: Option<tokio::signal::unix::Signal>,
}

impl ShutdownSignal {
    /// Installs the handlers now. Must be called within a tokio runtime.
    pub fn listen() -> ShutdownSignal {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{signal, SignalKind};
            let install = |kind: SignalKind, name: Signal| match signal(kind) {
                Ok(s) => Some(s),
                Err(e) => {
                    tracing::warn!(signal = %name, error = %e, "cannot listen for this signal");
                    None
                }
            };
            ShutdownSignal {
                interrupt: install(SignalKind::interrupt(), Signal::Interrupt),
                terminate: install(SignalKind::terminate(), Signal::Terminate),
            }
        }
        #[cfg(not(unix))]
        ShutdownSignal {}
    }

    /// Waits for the first shutdown signal (forever, if none could be installed).
    pub async fn recv(&mut self) -> Signal {
        #[cfg(unix)]
        {
            async fn next(signal: &mut Option<tokio::signal::unix::Signal>) {
                let received = match signal {
                    Some(s) => s.recv().await.is_some(),
                    None => false,
                };
                // `None` from `recv` only when the runtime shuts down: nothing to wait for.
                if !received {
                    std::future::pending::<()>().await;
                }
            }
            tokio::select! {
                _ = next(&mut self.interrupt) => Signal::Interrupt,
                _ = next(&mut self.terminate) => Signal::Terminate,
            }
        }
        #[cfg(not(unix))]
        {
            match tokio::signal::ctrl_c().await {
                Ok(()) => Signal::Interrupt,
                Err(e) => {
                    tracing::warn!(error = %e, "cannot listen for Ctrl-C");
                    std::future::pending().await
                }
            }
        }
    }
}

/// Installs the handlers and waits for the first shutdown signal, logging which one came.
pub async fn requested() -> Signal {
    let signal = ShutdownSignal::listen().recv().await;
    tracing::info!(%signal, "shutdown requested");
    signal
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;
    use std::time::Duration;

    // One test, so that no other test of this binary is running when the signals are raised
    // (they go to the whole process).
    #[tokio::test]
    async fn each_signal_is_caught_and_named_instead_of_killing_the_process() {
        for (raw, expected) in [
            (libc::SIGTERM, Signal::Terminate),
            (libc::SIGINT, Signal::Interrupt),
        ] {
            let mut signal = ShutdownSignal::listen();
            // Nothing raised yet: nothing received.
            assert!(
                tokio::time::timeout(Duration::from_millis(50), signal.recv())
                    .await
                    .is_err(),
                "{expected} received before it was raised"
            );
            // SAFETY: raise() only sends a signal to this process; the handler is installed.
            assert_eq!(unsafe { libc::raise(raw) }, 0);
            let got = tokio::time::timeout(Duration::from_secs(10), signal.recv())
                .await
                .unwrap_or_else(|_| panic!("{expected} not received within 10 s"));
            assert_eq!(got, expected);
        }
    }
}
