//! Chaos runs of the connection supervisor + board against a hostile server: killed with
//! SIGKILL and restarted twenty times under a stream of writes, frozen with SIGSTOP while the
//! client is forced to wake, hammered with reconnects, revoking the session, never answering,
//! and closing or kicking the socket. Every run that reaches the server ends with the client's
//! board equal to the server's board for that user and every event seq that user may see
//! applied exactly once (none twice, none missing between the first snapshot and the head).
//!
//! The server runs as a separate process so that it can be killed and frozen: this test binary
//! runs itself again with only the ignored `chaos_server_process` test, which serves the
//! in-process server (the `deskbell_server` lib) on the address and data dir it is given,
//! prints its URL and then answers commands on stdin (socket count, kick, the seqs a user may
//! see). It exits when its stdin closes, so it cannot outlive the test process; the test kills
//! it on drop as well (also on panic).
//!
//! `DESKBELL_CHAOS_SEED=<n>` replays a run's random choices (the seed is printed);
//! `DESKBELL_CHAOS_SERVER_LOG=1` shows the server processes' logs on stderr.

use deskbell_client::connection::{BoardSink, Connection, ConnectionConfig, ConnectionState};
use deskbell_client::desk::DeskEvent;
use deskbell_client::live_board::{LiveBoard, SharedBoard};
use deskbell_client::session::Session;
use deskbell_client::token_store::{MemoryStore, TokenStore};
use deskbell_client::transport::ws::WsTransport;
use deskbell_client::transport::{
    ConnectError, ConnectRequest, SocketConnection, SocketTransport, Timeouts,
};
use deskbell_client::{Api, ApiError};
use deskbell_protocol::{
    ApiErrorCode, EventEnvelope, Id, LoginResponse, NewComment, NewTicket, Priority, Requester,
    Resource, SessionEndReason, SyncMessage, TicketPatch, TicketStatus, User, UserPatch,
};
use deskbell_server::{demo, events, store, Config, Server};
use futures_util::future::BoxFuture;
use futures_util::{SinkExt, StreamExt};
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use std::future::Future;
use std::io::Write as _;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader, Lines};
use tokio::net::TcpListener;
use tokio::process::{Child, ChildStdin, ChildStdout, Command};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio::time::{sleep, sleep_until, timeout, Instant};
use tokio_tungstenite::tungstenite::Message;
use url::Url;

const DIR_ENV: &str = "DESKBELL_CHAOS_SERVER_DIR";
const BIND_ENV: &str = "DESKBELL_CHAOS_SERVER_BIND";
/// `interval,timeout` in milliseconds (default: the server's 25 s / 20 s).
const PING_ENV: &str = "DESKBELL_CHAOS_SERVER_PING_MS";
const LOG_ENV: &str = "DESKBELL_CHAOS_SERVER_LOG";
const SEED_ENV: &str = "DESKBELL_CHAOS_SEED";
/// Fixed, so that tokens survive restarts (the server would also keep a generated one).
const SECRET: &str = "chaos-test-secret";
/// What the server process prints once it listens, then its URL.
const READY: &str = "CHAOS-SERVER-READY";
/// What the server process prints before the answer to a command.
const REPLY: &str = "CHAOS-SERVER-REPLY";
const NS: &str = "/workspace-1";
const ADMIN: &str = "admin@acme.test";
const AGENT1: &str = "agent1@acme.test";
const AGENT2: &str = "agent2@acme.test";

/// Upper bound for anything that should happen "soon" (generous: 2 cores, debug build).
const WAIT: Duration = Duration::from_secs(30);
/// The server's default heartbeat: pingInterval 25 s + pingTimeout 20 s.
const DEFAULT_HEARTBEAT: Duration = Duration::from_secs(45);
/// "At once": far below the heartbeat, so a close noticed this fast was not a ping timeout.
const AT_ONCE: Duration = Duration::from_secs(3);

// ------------------------------------------------------------------------------ harness

/// The kill/restart run measures this process's file descriptors, so it runs alone; the
/// other tests share.
static EXCLUSIVE: RwLock<()> = RwLock::new(());

/// Runs one test on its own runtime, bounded by `limit`.
fn run(exclusive: bool, limit: Duration, test: impl Future<Output = ()>) {
    let _alone = exclusive.then(|| EXCLUSIVE.write().unwrap_or_else(PoisonError::into_inner));
    let _shared = (!exclusive).then(|| EXCLUSIVE.read().unwrap_or_else(PoisonError::into_inner));
    // Shown only for failing tests (or with --nocapture).
    let _ = tracing_subscriber::fmt()
        .with_test_writer()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "deskbell_client=debug".into()),
        )
        .try_init();
    let runtime = runtime();
    runtime.block_on(async {
        if timeout(limit, test).await.is_err() {
            panic!("the test did not finish within {limit:?}");
        }
    });
    runtime.shutdown_timeout(Duration::from_secs(5));
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a tokio runtime")
}

fn chaos_seed() -> u64 {
    let seed = std::env::var(SEED_ENV)
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or_else(rand::random);
    println!("chaos seed {seed} (replay with {SEED_ENV}={seed})");
    seed
}

// ------------------------------------------------------------------ the server process

/// Not a test: the server process of the chaos tests, which start it themselves (see the
/// module docs). Run by hand it does nothing.
#[test]
#[ignore = "the chaos tests run this as their server process"]
fn chaos_server_process() {
    let (Ok(dir), Ok(bind)) = (std::env::var(DIR_ENV), std::env::var(BIND_ENV)) else {
        eprintln!("only the chaos tests run this (they set {DIR_ENV} and {BIND_ENV})");
        return;
    };
    let bind: SocketAddr = bind.parse().expect("a bind address");
    runtime().block_on(serve_for_chaos(PathBuf::from(dir), bind));
}

async fn serve_for_chaos(dir: PathBuf, bind: SocketAddr) {
    if std::env::var_os(LOG_ENV).is_some() {
        let _ = tracing_subscriber::fmt()
            .with_writer(std::io::stderr)
            .with_env_filter("info,deskbell_server=debug")
            .try_init();
    }
    let mut config = Config::new(dir);
    config.bind = bind;
    config.jwt_secret = Some(SECRET.into());
    config.writes_per_minute = 0;
    if let Ok(ping) = std::env::var(PING_ENV) {
        let (interval, timeout) = ping.split_once(',').expect("interval,timeout");
        config.ping_interval = Duration::from_millis(interval.parse().expect("ms"));
        config.ping_timeout = Duration::from_millis(timeout.parse().expect("ms"));
    }
    let state = deskbell_server::prepare(config).await.expect("prepare");
    // Idempotent: only the first boot of a data dir creates anything.
    demo::seed(&state).await.expect("seed the demo data");
    let server = deskbell_server::serve(state).await.expect("serve");
    say(&format!("{READY} {}", server.url()));
    let mut terminate =
        tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).expect("SIGTERM");
    let mut commands = BufReader::new(tokio::io::stdin()).lines();
    loop {
        tokio::select! {
            _ = terminate.recv() => break,
            line = commands.next_line() => match line {
                Ok(Some(line)) => {
                    let reply = answer(&server, line.trim()).await;
                    say(&format!("{REPLY} {reply}"));
                }
                // The test is gone, and so is its server.
                _ => std::process::exit(0),
            },
        }
    }
    // SIGTERM: the graceful shutdown closes every socket.
    server.shutdown().await;
    std::process::exit(0);
}

/// One line on stdout, on a line of its own (libtest may have started one).
fn say(line: &str) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "\n{line}");
    let _ = out.flush();
}

