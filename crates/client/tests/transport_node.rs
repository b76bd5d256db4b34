//! `WsTransport` against a reference Node `socket.io` 4 server speaking the spec's protocol
//! (tests/node-server/server.mjs, driven through its HTTP control API).
//!
//! Needs `npm ci --ignore-scripts` in tests/node-server (scripts/setup.sh does it).

use deskbell_client::transport::ws::WsTransport;
use deskbell_client::transport::{
    CloseReason, ConnectError, ConnectRequest, SocketConnection, SocketTransport, Timeouts,
    TransportEvent,
};
use serde_json::{json, Value};
use std::time::Duration;
use tokio::time::timeout;
use url::Url;

#[path = "support/node.rs"]
mod node;
use node::{NodeServer, WAIT};

impl NodeServer {
    async fn connect(
        &self,
        ns: &str,
        auth: Value,
    ) -> Result<Box<dyn SocketConnection>, ConnectError> {
        let request = ConnectRequest {
            server: Url::parse(&self.base).unwrap(),
            namespace: ns.into(),
            auth,
            timeouts: Timeouts::default(),
        };
        timeout(WAIT, WsTransport.connect(request))
            .await
            .expect("connect answers in time")
    }

    async fn connect_ok(&self, ns: &str, token: &str) -> Box<dyn SocketConnection> {
        let mut conn = self
            .connect(ns, json!({"token": token}))
            .await
            .expect("connected");
        let id = ns.trim_start_matches("/workspace-");
        assert_eq!(
            next(&mut conn).await,
            event(
                &format!("company-{id}-sync"),
                json!({"mode": "reset", "head": 0})
            )
        );
        conn
    }
}

async fn next(conn: &mut Box<dyn SocketConnection>) -> TransportEvent {
    timeout(WAIT, conn.next_event())
        .await
        .expect("an event arrives in time")
}

fn event(name: &str, data: Value) -> TransportEvent {
    TransportEvent::Event {
        name: name.into(),
        data: data.into(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_arrive_in_order_whatever_their_names() {
    let node = NodeServer::start(25_000, 20_000).await;
    let mut conn = node.connect_ok("/workspace-1", "company-1").await;
    node.wait_count("/workspace-1", (1, 1)).await;
    let sends = [
        ("message", json!("hi"), false),
        ("error", json!({"code": 1}), false),
        ("open", Value::Null, false),
        ("close", json!([1, 2]), false),
        (
            "company-1-ticket",
            json!({"action": "create", "seq": 1}),
            false,
        ),
        // socket.io refuses to emit these itself; the fixture sends the raw packet.
        ("connect", json!({"x": 1}), true),
        ("disconnect", json!("bye"), true),
    ];
    for (name, data, raw) in &sends {
        let sent = node
            .post(
                "/emit",
                json!({"ns": "/workspace-1", "event": name, "data": data, "raw": raw}),
            )
            .await;
        assert_eq!(sent["sent"], 1);
    }
    for (name, data, _) in sends {
        assert_eq!(next(&mut conn).await, event(name, data));
    }
    timeout(WAIT, conn.close()).await.expect("close is bounded");
    node.wait_count("/workspace-1", (0, 0)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rejections_give_the_code_and_leave_no_connection_behind() {
    let node = NodeServer::start(25_000, 20_000).await;
    let cases = [
        ("/workspace-2", json!({"token": "company-1"}), "forbidden"),
        ("/workspace-1", json!({"token": "expired"}), "token_expired"),
        ("/workspace-1", json!({"token": "nope"}), "unauthorized"),
        ("/workspace-1", Value::Null, "unauthorized"),
        ("/nope", json!({"token": "company-1"}), "invalid_namespace"),
        ("/", json!({"token": "company-1"}), "invalid_namespace"),
    ];
    for (ns, auth, code) in cases {
        let result = node.connect(ns, auth).await;
        assert_eq!(
            result.err(),
            Some(ConnectError::Rejected(code.into())),
            "{ns}"
        );
        // Node keeps the Engine.IO connection of a refused namespace for 45 s unless the
        // client closes it: it must be gone right away.
        node.wait_count(ns, (0, 0)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_kick_is_a_server_disconnect_and_the_connection_is_released() {
    let node = NodeServer::start(25_000, 20_000).await;

    // Namespace disconnect only: Node leaves the Engine.IO connection to the client.
    let mut conn = node.connect_ok("/workspace-1", "company-1").await;
    let kicked = node.post("/kick", json!({"ns": "/workspace-1"})).await;
    assert_eq!(kicked["kicked"], 1);
    assert_eq!(
        next(&mut conn).await,
        TransportEvent::Closed(CloseReason::ServerDisconnect)
    );
    node.wait_count("/workspace-1", (0, 0)).await;

    // Namespace disconnect and transport close.
    let mut conn = node.connect_ok("/workspace-3", "company-3").await;
    node.post("/kick", json!({"ns": "/workspace-3", "close": true}))
        .await;
    match next(&mut conn).await {
        TransportEvent::Closed(CloseReason::ServerDisconnect | CloseReason::TransportClosed(_)) => {
        }
        other => panic!("{other:?}"),
    }
    node.wait_count("/workspace-3", (0, 0)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn heartbeats_keep_the_connection_and_drop_releases_it() {
    // Node drops a client that misses a pong after 200 + 200 ms.
    let node = NodeServer::start(200, 200).await;
    let mut conn = node.connect_ok("/workspace-1", "company-1").await;
    // Not a synchronisation: the connection has to stay up across several heartbeats.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(node.count("/workspace-1").await, (1, 1));
    node.post(
        "/emit",
        json!({"ns": "/workspace-1", "event": "still", "data": 1}),
    )
    .await;
    assert_eq!(next(&mut conn).await, event("still", json!(1)));
    drop(conn);
    node.wait_count("/workspace-1", (0, 0)).await;
}
