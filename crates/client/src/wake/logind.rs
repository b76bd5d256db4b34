//! logind's `PrepareForSleep` signal on the system bus (Linux).

use std::time::Duration;

use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use super::{WakeReason, WakeSource};

/// How long connecting to the system bus may take before the source gives up.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// Reports `Resumed` when logind announces the end of a sleep (`PrepareForSleep(false)`).
///
/// No system bus, no logind, or any other D-Bus failure is soft: one info line, and the source
/// produces nothing (the clock-gap detector still catches suspends).
#[derive(Clone, Debug, Default)]
pub struct LogindWakeSource {
    _private: (),
}

impl LogindWakeSource {
    pub fn new() -> Self {
        Self::default()
    }
}

impl WakeSource for LogindWakeSource {
    fn name(&self) -> &'static str {
        "logind"
    }

    fn spawn(self: Box<Self>, tx: mpsc::Sender<WakeReason>) -> JoinHandle<()> {
        tokio::spawn(async move {
            #[cfg(target_os = "linux")]
            if let Err(why) = linux::run(&tx).await {
                tracing::info!(
                    "logind sleep/wake signals unavailable ({why}); relying on the clock-gap detector"
                );
            }
            #[cfg(not(target_os = "linux"))]
            {
                tracing::debug!("no logind on this platform");
                drop(tx);
            }
        })
    }
}

#[cfg(target_os = "linux")]
mod linux {
    use futures_util::StreamExt;

    use super::*;

    #[zbus::proxy(
        interface = "org.freedesktop.login1.Manager",
        default_service = "org.freedesktop.login1",
        default_path = "/org/freedesktop/login1"
    )]
    trait Manager {
        /// `start` is true before sleeping and false after resuming.
        #[zbus(signal)]
        fn prepare_for_sleep(&self, start: bool) -> zbus::Result<()>;
    }

    /// Runs until `tx` closes (Ok) or D-Bus fails (Err, a reason for the log).
    pub(super) async fn run(tx: &mpsc::Sender<WakeReason>) -> Result<(), String> {
        let conn = tokio::time::timeout(CONNECT_TIMEOUT, zbus::Connection::system())
            .await
            .map_err(|_| "the system bus did not answer".to_string())?
            .map_err(|e| format!("no system bus: {e}"))?;
        let dbus = zbus::fdo::DBusProxy::new(&conn)
            .await
            .map_err(|e| e.to_string())?;
        let name =
            zbus::names::BusName::try_from("org.freedesktop.login1").map_err(|e| e.to_string())?;
        if !dbus.name_has_owner(name).await.map_err(|e| e.to_string())? {
            return Err("logind is not running".into());
        }
        let manager = ManagerProxy::builder(&conn)
            .cache_properties(zbus::proxy::CacheProperties::No)
            .build()
            .await
            .map_err(|e| e.to_string())?;
        let mut signals = manager
            .receive_prepare_for_sleep()
            .await
            .map_err(|e| e.to_string())?;
        tracing::debug!("watching logind PrepareForSleep");
        loop {
            let signal = tokio::select! {
                signal = signals.next() => signal,
                _ = tx.closed() => return Ok(()),
            };
            let Some(signal) = signal else {
                return Err("the system bus connection closed".into());
            };
            match signal.args() {
                Ok(args) if args.start => tracing::info!("logind: going to sleep"),
                Ok(_) => {
                    tracing::info!("logind: resumed from sleep");
                    if tx.send(WakeReason::Resumed { slept: None }).await.is_err() {
                        return Ok(());
                    }
                }
                Err(e) => tracing::debug!("malformed PrepareForSleep signal: {e}"),
            }
        }
    }
}