async fn answer(server: &Server, line: &str) -> String {
    let mut words = line.split_whitespace();
    match words.next() {
        Some("sockets") => server
            .io()
            .of(NS)
            .map(|ns| ns.sockets().len())
            .unwrap_or(0)
            .to_string(),
        Some("kick") => {
            let mut kicked = 0;
            if let Some(ns) = server.io().of(NS) {
                for socket in ns.sockets() {
                    if socket.disconnect().is_ok() {
                        kicked += 1;
                    }
                }
            }
            kicked.to_string()
        }
        // `seqs <user id> <after>`: the event seqs after `after` that this user may see.
        Some("seqs") => {
            let user: Id = words.next().and_then(|w| w.parse().ok()).expect("user id");
            let after: i64 = words.next().and_then(|w| w.parse().ok()).expect("after");
            let state = server.state();
            let user = store::user(&state.db.pool, user)
                .await
                .expect("read the user")
                .expect("the user exists");
            events::replay_events(&state.db, &user, after, i64::MAX)
                .await
                .expect("read the event log")
                .iter()
                .map(|e| e.seq.to_string())
                .collect::<Vec<_>>()
                .join(",")
        }
        other => format!("unknown command {other:?}"),
    }
}

/// One server process. Dropping it kills it.
struct ServerProcess {
    child: Child,
    stdin: ChildStdin,
    stdout: Lines<BufReader<ChildStdout>>,
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        // `id()` is `None` once the process was reaped (its pid may be someone else's then).
        if let Some(pid) = self.child.id() {
            // SAFETY: kill(2) on our own, not yet reaped child; also works on a stopped one.
            unsafe { libc::kill(pid as libc::pid_t, libc::SIGKILL) };
        }
    }
}

impl ServerProcess {
    /// Starts the server process; `Err` with what it printed when it did not come up.
    async fn spawn(
        dir: &Path,
        bind: SocketAddr,
        ping: Option<(u64, u64)>,
    ) -> Result<ServerProcess, String> {
        let exe = std::env::current_exe().expect("the test binary");
        let mut command = Command::new(exe);
        command
            .args([
                "--exact",
                "chaos_server_process",
                "--include-ignored",
                "--nocapture",
                "--test-threads=1",
            ])
            .env(DIR_ENV, dir)
            .env(BIND_ENV, bind.to_string())
            .env_remove(PING_ENV)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(if std::env::var_os(LOG_ENV).is_some() {
                Stdio::inherit()
            } else {
                Stdio::null()
            })
            // Its own process group: a terminal's Ctrl-C reaches the test only (whose exit
            // closes the server's stdin), and an orphaned stopped group is woken and hung up.
            .process_group(0)
            .kill_on_drop(true);
        if let Some((interval, timeout)) = ping {
            command.env(PING_ENV, format!("{interval},{timeout}"));
        }
        let mut child = command.spawn().map_err(|e| format!("cannot start: {e}"))?;
        let mut process = ServerProcess {
            stdin: child.stdin.take().expect("piped stdin"),
            stdout: BufReader::new(child.stdout.take().expect("piped stdout")).lines(),
            child,
        };
        let mut printed = Vec::new();
        let ready = timeout(WAIT, async {
            while let Ok(Some(line)) = process.stdout.next_line().await {
                if let Some(at) = line.find(READY) {
                    return Some(line[at + READY.len()..].trim().to_string());
                }
                printed.push(line);
            }
            None
        })
        .await;
        match ready {
            Ok(Some(url)) if url == format!("http://{bind}") => Ok(process),
            Ok(Some(url)) => Err(format!("listening on {url}, not on {bind}")),
            Ok(None) => Err(format!("exited before listening: {}", printed.join(" | "))),
            Err(_) => Err(format!("not listening within {WAIT:?}")),
        }
    }

    fn pid(&self) -> libc::pid_t {
        self.child.id().expect("the server process is not reaped") as libc::pid_t
    }

    fn signal(&self, signal: libc::c_int) {
        // SAFETY: kill(2) on our own, not yet reaped child.
        let rc = unsafe { libc::kill(self.pid(), signal) };
        assert_eq!(rc, 0, "kill({}, {signal})", self.pid());
    }

    /// Sends a command, returns the answer.
    async fn ask(&mut self, command: &str) -> String {
        self.stdin
            .write_all(format!("{command}\n").as_bytes())
            .await
            .expect("the server process takes commands");
        self.stdin.flush().await.expect("flush");
        let answer = timeout(WAIT, async {
            while let Ok(Some(line)) = self.stdout.next_line().await {
                if let Some(at) = line.find(REPLY) {
                    return Some(line[at + REPLY.len()..].trim().to_string());
                }
            }
            None
        })
        .await
        .unwrap_or_else(|_| panic!("no answer to {command:?} within {WAIT:?}"));
        answer
            .unwrap_or_else(|| panic!("the server process ended instead of answering {command:?}"))
    }

    /// Waits until it exited (after a signal), reaping it.
    async fn reap(mut self) -> std::process::ExitStatus {
        timeout(WAIT, self.child.wait())
            .await
            .expect("the server process exits in time")
            .expect("wait for the server process")
    }
}

/// A free port below the ephemeral range: while the server is down, no outgoing connection
/// can take it (or connect to itself on it), so every restart gets it back.
fn pick_port() -> SocketAddr {
    let low: u16 = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse().ok())
        .unwrap_or(32768);
    let mut rng = rand::thread_rng();
    for _ in 0..200 {
        let port = rng.gen_range(low.saturating_sub(12_000).max(1024)..low);
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        if std::net::TcpListener::bind(addr).is_ok() {
            return addr;
        }
    }
    panic!("no free port below {low}");
}

/// The server of a test: one data dir and one address for its whole life, whatever happens to
/// the process serving them.
struct ChaosServer {
    dir: tempfile::TempDir,
    addr: SocketAddr,
    ping: Option<(u64, u64)>,
    process: Option<ServerProcess>,
    api: Api,
    boots: u32,
}

impl ChaosServer {
    async fn start(ping: Option<(u64, u64)>) -> ChaosServer {
        let dir = tempfile::tempdir().expect("a data dir");
        let mut failures = Vec::new();
        for _ in 0..5 {
            let addr = pick_port();
            match ServerProcess::spawn(dir.path(), addr, ping).await {
                Ok(process) => {
                    return ChaosServer {
                        api: Api::new(&format!("http://{addr}")).expect("api"),
                        dir,
                        addr,
                        ping,
                        process: Some(process),
                        boots: 1,
                    }
                }
                // Someone took the port meanwhile: another one.
                Err(e) => failures.push(e),
            }
        }
        panic!("the server process never came up: {failures:?}");
    }

    fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    fn process(&mut self) -> &mut ServerProcess {
        self.process.as_mut().expect("the server is running")
    }

    /// Starts it again on the same address and data.
    async fn boot(&mut self) {
        assert!(self.process.is_none(), "already running");
        let mut failures = Vec::new();
        let deadline = Instant::now() + WAIT;
        while Instant::now() < deadline {
            match ServerProcess::spawn(self.dir.path(), self.addr, self.ping).await {
                Ok(process) => {
                    self.process = Some(process);
                    self.boots += 1;
                    return;
                }
                Err(e) => {
                    failures.push(e);
                    // Pacing of the retries, not a synchronisation.
                    sleep(Duration::from_millis(200)).await;
                }
            }
        }
        panic!(
            "the server did not come back on {}: {failures:?}",
            self.addr
        );
    }

