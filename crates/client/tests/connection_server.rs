//! The connection supervisor + board against the real server in-process: sync, live events,
//! replay after a kick, server restart, token refresh, needs-login, reconnect bursts.

use deskbell_client::connection::{Connection, ConnectionConfig, ConnectionState};
use deskbell_client::desk::DeskEvent;
use deskbell_client::live_board::{LiveBoard, SharedBoard};
use deskbell_client::session::Session;
use deskbell_client::token_store::{MemoryStore, TokenStore};
use deskbell_client::transport::ws::WsTransport;
use deskbell_client::transport::{ConnectError, ConnectRequest, SocketConnection, SocketTransport};
use deskbell_client::Api;
use deskbell_protocol::{NewTicket, Priority, Requester, SessionEndReason, TicketPatch};
use deskbell_server::{demo, Config, Server};
use futures_util::future::BoxFuture;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, watch};

const WAIT: Duration = Duration::from_secs(20);
const SECRET: &str = "connection-test-secret";

struct TestServer {
    server: Option<Server>,
    addr: SocketAddr,
    url: String,
    data_dir: tempfile::TempDir,
    access_ttl: Duration,
}

impl TestServer {
    async fn start(access_ttl: Duration) -> TestServer {
        let data_dir = tempfile::tempdir().unwrap();
        let server = Self::boot(
            data_dir.path(),
            "127.0.0.1:0".parse().unwrap(),
            access_ttl,
            true,
        )
        .await;
        TestServer {
            addr: server.addr(),
            url: server.url(),
            server: Some(server),
            data_dir,
            access_ttl,
        }
    }

    async fn boot(
        dir: &std::path::Path,
        bind: SocketAddr,
        access_ttl: Duration,
        seed: bool,
    ) -> Server {
        let mut config = Config::new(dir.to_path_buf());
        config.bind = bind;
        config.jwt_secret = Some(SECRET.into());
        config.writes_per_minute = 0;
        config.access_token_ttl = access_ttl;
        let state = deskbell_server::prepare(config).await.expect("prepare");
        if seed {
            demo::seed(&state).await.expect("seed");
        }
        deskbell_server::serve(state).await.expect("serve")
    }

    fn server(&self) -> &Server {
        self.server.as_ref().expect("running")
    }

    async fn stop(&mut self) {
        if let Some(s) = self.server.take() {
            s.shutdown().await;
        }
    }

    /// Same address, same data: the client must find it again by itself.
    async fn restart(&mut self) {
        self.stop().await;
        self.server =
            Some(Self::boot(self.data_dir.path(), self.addr, self.access_ttl, false).await);
    }

    fn sockets(&self) -> usize {
        let io = self.server().state().hub.io().expect("socket.io is up");
        io.of("/workspace-1")
            .map(|ns| ns.sockets().len())
            .unwrap_or(0)
    }

    /// Kicks every socket of company 1 (the server "closing the socket").
    fn kick_all(&self) {
        let io = self.server().state().hub.io().expect("socket.io is up");
        if let Some(ns) = io.of("/workspace-1") {
            for socket in ns.sockets() {
                let _ = socket.disconnect();
            }
        }
    }

    fn api(&self) -> Api {
        Api::new(&self.url).unwrap()
    }

    async fn admin_token(&self) -> String {
        self.api()
            .login("admin@acme.test", demo::DEMO_PASSWORD)
            .await
            .unwrap()
            .access_token
    }

    async fn create(
        &self,
        token: &str,
        title: &str,
        priority: Priority,
    ) -> deskbell_protocol::Ticket {
        let new = NewTicket {
            title: title.into(),
            requester: Requester {
                name: "Requester".into(),
                contact: None,
            },
            priority: Some(priority),
            status: None,
            assignee_id: None,
            lane_id: None,
            message: None,
        };
        self.api()
            .create_ticket(token, &new)
            .await
            .expect("create ticket")
    }
}

/// Counts connection attempts, to prove what is (not) retried; can refuse the first ones as a
/// server that cannot check tokens right now would (`unavailable`).
struct CountingTransport {
    inner: WsTransport,
    attempts: Arc<AtomicUsize>,
    unavailable_first: usize,
}

