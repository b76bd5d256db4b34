//! Part 4: urgent alerts across a company — "urgent write → notification shown" and
//! "acknowledge → the other members' notifications closed" (issue 18).
//!
//! 1. Server up (fresh data dir, demo data). The admin (`admin@acme.test`, not one of the
//!    members) creates `members` agents over REST: agents see unassigned tickets, so an
//!    unassigned urgent ticket reaches every one of them.
//! 2. Each member signs in and runs the whole client core: `Desk::start` with
//!    `DeskOptions::headless(WsTransport, TimingNotifier)` on the `bc-others` runtime. The
//!    notifier takes an `Instant` in each `notify` (per ticket of the alert) and each
//!    `withdraw`: the measurement goes through the real board, alert policy and pump, up to the
//!    seam where the desktop notifier would call the OS. Each member's `DeskEvent` stream is
//!    drained by a task that also times when the ticket's create / acknowledge event came out
//!    of the desk (so the time can be split into transport and policy).
//! 3. `rounds` times: the admin creates an urgent unassigned ticket (clock starts just before
//!    the request is handed to the HTTP client); wait until every member was notified of it;
//!    member `round % members` acknowledges it over REST (clock starts again); wait until every
//!    other member's notification of it was withdrawn. A member not notified (or withdrawn)
//!    by the deadline is a failure of that round, counted and listed, never dropped.
//! 4. Repeated per coalescing window in `--alert-windows-ms` (the desks are started again with
//!    `DeskOptions::alert_window` set): the real default first, then 0 to show the rest of
//!    the path without the window.
//!
//! 5. With `--notify-capture-url` (run.sh `--dbus`: a private session bus and
//!    `tests/notify-capture` on it), the last `--dbus-members` members (never an acknowledger
//!    while rounds < members − dbus members) show their alerts for real as well: the timing
//!    notifier forwards to a `DesktopNotifier` (notify-rust → D-Bus `Notify`, and
//!    `CloseNotification` on withdraw). After each phase the capture's `Notify` calls
//!    (`GET /calls`) are matched to the rounds by summary (= the ticket's unique title), its
//!    `CloseNotification` calls (`GET /closes`) by notification id, and their receive times
//!    (wall clock, µs) are compared with the wall time the create / acknowledge was sent.
//!
//! Rounds do not overlap: a round's ticket is created only once the previous round has been
//! notified and withdrawn everywhere, plus `gap`, so the policy never coalesces two rounds'
//! alerts into one summary (its window opens at the first alert and is closed by then).

use anyhow::{bail, Context, Result};
use deskbell_client::alerts::{Alert, DesktopNotifier, Notifier, NotifyError};
use deskbell_client::desk::{Desk, DeskEvent, DeskOptions};
use deskbell_client::session::Session;
use deskbell_client::sound::RecordingSoundPlayer;
use deskbell_client::token_store::MemoryStore;
use deskbell_client::transport::ws::WsTransport;
use deskbell_client::Api;
use deskbell_protocol::{EventAction, Id, NewTicket, NewUser, Priority, Requester, Resource, Role};
use deskbell_server::demo::DEMO_PASSWORD;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use tokio::sync::{watch, Semaphore};
use tokio::task::JoinSet;

use crate::live::{wait_for_quiet, Handles, CLIENT_EMAIL};
use crate::probe::is_live;
use crate::procstat;
use crate::server::ServerCtl;
use crate::stats::Summary;
use crate::Args;