    /// `kill -9`, and reaped.
    async fn kill9(&mut self) {
        let process = self.process.take().expect("the server is running");
        process.signal(libc::SIGKILL);
        process.reap().await;
    }

    /// SIGTERM: the server shuts down gracefully (closing every socket) and exits.
    fn terminate(&mut self) {
        self.process().signal(libc::SIGTERM);
    }

    async fn exited(&mut self) -> std::process::ExitStatus {
        self.process.take().expect("a server process").reap().await
    }

    /// Stops the server process, and returns once every one of its threads has stopped: kill(2)
    /// only queues SIGSTOP, and a thread running on another core meanwhile can still accept a
    /// connection and answer it.
    fn freeze(&mut self) {
        let process = self.process();
        process.signal(libc::SIGSTOP);
        let tasks = format!("/proc/{}/task", process.pid());
        let deadline = Instant::now() + WAIT;
        loop {
            let all_stopped = std::fs::read_dir(&tasks)
                .expect("the server's threads")
                .filter_map(Result::ok)
                .all(|task| {
                    // `pid (comm) S …`: the state follows the last `)`.
                    std::fs::read_to_string(task.path().join("stat")).is_ok_and(|stat| {
                        stat.rsplit_once(')')
                            .and_then(|(_, rest)| rest.trim_start().chars().next())
                            .is_some_and(|state| state == 'T' || state == 't')
                    })
                });
            if all_stopped {
                return;
            }
            assert!(Instant::now() < deadline, "the server never stopped");
            std::thread::yield_now();
        }
    }

    fn thaw(&mut self) {
        self.process().signal(libc::SIGCONT);
    }

    async fn sockets(&mut self) -> usize {
        self.process()
            .ask("sockets")
            .await
            .parse()
            .expect("a count")
    }

    async fn kick(&mut self) -> usize {
        self.process().ask("kick").await.parse().expect("a count")
    }

    /// The seqs after `after` that `user` may see, from the server's event log.
    async fn visible_seqs(&mut self, user: Id, after: i64) -> Vec<i64> {
        self.process()
            .ask(&format!("seqs {user} {after}"))
            .await
            .split(',')
            .filter(|s| !s.is_empty())
            .map(|s| s.parse().expect("a seq"))
            .collect()
    }

    /// Waits until the server holds exactly `n` sockets in the company's namespace.
    async fn wait_sockets(&mut self, n: usize) {
        let deadline = Instant::now() + WAIT;
        loop {
            let now = self.sockets().await;
            if now == n {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "the server holds {now} sockets, not {n}"
            );
            sleep(Duration::from_millis(50)).await; // polling interval
        }
    }

    async fn login(&self, email: &str) -> LoginResponse {
        self.api
            .login(email, demo::DEMO_PASSWORD)
            .await
            .unwrap_or_else(|e| panic!("login {email}: {e}"))
    }

    async fn create(&self, token: &str, title: &str) -> deskbell_protocol::Ticket {
        self.api
            .create_ticket(token, &new_ticket(title, Priority::Normal, None, None))
            .await
            .unwrap_or_else(|e| panic!("create {title:?}: {e}"))
    }
}

fn new_ticket(
    title: &str,
    priority: Priority,
    assignee_id: Option<Id>,
    lane_id: Option<Id>,
) -> NewTicket {
    NewTicket {
        title: title.into(),
        requester: Requester {
            name: "Chaos Requester".into(),
            contact: None,
        },
        priority: Some(priority),
        status: None,
        assignee_id,
        lane_id,
        message: Some(format!("{title}: first message")),
    }
}

// ---------------------------------------------------------------------------- the client

/// What the supervisor handed the board, in order: the seqs of the snapshots loaded and of the
/// events applied.
#[derive(Debug, Default, Clone)]
struct Record {
    snapshots: Vec<i64>,
    applied: Vec<i64>,
}

/// The real board sink, recording what it is given.
struct RecordingSink {
    inner: LiveBoard,
    record: Arc<Mutex<Record>>,
}

impl BoardSink for RecordingSink {
    fn last_seq(&self) -> Option<i64> {
        self.inner.last_seq()
    }

    fn load_snapshot(&mut self, board: deskbell_protocol::Board) {
        lock(&self.record).snapshots.push(board.seq);
        self.inner.load_snapshot(board);
    }

    fn apply(&mut self, resource: Resource, event: EventEnvelope) {
        lock(&self.record).applied.push(event.seq);
        self.inner.apply(resource, event);
    }

    fn synced(&mut self, sync: SyncMessage) {
        self.inner.synced(sync);
    }

    fn unknown(&mut self, name: &str) {
        self.inner.unknown(name);
    }

    fn state_changed(&mut self, state: &ConnectionState) {
        self.inner.state_changed(state);
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The real websocket transport, counting attempts, optionally pointed elsewhere than the
/// session's server.
struct CountingTransport {
    redirect: Option<Url>,
    attempts: Arc<AtomicUsize>,
}

impl SocketTransport for CountingTransport {
    fn connect(
        &self,
        mut request: ConnectRequest,
    ) -> BoxFuture<'static, Result<Box<dyn SocketConnection>, ConnectError>> {
        self.attempts.fetch_add(1, Ordering::SeqCst);
        if let Some(url) = &self.redirect {
            request.server = url.clone();
        }
        WsTransport::new().connect(request)
    }
}

fn fast_config() -> ConnectionConfig {
    let mut config = ConnectionConfig::default();
    config.backoff.base = Duration::from_millis(100);
    config.backoff.cap = Duration::from_secs(1);
    config.stable_after = Duration::from_millis(200);
    config
}

fn is_live(s: &ConnectionState) -> bool {
    *s == ConnectionState::Live
}

fn is_needs_login(s: &ConnectionState) -> bool {
    matches!(s, ConnectionState::NeedsLogin { .. })
}

/// An attempt that failed and whose retry is scheduled.
fn backing_off(s: &ConnectionState) -> Option<u32> {
    match s {
        ConnectionState::Connecting {
            attempt,
            retry_at: Some(_),
        } => Some(*attempt),
        _ => None,
    }
}

struct Client {
    name: String,
    user: User,
    connection: Connection<RecordingSink>,
    board: SharedBoard,
    events: mpsc::UnboundedReceiver<DeskEvent>,
    record: Arc<Mutex<Record>>,
    attempts: Arc<AtomicUsize>,
    /// The latest state reported (through the ordered event stream, so none is skipped).
    state: ConnectionState,
    states: Vec<(Instant, ConnectionState)>,
    /// Seqs of the `DeskEvent::Event`s reported.
    reported: Vec<i64>,
}

impl Client {
    async fn login(server: &ChaosServer, email: &str, config: ConnectionConfig) -> Client {
        let store: Arc<dyn TokenStore> = Arc::new(MemoryStore::new());
        let session = Session::login(server.api.clone(), store, email, demo::DEMO_PASSWORD)
            .await
            .unwrap_or_else(|e| panic!("login {email}: {e}"));
        Client::spawn(email, session, None, config)
    }

    fn spawn(
        name: &str,
        session: Session,
        redirect: Option<Url>,
        config: ConnectionConfig,
    ) -> Client {
        let attempts = Arc::new(AtomicUsize::new(0));
        let transport = CountingTransport {
            redirect,
            attempts: attempts.clone(),
        };
        let board = SharedBoard::new();
        let (inner, events) = LiveBoard::new(board.clone());
        let record = Arc::new(Mutex::new(Record::default()));
        let sink = RecordingSink {
            inner,
            record: record.clone(),
        };
        let user = session.user();
        let connection = Connection::spawn(Arc::new(session), Arc::new(transport), sink, config);
        let state = connection.state().borrow().clone();
        Client {
            name: name.to_string(),
            user,
            connection,
            board,
            events,
            record,
            attempts,
            states: vec![(Instant::now(), state.clone())],
            state,
            reported: Vec::new(),
        }
    }

