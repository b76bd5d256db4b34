//! `WsTransport` against scripted peers: silent ones, dead ones, odd packets. Each fake is a
//! websocket server on an ephemeral port running one script; it reports what it saw, including
//! that the client closed the connection, so nothing can be left open unnoticed.

use deskbell_client::transport::ws::WsTransport;
use deskbell_client::transport::{
    CloseReason, ConnectError, ConnectRequest, SocketConnection, SocketTransport, Timeouts,
    TransportEvent,
};
use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use std::future::Future;
use std::time::Duration;
use tokio::io::AsyncReadExt;
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;
use tokio::time::{timeout, Instant};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::WebSocketStream;
use url::Url;

/// Upper bound for anything that should happen "promptly".
const WAIT: Duration = Duration::from_secs(10);
const NS: &str = "/workspace-1";

type PeerWs = WebSocketStream<TcpStream>;

fn request(server: &Url, namespace: &str, timeouts: Timeouts) -> ConnectRequest {
    ConnectRequest {
        server: server.clone(),
        namespace: namespace.into(),
        auth: json!({"token": "t0k3n"}),
        timeouts,
    }
}

fn quick() -> Timeouts {
    Timeouts {
        handshake: Duration::from_millis(500),
        namespace: Duration::from_millis(500),
        ping_grace: Duration::from_millis(100),
    }
}

/// A websocket peer running `script` on the first connection.
async fn fake<F, Fut, T>(script: F) -> (Url, JoinHandle<T>)
where
    F: FnOnce(PeerWs) -> Fut + Send + 'static,
    Fut: Future<Output = T> + Send + 'static,
    T: Send + 'static,
{
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = Url::parse(&format!("http://{}", listener.local_addr().unwrap())).unwrap();
    let task = tokio::spawn(async move {
        let (tcp, _) = listener.accept().await.unwrap();
        let ws = tokio_tungstenite::accept_async(tcp).await.unwrap();
        script(ws).await
    });
    (url, task)
}

/// Awaits the fake's report.
async fn report<T>(task: JoinHandle<T>) -> T {
    timeout(WAIT, task)
        .await
        .expect("the fake finishes in time")
        .expect("the fake's script passes")
}

async fn send(ws: &mut PeerWs, text: &str) {
    ws.send(Message::text(text.to_string())).await.unwrap();
}

/// The next text frame, `None` once the client closed (close frame, EOF or reset).
async fn recv(ws: &mut PeerWs) -> Option<String> {
    loop {
        match timeout(WAIT, ws.next())
            .await
            .expect("the client sends something in time")
        {
            Some(Ok(Message::Text(t))) => return Some(t.to_string()),
            Some(Ok(Message::Close(_))) | Some(Err(_)) | None => return None,
            Some(Ok(_)) => continue,
        }
    }
}

/// Text frames until the client closes the connection (fails the test after `WAIT`).
async fn until_closed(ws: &mut PeerWs) -> Vec<String> {
    let mut seen = Vec::new();
    while let Some(text) = recv(ws).await {
        seen.push(text);
    }
    seen
}

async fn open(ws: &mut PeerWs, ping_interval: u64, ping_timeout: u64) {
    // A 20-character id, as Node's engine.io makes them.
    let open = json!({
        "sid": "lv_VI97HAXpY6yYWAAAC",
        "upgrades": [],
        "pingInterval": ping_interval,
        "pingTimeout": ping_timeout,
        "maxPayload": 1_000_000,
    });
    send(ws, &format!("0{open}")).await;
}