impl SocketTransport for CountingTransport {
    fn connect(
        &self,
        request: ConnectRequest,
    ) -> BoxFuture<'static, Result<Box<dyn SocketConnection>, ConnectError>> {
        let attempt = self.attempts.fetch_add(1, Ordering::SeqCst);
        if attempt < self.unavailable_first {
            return Box::pin(async { Err(ConnectError::Rejected("unavailable".into())) });
        }
        self.inner.connect(request)
    }
}

struct Client {
    connection: Connection<LiveBoard>,
    board: SharedBoard,
    events: mpsc::UnboundedReceiver<DeskEvent>,
    state: watch::Receiver<ConnectionState>,
    attempts: Arc<AtomicUsize>,
    applied: Vec<i64>,
}

fn fast_config() -> ConnectionConfig {
    let mut config = ConnectionConfig::default();
    config.backoff.base = Duration::from_millis(100);
    config.backoff.cap = Duration::from_secs(1);
    config.stable_after = Duration::from_millis(200);
    config
}

impl Client {
    async fn start(server: &TestServer, email: &str, store: Arc<dyn TokenStore>) -> Client {
        let session = Session::login(server.api(), store, email, demo::DEMO_PASSWORD)
            .await
            .unwrap();
        Client::with_session(session).await
    }

    async fn with_session(session: Session) -> Client {
        Client::with_refusals(session, 0).await
    }

    async fn with_refusals(session: Session, unavailable_first: usize) -> Client {
        // Shown only for failing tests.
        let _ = tracing_subscriber::fmt()
            .with_test_writer()
            .with_env_filter("deskbell_client=debug,deskbell_server=info")
            .try_init();
        let attempts = Arc::new(AtomicUsize::new(0));
        let transport = CountingTransport {
            inner: WsTransport::new(),
            attempts: attempts.clone(),
            unavailable_first,
        };
        let board = SharedBoard::new();
        let (sink, events) = LiveBoard::new(board.clone());
        let connection =
            Connection::spawn(Arc::new(session), Arc::new(transport), sink, fast_config());
        let state = connection.state();
        Client {
            connection,
            board,
            events,
            state,
            attempts,
            applied: Vec::new(),
        }
    }

    /// Waits for a state matching `pred`, recording applied events meanwhile.
    async fn wait_state(
        &mut self,
        what: &str,
        pred: impl Fn(&ConnectionState) -> bool,
    ) -> ConnectionState {
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            let current = self.state.borrow_and_update().clone();
            if pred(&current) {
                return current;
            }
            tokio::select! {
                changed = self.state.changed() => changed.expect("supervisor alive"),
                Some(event) = self.events.recv() => self.record(event),
                _ = tokio::time::sleep_until(deadline) => panic!("timed out waiting for {what}; state is {current:?}"),
            }
        }
    }

    async fn live(&mut self) {
        self.wait_state("live", |s| *s == ConnectionState::Live)
            .await;
    }

    fn record(&mut self, event: DeskEvent) {
        if let DeskEvent::Event { event, .. } = event {
            self.applied.push(event.seq);
        }
    }

    /// Waits until the board holds exactly what the server shows this user.
    async fn converge(&mut self, server: &TestServer, token: &str) {
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            let expected = server.api().board(token).await.unwrap();
            let mine = self.board.snapshot();
            if mine.tickets == expected.tickets && mine.lanes == expected.lanes {
                return;
            }
            tokio::select! {
                Some(event) = self.events.recv() => self.record(event),
                _ = tokio::time::sleep_until(deadline) => panic!(
                    "the board never matched the server: {} vs {} tickets",
                    mine.tickets.len(),
                    expected.tickets.len()
                ),
            }
        }
    }

    fn assert_each_seq_once(&mut self) {
        while let Ok(event) = self.events.try_recv() {
            self.record(event);
        }
        let mut sorted = self.applied.clone();
        sorted.dedup();
        assert_eq!(
            sorted.len(),
            self.applied.len(),
            "an event was applied twice: {:?}",
            self.applied
        );
        assert!(
            self.applied.windows(2).all(|w| w[0] < w[1]),
            "events out of order: {:?}",
            self.applied
        );
    }
}