    fn attempts(&self) -> usize {
        self.attempts.load(Ordering::SeqCst)
    }

    /// Takes one reported event into account; the new state if it was a state change.
    fn pump(&mut self, event: DeskEvent) -> Option<ConnectionState> {
        match event {
            DeskEvent::State { state } => {
                self.states.push((Instant::now(), state.clone()));
                self.state = state.clone();
                Some(state)
            }
            DeskEvent::Event { event, .. } => {
                self.reported.push(event.seq);
                None
            }
            _ => None,
        }
    }

    fn drain(&mut self) {
        while let Ok(event) = self.events.try_recv() {
            self.pump(event);
        }
    }

    fn recent_states(&self) -> Vec<ConnectionState> {
        let from = self.states.len().saturating_sub(8);
        self.states[from..].iter().map(|(_, s)| s.clone()).collect()
    }

    /// Waits until the state, now or at any later change, matches `pred`.
    async fn wait_state(
        &mut self,
        what: &str,
        within: Duration,
        pred: impl Fn(&ConnectionState) -> bool,
    ) -> ConnectionState {
        let deadline = Instant::now() + within;
        if pred(&self.state) {
            return self.state.clone();
        }
        loop {
            tokio::select! {
                event = self.events.recv() => {
                    let event = event.expect("the supervisor is running");
                    if let Some(state) = self.pump(event) {
                        if pred(&state) {
                            return state;
                        }
                    }
                }
                _ = sleep_until(deadline) => panic!(
                    "{}: no {what} within {within:?}; recent states {:?}",
                    self.name,
                    self.recent_states()
                ),
            }
        }
    }

    async fn live(&mut self, within: Duration) {
        self.wait_state("live", within, is_live).await;
    }

    /// Asserts that the state does not change for `window` (an observation window).
    async fn assert_state_holds(&mut self, window: Duration) {
        let until = Instant::now() + window;
        loop {
            tokio::select! {
                event = self.events.recv() => {
                    let event = event.expect("the supervisor is running");
                    if let Some(state) = self.pump(event) {
                        panic!("{}: the state changed to {state:?}", self.name);
                    }
                }
                _ = sleep_until(until) => return,
            }
        }
    }

    /// Waits until the board holds exactly what the server shows this user (`token`).
    async fn converge(&mut self, server: &ChaosServer, token: &str) {
        let deadline = Instant::now() + WAIT;
        loop {
            self.drain();
            let expected = server
                .api
                .board(token)
                .await
                .unwrap_or_else(|e| panic!("the server's board: {e}"));
            let mine = self.board.snapshot();
            if mine.tickets == expected.tickets && mine.lanes == expected.lanes {
                return;
            }
            tokio::select! {
                Some(event) = self.events.recv() => { self.pump(event); }
                _ = sleep(Duration::from_millis(100)) => {} // re-read the server's board
                _ = sleep_until(deadline) => panic!(
                    "{}: the board never matched the server's: {}; state {:?}",
                    self.name,
                    board_difference(&mine, &expected),
                    self.state
                ),
            }
        }
    }

    /// Every seq this user may see after the first snapshot was applied exactly once, in order,
    /// none missing up to the head, and reported once as a `DeskEvent::Event`.
    async fn assert_each_visible_seq_once(&mut self, server: &mut ChaosServer) {
        let snapshots = lock(&self.record).snapshots.clone();
        assert_eq!(
            snapshots.len(),
            1,
            "{}: one snapshot, then replays only (the log keeps everything here): {snapshots:?}",
            self.name
        );
        let expected = server.visible_seqs(self.user.id, snapshots[0]).await;
        // The last of them may still be on its way.
        let deadline = Instant::now() + WAIT;
        while lock(&self.record).applied.last() < expected.last() {
            tokio::select! {
                Some(event) = self.events.recv() => { self.pump(event); }
                _ = sleep(Duration::from_millis(50)) => {}
                _ = sleep_until(deadline) => panic!(
                    "{}: seq {:?} never applied (last applied {:?})",
                    self.name, expected.last(), lock(&self.record).applied.last()
                ),
            }
        }
        self.drain();
        let applied = lock(&self.record).applied.clone();
        let mut sorted = applied.clone();
        sorted.sort_unstable();
        sorted.dedup();
        let twice = applied.len() - sorted.len();
        let missing: Vec<i64> = expected
            .iter()
            .filter(|s| sorted.binary_search(s).is_err())
            .copied()
            .collect();
        let unexpected: Vec<i64> = sorted
            .iter()
            .filter(|s| expected.binary_search(s).is_err())
            .copied()
            .collect();
        assert_eq!(twice, 0, "{}: {twice} seqs applied twice", self.name);
        assert!(
            missing.is_empty() && unexpected.is_empty(),
            "{}: missing seqs {missing:?}, seqs this user may not see {unexpected:?}",
            self.name
        );
        assert_eq!(applied, expected, "{}: applied out of order", self.name);
        assert_eq!(
            self.reported, applied,
            "{}: every applied event is reported once",
            self.name
        );
        println!(
            "{}: snapshot at seq {}, then {} events applied once each",
            self.name,
            snapshots[0],
            applied.len()
        );
    }

    async fn shutdown(self) -> Vec<(Instant, ConnectionState)> {
        let Client {
            connection,
            mut events,
            mut states,
            ..
        } = self;
        timeout(WAIT, connection.shutdown())
            .await
            .expect("the supervisor stops in time");
        while let Ok(event) = events.try_recv() {
            if let DeskEvent::State { state } = event {
                states.push((Instant::now(), state));
            }
        }
        states
    }
}

fn board_difference(
    mine: &deskbell_protocol::Board,
    expected: &deskbell_protocol::Board,
) -> String {
    if mine.lanes != expected.lanes {
        return format!("lanes {:?} vs {:?}", mine.lanes, expected.lanes);
    }
    let ids = |b: &deskbell_protocol::Board| b.tickets.iter().map(|t| t.id).collect::<Vec<_>>();
    let (a, b) = (ids(mine), ids(expected));
    if a != b {
        let extra: Vec<_> = a.iter().filter(|id| !b.contains(id)).collect();
        let lacking: Vec<_> = b.iter().filter(|id| !a.contains(id)).collect();
        return format!("tickets it should not show {extra:?}, tickets it lacks {lacking:?}");
    }
    for (m, e) in mine.tickets.iter().zip(&expected.tickets) {
        if m != e {
            return format!("ticket {} differs: {m:?} vs {e:?}", m.id);
        }
    }
    "none?".into()
}

/// This process's open file descriptors and this runtime's live tasks.
#[derive(Debug, Clone, Copy)]
struct Resources {
    fds: usize,
    tasks: usize,
}

impl Resources {
    fn sample() -> Resources {
        Resources {
            fds: std::fs::read_dir("/proc/self/fd")
                .expect("/proc/self/fd")
                .count(),
            tasks: tokio::runtime::Handle::current()
                .metrics()
                .num_alive_tasks(),
        }
    }
}

// ---------------------------------------------------------------------------- the writer

#[derive(Debug, Clone, Copy)]
enum Write {
    Create(Priority, Option<Id>, Option<Id>),
    Priority(Id, Priority),
    Status(Id, TicketStatus),
    Move(Id, Option<Id>),
    Assign(Id, Option<Id>),
    Comment(Id),
    Delete(Id),
}

impl Write {
    fn ticket(self) -> Option<Id> {
        match self {
            Write::Create(..) => None,
            Write::Priority(id, _)
            | Write::Status(id, _)
            | Write::Move(id, _)
            | Write::Assign(id, _)
            | Write::Comment(id)
            | Write::Delete(id) => Some(id),
        }
    }
}

#[derive(Debug, Default)]
struct WriterStats {
    acknowledged: usize,
    /// Attempts that failed while the server was down or died (their write may or may not
    /// have committed).
    retried: usize,
}

/// Keeps writing as the admin over REST until told to stop: creates, priority/status
/// changes, moves, (re)assignments, comments and deletes.
struct Writer {
    api: Api,
    token: String,
    rng: StdRng,
    tickets: Vec<Id>,
    created: Vec<Id>,
    lanes: Vec<Id>,
    agents: Vec<Id>,
    stats: WriterStats,
}

const PRIORITIES: [Priority; 4] = [
    Priority::Low,
    Priority::Normal,
    Priority::High,
    Priority::Urgent,
];
const STATUSES: [TicketStatus; 3] = [
    TicketStatus::Open,
    TicketStatus::Pending,
    TicketStatus::Closed,
];

impl Writer {
    fn maybe<T: Copy>(&mut self, of: &[T]) -> Option<T> {
        if self.rng.gen_bool(0.3) {
            None
        } else {
            of.choose(&mut self.rng).copied()
        }
    }