/// Open + reads the namespace CONNECT (checking the auth went with it) + accepts it.
async fn accept(ws: &mut PeerWs, ping_interval: u64, ping_timeout: u64) {
    open(ws, ping_interval, ping_timeout).await;
    let connect = recv(ws).await.expect("a namespace CONNECT");
    assert_eq!(connect, format!(r#"40{NS},{{"token":"t0k3n"}}"#));
    send(ws, &format!(r#"40{NS},{{"sid":"AbCdEfGhIjKlMnOpQrSt"}}"#)).await;
}

async fn connect(url: &Url, timeouts: Timeouts) -> Box<dyn SocketConnection> {
    timeout(WAIT, WsTransport.connect(request(url, NS, timeouts)))
        .await
        .expect("connect answers in time")
        .expect("connected")
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

#[tokio::test]
async fn a_silent_tcp_peer_times_out_the_handshake_and_is_let_go() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = Url::parse(&format!("http://{}", listener.local_addr().unwrap())).unwrap();
    let peer = tokio::spawn(async move {
        let (mut tcp, _) = listener.accept().await.unwrap();
        // Swallow the upgrade request, answer nothing, wait for the client to hang up.
        let mut buf = [0u8; 4096];
        while tcp.read(&mut buf).await.map(|n| n > 0).unwrap_or(false) {}
    });
    let started = Instant::now();
    let result = timeout(WAIT, WsTransport.connect(request(&url, NS, quick())))
        .await
        .expect("connect gives up in time");
    assert_eq!(result.err(), Some(ConnectError::Timeout("handshake")));
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
    report(peer).await;
}

#[tokio::test]
async fn a_peer_that_never_answers_connect_times_out_and_is_closed() {
    let (url, peer) = fake(|mut ws| async move {
        open(&mut ws, 25_000, 20_000).await;
        until_closed(&mut ws).await
    })
    .await;
    let result = timeout(WAIT, WsTransport.connect(request(&url, NS, quick())))
        .await
        .expect("connect gives up in time");
    assert_eq!(result.err(), Some(ConnectError::Timeout("namespace")));
    // The peer saw the CONNECT, then the client closing the websocket.
    assert_eq!(
        report(peer).await,
        vec![r#"40/workspace-1,{"token":"t0k3n"}"#]
    );
}

#[tokio::test]
async fn no_open_packet_times_out_the_handshake_and_is_closed() {
    let (url, peer) = fake(|mut ws| async move { until_closed(&mut ws).await }).await;
    let result = timeout(WAIT, WsTransport.connect(request(&url, NS, quick())))
        .await
        .expect("connect gives up in time");
    assert_eq!(result.err(), Some(ConnectError::Timeout("handshake")));
    assert!(report(peer).await.is_empty());
}

#[tokio::test]
async fn something_else_than_an_open_packet_is_a_protocol_error() {
    let (url, peer) = fake(|mut ws| async move {
        send(&mut ws, r#"42["hello"]"#).await;
        until_closed(&mut ws).await
    })
    .await;
    let result = WsTransport.connect(request(&url, NS, quick())).await;
    assert!(
        matches!(result, Err(ConnectError::Protocol(_))),
        "{:?}",
        result.err()
    );
    assert!(report(peer).await.is_empty());
}

#[tokio::test]
async fn connect_error_is_a_rejection_with_its_code_and_the_socket_is_closed() {
    let (url, peer) = fake(|mut ws| async move {
        open(&mut ws, 25_000, 20_000).await;
        recv(&mut ws).await.expect("CONNECT");
        // A ping while waiting is answered; another namespace's packets are ignored.
        send(&mut ws, "2").await;
        assert_eq!(recv(&mut ws).await.as_deref(), Some("3"));
        send(&mut ws, r#"44/workspace-2,{"message":"other"}"#).await;
        send(&mut ws, r#"44/workspace-1,{"message":"token_expired"}"#).await;
        until_closed(&mut ws).await
    })
    .await;
    let result = WsTransport.connect(request(&url, NS, quick())).await;
    assert_eq!(
        result.err(),
        Some(ConnectError::Rejected("token_expired".into()))
    );
    assert!(report(peer).await.is_empty());
}

#[tokio::test]
async fn a_peer_that_stops_pinging_is_a_ping_timeout_and_is_closed() {
    let (url, peer) = fake(|mut ws| async move {
        accept(&mut ws, 200, 200).await;
        until_closed(&mut ws).await
    })
    .await;
    let mut conn = connect(&url, quick()).await;
    assert_eq!(
        next(&mut conn).await,
        TransportEvent::Closed(CloseReason::PingTimeout)
    );
    assert!(report(peer).await.is_empty());
    // `Closed` is final and repeats.
    assert_eq!(
        next(&mut conn).await,
        TransportEvent::Closed(CloseReason::PingTimeout)
    );
    assert!(conn.emit("late", Value::Null).is_err());
}

#[tokio::test]
async fn pings_are_answered_and_keep_the_connection_alive() {
    // Watchdog: 150 + 150 + 100 ms. Pinging every 100 ms for 1.5 s keeps it alive.
    let (url, peer) = fake(|mut ws| async move {
        accept(&mut ws, 150, 150).await;
        let until = Instant::now() + Duration::from_millis(1500);
        let mut pings = 0;
        while Instant::now() < until {
            tokio::time::sleep(Duration::from_millis(100)).await; // the fake's ping cadence
            send(&mut ws, "2").await;
            assert_eq!(recv(&mut ws).await.as_deref(), Some("3"), "pong #{pings}");
            pings += 1;
        }
        send(&mut ws, r#"42/workspace-1,["still-here",1]"#).await;
        let rest = until_closed(&mut ws).await;
        (pings, rest)
    })
    .await;
    let mut conn = connect(&url, quick()).await;
    assert_eq!(next(&mut conn).await, event("still-here", json!(1)));
    timeout(WAIT, conn.close()).await.expect("close is bounded");
    let (pings, rest) = report(peer).await;
    assert!(pings >= 10, "{pings}");
    assert_eq!(rest, vec!["41/workspace-1,"]);
}

#[tokio::test]
async fn events_in_order_reserved_names_acks_and_other_namespaces() {
    let (url, peer) = fake(|mut ws| async move {
        accept(&mut ws, 25_000, 20_000).await;
        for packet in [
            r#"42/workspace-2,["other-namespace",1]"#,
            r#"42["root-namespace",1]"#,
            r#"42/workspace-1,["connect",{"a":1}]"#,
            r#"42/workspace-1,7["open"]"#,
            r#"42/workspace-1,["error","first",2]"#,
            r#"6"#,
            r#"3"#,
            r#"43/workspace-1,3[]"#,
            r#"42/workspace-1,["message",null]"#,
            r#"42/workspace-1,["close",[1,2]]"#,
            r#"42/workspace-1,["disconnect","x"]"#,
            r#"41/workspace-2,"#,
            r#"41/workspace-1,"#,
        ] {
            send(&mut ws, packet).await;
        }
        until_closed(&mut ws).await
    })
    .await;
    let mut conn = connect(&url, quick()).await;
    let mut seen = Vec::new();
    loop {
        let e = next(&mut conn).await;
        let last = matches!(e, TransportEvent::Closed(_));
        seen.push(e);
        if last {
            break;
        }
    }
    assert_eq!(
        seen,
        vec![
            event("connect", json!({"a": 1})),
            event("open", Value::Null),
            event("error", json!("first")),
            event("message", Value::Null),
            event("close", json!([1, 2])),
            event("disconnect", json!("x")),
            TransportEvent::Closed(CloseReason::ServerDisconnect),
        ]
    );
    // Events with an ack id are not acknowledged; the client closed after the DISCONNECT.
    assert!(report(peer).await.is_empty());
}

#[tokio::test]
async fn the_root_namespace_omits_the_namespace_part() {
    let (url, peer) = fake(|mut ws| async move {
        open(&mut ws, 25_000, 20_000).await;
        let connect = recv(&mut ws).await;
        send(&mut ws, r#"40{"sid":"x"}"#).await;
        send(&mut ws, r#"42/workspace-1,["not-mine"]"#).await;
        send(&mut ws, r#"42["hello",{"n":1}]"#).await;
        let sent = recv(&mut ws).await;
        let rest = until_closed(&mut ws).await;
        (connect, sent, rest)
    })
    .await;
    let mut conn = timeout(WAIT, WsTransport.connect(request(&url, "/", quick())))
        .await
        .unwrap()
        .expect("connected to /");
    assert_eq!(next(&mut conn).await, event("hello", json!({"n": 1})));
    conn.emit("hi", json!([1])).unwrap();
    timeout(WAIT, conn.close()).await.unwrap();
    let (connect, sent, rest) = report(peer).await;
    assert_eq!(connect.as_deref(), Some(r#"40{"token":"t0k3n"}"#));
    assert_eq!(sent.as_deref(), Some(r#"42["hi",[1]]"#));
    assert_eq!(rest, vec!["41"]);
}

#[tokio::test]
async fn emit_then_close_sends_disconnect_and_closes_the_websocket() {
    let (url, peer) = fake(|mut ws| async move {
        accept(&mut ws, 25_000, 20_000).await;
        until_closed(&mut ws).await
    })
    .await;
    let conn = connect(&url, quick()).await;
    conn.emit("hello", json!({"a": 1})).unwrap();
    conn.emit("open", Value::Null).unwrap();
    timeout(WAIT, conn.close()).await.expect("close is bounded");
    assert_eq!(
        report(peer).await,
        vec![
            r#"42/workspace-1,["hello",{"a":1}]"#,
            r#"42/workspace-1,["open",null]"#,
            "41/workspace-1,",
        ]
    );
}

#[tokio::test]
async fn dropping_the_connection_closes_it() {
    let (url, peer) = fake(|mut ws| async move {
        accept(&mut ws, 25_000, 20_000).await;
        until_closed(&mut ws).await
    })
    .await;
    let conn = connect(&url, quick()).await;
    drop(conn);
    assert_eq!(report(peer).await, vec!["41/workspace-1,"]);
}

#[tokio::test]
async fn engine_io_close_is_a_server_disconnect() {
    let (url, peer) = fake(|mut ws| async move {
        accept(&mut ws, 25_000, 20_000).await;
        send(&mut ws, "1").await;
        until_closed(&mut ws).await
    })
    .await;
    let mut conn = connect(&url, quick()).await;
    assert_eq!(
        next(&mut conn).await,
        TransportEvent::Closed(CloseReason::ServerDisconnect)
    );
    assert!(report(peer).await.is_empty());
}

#[tokio::test]
async fn websocket_close_and_lost_connections_are_transport_closed() {
    let (url, peer) = fake(|mut ws| async move {
        accept(&mut ws, 25_000, 20_000).await;
        ws.close(None).await.unwrap();
        while let Some(Ok(_)) = ws.next().await {}
    })
    .await;
    let mut conn = connect(&url, quick()).await;
    assert!(matches!(
        next(&mut conn).await,
        TransportEvent::Closed(CloseReason::TransportClosed(_))
    ));
    report(peer).await;

    // The peer just drops the TCP connection.
    let (url, peer) = fake(|mut ws| async move {
        accept(&mut ws, 25_000, 20_000).await;
        drop(ws);
    })
    .await;
    let mut conn = connect(&url, quick()).await;
    report(peer).await;
    assert!(matches!(
        next(&mut conn).await,
        TransportEvent::Closed(CloseReason::TransportClosed(_))
    ));
}

#[tokio::test]
async fn garbage_and_binary_are_protocol_errors_and_close_the_socket() {
    for bad in [
        Message::text(r#"42/workspace-1,["half"#),
        Message::text("9"),
        Message::text(r#"451-/workspace-1,["file",{"_placeholder":true,"num":0}]"#),
        Message::text(r#"0{"sid":"again","upgrades":[],"pingInterval":1,"pingTimeout":1}"#),
        Message::binary(vec![4u8, 1, 2, 3]),
    ] {
        let shown = format!("{bad:?}");
        let (url, peer) = fake(move |mut ws| async move {
            accept(&mut ws, 25_000, 20_000).await;
            ws.send(bad).await.unwrap();
            until_closed(&mut ws).await
        })
        .await;
        let mut conn = connect(&url, quick()).await;
        let closed = next(&mut conn).await;
        assert!(
            matches!(closed, TransportEvent::Closed(CloseReason::Protocol(_))),
            "{shown}: {closed:?}"
        );
        assert!(report(peer).await.is_empty(), "{shown}");
    }
}

#[tokio::test]
async fn bad_requests_fail_without_connecting() {
    let url = Url::parse("ftp://127.0.0.1:1").unwrap();
    assert!(matches!(
        WsTransport.connect(request(&url, NS, quick())).await,
        Err(ConnectError::Io(_))
    ));
    let mut req = request(&Url::parse("http://127.0.0.1:1").unwrap(), NS, quick());
    req.auth = json!("not an object");
    assert!(matches!(
        WsTransport.connect(req).await,
        Err(ConnectError::Protocol(_))
    ));
    // Nothing listens on port 1.
    assert!(matches!(
        WsTransport
            .connect(request(
                &Url::parse("http://127.0.0.1:1").unwrap(),
                NS,
                quick()
            ))
            .await,
        Err(ConnectError::Io(_))
    ));
}

#[test]
fn socket_urls() {
    use deskbell_client::transport::ws::socket_url;
    let cases = [
        (
            "http://127.0.0.1:8080",
            "ws://127.0.0.1:8080/socket.io/?EIO=4&transport=websocket",
        ),
        (
            "https://desk.example/",
            "wss://desk.example/socket.io/?EIO=4&transport=websocket",
        ),
        (
            "https://desk.example/base",
            "wss://desk.example/base/socket.io/?EIO=4&transport=websocket",
        ),
        (
            "http://h/base/?x=1#f",
            "ws://h/base/socket.io/?EIO=4&transport=websocket",
        ),
    ];
    for (server, want) in cases {
        let got = socket_url(&Url::parse(server).unwrap()).unwrap();
        assert_eq!(got.as_str(), want, "{server}");
    }
}
