//! The measured client — the real core: `Session::login`, `Connection::spawn` with the
//! `WsTransport` and a `LiveBoard`, default `ConnectionConfig` — on its own runtime (thread
//! `bc-client`), and the probe reading its `DeskEvent` channel.
//!
//! The probe's task does nothing but wait on the channel: it takes the time as soon as an
//! event comes out, then matches `DeskEvent::Event`s to the writes that caused them (ticket
//! creates by their unique title, every other write by (ticket id, version it produces)) and
//! forwards state changes, timestamped, to the orchestrator.

use anyhow::{bail, Context, Result};
use deskbell_client::connection::{Connection, ConnectionConfig, ConnectionState};
use deskbell_client::desk::DeskEvent;
use deskbell_client::live_board::{LiveBoard, SharedBoard};
use deskbell_client::session::Session;
use deskbell_client::token_store::MemoryStore;
use deskbell_client::transport::ws::WsTransport;
use deskbell_client::Api;
use deskbell_protocol::{EventAction, Id, Resource};
use std::collections::HashMap;
use std::sync::atomic::{AtomicI64, AtomicU64, AtomicU8, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::runtime::Handle;
use tokio::sync::{mpsc, Notify};

/// What identifies the event a write causes.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Key {
    /// A ticket create: its title is unique.
    Title(String),
    /// Any other ticket write: the ticket and the version it produces.
    Version(Id, i64),
}

pub const PENDING: u8 = 0;
pub const OK: u8 = 1;
pub const FAILED: u8 = 2;

/// Per write of one phase (index = write number).
pub struct Slots {
    /// Just before the request is handed to the HTTP client, µs since `Probe::t0` (+1; 0 = unsent).
    pub sent_us: Vec<AtomicU64>,
    pub sent_wall_us: Vec<AtomicI64>,
    /// When the probe took the `DeskEvent::Event` of this write off the channel (0 = not yet).
    pub applied_us: Vec<AtomicU64>,
    /// The envelope's `timestamp` (server, when the write transaction began), wall µs.
    pub server_ts_wall_us: Vec<AtomicI64>,
    pub seq: Vec<AtomicI64>,
    /// When the REST answer was in, µs since `t0`.
    pub answered_us: Vec<AtomicU64>,
    pub status: Vec<AtomicU8>,
    pub applied: AtomicU64,
}

impl Slots {
    fn new(capacity: usize) -> Slots {
        Slots {
            sent_us: (0..capacity).map(|_| AtomicU64::new(0)).collect(),
            sent_wall_us: (0..capacity).map(|_| AtomicI64::new(0)).collect(),
            applied_us: (0..capacity).map(|_| AtomicU64::new(0)).collect(),
            server_ts_wall_us: (0..capacity).map(|_| AtomicI64::new(0)).collect(),
            seq: (0..capacity).map(|_| AtomicI64::new(0)).collect(),
            answered_us: (0..capacity).map(|_| AtomicU64::new(0)).collect(),
            status: (0..capacity).map(|_| AtomicU8::new(PENDING)).collect(),
            applied: AtomicU64::new(0),
        }
    }

    pub fn len(&self) -> usize {
        self.sent_us.len()
    }
}

pub struct Probe {
    pub t0: Instant,
    pub phases: Vec<Slots>,
    map: Mutex<HashMap<Key, (usize, usize)>>,
    /// `DeskEvent::Event`s seen, matched to a write or not.
    pub events: AtomicU64,
    pub unmatched: AtomicU64,
    /// Signalled whenever a write's event was applied.
    pub progress: Notify,
}

impl Probe {
    pub fn new(t0: Instant, capacities: &[usize]) -> Probe {
        Probe {
            t0,
            phases: capacities.iter().map(|&c| Slots::new(c)).collect(),
            map: Mutex::new(HashMap::new()),
            events: AtomicU64::new(0),
            unmatched: AtomicU64::new(0),
            progress: Notify::new(),
        }
    }

    pub fn now_us(&self) -> u64 {
        self.t0.elapsed().as_micros() as u64
    }

    fn map(&self) -> std::sync::MutexGuard<'_, HashMap<Key, (usize, usize)>> {
        self.map.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Called by the writer right before it sends write `index` of `phase`.
    pub fn register(&self, key: Key, phase: usize, index: usize) {
        self.map().insert(key, (phase, index));
        let slots = &self.phases[phase];
        slots.sent_wall_us[index].store(chrono::Utc::now().timestamp_micros(), Ordering::Relaxed);
        slots.sent_us[index].store(self.now_us() + 1, Ordering::Release);
    }

    /// A write that failed: its event will not come.
    pub fn forget(&self, key: &Key) {
        self.map().remove(key);
    }