    fn pick(&mut self) -> Write {
        let ticket = *self.tickets.choose(&mut self.rng).expect("tickets");
        let priority = *PRIORITIES.choose(&mut self.rng).unwrap();
        let (lanes, agents) = (self.lanes.clone(), self.agents.clone());
        match self.rng.gen_range(0..100) {
            0..=29 => Write::Create(priority, self.maybe(&agents), self.maybe(&lanes)),
            30..=44 => Write::Priority(ticket, priority),
            45..=54 => Write::Status(ticket, *STATUSES.choose(&mut self.rng).unwrap()),
            55..=72 => Write::Move(ticket, self.maybe(&lanes)),
            73..=86 => Write::Assign(ticket, self.maybe(&agents)),
            87..=94 => Write::Comment(ticket),
            _ => match self.created.choose(&mut self.rng) {
                Some(&id) => Write::Delete(id),
                None => Write::Create(priority, None, None),
            },
        }
    }

    async fn perform(&self, write: Write) -> Result<Option<Id>, ApiError> {
        let (api, token) = (&self.api, self.token.as_str());
        let patch = |patch: TicketPatch| async move {
            api.patch_ticket(token, write.ticket().unwrap(), None, &patch)
                .await
                .map(|_| None)
        };
        match write {
            Write::Create(priority, assignee, lane) => {
                let title = format!("chaos {}", self.stats.acknowledged);
                api.create_ticket(token, &new_ticket(&title, priority, assignee, lane))
                    .await
                    .map(|t| Some(t.id))
            }
            Write::Priority(_, priority) => {
                patch(TicketPatch {
                    priority: Some(priority),
                    ..TicketPatch::default()
                })
                .await
            }
            Write::Status(_, status) => {
                patch(TicketPatch {
                    status: Some(status),
                    ..TicketPatch::default()
                })
                .await
            }
            Write::Assign(_, assignee) => {
                patch(TicketPatch {
                    assignee_id: Some(assignee),
                    ..TicketPatch::default()
                })
                .await
            }
            Write::Move(id, lane) => api.move_ticket(token, id, lane, None).await.map(|_| None),
            Write::Comment(id) => api
                .add_comment(
                    token,
                    id,
                    &NewComment {
                        body: "a comment in the middle of the chaos".into(),
                        from_requester: false,
                    },
                )
                .await
                .map(|_| None),
            Write::Delete(id) => api.delete_ticket(token, id).await.map(|_| None),
        }
    }

    fn forget(&mut self, id: Id) {
        self.tickets.retain(|&t| t != id);
        self.created.retain(|&t| t != id);
    }