/// The members' password (created by the bench; the server checks only its length).
const MEMBER_PASSWORD: &str = "bench-member-password";

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct AlertsResult {
    pub members_requested: usize,
    pub users_created: usize,
    pub create_users_secs: f64,
    pub phases: Vec<AlertsPhase>,
    pub notes: Vec<String>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct AlertsPhase {
    /// The desks' `alert_window` (the policy's coalescing window), ms.
    pub window_ms: u64,
    pub members: usize,
    /// Sign-in and `Desk::start` → Live for all members, s.
    pub connect_secs: f64,
    /// Sockets on `/workspace-1` as the server counts them once all were Live.
    pub server_sockets: usize,
    pub rounds_planned: usize,
    pub rounds_run: usize,
    /// Rounds where every member was notified once and every other member withdrawn once.
    pub rounds_clean: usize,
    /// (a) REST create sent → each member's `notify` for the ticket, ms.
    pub notify_ms: Summary,
    /// REST create sent → the create event off each member's desk stream, ms.
    pub create_event_ms: Summary,
    /// The create event off the desk stream → `notify`, per member, ms (the policy's window).
    pub event_to_notify_ms: Summary,
    /// REST create sent → its response, ms.
    pub create_rest_ms: Summary,
    /// (b) REST acknowledge sent → each other member's `withdraw` for the ticket, ms.
    pub withdraw_ms: Summary,
    /// REST acknowledge sent → the acknowledge event off each other member's desk stream, ms.
    pub ack_event_ms: Summary,
    /// REST acknowledge sent → its response, ms.
    pub ack_rest_ms: Summary,
    /// Expected counts (members × rounds, (members − 1) × rounds) and what was missing or
    /// doubled, counted after the phase (late arrivals included).
    pub notify_expected: usize,
    pub notify_missing: usize,
    pub notify_duplicates: usize,
    pub withdraw_expected: usize,
    pub withdraw_missing: usize,
    pub withdraw_duplicates: usize,
    /// `withdraw` calls on the acknowledging member itself (its own notification).
    pub acknowledger_withdraws: usize,
    /// Notifications for tickets no round created (none expected).
    pub stray_notifies: usize,
    /// Notifications that were a coalesced summary (several tickets).
    pub summary_notifies: usize,
    /// The first problems, as text (round, what).
    pub failures: Vec<String>,
    pub background_before_pct: f64,
    /// Other processes' CPU during the rounds (machine minus this process), % of one core.
    pub background_during_pct: f64,
    /// This process's CPU during the rounds, % of one core.
    pub own_cpu_pct: f64,
    /// The same by thread group (server, others = the members' cores, writer = the REST
    /// requests, main = the orchestrator), % of one core.
    pub cpu_pct: BTreeMap<String, f64>,
    pub wall_secs: f64,
    /// The real notifications of the first members, when a capture was given.
    pub dbus: Option<DbusSample>,
    pub notes: Vec<String>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct DbusSample {
    /// Members whose alerts also went to D-Bus (`DesktopNotifier`).
    pub members: usize,
    pub calls_expected: usize,
    /// `Notify` calls the capture recorded for the rounds' tickets.
    pub calls_received: usize,
    /// Calls for tickets no round created.
    pub calls_other: usize,
    /// `CloseNotification` calls expected (one per sample member and round) and received for
    /// the rounds' notifications.
    #[serde(default)]
    pub closes_expected: usize,
    #[serde(default)]
    pub closes_received: usize,
    /// Notifications the capture received only after the acknowledge was sent (the core's
    /// `withdraw` may have come before the blocking thread's `Notify` returned an id).
    #[serde(default)]
    pub shown_after_ack: usize,
    /// Of those, how many were never closed (left on screen).
    #[serde(default)]
    pub shown_after_ack_left_open: usize,
    /// The rounds' notifications never closed, in all.
    #[serde(default)]
    pub left_open: usize,
    /// Create sent → the capture received `Notify` (wall clock), ms.
    pub create_to_capture_ms: Summary,
    /// Acknowledge sent → the capture received `CloseNotification` (wall clock), ms.
    #[serde(default)]
    pub ack_to_close_ms: Summary,
    /// The member's `withdraw` → the capture received `CloseNotification`, ms.
    #[serde(default)]
    pub withdraw_to_close_ms: Summary,
    /// The member's `notify` → the capture received it (the blocking thread, notify-rust and
    /// the bus), ms, per member and round.
    pub notify_to_capture_ms: Summary,
    pub notes: Vec<String>,
}

// ------------------------------------------------------------------ recording

/// Times per ticket, per member.
#[derive(Debug, Default)]
struct Times {
    notified: Vec<(usize, Instant)>,
    withdrawn: Vec<(usize, Instant)>,
    created_seen: Vec<(usize, Instant)>,
    ack_seen: Vec<(usize, Instant)>,
}

#[derive(Debug, Default)]
struct Recorded {
    tickets: HashMap<Id, Times>,
    summaries: usize,
}

/// Shared by every member's notifier and stream task; each record bumps `changed` so that
/// the orchestrator waits on a condition instead of sleeping.
struct Recorder {
    inner: Mutex<Recorded>,
    changed: watch::Sender<u64>,
}

impl Recorder {
    fn new() -> Arc<Recorder> {
        Arc::new(Recorder {
            inner: Mutex::new(Recorded::default()),
            changed: watch::channel(0).0,
        })
    }

    fn record(&self, f: impl FnOnce(&mut Recorded)) {
        f(&mut self.inner.lock().unwrap_or_else(|e| e.into_inner()));
        self.changed.send_modify(|n| *n += 1);
    }

    fn read<T>(&self, f: impl FnOnce(&Recorded) -> T) -> T {
        f(&self.inner.lock().unwrap_or_else(|e| e.into_inner()))
    }

    /// Waits until `done` holds or `deadline` passes; answers whether it holds.
    async fn wait_until(&self, deadline: Instant, done: impl Fn(&Recorded) -> bool) -> bool {
        let mut rx = self.changed.subscribe();
        loop {
            rx.borrow_and_update();
            if self.read(&done) {
                return true;
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() || tokio::time::timeout(left, rx.changed()).await.is_err() {
                return self.read(&done);
            }
        }
    }
}

/// The OS notifier seam, timed: records when the core shows and withdraws a notification.
struct TimingNotifier {
    member: usize,
    recorder: Arc<Recorder>,
    /// Also shows the alerts for real (the D-Bus sample); timed before it is called.
    desktop: Option<DesktopNotifier>,
}

impl TimingNotifier {
    fn withdrawn(&self, ticket_id: Id) {
        let at = Instant::now();
        let member = self.member;
        self.recorder.record(|r| {
            r.tickets
                .entry(ticket_id)
                .or_default()
                .withdrawn
                .push((member, at))
        });
    }
}

impl Notifier for TimingNotifier {
    fn notify(&self, alert: &Alert) -> Result<(), NotifyError> {
        let at = Instant::now();
        if let Some(desktop) = &self.desktop {
            desktop.notify(alert)?;
        }
        let member = self.member;
        self.recorder.record(|r| {
            if alert.summary {
                r.summaries += 1;
            }
            for id in &alert.ticket_ids {
                r.tickets
                    .entry(*id)
                    .or_default()
                    .notified
                    .push((member, at));
            }
        });
        Ok(())
    }

    fn withdraw(&self, ticket_id: Id) {
        self.withdrawn(ticket_id);
        if let Some(desktop) = &self.desktop {
            desktop.withdraw(ticket_id);
        }
    }
}

/// Drains one member's desk stream (the desk's channel is bounded: an undrained stream
/// would stall its pump) and times the create / acknowledge events of tickets.
async fn drain(
    member: usize,
    mut events: tokio::sync::mpsc::Receiver<DeskEvent>,
    rec: Arc<Recorder>,
) {
    while let Some(event) = events.recv().await {
        let DeskEvent::Event {
            resource: Resource::Ticket,
            event,
            ..
        } = &event
        else {
            continue;
        };
        let at = Instant::now();
        let Some(id) = event.ticket.as_ref().map(|t| t.id) else {
            continue;
        };
        match event.action {
            EventAction::Create => rec.record(|r| {
                r.tickets
                    .entry(id)
                    .or_default()
                    .created_seen
                    .push((member, at))
            }),
            EventAction::Acknowledge => {
                rec.record(|r| r.tickets.entry(id).or_default().ack_seen.push((member, at)))
            }
            _ => {}
        }
    }
}

// ------------------------------------------------------------------ members

struct Member {
    desk: Arc<Desk>,
    token: String,
}

async fn with_retry<T, F, Fut>(what: &str, mut f: F) -> Result<T>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, deskbell_client::session::SessionError>>,
{
    let mut tries = 0;
    loop {
        tries += 1;
        match f().await {
            Ok(v) => return Ok(v),
            // The server hashes passwords a few at a time and answers 429 beyond its queue:
            // back off (a retry pace, not a synchronisation).
            Err(e) if tries < 20 && e.code().as_str() == "rate_limited" => {
                tokio::time::sleep(Duration::from_millis(200 * tries)).await;
            }
            Err(e) => return Err(anyhow::Error::new(e).context(what.to_string())),
        }
    }
}

fn member_email(i: usize) -> String {
    format!("bench-member-{i}@acme.test")
}

/// The admin creates `count` agents (`bench-member-{i}`), a few at a time.
async fn create_members(api: &Api, token: &str, count: usize) -> Result<usize> {
    let gate = Arc::new(Semaphore::new(4));
    let mut tasks = JoinSet::new();
    for i in 0..count {
        let permit = gate.clone().acquire_owned().await?;
        let (api, token) = (api.clone(), token.to_string());
        tasks.spawn(async move {
            let new = NewUser {
                name: format!("Bench Member {i}"),
                email: member_email(i),
                password: MEMBER_PASSWORD.into(),
                role: Role::Agent,
            };
            let r = api.create_user(&token, &new).await;
            drop(permit);
            r.with_context(|| format!("creating member {i}"))
        });
    }
    let mut created = 0;
    while let Some(done) = tasks.join_next().await {
        done.context("create-user task")??;
        created += 1;
    }
    Ok(created)
}

/// Signs every member in and starts its desk on the members' runtime; waits until all are Live.
async fn start_members(
    h: &Handles,
    url: &str,
    count: usize,
    window: Duration,
    rec: &Arc<Recorder>,
    deadline: Duration,
    dbus_members: usize,
) -> Result<Vec<Member>> {
    let gate = Arc::new(Semaphore::new(4));
    let mut tasks = JoinSet::new();
    for i in 0..count {
        let permit = gate.clone().acquire_owned().await?;
        let (url, rec) = (url.to_string(), rec.clone());
        tasks.spawn_on(
            async move {
                let api = Api::new(&url).context("api")?;
                let email = member_email(i);
                let session = with_retry(&format!("signing in {email}"), || {
                    Session::login(
                        api.clone(),
                        Arc::new(MemoryStore::new()),
                        &email,
                        MEMBER_PASSWORD,
                    )
                })
                .await?;
                drop(permit);
                let token = session.access_token();
                // The last members: acknowledgers are members 0, 1, … (round % members).
                let desktop = (i + dbus_members >= count).then(|| {
                    let (tx, mut rx) = tokio::sync::mpsc::channel(64);
                    // Activations never come (nobody clicks); failures are logged by the core.
                    tokio::spawn(async move { while rx.recv().await.is_some() {} });
                    // Silent: no chime is played by the bench.
                    DesktopNotifier::new(tx)
                        .with_sound_player(Arc::new(RecordingSoundPlayer::new()))
                });
                let notifier = Arc::new(TimingNotifier {
                    member: i,
                    recorder: rec.clone(),
                    desktop,
                });
                let mut options = DeskOptions::headless(Arc::new(WsTransport::new()), notifier);
                options.alert_window = window;
                let (desk, events) = Desk::start(session, options);
                tokio::spawn(drain(i, events, rec));
                let mut state = desk.state();
                tokio::time::timeout(deadline, state.wait_for(is_live))
                    .await
                    .with_context(|| format!("member {i} not Live within {deadline:?}"))?
                    .context("state channel closed")?;
                anyhow::Ok((
                    i,
                    Member {
                        desk: Arc::new(desk),
                        token,
                    },
                ))
            },
            &h.others,
        );
    }
    let mut members: Vec<Option<Member>> = (0..count).map(|_| None).collect();
    let mut first_error = None;
    while let Some(done) = tasks.join_next().await {
        match done.context("member task")? {
            Ok((i, m)) => members[i] = Some(m),
            Err(e) => {
                first_error.get_or_insert(e);
            }
        }
    }
    let members: Vec<Member> = members.into_iter().flatten().collect();
    if let Some(e) = first_error {
        stop_members(h, members).await;
        return Err(e);
    }
    Ok(members)
}

async fn stop_members(h: &Handles, members: Vec<Member>) {
    let mut tasks = JoinSet::new();
    for m in members {
        tasks.spawn_on(async move { m.desk.shutdown().await }, &h.others);
    }
    while tasks.join_next().await.is_some() {}
}

// ------------------------------------------------------------------ the part

pub async fn run(args: &Args, h: &Handles, out: &mut AlertsResult) -> Result<()> {
    let data_dir = args.work_dir.join("alerts-data");
    eprintln!(
        "[alerts] starting the server in process (data dir {})…",
        data_dir.display()
    );
    let mut server = ServerCtl::start(h.server.clone(), &data_dir).await?;
    let outcome = run_with(args, h, &server, out).await;
    server.stop().await?;
    outcome
}

async fn run_with(
    args: &Args,
    h: &Handles,
    server: &ServerCtl,
    out: &mut AlertsResult,
) -> Result<()> {
    let url = server.url();
    out.members_requested = args.members;
    let admin = {
        let url = url.clone();
        h.writer
            .spawn(async move {
                let api = Api::new(&url)?;
                let s = Session::login(
                    api,
                    Arc::new(MemoryStore::new()),
                    CLIENT_EMAIL,
                    DEMO_PASSWORD,
                )
                .await?;
                anyhow::Ok(s)
            })
            .await??
    };
    let admin = Arc::new(admin);
    let t = Instant::now();
    eprintln!("[alerts] creating {} members over REST…", args.members);
    out.users_created = {
        let admin = admin.clone();
        let n = args.members;
        h.writer
            .spawn(async move { create_members(admin.api(), &admin.access_token(), n).await })
            .await??
    };
    out.create_users_secs = t.elapsed().as_secs_f64();
    let http = reqwest::Client::builder()
        .build()
        .context("building the HTTP client")?;
    for &window_ms in &args.alert_windows_ms {
        let mut phase = AlertsPhase {
            window_ms,
            rounds_planned: args.alert_rounds,
            ..AlertsPhase::default()
        };
        let outcome = run_phase(args, h, server, &admin, &http, &mut phase).await;
        if let Err(e) = &outcome {
            phase.notes.push(format!("phase aborted: {e:#}"));
        }
        out.phases.push(phase);
        outcome?;
    }
    Ok(())
}

/// Members that also show their alerts over D-Bus (none without a capture).
fn dbus_members(args: &Args) -> usize {
    if args.notify_capture_url.is_some() {
        args.dbus_members.min(args.members)
    } else {
        0
    }
}

fn wall_ms(t: SystemTime) -> f64 {
    t.duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs_f64()
        * 1000.0
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct CaptureCall {
    id: u32,
    summary: String,
    received_at_ms: f64,
    /// Newer captures also give µs.
    received_at_us: Option<f64>,
}

impl CaptureCall {
    fn at_ms(&self) -> f64 {
        self.received_at_us
            .map(|us| us / 1000.0)
            .unwrap_or(self.received_at_ms)
    }
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct CaptureClose {
    #[serde(rename = "closed")]
    id: u32,
    received_at_us: f64,
}

/// Matches the capture's `Notify` calls to the rounds (by title).
#[allow(clippy::too_many_arguments)]
async fn dbus_sample(
    url: &str,
    http: &reqwest::Client,
    members: usize,
    first_sampled: usize,
    rounds: &[RoundTimes],
    rec: &Recorder,
    clock: (Instant, SystemTime),
    window_ms: u64,
) -> Result<DbusSample> {
    let base = url.trim_end_matches('/');
    let calls: Vec<CaptureCall> = http
        .get(format!("{base}/calls"))
        .send()
        .await
        .context("asking the notification capture for its calls")?
        .error_for_status()?
        .json()
        .await
        .context("reading the capture's calls")?;
    // An older capture has no /closes: the sample then has no close times.
    let closes: Vec<CaptureClose> = match http.get(format!("{base}/closes")).send().await {
        Ok(r) if r.status().is_success() => r.json().await.unwrap_or_default(),
        _ => Vec::new(),
    };
    let mut out = DbusSample {
        members,
        calls_expected: members * rounds.len(),
        closes_expected: members * rounds.len(),
        ..DbusSample::default()
    };
    let by_title: HashMap<&str, &RoundTimes> =
        rounds.iter().map(|r| (r.title.as_str(), r)).collect();
    let wall_of = |at: Instant| wall_ms(clock.1) + ms(at.saturating_duration_since(clock.0));
    let mut create_to = Vec::new();
    let mut notify_to = Vec::new();
    let mut ack_to = Vec::new();
    let mut withdraw_to = Vec::new();
    let mut per_round: HashMap<Id, Vec<f64>> = HashMap::new();
    let mut closes_per_round: HashMap<Id, Vec<f64>> = HashMap::new();
    let mut round_of_call: HashMap<u32, &RoundTimes> = HashMap::new();
    for call in &calls {
        // A notification shows a ticket as "#12 Title".
        let title = call
            .summary
            .split_once(' ')
            .filter(|(number, _)| number.starts_with('#'))
            .map_or(call.summary.as_str(), |(_, title)| title);
        match by_title.get(title) {
            Some(r) => {
                out.calls_received += 1;
                create_to.push(call.at_ms() - r.sent_wall_ms);
                per_round.entry(r.id).or_default().push(call.at_ms());
                round_of_call.insert(call.id, r);
            }
            // Another phase's rounds (the capture keeps every call of the run).
            None if title.starts_with("Bench urgent ")
                && !title.ends_with(&format!("/ window {window_ms}")) => {}
            None => out.calls_other += 1,
        }
    }
    for close in &closes {
        if let Some(r) = round_of_call.get(&close.id) {
            let at = close.received_at_us / 1000.0;
            out.closes_received += 1;
            ack_to.push(at - r.ack_sent_wall_ms);
            closes_per_round.entry(r.id).or_default().push(at);
        }
    }
    // Each call is one member's; which one the capture cannot tell: pair the round's calls
    // and the sample members' notify (withdraw) times, both in order.
    rec.read(|recorded| {
        for r in rounds {
            let Some(times) = recorded.tickets.get(&r.id) else {
                continue;
            };
            let sampled = |list: &[(usize, Instant)]| {
                let mut v: Vec<f64> = list
                    .iter()
                    .filter(|(m, _)| *m >= first_sampled)
                    .map(|(_, at)| wall_of(*at))
                    .collect();
                v.sort_by(f64::total_cmp);
                v
            };
            if let Some(calls) = per_round.get_mut(&r.id) {
                calls.sort_by(f64::total_cmp);
                for (n, c) in sampled(&times.notified).iter().zip(calls.iter()) {
                    notify_to.push(c - n);
                }
            }
            if let Some(closes) = closes_per_round.get_mut(&r.id) {
                closes.sort_by(f64::total_cmp);
                for (w, c) in sampled(&times.withdrawn).iter().zip(closes.iter()) {
                    withdraw_to.push(c - w);
                }
            }
        }
    });
    let closed: HashSet<u32> = closes.iter().map(|c| c.id).collect();
    for call in &calls {
        if let Some(r) = round_of_call.get(&call.id) {
            let open = !closed.contains(&call.id);
            let late = call.at_ms() >= r.ack_sent_wall_ms;
            out.left_open += usize::from(open);
            out.shown_after_ack += usize::from(late);
            out.shown_after_ack_left_open += usize::from(late && open);
        }
    }
    out.ack_to_close_ms = Summary::of(&ack_to);
    out.withdraw_to_close_ms = Summary::of(&withdraw_to);
    if out.closes_received != out.closes_expected {
        out.notes.push(format!(
            "the capture recorded {} of {} expected CloseNotification calls",
            out.closes_received, out.closes_expected
        ));
    }
    out.create_to_capture_ms = Summary::of(&create_to);
    out.notify_to_capture_ms = Summary::of(&notify_to);
    if out.calls_received != out.calls_expected {
        out.notes.push(format!(
            "the capture recorded {} of {} expected Notify calls",
            out.calls_received, out.calls_expected
        ));
    }
    Ok(out)
}

/// What the D-Bus sample needs of a round.
struct RoundTimes {
    id: Id,
    title: String,
    sent_wall_ms: f64,
    ack_sent_wall_ms: f64,
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

async fn run_phase(
    args: &Args,
    h: &Handles,
    server: &ServerCtl,
    admin: &Arc<Session>,
    http: &reqwest::Client,
    phase: &mut AlertsPhase,
) -> Result<()> {
    let window = Duration::from_millis(phase.window_ms);
    let rec = Recorder::new();
    eprintln!(
        "[alerts] window {} ms: {} members sign in and go Live…",
        phase.window_ms, args.members
    );
    let t = Instant::now();
    let members = start_members(
        h,
        &server.url(),
        args.members,
        window,
        &rec,
        Duration::from_secs(120),
        dbus_members(args),
    )
    .await?;
    phase.connect_secs = t.elapsed().as_secs_f64();
    phase.members = members.len();
    phase.server_sockets = server.sockets();
    if phase.server_sockets != members.len() {
        phase.notes.push(format!(
            "the server counts {} sockets on /workspace-1 for {} members",
            phase.server_sockets,
            members.len()
        ));
    }
    let outcome = rounds(args, h, server, admin, http, &members, &rec, phase).await;
    stop_members(h, members).await;
    outcome
}

#[allow(clippy::too_many_arguments)]
async fn rounds(
    args: &Args,
    h: &Handles,
    server: &ServerCtl,
    admin: &Arc<Session>,
    http: &reqwest::Client,
    members: &[Member],
    rec: &Arc<Recorder>,
    phase: &mut AlertsPhase,
) -> Result<()> {
    let n = members.len();
    let wait = Duration::from_secs(args.alert_wait_secs) + Duration::from_millis(phase.window_ms);
    phase.background_before_pct =
        wait_for_quiet(Duration::from_secs(args.quiet_wait_secs), args.quiet_below)
            .await
            .round();
    let cores = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1);
    let (m0, p0, g0, t0) = (
        procstat::machine_ticks(),
        procstat::process_cpu_secs(),
        procstat::threads_cpu(),
        Instant::now(),
    );
    let mut notify = Vec::new();
    let mut create_event = Vec::new();
    let mut event_to_notify = Vec::new();
    let mut create_rest = Vec::new();
    let mut withdraw = Vec::new();
    let mut ack_event = Vec::new();
    let mut ack_rest = Vec::new();
    let mut round_tickets: Vec<(Id, usize)> = Vec::new();
    let mut round_times: Vec<RoundTimes> = Vec::new();
    let clock = (Instant::now(), SystemTime::now());
    let base = server.url();
    eprintln!(
        "[alerts] window {} ms: {} rounds…",
        phase.window_ms, args.alert_rounds
    );
    for round in 0..args.alert_rounds {
        // (a) the admin creates an urgent, unassigned ticket.
        let title = format!("Bench urgent {} / window {}", round, phase.window_ms);
        let sent_wall_ms = wall_ms(SystemTime::now());
        let sent = Instant::now();
        let created = {
            let admin = admin.clone();
            let new = NewTicket {
                title: title.clone(),
                requester: Requester {
                    name: "Bench Requester".into(),
                    contact: Some("bench@example.com".into()),
                },
                priority: Some(Priority::Urgent),
                status: None,
                assignee_id: None,
                lane_id: None,
                message: Some("Created by the client benchmark (alerts).".into()),
            };
            h.writer
                .spawn(async move {
                    let r = admin.api().create_ticket(&admin.access_token(), &new).await;
                    (r, Instant::now())
                })
                .await?
        };
        let (ticket, answered) = (created.0.context("creating the urgent ticket")?, created.1);
        create_rest.push(ms(answered - sent));
        let id = ticket.id;
        let acker = round % n;
        round_tickets.push((id, acker));
        round_times.push(RoundTimes {
            id,
            title,
            sent_wall_ms,
            ack_sent_wall_ms: 0.0,
        });
        let all_notified = rec
            .wait_until(Instant::now() + wait, |r| {
                // The stream task may record the create event just after the notification
                // (the pump notifies before it passes the event on): wait for both.
                r.tickets.get(&id).is_some_and(|t| {
                    distinct(&t.notified, None) >= n && distinct(&t.created_seen, None) >= n
                })
            })
            .await;
        let mut clean = true;
        rec.read(|r| {
            let times = r.tickets.get(&id);
            let mut firsts: HashMap<usize, Instant> = HashMap::new();
            for (m, at) in times.map(|t| t.notified.as_slice()).unwrap_or_default() {
                firsts.entry(*m).or_insert(*at);
            }
            let mut seen: HashMap<usize, Instant> = HashMap::new();
            for (m, at) in times.map(|t| t.created_seen.as_slice()).unwrap_or_default() {
                seen.entry(*m).or_insert(*at);
            }
            for (m, at) in &firsts {
                notify.push(ms(at.saturating_duration_since(sent)));
                if let Some(s) = seen.get(m) {
                    event_to_notify.push(ms(at.saturating_duration_since(*s)));
                }
            }
            for at in seen.values() {
                create_event.push(ms(at.saturating_duration_since(sent)));
            }
            if !all_notified {
                clean = false;
                phase.failures.push(format!(
                    "round {round} (ticket {id}): {} of {n} members notified within {wait:?}",
                    firsts.len()
                ));
            }
        });

        // (b) one member acknowledges it.
        let ack_sent_wall_ms = wall_ms(SystemTime::now());
        let sent = Instant::now();
        let answer = {
            let http = http.clone();
            let url = format!("{base}/api/tickets/{id}/acknowledge");
            let token = members[acker].token.clone();
            h.writer
                .spawn(async move {
                    let r = http.post(url).bearer_auth(token).send().await;
                    let at = Instant::now();
                    let status = match r {
                        Ok(resp) => {
                            let s = resp.status();
                            let _ = resp.bytes().await;
                            Ok(s)
                        }
                        Err(e) => Err(e),
                    };
                    (status, at)
                })
                .await?
        };
        let status = answer.0.context("acknowledging")?;
        if !status.is_success() {
            bail!("POST /api/tickets/{id}/acknowledge answered {status}");
        }
        ack_rest.push(ms(answer.1 - sent));
        if let Some(r) = round_times.last_mut() {
            r.ack_sent_wall_ms = ack_sent_wall_ms;
        }
        let all_withdrawn = rec
            .wait_until(Instant::now() + wait, |r| {
                r.tickets.get(&id).is_some_and(|t| {
                    distinct(&t.withdrawn, Some(acker)) >= n - 1
                        && distinct(&t.ack_seen, Some(acker)) >= n - 1
                })
            })
            .await;
        rec.read(|r| {
            let times = r.tickets.get(&id);
            let mut firsts: HashMap<usize, Instant> = HashMap::new();
            for (m, at) in times.map(|t| t.withdrawn.as_slice()).unwrap_or_default() {
                if *m != acker {
                    firsts.entry(*m).or_insert(*at);
                }
            }
            let mut seen: HashMap<usize, Instant> = HashMap::new();
            for (m, at) in times.map(|t| t.ack_seen.as_slice()).unwrap_or_default() {
                if *m != acker {
                    seen.entry(*m).or_insert(*at);
                }
            }
            withdraw.extend(
                firsts
                    .values()
                    .map(|at| ms(at.saturating_duration_since(sent))),
            );
            ack_event.extend(
                seen.values()
                    .map(|at| ms(at.saturating_duration_since(sent))),
            );
            if !all_withdrawn {
                clean = false;
                phase.failures.push(format!(
                    "round {round} (ticket {id}): {} of {} other members withdrawn within {wait:?} \
                     ({} saw the acknowledge event)",
                    firsts.len(),
                    n - 1,
                    seen.len()
                ));
            }
        });
        phase.rounds_run += 1;
        if clean {
            phase.rounds_clean += 1;
        }
        if (round + 1) % 10 == 0 {
            eprintln!("   round {}/{}", round + 1, args.alert_rounds);
        }
        // Pacing between rounds (not a synchronisation: the round is complete).
        tokio::time::sleep(Duration::from_millis(args.alert_gap_ms)).await;
    }
    let secs = t0.elapsed().as_secs_f64();
    let machine = procstat::machine_percent(m0, procstat::machine_ticks(), cores);
    phase.own_cpu_pct = ((procstat::process_cpu_secs() - p0) / secs * 100.0).round();
    phase.background_during_pct = (machine - phase.own_cpu_pct).max(0.0).round();
    phase.cpu_pct = g0.percent_until(&procstat::threads_cpu(), t0.elapsed());
    phase.wall_secs = secs;

    // Late duplicates could only come from a window closing after the round moved on: give
    // one more window (and a little) before the final count.
    tokio::time::sleep(window_plus(phase.window_ms)).await;
    count(phase, rec, &round_tickets, n);
    phase.notify_ms = Summary::of(&notify);
    phase.create_event_ms = Summary::of(&create_event);
    phase.event_to_notify_ms = Summary::of(&event_to_notify);
    phase.create_rest_ms = Summary::of(&create_rest);
    phase.withdraw_ms = Summary::of(&withdraw);
    phase.ack_event_ms = Summary::of(&ack_event);
    phase.ack_rest_ms = Summary::of(&ack_rest);
    phase.failures.truncate(50);
    if let Some(url) = &args.notify_capture_url {
        match dbus_sample(
            url,
            http,
            dbus_members(args),
            members.len() - dbus_members(args).min(members.len()),
            &round_times,
            rec,
            clock,
            phase.window_ms,
        )
        .await
        {
            Ok(sample) => phase.dbus = Some(sample),
            Err(e) => phase.notes.push(format!("D-Bus sample: {e:#}")),
        }
    }
    Ok(())
}

/// Members in `times`, `except` one.
fn distinct(times: &[(usize, Instant)], except: Option<usize>) -> usize {
    times
        .iter()
        .map(|(m, _)| *m)
        .filter(|m| Some(*m) != except)
        .collect::<HashSet<_>>()
        .len()
}

fn window_plus(window_ms: u64) -> Duration {
    Duration::from_millis(window_ms + 500)
}

/// Final accounting over every round's ticket: what was missing, doubled or stray.
fn count(phase: &mut AlertsPhase, rec: &Recorder, tickets: &[(Id, usize)], n: usize) {
    let ours: HashMap<Id, usize> = tickets.iter().copied().collect();
    rec.read(|r| {
        phase.summary_notifies = r.summaries;
        for (id, times) in &r.tickets {
            let Some(&acker) = ours.get(id) else {
                phase.stray_notifies += times.notified.len();
                continue;
            };
            let mut per: BTreeMap<usize, usize> = BTreeMap::new();
            for (m, _) in &times.notified {
                *per.entry(*m).or_default() += 1;
            }
            phase.notify_missing += n - per.len().min(n);
            phase.notify_duplicates += per.values().map(|c| c - 1).sum::<usize>();
            let mut per: BTreeMap<usize, usize> = BTreeMap::new();
            for (m, _) in &times.withdrawn {
                if *m == acker {
                    phase.acknowledger_withdraws += 1;
                } else {
                    *per.entry(*m).or_default() += 1;
                }
            }
            phase.withdraw_missing += (n - 1) - per.len().min(n - 1);
            phase.withdraw_duplicates += per.values().map(|c| c - 1).sum::<usize>();
        }
        // A round whose ticket nobody heard of at all.
        for (id, _) in tickets {
            if !r.tickets.contains_key(id) {
                phase.notify_missing += n;
                phase.withdraw_missing += n - 1;
            }
        }
    });
    phase.notify_expected = n * tickets.len();
    phase.withdraw_expected = (n - 1) * tickets.len();
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The final count finds a member never notified, a doubled notification, a missing
    /// withdrawal, the acknowledger's own withdrawal (not a failure) and a stray ticket.
    #[test]
    fn accounting_counts_misses_doubles_and_strays() {
        let rec = Recorder::new();
        let at = Instant::now();
        rec.record(|r| {
            let t = r.tickets.entry(7).or_default();
            t.notified = vec![(0, at), (1, at), (1, at)]; // member 2 missing, member 1 twice
            t.withdrawn = vec![(0, at), (1, at)]; // member 0 acknowledged; member 2 missing
            r.tickets.entry(99).or_default().notified.push((0, at));
        });
        let mut phase = AlertsPhase::default();
        count(&mut phase, &rec, &[(7, 0), (8, 1)], 3);
        assert_eq!(phase.notify_expected, 6);
        assert_eq!(
            phase.notify_missing,
            1 + 3,
            "member 2 of ticket 7, everyone of ticket 8"
        );
        assert_eq!(phase.notify_duplicates, 1);
        assert_eq!(phase.withdraw_expected, 4);
        assert_eq!(phase.withdraw_missing, 1 + 2);
        assert_eq!(phase.acknowledger_withdraws, 1);
        assert_eq!(phase.stray_notifies, 1);
    }

    #[tokio::test]
    async fn waiting_ends_when_the_condition_holds_or_at_the_deadline() {
        let rec = Recorder::new();
        let writer = rec.clone();
        let done = tokio::spawn(async move {
            writer.record(|r| {
                r.tickets
                    .entry(1)
                    .or_default()
                    .notified
                    .push((0, Instant::now()))
            });
        });
        let held = rec
            .wait_until(Instant::now() + Duration::from_secs(10), |r| {
                r.tickets.contains_key(&1)
            })
            .await;
        done.await.unwrap();
        assert!(held);
        let start = Instant::now();
        let held = rec
            .wait_until(start + Duration::from_millis(50), |r| {
                r.tickets.contains_key(&2)
            })
            .await;
        assert!(!held);
        assert!(start.elapsed() >= Duration::from_millis(50));
    }
}