    fn on_event(&self, at: Instant, resource: Resource, event: &deskbell_protocol::EventEnvelope) {
        self.events.fetch_add(1, Ordering::Relaxed);
        let Some(ticket) = &event.ticket else {
            self.unmatched.fetch_add(1, Ordering::Relaxed);
            return;
        };
        let key = if resource == Resource::Ticket && event.action == EventAction::Create {
            Key::Title(ticket.title.clone())
        } else {
            Key::Version(ticket.id, ticket.version)
        };
        let Some((phase, index)) = self.map().remove(&key) else {
            self.unmatched.fetch_add(1, Ordering::Relaxed);
            return;
        };
        let slots = &self.phases[phase];
        let us = at.saturating_duration_since(self.t0).as_micros() as u64;
        slots.seq[index].store(event.seq, Ordering::Relaxed);
        slots.server_ts_wall_us[index].store(event.timestamp.timestamp_micros(), Ordering::Relaxed);
        slots.applied_us[index].store(us.max(1), Ordering::Release);
        slots.applied.fetch_add(1, Ordering::Relaxed);
        self.progress.notify_one();
    }
}

/// A state change as the probe saw it.
pub type StateAt = (Instant, ConnectionState);

/// The measured client, driven from the orchestrator.
pub struct Measured {
    pub connection: Option<Connection<LiveBoard>>,
    rt: Handle,
    url: String,
    email: String,
    password: String,
    pub board: SharedBoard,
    states: mpsc::UnboundedReceiver<StateAt>,
    pub current: StateAt,
}

pub fn is_live(s: &ConnectionState) -> bool {
    *s == ConnectionState::Live
}

impl Measured {
    /// Signs in as `email` and spawns the connection on `rt`.
    pub async fn start(
        rt: &Handle,
        url: &str,
        email: &str,
        password: &str,
        probe: Arc<Probe>,
    ) -> Result<Measured> {
        let (state_tx, states) = mpsc::unbounded_channel();
        let (url, email, password) = (url.to_string(), email.to_string(), password.to_string());
        let (url2, email2, password2) = (url.clone(), email.clone(), password.clone());
        let (connection, board) = rt
            .spawn(async move {
                let api = Api::new(&url)?;
                let session = Session::login(api, Arc::new(MemoryStore::new()), &email, &password)
                    .await
                    .context("signing the measured client in")?;
                let board = SharedBoard::new();
                let (sink, events) = LiveBoard::new(board.clone());
                let connection = Connection::spawn(
                    Arc::new(session),
                    Arc::new(WsTransport::new()),
                    sink,
                    ConnectionConfig::default(),
                );
                tokio::spawn(observe(events, probe, state_tx));
                anyhow::Ok((connection, board))
            })
            .await
            .context("the measured client's start task failed")??;
        Ok(Measured {
            connection: Some(connection),
            rt: rt.clone(),
            url: url2,
            email: email2,
            password: password2,
            board,
            states,
            current: (
                Instant::now(),
                ConnectionState::Offline { reason: "".into() },
            ),
        })
    }

    pub fn connection(&self) -> Result<&Connection<LiveBoard>> {
        self.connection
            .as_ref()
            .context("the measured client was shut down")
    }

    /// Takes the state changes already reported, without waiting.
    pub fn drain(&mut self) -> Vec<StateAt> {
        let mut seen = Vec::new();
        while let Ok(s) = self.states.try_recv() {
            self.current = s.clone();
            seen.push(s);
        }
        seen
    }

    /// Waits for the next reported state matching `pred` (states already drained do not count).
    /// Returns it and every state seen on the way (it included).
    pub async fn next_state(
        &mut self,
        what: &str,
        pred: impl Fn(&ConnectionState) -> bool,
        limit: Duration,
    ) -> Result<(StateAt, Vec<StateAt>)> {
        let deadline = tokio::time::Instant::now() + limit;
        let mut seen = Vec::new();
        loop {
            let next = tokio::time::timeout_at(deadline, self.states.recv()).await;
            match next {
                Ok(Some(s)) => {
                    self.current = s.clone();
                    seen.push(s.clone());
                    if pred(&s.1) {
                        return Ok((s, seen));
                    }
                }
                Ok(None) => bail!("the measured client's probe ended while waiting for {what}"),
                Err(_) => bail!(
                    "no {what} within {limit:?}; state is {:?} (seen: {:?})",
                    self.current.1,
                    seen.iter().map(|s| &s.1).collect::<Vec<_>>()
                ),
            }
        }
    }

    /// After `needs-login`: signs in again (a new session) and hands it to the connection.
    pub async fn relogin(&self) -> Result<()> {
        let (url, email, password) = (self.url.clone(), self.email.clone(), self.password.clone());
        let session = self
            .rt
            .spawn(async move {
                let api = Api::new(&url)?;
                anyhow::Ok(
                    Session::login(api, Arc::new(MemoryStore::new()), &email, &password).await?,
                )
            })
            .await
            .context("the re-login task failed")??;
        self.connection()?.resume(Arc::new(session));
        Ok(())
    }

    /// Stops the connection (bounded).
    pub async fn shutdown(&mut self) {
        if let Some(connection) = self.connection.take() {
            let _ = tokio::time::timeout(Duration::from_secs(10), connection.shutdown()).await;
        }
    }
}

async fn observe(
    mut events: mpsc::UnboundedReceiver<DeskEvent>,
    probe: Arc<Probe>,
    states: mpsc::UnboundedSender<StateAt>,
) {
    while let Some(event) = events.recv().await {
        let at = Instant::now();
        match event {
            DeskEvent::Event {
                resource, event, ..
            } => probe.on_event(at, resource, &event),
            DeskEvent::State { state } => {
                let _ = states.send((at, state));
            }
            _ => {}
        }
    }
}
