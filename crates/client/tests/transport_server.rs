//! `WsTransport` against the real Deskbell server, in-process (SQLite in a temp dir, demo data).

use deskbell_client::transport::ws::WsTransport;
use deskbell_client::transport::{
    CloseReason, ConnectError, ConnectRequest, SocketConnection, SocketTransport, Timeouts,
    TransportEvent,
};
use deskbell_client::Api;
use deskbell_protocol::{NewTicket, Priority, Requester};
use deskbell_server::{demo, Config, Server};
use serde_json::{json, Value};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::net::{TcpListener, TcpStream};
use tokio::time::{timeout, Instant};
use url::Url;

const WAIT: Duration = Duration::from_secs(10);
const ADMIN: &str = "admin@acme.test";

struct TestServer {
    server: Option<Server>,
    url: String,
    _data_dir: tempfile::TempDir,
}

impl TestServer {
    async fn start(tune: impl FnOnce(&mut Config)) -> TestServer {
        let data_dir = tempfile::tempdir().unwrap();
        let mut config = Config::new(data_dir.path().to_path_buf());
        config.bind = "127.0.0.1:0".parse().unwrap();
        config.jwt_secret = Some("transport-test-secret".into());
        config.writes_per_minute = 0;
        tune(&mut config);
        let state = deskbell_server::prepare(config).await.expect("prepare");
        demo::seed(&state).await.expect("seed");
        let server = deskbell_server::serve(state).await.expect("serve");
        TestServer {
            url: server.url(),
            server: Some(server),
            _data_dir: data_dir,
        }
    }

    fn server(&self) -> &Server {
        self.server.as_ref().expect("running")
    }

    async fn token(&self, email: &str) -> String {
        Api::new(&self.url)
            .unwrap()
            .login(email, demo::DEMO_PASSWORD)
            .await
            .expect("login")
            .access_token
    }

    /// Sockets connected to `ns` as the server sees them.
    fn sockets(&self, ns: &str) -> usize {
        let io = self.server().state().hub.io().expect("socket.io is up");
        io.of(ns).map(|ns| ns.sockets().len()).unwrap_or(0)
    }

