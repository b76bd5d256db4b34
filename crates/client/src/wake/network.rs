//! Network changes (`netwatcher`): a usable address appearing means a network came up.

use std::net::IpAddr;

use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use super::{WakeReason, WakeSource};

/// Reports `NetworkUp` when an interface gains a usable address (not loopback, not
/// link-local). The initial snapshot is not a change. A failure to watch is soft: one info
/// line, and nothing produced.
#[derive(Clone, Debug, Default)]
pub struct NetworkWakeSource {
    _private: (),
}

impl NetworkWakeSource {
    pub fn new() -> Self {
        Self::default()
    }
}

/// Whether reaching a server over `ip` is plausible: not loopback, unspecified, multicast or
/// link-local (an interface gets a link-local address as soon as it is up, connected or not).
pub fn is_usable_address(ip: &IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            !(v4.is_loopback() || v4.is_unspecified() || v4.is_link_local() || v4.is_multicast())
        }
        IpAddr::V6(v6) => {
            let link_local = (v6.segments()[0] & 0xffc0) == 0xfe80;
            !(v6.is_loopback() || v6.is_unspecified() || v6.is_multicast() || link_local)
        }
    }
}

/// Whether this update is a network coming up: not the initial snapshot, and some usable
/// address appeared.
pub fn network_came_up(update: &netwatcher::Update) -> bool {
    !update.is_initial
        && update
            .addrs_added()
            .any(|(_, record)| is_usable_address(&record.ip))
}

impl WakeSource for NetworkWakeSource {
    fn name(&self) -> &'static str {
        "network"
    }

    fn spawn(self: Box<Self>, tx: mpsc::Sender<WakeReason>) -> JoinHandle<()> {
        tokio::spawn(async move {
            let mut watch = match netwatcher::watch_interfaces_async::<
                netwatcher::async_adapter::Tokio,
            >() {
                Ok(watch) => watch,
                Err(e) => {
                    tracing::info!("cannot watch network interfaces ({e}); no network-up wakes");
                    return;
                }
            };
            loop {
                let update = tokio::select! {
                    update = watch.changed() => update,
                    _ = tx.closed() => return,
                };
                if network_came_up(&update) {
                    tracing::info!("network: a usable address appeared");
                    if tx.send(WakeReason::NetworkUp).await.is_err() {
                        return;
                    }
                }
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use netwatcher::{Interface, InterfaceDiff, IpRecord, Update, UpdateDiff};
    use std::collections::HashMap;

    fn record(ip: &str) -> IpRecord {
        IpRecord {
            ip: ip.parse().unwrap(),
            prefix_len: 24,
        }
    }

    fn iface(index: u32, ips: &[&str]) -> Interface {
        Interface {
            index,
            name: format!("eth{index}"),
            hw_addr: "00:00:00:00:00:00".into(),
            ips: ips.iter().map(|ip| record(ip)).collect(),
        }
    }

    fn update(is_initial: bool, diff: UpdateDiff) -> Update {
        Update {
            is_initial,
            interfaces: HashMap::new(),
            diff,
        }
    }

    #[test]
    fn usable_addresses() {
        for ok in [
            "192.168.1.20",
            "10.0.0.2",
            "8.8.8.8",
            "2001:db8::1",
            "fd00::1",
        ] {
            assert!(is_usable_address(&ok.parse().unwrap()), "{ok}");
        }
        for no in [
            "127.0.0.1",
            "169.254.3.4",
            "0.0.0.0",
            "224.0.0.1",
            "::1",
            "fe80::1",
            "febf::1",
            "ff02::1",
            "::",
        ] {
            assert!(!is_usable_address(&no.parse().unwrap()), "{no}");
        }
    }

    #[test]
    fn the_initial_snapshot_is_not_a_change() {
        let diff = UpdateDiff {
            added: HashMap::from([(2, iface(2, &["192.168.1.20"]))]),
            ..Default::default()
        };
        assert!(!network_came_up(&update(true, diff.clone())));
        assert!(network_came_up(&update(false, diff)));
    }

    #[test]
    fn an_address_on_an_existing_interface_counts() {
        let diff = UpdateDiff {
            modified: HashMap::from([(
                2,
                InterfaceDiff {
                    addrs_added: vec![record("2001:db8::42")],
                    ..Default::default()
                },
            )]),
            ..Default::default()
        };
        assert!(network_came_up(&update(false, diff)));
    }

    #[test]
    fn link_local_removals_and_loopback_do_not_count() {
        let diff = UpdateDiff {
            added: HashMap::from([(1, iface(1, &["127.0.0.1", "::1"]))]),
            removed: HashMap::from([(3, iface(3, &["192.168.1.20"]))]),
            modified: HashMap::from([(
                2,
                InterfaceDiff {
                    addrs_added: vec![record("fe80::1")],
                    addrs_removed: vec![record("10.1.1.1")],
                    ..Default::default()
                },
            )]),
        };
        assert!(!network_came_up(&update(false, diff)));
    }
}