#[tokio::test]
async fn syncs_follows_live_events_and_replays_after_a_kick() {
    let server = TestServer::start(Duration::from_secs(900)).await;
    let admin = server.admin_token().await;
    let mut client = Client::start(&server, "agent1@acme.test", Arc::new(MemoryStore::new())).await;
    client.live().await;
    let agent_token = server
        .api()
        .login("agent1@acme.test", demo::DEMO_PASSWORD)
        .await
        .unwrap()
        .access_token;
    client.converge(&server, &agent_token).await;

    let ticket = server.create(&admin, "live one", Priority::Normal).await;
    client.converge(&server, &agent_token).await;
    assert!(client.board.lock().ticket(ticket.id).is_some());

    // Kicked: it reconnects with lastSeq and replays what it missed meanwhile.
    server.kick_all();
    client
        .wait_state("not live", |s| *s != ConnectionState::Live)
        .await;
    for i in 0..5 {
        server
            .create(&admin, &format!("missed {i}"), Priority::High)
            .await;
    }
    client.live().await;
    client.converge(&server, &agent_token).await;
    eprintln!(
        "sockets now: {} state {:?}",
        server.sockets(),
        client.state.borrow().clone()
    );
    assert_eq!(server.sockets(), 1, "exactly one connection");
    client.assert_each_seq_once();
    assert!(client.applied.len() >= 6, "{:?}", client.applied);
    client.connection.shutdown().await;
}

#[tokio::test]
async fn comes_back_after_a_server_restart_with_nothing_lost() {
    let mut server = TestServer::start(Duration::from_secs(900)).await;
    let mut client = Client::start(&server, "admin@acme.test", Arc::new(MemoryStore::new())).await;
    client.live().await;
    server.restart().await;
    // Writes while the client is still reconnecting.
    let admin = server.admin_token().await;
    for i in 0..3 {
        server
            .create(&admin, &format!("after restart {i}"), Priority::Low)
            .await;
    }
    client.live().await;
    client.converge(&server, &admin).await;
    client.assert_each_seq_once();
    client.connection.shutdown().await;
}

#[tokio::test]
async fn an_expired_token_is_refreshed_and_the_connection_resumes() {
    let server = TestServer::start(Duration::from_secs(1)).await;
    let store: Arc<dyn TokenStore> = Arc::new(MemoryStore::new());
    let session = Session::login(server.api(), store, "admin@acme.test", demo::DEMO_PASSWORD)
        .await
        .unwrap();
    let first_token = session.access_token();
    let mut client = Client::with_session(session).await;
    client.live().await;
    // Wait (on the condition, with a deadline) until the access token is really expired.
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        match server.api().me(&first_token).await {
            Err(e) if e.code() == "token_expired" => break,
            _ if tokio::time::Instant::now() > deadline => panic!("the token never expired"),
            _ => tokio::task::yield_now().await,
        }
    }
    let attempts_before = client.attempts.load(Ordering::SeqCst);
    server.kick_all();
    client
        .wait_state("not live", |s| *s != ConnectionState::Live)
        .await;
    client.live().await;
    // One attempt refused with token_expired, one after the refresh.
    assert!(client.attempts.load(Ordering::SeqCst) >= attempts_before + 2);
    let admin = server.admin_token().await;
    client.converge(&server, &admin).await;
    client.connection.shutdown().await;
}

#[tokio::test]
async fn a_revoked_session_needs_login_and_is_never_retried_as_is() {
    let server = TestServer::start(Duration::from_secs(900)).await;
    let store: Arc<dyn TokenStore> = Arc::new(MemoryStore::new());
    let session = Session::login(
        server.api(),
        store.clone(),
        "agent2@acme.test",
        demo::DEMO_PASSWORD,
    )
    .await
    .unwrap();
    let token = session.access_token();
    let mut client = Client::with_session(session).await;
    client.live().await;
    // Signed out elsewhere (revokes the family): the server ends the socket by itself.
    server.api().logout(&token, None).await.unwrap();
    let state = client
        .wait_state("needs-login", |s| {
            matches!(s, ConnectionState::NeedsLogin { .. })
        })
        .await;
    let ConnectionState::NeedsLogin { reason } = state else {
        unreachable!()
    };
    assert_eq!(reason, SessionEndReason::SignedOut.describe());
    let attempts = client.attempts.load(Ordering::SeqCst);
    for _ in 0..5 {
        client.connection.reconnect_now();
    }
    // A fresh login resumes; the burst above did not cause a single attempt before it.
    let fresh = Session::login(server.api(), store, "agent2@acme.test", demo::DEMO_PASSWORD)
        .await
        .unwrap();
    client.connection.resume(Arc::new(fresh));
    client.live().await;
    assert_eq!(
        client.attempts.load(Ordering::SeqCst),
        attempts + 1,
        "no retry of the rejected session"
    );
    assert_eq!(server.sockets(), 1);
    client.connection.shutdown().await;
}