    /// Polls `sockets(ns)` until it is `want`, failing the test after `WAIT`.
    async fn wait_sockets(&self, ns: &str, want: usize) {
        let deadline = Instant::now() + WAIT;
        loop {
            let n = self.sockets(ns);
            if n == want {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "{ns}: {n} sockets, expected {want}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    async fn connect(
        &self,
        ns: &str,
        auth: Value,
    ) -> Result<Box<dyn SocketConnection>, ConnectError> {
        connect_to(&self.url, ns, auth).await
    }
}

async fn connect_to(
    url: &str,
    ns: &str,
    auth: Value,
) -> Result<Box<dyn SocketConnection>, ConnectError> {
    let request = ConnectRequest {
        server: Url::parse(url).unwrap(),
        namespace: ns.into(),
        auth,
        timeouts: Timeouts::default(),
    };
    timeout(WAIT, WsTransport.connect(request))
        .await
        .expect("connect answers in time")
}

/// A TCP relay in front of `upstream` counting the connections that are still open (a
/// connection counts until both sides have closed it).
async fn relay(upstream: SocketAddr) -> (String, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let open = Arc::new(AtomicUsize::new(0));
    let counter = open.clone();
    tokio::spawn(async move {
        while let Ok((mut client, _)) = listener.accept().await {
            counter.fetch_add(1, Ordering::SeqCst);
            let counter = counter.clone();
            tokio::spawn(async move {
                if let Ok(mut server) = TcpStream::connect(upstream).await {
                    let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
                }
                counter.fetch_sub(1, Ordering::SeqCst);
            });
        }
    });
    (url, open)
}

async fn wait_zero(open: &AtomicUsize, what: &str) {
    let deadline = Instant::now() + WAIT;
    while open.load(Ordering::SeqCst) != 0 {
        assert!(
            Instant::now() < deadline,
            "{what}: a connection stayed open"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn next(conn: &mut Box<dyn SocketConnection>) -> TransportEvent {
    timeout(WAIT, conn.next_event())
        .await
        .expect("an event arrives in time")
}

/// Skips events until one named `name`; fails on `Closed`.
async fn wait_for(conn: &mut Box<dyn SocketConnection>, name: &str) -> Value {
    loop {
        match next(conn).await {
            TransportEvent::Event { name: n, data } if n == name => return data.to_value(),
            TransportEvent::Event { .. } => continue,
            TransportEvent::Closed(reason) => panic!("closed while waiting for {name}: {reason:?}"),
        }
    }
}

fn new_ticket(title: &str) -> NewTicket {
    NewTicket {
        title: title.into(),
        requester: Requester {
            name: "Transport Test".into(),
            contact: None,
        },
        priority: Some(Priority::Urgent),
        status: None,
        assignee_id: None,
        lane_id: None,
        message: None,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connects_receives_sync_then_live_events_and_closes_cleanly() {
    let server = TestServer::start(|_| {}).await;
    let token = server.token(ADMIN).await;
    let mut conn = server
        .connect("/workspace-1", json!({"token": token}))
        .await
        .expect("connected");
    match next(&mut conn).await {
        TransportEvent::Event { name, data } => {
            let data = data.to_value();
            assert_eq!(name, "company-1-sync");
            assert_eq!(data["mode"], "reset", "{data}");
        }
        other => panic!("expected the sync first, got {other:?}"),
    }
    server.wait_sockets("/workspace-1", 1).await;

    let api = Api::new(&server.url).unwrap();
    let ticket = api
        .create_ticket(&token, &new_ticket("Printer on fire"))
        .await
        .expect("create ticket");
    let data = wait_for(&mut conn, "company-1-ticket").await;
    assert_eq!(data["action"], "create", "{data}");
    assert_eq!(data["ticket"]["id"], json!(ticket.id), "{data}");
    assert_eq!(data["ticket"]["title"], "Printer on fire");

    // A client emit is answered by the server only through an ack, which we never ask for:
    // it must not disturb the connection.
    conn.emit("hello", json!({"x": 1})).unwrap();
    api.create_ticket(&token, &new_ticket("Second"))
        .await
        .unwrap();
    assert_eq!(
        wait_for(&mut conn, "company-1-ticket").await["ticket"]["title"],
        "Second"
    );

    timeout(WAIT, conn.close()).await.expect("close is bounded");
    server.wait_sockets("/workspace-1", 0).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rejections_carry_the_spec_codes() {
    let server = TestServer::start(|_| {}).await;
    let token = server.token(ADMIN).await;
    let cases = [
        ("/workspace-2", json!({"token": token}), "forbidden"),
        (
            "/workspace-1",
            json!({"token": "not-a-jwt"}),
            "unauthorized",
        ),
        ("/workspace-1", Value::Null, "unauthorized"),
        ("/workspace-1", json!({}), "unauthorized"),
        ("/nope", json!({"token": token}), "invalid_namespace"),
        ("/", json!({"token": token}), "invalid_namespace"),
    ];
    // Through a relay, to see that every refused attempt's TCP connection gets closed.
    let (via_relay, open) = relay(server.server().addr()).await;
    for (ns, auth, code) in cases {
        let result = connect_to(&via_relay, ns, auth).await;
        assert_eq!(
            result.err(),
            Some(ConnectError::Rejected(code.into())),
            "{ns}"
        );
        wait_zero(&open, ns).await;
    }
    // And a rejected client can connect right after with a good token.
    let mut conn = server
        .connect("/workspace-1", json!({"token": token, "lastSeq": 0}))
        .await
        .expect("connected");
    let sync = wait_for(&mut conn, "company-1-sync").await;
    assert_eq!(sync["mode"], "replay", "{sync}");
    timeout(WAIT, conn.close()).await.unwrap();
    server.wait_sockets("/workspace-1", 0).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_shutdown_is_reported_promptly() {
    let mut server = TestServer::start(|_| {}).await;
    let token = server.token(ADMIN).await;
    let mut conn = server
        .connect("/workspace-1", json!({"token": token}))
        .await
        .unwrap();
    wait_for(&mut conn, "company-1-sync").await;
    let stopping = server.server.take().unwrap();
    let shutdown = tokio::spawn(stopping.shutdown());
    let started = Instant::now();
    let closed = loop {
        match next(&mut conn).await {
            TransportEvent::Event { .. } => continue,
            TransportEvent::Closed(reason) => break reason,
        }
    };
    assert!(
        matches!(
            closed,
            CloseReason::ServerDisconnect | CloseReason::TransportClosed(_)
        ),
        "{closed:?}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    timeout(WAIT, shutdown).await.unwrap().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pings_are_answered_so_the_server_keeps_the_connection() {
    // The server drops a client that misses a pong after 200 + 200 ms.
    let server = TestServer::start(|c| {
        c.ping_interval = Duration::from_millis(200);
        c.ping_timeout = Duration::from_millis(200);
    })
    .await;
    let token = server.token(ADMIN).await;
    let mut conn = server
        .connect("/workspace-1", json!({"token": token}))
        .await
        .unwrap();
    wait_for(&mut conn, "company-1-sync").await;
    // Not a synchronisation: the connection has to stay up across several heartbeats.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(server.sockets("/workspace-1"), 1);
    Api::new(&server.url)
        .unwrap()
        .create_ticket(&token, &new_ticket("Still live"))
        .await
        .unwrap();
    assert_eq!(
        wait_for(&mut conn, "company-1-ticket").await["ticket"]["title"],
        "Still live"
    );
    drop(conn);
    server.wait_sockets("/workspace-1", 0).await;
}