    async fn run(mut self, stop: Arc<AtomicBool>) -> WriterStats {
        while !stop.load(Ordering::SeqCst) {
            let write = self.pick();
            loop {
                match self.perform(write).await {
                    Ok(created) => {
                        self.stats.acknowledged += 1;
                        if let Some(id) = created {
                            self.tickets.push(id);
                            self.created.push(id);
                        }
                        if let Write::Delete(id) = write {
                            self.forget(id);
                        }
                        break;
                    }
                    // A delete whose answer was lost went through after all.
                    Err(e) if e.server_code() == Some(ApiErrorCode::NotFound) => {
                        self.forget(write.ticket().expect("only a ticket is not found"));
                        break;
                    }
                    // The server is down or died answering: the write may or may not have
                    // committed. Retry while the server comes back.
                    Err(e) if e.is_transient() || matches!(e, ApiError::Protocol(_)) => {
                        self.stats.retried += 1;
                        if stop.load(Ordering::SeqCst) {
                            return self.stats;
                        }
                        sleep(Duration::from_millis(50)).await; // retry pacing
                    }
                    Err(e) => panic!("the writer's {write:?} failed: {e} ({})", e.code()),
                }
            }
            let pause = Duration::from_millis(self.rng.gen_range(10..40));
            sleep(pause).await; // pacing of the writes
        }
        self.stats
    }
}

// ----------------------------------------------------------------------------- the tests

#[test]
fn survives_twenty_kill_9_restarts_during_a_stream_of_writes() {
    run(true, Duration::from_secs(170), async {
        let seed = chaos_seed();
        let mut rng = StdRng::seed_from_u64(seed);
        let mut server = ChaosServer::start(None).await;
        let admin = server.login(ADMIN).await;
        let agent = server.login(AGENT1).await;
        // An admin sees every event; an agent a filtered subset that changes with assignments.
        let mut admin_client = Client::login(&server, ADMIN, fast_config()).await;
        let mut agent_client = Client::login(&server, AGENT1, fast_config()).await;
        admin_client.live(WAIT).await;
        agent_client.live(WAIT).await;
        admin_client.converge(&server, &admin.access_token).await;
        agent_client.converge(&server, &agent.access_token).await;
        let before = Resources::sample();

        let board = server.api.board(&admin.access_token).await.expect("board");
        let users = server.api.users(&admin.access_token).await.expect("users");
        let writer = Writer {
            api: Api::new(&server.url()).expect("api"),
            token: admin.access_token.clone(),
            rng: StdRng::seed_from_u64(seed ^ 0x5eed),
            tickets: board.tickets.iter().map(|t| t.id).collect(),
            created: Vec::new(),
            lanes: board.lanes.iter().map(|l| l.id).collect(),
            agents: users
                .iter()
                .filter(|u| u.role == deskbell_protocol::Role::Agent)
                .map(|u| u.id)
                .collect(),
            stats: WriterStats::default(),
        };
        let stop = Arc::new(AtomicBool::new(false));
        let writing = tokio::spawn(writer.run(stop.clone()));

        let started = Instant::now();
        for round in 1..=20 {
            // A random moment: mostly once the clients are live again, sometimes while they
            // are still reconnecting or replaying.
            let up = if rng.gen_bool(0.3) {
                rng.gen_range(20..300)
            } else {
                rng.gen_range(300..2500)
            };
            sleep(Duration::from_millis(up)).await;
            assert!(!writing.is_finished(), "the writer stopped early");
            server.kill9().await;
            sleep(Duration::from_millis(rng.gen_range(0..400))).await; // downtime
            server.boot().await;
            admin_client.drain();
            agent_client.drain();
            println!(
                "round {round}: killed and restarted at {:?}; admin {:?}, agent {:?}",
                started.elapsed(),
                admin_client.state,
                agent_client.state
            );
        }
        // Some writes with the server up, then no more.
        sleep(Duration::from_secs(1)).await;
        stop.store(true, Ordering::SeqCst);
        let stats = timeout(WAIT, writing)
            .await
            .expect("the writer stops in time")
            .expect("the writer");
        println!("writer: {stats:?}; {} server boots", server.boots);
        assert!(stats.acknowledged > 100, "too few writes: {stats:?}");

        admin_client.live(WAIT).await;
        agent_client.live(WAIT).await;
        admin_client.converge(&server, &admin.access_token).await;
        agent_client.converge(&server, &agent.access_token).await;
        admin_client.assert_each_visible_seq_once(&mut server).await;
        agent_client.assert_each_visible_seq_once(&mut server).await;
        for client in [&admin_client, &agent_client] {
            let lives = client.states.iter().filter(|(_, s)| is_live(s)).count();
            println!(
                "{}: live {lives} times, {} connection attempts",
                client.name,
                client.attempts()
            );
            assert!(lives >= 5, "{}: live only {lives} times", client.name);
        }
        server.wait_sockets(2).await;

        let after = Resources::sample();
        println!("resources after the first convergence {before:?}, at the end {after:?}");
        assert!(
            after.fds <= before.fds + 5,
            "file descriptors grew: {before:?} → {after:?}"
        );
        assert!(
            after.tasks <= before.tasks + 5,
            "tasks grew: {before:?} → {after:?}"
        );
        admin_client.shutdown().await;
        agent_client.shutdown().await;
        server.wait_sockets(0).await;
    });
}

/// The config of the frozen-server tests: every step of an attempt has a short deadline.
fn impatient_config() -> ConnectionConfig {
    ConnectionConfig {
        backoff: deskbell_client::backoff::BackoffPolicy {
            base: Duration::from_millis(200),
            cap: Duration::from_secs(2),
            ..Default::default()
        },
        timeouts: Timeouts {
            handshake: Duration::from_secs(1),
            namespace: Duration::from_secs(1),
            ping_grace: Duration::from_millis(500),
        },
        attempt_timeout: Duration::from_secs(3),
        stable_after: Duration::from_millis(500),
    }
}

#[test]
fn a_frozen_server_with_a_forced_wake_recovers() {
    run(false, Duration::from_secs(150), async {
        // The default heartbeat (45 s) outlasts the freeze: only the forced wake can notice.
        let mut server = ChaosServer::start(None).await;
        let admin = server.login(ADMIN).await;
        let mut client = Client::login(&server, ADMIN, impatient_config()).await;
        client.live(WAIT).await;
        server
            .create(&admin.access_token, "before the freeze")
            .await;
        client.converge(&server, &admin.access_token).await;

        server.freeze();
        let frozen_at = Instant::now();
        // The wake: the socket looks open but is a zombie.
        client.connection.reconnect_now();
        client
            .wait_state(
                "leaving live after the forced wake",
                Duration::from_secs(8),
                |s| !is_live(s),
            )
            .await;
        let left_after = frozen_at.elapsed();
        // Attempts against the frozen server time out and back off, again and again.
        client
            .wait_state("the 3rd attempt timing out", WAIT, |s| {
                backing_off(s).is_some_and(|a| a >= 3)
            })
            .await;
        // Another wake while backing off: an attempt starts at once (not after the backoff).
        sleep_until(frozen_at + Duration::from_secs(20)).await; // holding the freeze
        client.drain();
        client.connection.reconnect_now();
        client
            .wait_state("an immediate attempt", Duration::from_secs(2), |s| {
                *s == ConnectionState::Connecting {
                    attempt: 1,
                    retry_at: None,
                }
            })
            .await;
        client
            .wait_state("that attempt timing out", Duration::from_secs(8), |s| {
                backing_off(s).is_some()
            })
            .await;
        // Writes sent now wait in the frozen server's backlog (10 s, well within their timeout).
        let writes = {
            let (api, token) = (server.api.clone(), admin.access_token.clone());
            tokio::spawn(async move {
                let mut results = Vec::new();
                for i in 0..3 {
                    let new = new_ticket(
                        &format!("during the freeze {i}"),
                        Priority::High,
                        None,
                        None,
                    );
                    results.push(api.create_ticket(&token, &new).await.map(|t| t.id));
                }
                results
            })
        };
        sleep_until(frozen_at + Duration::from_secs(30)).await; // the freeze lasts 30 s
        client.drain();
        let during: Vec<_> = client
            .states
            .iter()
            .filter(|(at, _)| *at > frozen_at)
            .map(|(_, s)| s.clone())
            .collect();
        let timed_out = during.iter().filter_map(backing_off).count();
        assert!(
            !during.iter().any(is_live),
            "live while the server was frozen: {during:?}"
        );
        assert!(
            during
                .iter()
                .all(|s| matches!(s, ConnectionState::Connecting { .. })),
            "{during:?}"
        );
        println!(
            "frozen 30 s: left live {left_after:?} after the wake, {timed_out} attempts timed out"
        );

        server.thaw();
        let thawed_at = Instant::now();
        client.live(WAIT).await;
        println!("live again {:?} after the thaw", thawed_at.elapsed());
        let results = timeout(WAIT, writes)
            .await
            .expect("writes end")
            .expect("writes");
        println!("writes sent during the freeze: {results:?}");
        assert!(results.iter().all(Result::is_ok), "{results:?}");
        server.create(&admin.access_token, "after the thaw").await;
        client.converge(&server, &admin.access_token).await;
        client.assert_each_visible_seq_once(&mut server).await;
        server.wait_sockets(1).await;
        client.shutdown().await;
    });
}

#[test]
fn a_frozen_server_is_noticed_by_the_heartbeat_watchdog() {
    run(false, Duration::from_secs(90), async {
        // pingInterval 1 s + pingTimeout 1 s (+ 0.5 s grace on the client).
        let mut server = ChaosServer::start(Some((1000, 1000))).await;
        let admin = server.login(ADMIN).await;
        let mut client = Client::login(&server, ADMIN, impatient_config()).await;
        client.live(WAIT).await;
        client.converge(&server, &admin.access_token).await;

        server.freeze();
        let frozen_at = Instant::now();
        // Nothing but the silence tells the client: no wake, no close.
        client
            .wait_state(
                "the watchdog ending the connection",
                Duration::from_secs(8),
                |s| !is_live(s),
            )
            .await;
        let noticed = frozen_at.elapsed();
        client
            .wait_state("the 2nd attempt timing out", WAIT, |s| {
                backing_off(s).is_some_and(|a| a >= 2)
            })
            .await;
        println!("the watchdog noticed the frozen server after {noticed:?}");
        server.thaw();
        client.live(WAIT).await;
        server.create(&admin.access_token, "after the thaw").await;
        client.converge(&server, &admin.access_token).await;
        client.assert_each_visible_seq_once(&mut server).await;
        client.shutdown().await;
    });
}

#[test]
fn fifty_reconnect_now_in_five_seconds_leave_one_connection() {
    run(false, Duration::from_secs(90), async {
        let mut server = ChaosServer::start(None).await;
        let admin = server.login(ADMIN).await;
        let mut client = Client::login(&server, ADMIN, fast_config()).await;
        client.live(WAIT).await;
        client.converge(&server, &admin.access_token).await;
        let attempts_before = client.attempts();

        let started = Instant::now();
        for i in 0..50u32 {
            client.connection.reconnect_now();
            if i % 10 == 0 {
                server
                    .create(&admin.access_token, &format!("during the burst {i}"))
                    .await;
            }
            sleep_until(started + Duration::from_millis(100) * (i + 1)).await; // the burst's pace
        }
        assert!(started.elapsed() < Duration::from_secs(6));
        client.live(WAIT).await;
        client.converge(&server, &admin.access_token).await;
        // The server agrees: one socket, once the closes it was sent have landed.
        server.wait_sockets(1).await;
        client.assert_each_visible_seq_once(&mut server).await;
        let attempts = client.attempts() - attempts_before;
        println!(
            "50 reconnects in {:?}: {attempts} attempts",
            started.elapsed()
        );
        assert!(
            (1..=51).contains(&attempts),
            "{attempts} attempts for 50 reconnects"
        );
        client.shutdown().await;
        server.wait_sockets(0).await;
    });
}

#[test]
fn auth_rejection_then_fresh_login() {
    run(false, Duration::from_secs(120), async {
        let mut server = ChaosServer::start(None).await;
        let admin = server.login(ADMIN).await;
        let store: Arc<dyn TokenStore> = Arc::new(MemoryStore::new());
        let session = Session::login(
            server.api.clone(),
            store.clone(),
            AGENT2,
            demo::DEMO_PASSWORD,
        )
        .await
        .expect("login");
        let (account, access) = (session.account().clone(), session.access_token());
        let mut client = Client::spawn(AGENT2, session, None, fast_config());
        client.live(WAIT).await;
        let token = server.login(AGENT2).await.access_token;
        client.converge(&server, &token).await;

        // 1. Signed out elsewhere: the session's refresh family is revoked, and the server ends
        // its socket by itself (company-{id}-session, then a disconnect).
        let refresh = store
            .load(&account)
            .expect("store")
            .expect("a refresh token");
        server
            .api
            .logout(&access, Some(&refresh))
            .await
            .expect("logout");
        let state = client.wait_state("needs-login", WAIT, is_needs_login).await;
        let ConnectionState::NeedsLogin { reason } = state else {
            unreachable!()
        };
        assert_eq!(reason, SessionEndReason::SignedOut.describe());
        assert_eq!(
            store.load(&account).expect("store"),
            None,
            "the core removed the saved refresh token"
        );
        server.wait_sockets(0).await;
        let attempts = client.attempts();
        // Written while signed out: replayed after the new sign-in.
        server.create(&admin.access_token, "while signed out").await;
        // Neither the wake nor time make it retry the rejected session.
        for _ in 0..5 {
            client.connection.reconnect_now();
        }
        client.assert_state_holds(Duration::from_secs(3)).await;
        assert_eq!(
            client.attempts(),
            attempts,
            "the rejected session was retried"
        );
        let fresh = Session::login(
            server.api.clone(),
            store.clone(),
            AGENT2,
            demo::DEMO_PASSWORD,
        )
        .await
        .expect("a fresh login");
        client.connection.resume(Arc::new(fresh));
        client.live(WAIT).await;
        assert_eq!(
            client.attempts(),
            attempts + 1,
            "one attempt with the new session"
        );
        let token = server.login(AGENT2).await.access_token;
        client.converge(&server, &token).await;

        // 2. The admin deactivates the user: every session of theirs ends.
        let deactivate = UserPatch {
            active: Some(false),
            ..UserPatch::default()
        };
        server
            .api
            .update_user(&admin.access_token, client.user.id, &deactivate)
            .await
            .expect("deactivate");
        let state = client
            .wait_state("needs-login after the deactivation", WAIT, is_needs_login)
            .await;
        assert_eq!(
            state,
            ConnectionState::NeedsLogin {
                reason: SessionEndReason::Deactivated.describe().into()
            }
        );
        server.wait_sockets(0).await;
        let attempts = client.attempts();
        server
            .create(&admin.access_token, "while deactivated")
            .await;
        client.connection.reconnect_now();
        client.assert_state_holds(Duration::from_secs(2)).await;
        assert_eq!(
            client.attempts(),
            attempts,
            "the rejected session was retried"
        );
        let refused = Session::login(
            server.api.clone(),
            store.clone(),
            AGENT2,
            demo::DEMO_PASSWORD,
        )
        .await;
        assert!(refused.is_err(), "a deactivated user signed in");
        let reactivate = UserPatch {
            active: Some(true),
            ..UserPatch::default()
        };
        server
            .api
            .update_user(&admin.access_token, client.user.id, &reactivate)
            .await
            .expect("reactivate");
        let fresh = Session::login(server.api.clone(), store, AGENT2, demo::DEMO_PASSWORD)
            .await
            .expect("a fresh login");
        client.connection.resume(Arc::new(fresh));
        client.live(WAIT).await;
        assert_eq!(client.attempts(), attempts + 1);
        let token = server.login(AGENT2).await.access_token;
        client.converge(&server, &token).await;
        client.assert_each_visible_seq_once(&mut server).await;
        server.wait_sockets(1).await;
        client.shutdown().await;
    });
}

/// Counts a fake peer's connections.
#[derive(Debug, Default)]
struct Gauge {
    accepted: AtomicUsize,
    open: AtomicUsize,
    max_open: AtomicUsize,
    /// Namespace CONNECTs received (never answered).
    connects: AtomicUsize,
    /// Pongs received for the peer's pings.
    pongs: AtomicUsize,
}

impl Gauge {
    fn enter(&self) {
        self.accepted.fetch_add(1, Ordering::SeqCst);
        let now = self.open.fetch_add(1, Ordering::SeqCst) + 1;
        self.max_open.fetch_max(now, Ordering::SeqCst);
    }