#[tokio::test]
async fn fifty_reconnects_in_a_burst_leave_exactly_one_connection() {
    let server = TestServer::start(Duration::from_secs(900)).await;
    let admin = server.admin_token().await;
    let mut client = Client::start(&server, "admin@acme.test", Arc::new(MemoryStore::new())).await;
    client.live().await;
    for i in 0..50 {
        client.connection.reconnect_now();
        if i % 10 == 0 {
            server
                .create(&admin, &format!("during burst {i}"), Priority::Normal)
                .await;
        }
        tokio::time::sleep(Duration::from_millis(100)).await; // pacing of the burst, not a sync
    }
    client.live().await;
    client.converge(&server, &admin).await;
    // The server agrees: one socket, once the closes it was sent have landed.
    let deadline = tokio::time::Instant::now() + WAIT;
    while server.sockets() != 1 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "server sees {} sockets",
            server.sockets()
        );
        tokio::task::yield_now().await;
    }
    client.assert_each_seq_once();
    client.connection.shutdown().await;
    let deadline = tokio::time::Instant::now() + WAIT;
    while server.sockets() != 0 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "shutdown left {} sockets",
            server.sockets()
        );
        tokio::task::yield_now().await;
    }
}

#[tokio::test]
async fn escalations_arrive_as_priority_changes_applied_once() {
    let server = TestServer::start(Duration::from_secs(900)).await;
    let admin = server.admin_token().await;
    let mut client = Client::start(&server, "agent1@acme.test", Arc::new(MemoryStore::new())).await;
    client.live().await;
    let ticket = server.create(&admin, "escalate me", Priority::Normal).await;
    let patch = TicketPatch {
        priority: Some(Priority::Urgent),
        ..TicketPatch::default()
    };
    server
        .api()
        .patch_ticket(&admin, ticket.id, Some(ticket.version), &patch)
        .await
        .unwrap();
    let agent = server
        .api()
        .login("agent1@acme.test", demo::DEMO_PASSWORD)
        .await
        .unwrap()
        .access_token;
    client.converge(&server, &agent).await;
    let shown = client.board.lock().ticket(ticket.id).unwrap();
    assert_eq!((shown.priority, shown.version), (Priority::Urgent, 2));
    client.assert_each_seq_once();
    client.connection.shutdown().await;
}

#[tokio::test]
async fn an_unavailable_server_is_retried_and_never_signs_out() {
    let server = TestServer::start(Duration::from_secs(900)).await;
    let session = Session::login(
        server.api(),
        Arc::new(MemoryStore::new()),
        "agent1@acme.test",
        demo::DEMO_PASSWORD,
    )
    .await
    .unwrap();
    let mut client = Client::with_refusals(session, 2).await;
    let seen = Arc::new(std::sync::Mutex::new(Vec::new()));
    let mut state = client.state.clone();
    let recorder = {
        let seen = seen.clone();
        tokio::spawn(async move {
            loop {
                seen.lock().unwrap().push(state.borrow_and_update().clone());
                if state.changed().await.is_err() {
                    break;
                }
            }
        })
    };
    client.live().await;
    recorder.abort();
    assert_eq!(
        client.attempts.load(Ordering::SeqCst),
        3,
        "two refusals, then in"
    );
    let seen = seen.lock().unwrap().clone();
    assert!(
        !seen
            .iter()
            .any(|s| matches!(s, ConnectionState::NeedsLogin { .. })),
        "{seen:?}"
    );
    assert!(
        seen.iter().any(|s| matches!(
            s,
            ConnectionState::Connecting {
                attempt: 2,
                retry_at: Some(_)
            }
        )),
        "backed off after a refusal: {seen:?}"
    );
}