    fn leave(&self) {
        self.open.fetch_sub(1, Ordering::SeqCst);
    }
}

/// A hostile peer on an ephemeral port; stops accepting when dropped.
struct FakePeer {
    url: Url,
    gauge: Arc<Gauge>,
    accepting: JoinHandle<()>,
}

impl Drop for FakePeer {
    fn drop(&mut self) {
        self.accepting.abort();
    }
}

impl FakePeer {
    async fn start<F, Fut>(serve: F) -> FakePeer
    where
        F: Fn(tokio::net::TcpStream, Arc<Gauge>) -> Fut + Send + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let url = Url::parse(&format!("http://{}", listener.local_addr().unwrap())).unwrap();
        let gauge = Arc::new(Gauge::default());
        let counting = gauge.clone();
        let accepting = tokio::spawn(async move {
            while let Ok((tcp, _)) = listener.accept().await {
                counting.enter();
                let gauge = counting.clone();
                let serving = serve(tcp, gauge.clone());
                tokio::spawn(async move {
                    serving.await;
                    gauge.leave();
                });
            }
        });
        FakePeer {
            url,
            gauge,
            accepting,
        }
    }

    /// Accepts and never answers; notices when the client goes away.
    async fn silent() -> FakePeer {
        FakePeer::start(|mut tcp, _| async move {
            let mut buf = [0u8; 1024];
            while matches!(tcp.read(&mut buf).await, Ok(n) if n > 0) {}
        })
        .await
    }

    /// Speaks Engine.IO (open packet, pings, pongs counted) but never answers the namespace
    /// CONNECT.
    async fn unconfirming() -> FakePeer {
        FakePeer::start(|tcp, gauge| async move {
            let Ok(mut ws) = tokio_tungstenite::accept_async(tcp).await else {
                return;
            };
            let open = serde_json::json!({
                "sid": "chaosChaosChaosChaos",
                "upgrades": [],
                "pingInterval": 300,
                "pingTimeout": 300,
                "maxPayload": 1_000_000,
            });
            if ws.send(Message::text(format!("0{open}"))).await.is_err() {
                return;
            }
            let mut ping = tokio::time::interval(Duration::from_millis(300));
            ping.tick().await;
            loop {
                tokio::select! {
                    _ = ping.tick() => {
                        if ws.send(Message::text("2")).await.is_err() {
                            return;
                        }
                    }
                    message = ws.next() => match message {
                        Some(Ok(Message::Text(text))) => {
                            if text.as_str() == "3" {
                                gauge.pongs.fetch_add(1, Ordering::SeqCst);
                            } else if text.as_str().starts_with("40") {
                                gauge.connects.fetch_add(1, Ordering::SeqCst);
                            }
                        }
                        // Also a close frame: reading on sends the answer, then it ends.
                        Some(Ok(_)) => {}
                        Some(Err(_)) | None => return,
                    },
                }
            }
        })
        .await
    }

    async fn wait_all_closed(&self) {
        let deadline = Instant::now() + WAIT;
        while self.gauge.open.load(Ordering::SeqCst) != 0 {
            assert!(
                Instant::now() < deadline,
                "connections left open: {:?}",
                self.gauge
            );
            sleep(Duration::from_millis(20)).await; // polling interval
        }
    }
}

/// The in-process server, only to sign in (the socket goes to a fake peer).
async fn login_server() -> (Server, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("a data dir");
    let mut config = Config::new(dir.path().to_path_buf());
    config.bind = "127.0.0.1:0".parse().unwrap();
    config.jwt_secret = Some(SECRET.into());
    let state = deskbell_server::prepare(config).await.expect("prepare");
    demo::seed(&state).await.expect("seed");
    (deskbell_server::serve(state).await.expect("serve"), dir)
}

#[test]
fn silent_tcp_peer_and_unconfirmed_namespace_time_out_and_back_off() {
    run(false, Duration::from_secs(90), async {
        let (server, _dir) = login_server().await;
        let api = Api::new(&server.url()).expect("api");
        let config = ConnectionConfig {
            backoff: deskbell_client::backoff::BackoffPolicy {
                base: Duration::from_millis(300),
                cap: Duration::from_millis(600),
                ..Default::default()
            },
            timeouts: Timeouts {
                handshake: Duration::from_millis(700),
                namespace: Duration::from_millis(700),
                ping_grace: Duration::from_millis(200),
            },
            attempt_timeout: Duration::from_secs(2),
            stable_after: Duration::from_secs(1),
        };
        for (kind, peer) in [
            ("silent TCP peer", FakePeer::silent().await),
            (
                "unconfirming Engine.IO peer",
                FakePeer::unconfirming().await,
            ),
        ] {
            let store: Arc<dyn TokenStore> = Arc::new(MemoryStore::new());
            let session = Session::login(api.clone(), store, ADMIN, demo::DEMO_PASSWORD)
                .await
                .expect("login");
            let mut client = Client::spawn(kind, session, Some(peer.url.clone()), config);
            client
                .wait_state("the 4th attempt timing out", WAIT, |s| {
                    backing_off(s).is_some_and(|a| a >= 4)
                })
                .await;
            let gauge = &peer.gauge;
            assert!(
                gauge.max_open.load(Ordering::SeqCst) <= 1,
                "{kind}: several connections at once: {gauge:?}"
            );
            let states = client.shutdown().await;
            peer.wait_all_closed().await;

            // Attempt n starts (no retry_at), times out by its own deadline, and backs off
            // (retry_at set) before attempt n + 1; nothing ever got further.
            let mut started: Option<(u32, Instant)> = None;
            let mut timed_out = Vec::new();
            for (at, state) in &states {
                match state {
                    ConnectionState::Connecting {
                        attempt,
                        retry_at: None,
                    } => started = Some((*attempt, *at)),
                    ConnectionState::Connecting {
                        attempt,
                        retry_at: Some(_),
                    } => {
                        let (n, since) = started.take().expect("an attempt started");
                        assert_eq!(n, *attempt, "{kind}: {states:?}");
                        let took = at.duration_since(since);
                        assert!(
                            took >= Duration::from_millis(500)
                                && took <= config.attempt_timeout + Duration::from_secs(1),
                            "{kind}: attempt {n} ended after {took:?}"
                        );
                        timed_out.push(n);
                    }
                    ConnectionState::Offline { .. } => {}
                    other => panic!("{kind}: got to {other:?}"),
                }
            }
            assert!(timed_out.len() >= 4, "{kind}: {states:?}");
            assert_eq!(
                timed_out,
                (1..=timed_out.len() as u32).collect::<Vec<_>>(),
                "{kind}: attempt numbers"
            );
            let accepted = gauge.accepted.load(Ordering::SeqCst);
            assert!(accepted >= 4, "{kind}: {gauge:?}");
            if kind.contains("Engine.IO") {
                assert!(gauge.connects.load(Ordering::SeqCst) >= 4, "{gauge:?}");
                assert!(gauge.pongs.load(Ordering::SeqCst) >= 1, "{gauge:?}");
            }
            println!("{kind}: attempts {timed_out:?} timed out; {gauge:?}");
        }
        server.shutdown().await;
    });
}

fn assert_noticed_at_once(what: &str, since: Instant) {
    let took = since.elapsed();
    println!("{what} noticed after {took:?} (the heartbeat would take {DEFAULT_HEARTBEAT:?})");
    assert!(took < AT_ONCE, "{what} noticed only after {took:?}");
}

#[test]
fn clean_close_and_kick_are_noticed_at_once() {
    run(false, Duration::from_secs(120), async {
        // The default heartbeat: a close noticed within AT_ONCE was not a ping timeout.
        let mut server = ChaosServer::start(None).await;
        let admin = server.login(ADMIN).await;
        let mut client = Client::login(&server, ADMIN, fast_config()).await;
        client.live(WAIT).await;
        client.converge(&server, &admin.access_token).await;

        // 1. Kicked: a Socket.IO DISCONNECT.
        let at = Instant::now();
        assert_eq!(server.kick().await, 1);
        client
            .wait_state("leaving live after the kick", AT_ONCE, |s| !is_live(s))
            .await;
        assert_noticed_at_once("the kick", at);
        client.live(WAIT).await;
        server.create(&admin.access_token, "after the kick").await;
        client.converge(&server, &admin.access_token).await;

        // 2. A graceful shutdown closes every socket (Engine.IO close).
        let at = Instant::now();
        server.terminate();
        client
            .wait_state("leaving live after the shutdown", AT_ONCE, |s| !is_live(s))
            .await;
        assert_noticed_at_once("the graceful shutdown", at);
        assert!(server.exited().await.success());
        server.boot().await;
        client.live(WAIT).await;
        server
            .create(&admin.access_token, "after the shutdown")
            .await;
        client.converge(&server, &admin.access_token).await;

        // 3. Killed: the kernel closes the TCP connection.
        let at = Instant::now();
        server.kill9().await;
        client
            .wait_state("leaving live after kill -9", AT_ONCE, |s| !is_live(s))
            .await;
        assert_noticed_at_once("kill -9", at);
        server.boot().await;
        client.live(WAIT).await;
        server.create(&admin.access_token, "after the kill").await;
        client.converge(&server, &admin.access_token).await;

        client.assert_each_visible_seq_once(&mut server).await;
        server.wait_sockets(1).await;
        client.shutdown().await;
    });
}
