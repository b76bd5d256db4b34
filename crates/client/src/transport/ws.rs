//! [`WsTransport`]: a websocket-only Socket.IO v5 / Engine.IO v4 client on tokio-tungstenite.
//!
//! Why our own and not `rust_socketio`: docs/decisions/0001-own-socketio-transport.md.
//!
//! One connection = one websocket = one namespace, owned by one task:
//! - `connect` does the websocket upgrade, reads the Engine.IO open packet (deadline
//!   `Timeouts::handshake`), sends the namespace CONNECT with the auth payload and waits for
//!   CONNECT or CONNECT_ERROR (deadline `Timeouts::namespace`). Any failure closes the websocket
//!   (close frame, bounded wait for the peer's answer) before the error is returned, so a
//!   rejected attempt leaves no connection behind on the server.
//! - The task answers Engine.IO pings, delivers the namespace's EVENTs in order, ignores packets
//!   of other namespaces and ends with exactly one `Closed`. A watchdog ends the connection with
//!   `PingTimeout` when nothing at all arrived for pingInterval + pingTimeout + `ping_grace`.
//! - EVENTs that ask for an ack (`42/ns,12[…]`) are delivered like any other and not
//!   acknowledged: the Deskbell protocol never asks the client for acks, and answering on the
//!   app's behalf would claim something it did not do.
//! - Event names are plain data: `open`, `error`, `message`, `connect`… are ordinary events.
//! - The socket is always released before `Closed` is reported, and `close()` (or dropping the
//!   connection) sends DISCONNECT, closes the websocket and ends the task within a bound.

use futures_util::future::BoxFuture;
use futures_util::{SinkExt, StreamExt};
use serde_json::Value;
use std::time::Duration;
use tokio::net::TcpStream;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio::time::{timeout, timeout_at, Instant};
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};
use url::Url;

use super::codec::{self, EioPacket, OpenInfo, SioPacket, SioType};
use super::{
    CloseReason, ConnectError, ConnectRequest, SocketConnection, SocketTransport, TransportEvent,
};

type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// How long a clean close waits for the peer to answer the close frame.
const CLOSE_WAIT: Duration = Duration::from_secs(2);
/// The same, when the peer is presumed dead (ping timeout).
const DEAD_PEER_CLOSE_WAIT: Duration = Duration::from_millis(300);
/// How long `close()` waits for the task before aborting it (which drops the socket).
const CLOSE_BOUND: Duration = Duration::from_secs(5);

/// The real [`SocketTransport`].
#[derive(Debug, Clone, Copy, Default)]
pub struct WsTransport;

impl WsTransport {
    pub fn new() -> WsTransport {
        WsTransport
    }
}

impl SocketTransport for WsTransport {
    fn connect(
        &self,
        request: ConnectRequest,
    ) -> BoxFuture<'static, Result<Box<dyn SocketConnection>, ConnectError>> {
        Box::pin(async move {
            let conn = connect(request).await?;
            Ok(Box::new(conn) as Box<dyn SocketConnection>)
        })
    }
}

/// `http://host/base` → `ws://host/base/socket.io/?EIO=4&transport=websocket`.
pub fn socket_url(server: &Url) -> Result<Url, ConnectError> {
    let scheme = match server.scheme() {
        "http" | "ws" => "ws",
        "https" | "wss" => "wss",
        other => {
            return Err(ConnectError::Io(format!(
                "unsupported server URL scheme {other:?} (use http:// or https://)"
            )))
        }
    };
    let mut url = server.clone();
    url.set_scheme(scheme)
        .map_err(|()| ConnectError::Io(format!("cannot use {server} as a websocket URL")))?;
    let mut path = url.path().to_string();
    if !path.ends_with('/') {
        path.push('/');
    }
    path.push_str("socket.io/");
    url.set_path(&path);
    url.set_query(Some("EIO=4&transport=websocket"));
    url.set_fragment(None);
    Ok(url)
}

/// Opens one namespace connection (see the module docs).
pub async fn connect(request: ConnectRequest) -> Result<WsConnection, ConnectError> {
    let url = socket_url(&request.server)?;
    let namespace = codec::normalize_namespace(&request.namespace);
    let auth = match request.auth {
        Value::Null => None,
        v @ Value::Object(_) => Some(v),
        _ => {
            return Err(ConnectError::Protocol(
                "the CONNECT auth payload must be a JSON object".into(),
            ))
        }
    };
    let timeouts = request.timeouts;

    // Step 1: TCP + websocket upgrade + Engine.IO open packet.
    let deadline = Instant::now() + timeouts.handshake;
    let mut ws = match timeout_at(
        deadline,
        tokio_tungstenite::connect_async_with_config(url.as_str(), None, true),
    )
    .await
    {
        Err(_) => return Err(ConnectError::Timeout("handshake")),
        Ok(Err(e)) => return Err(ConnectError::Io(e.to_string())),
        Ok(Ok((ws, _response))) => ws,
    };
    let open = match timeout_at(deadline, read_open(&mut ws)).await {
        Ok(Ok(open)) => open,
        Ok(Err(e)) => return Err(fail(ws, e).await),
        Err(_) => return Err(fail(ws, ConnectError::Timeout("handshake")).await),
    };

    // Step 2: namespace CONNECT → CONNECT | CONNECT_ERROR.
    let deadline = Instant::now() + timeouts.namespace;
    let packet = codec::encode(&SioPacket::new(SioType::Connect, &namespace, auth));
    let answered = timeout_at(deadline, async {
        ws.send(Message::text(packet))
            .await
            .map_err(|e| ConnectError::Io(e.to_string()))?;
        await_namespace(&mut ws, &namespace).await
    })
    .await;
    match answered {
        Ok(Ok(())) => {}
        Ok(Err(e)) => return Err(fail(ws, e).await),
        Err(_) => return Err(fail(ws, ConnectError::Timeout("namespace")).await),
    }

    let dead_after = Duration::from_millis(open.ping_interval.saturating_add(open.ping_timeout))
        + timeouts.ping_grace;
    let (event_tx, events) = mpsc::unbounded_channel();
    let (commands, command_rx) = mpsc::unbounded_channel();
    let task = tokio::spawn(run(ws, namespace.clone(), dead_after, event_tx, command_rx));
    tracing::debug!(%namespace, sid = %open.sid, ?dead_after, "socket connected");
    Ok(WsConnection {
        namespace,
        max_payload: open.max_payload,
        events,
        commands,
        task: Some(task),
        finished: None,
    })
}

/// Closes the websocket of a failed attempt, then hands back the error.
async fn fail(mut ws: Ws, error: ConnectError) -> ConnectError {
    let code = match error {
        ConnectError::Protocol(_) => CloseCode::Protocol,
        _ => CloseCode::Normal,
    };
    shutdown(&mut ws, code, CLOSE_WAIT).await;
    error
}

/// The next text frame; `Err` on anything else.
async fn next_text(ws: &mut Ws) -> Result<String, ConnectError> {
    loop {
        match ws.next().await {
            Some(Ok(Message::Text(text))) => return Ok(text.to_string()),
            Some(Ok(Message::Binary(_))) => {
                return Err(ConnectError::Protocol(
                    "binary websocket frame (only text packets are supported)".into(),
                ))
            }
            Some(Ok(Message::Close(frame))) => {
                return Err(ConnectError::Io(format!(
                    "the server closed the websocket{}",
                    describe_close(frame.as_ref())
                )))
            }
            Some(Ok(_)) => continue,
            Some(Err(e)) => return Err(ConnectError::Io(e.to_string())),
            None => return Err(ConnectError::Io("the connection ended".into())),
        }
    }
}

async fn read_open(ws: &mut Ws) -> Result<OpenInfo, ConnectError> {
    let text = next_text(ws).await?;
    match codec::decode(&text).map_err(ConnectError::Protocol)? {
        EioPacket::Open(open) => Ok(open),
        other => Err(ConnectError::Protocol(format!(
            "expected the Engine.IO open packet, got {other:?}"
        ))),
    }
}

async fn await_namespace(ws: &mut Ws, namespace: &str) -> Result<(), ConnectError> {
    loop {
        let text = next_text(ws).await?;
        match codec::decode(&text).map_err(ConnectError::Protocol)? {
            EioPacket::Ping(payload) => ws
                .send(Message::text(format!("3{payload}")))
                .await
                .map_err(|e| ConnectError::Io(e.to_string()))?,
            EioPacket::Pong(_) | EioPacket::Noop => {}
            EioPacket::Open(_) => {
                return Err(ConnectError::Protocol(
                    "a second Engine.IO open packet".into(),
                ))
            }
            EioPacket::Close => {
                return Err(ConnectError::Io(
                    "the server closed the session during the namespace CONNECT".into(),
                ))
            }
            EioPacket::Message(p) if p.namespace != namespace => {}
            EioPacket::Message(p) => match p.kind {
                SioType::Connect => return Ok(()),
                SioType::ConnectError => {
                    return Err(ConnectError::Rejected(
                        p.error_message().unwrap_or_default(),
                    ))
                }
                SioType::Disconnect => {
                    return Err(ConnectError::Io(
                        "the server disconnected the namespace before accepting it".into(),
                    ))
                }
                SioType::Event | SioType::Ack => {}
            },
        }
    }
}

/// Sends a close frame and waits (bounded) until the peer answers or the connection ends.
async fn shutdown(ws: &mut Ws, code: CloseCode, bound: Duration) {
    let _ = timeout(bound, async {
        let frame = CloseFrame {
            code,
            reason: "".into(),
        };
        let _ = ws.close(Some(frame)).await;
        while let Some(Ok(_)) = ws.next().await {}
    })
    .await;
}

fn describe_close(frame: Option<&CloseFrame>) -> String {
    match frame {
        Some(f) if f.reason.is_empty() => format!(" ({})", f.code),
        Some(f) => format!(" ({}: {})", f.code, f.reason),
        None => String::new(),
    }
}

enum Command {
    Emit(String),
    Close,
}

/// What ended the live loop, and what to do with the socket.
enum End {
    /// Orderly: DISCONNECT (when we leave) + close handshake.
    Clean(CloseReason),
    /// The peer looks dead: try a close frame, do not wait long.
    Dead(CloseReason),
    /// The connection is already gone.
    Gone(CloseReason),
}

/// The task owning the socket.
async fn run(
    mut ws: Ws,
    namespace: String,
    dead_after: Duration,
    events: mpsc::UnboundedSender<TransportEvent>,
    mut commands: mpsc::UnboundedReceiver<Command>,
) {
    let watchdog = tokio::time::sleep(dead_after);
    tokio::pin!(watchdog);
    let end = loop {
        tokio::select! {
            biased;
            command = commands.recv() => match command {
                Some(Command::Emit(text)) => {
                    if let Err(end) = send_bounded(&mut ws, text, watchdog.deadline()).await {
                        break end;
                    }
                }
                Some(Command::Close) | None => {
                    let bye = codec::encode(&SioPacket::new(SioType::Disconnect, &namespace, None));
                    let _ = timeout(CLOSE_WAIT, ws.send(Message::text(bye))).await;
                    break End::Clean(CloseReason::ClientClosed);
                }
            },
            message = ws.next() => {
                watchdog.as_mut().reset(Instant::now() + dead_after);
                let text = match message {
                    Some(Ok(Message::Text(text))) => text,
                    Some(Ok(Message::Binary(_))) => break End::Clean(CloseReason::Protocol(
                        "binary websocket frame (only text packets are supported)".into(),
                    )),
                    Some(Ok(Message::Close(frame))) => break End::Clean(CloseReason::TransportClosed(
                        format!("the server closed the websocket{}", describe_close(frame.as_ref())),
                    )),
                    Some(Ok(_)) => continue,
                    Some(Err(e)) => break End::Gone(CloseReason::TransportClosed(e.to_string())),
                    None => break End::Gone(CloseReason::TransportClosed("the connection ended".into())),
                };
                // Live events first, in one pass: a data event's argument comes out typed.
                if let Some(event) = codec::decode_event(&text) {
                    match event {
                        Ok(event) if event.namespace == namespace => {
                            // Nobody listening only means the connection is being dropped.
                            let _ = events.send(TransportEvent::Event {
                                name: event.name,
                                data: event.data,
                            });
                        }
                        Ok(_) => {}
                        Err(e) => break End::Clean(CloseReason::Protocol(e)),
                    }
                    continue;
                }
                let packet = match codec::decode(&text) {
                    Ok(packet) => packet,
                    Err(e) => break End::Clean(CloseReason::Protocol(e)),
                };
                match packet {
                    EioPacket::Ping(payload) => {
                        let pong = format!("3{payload}");
                        if let Err(end) = send_bounded(&mut ws, pong, watchdog.deadline()).await {
                            break end;
                        }
                    }
                    EioPacket::Pong(_) | EioPacket::Noop => {}
                    EioPacket::Open(_) => break End::Clean(CloseReason::Protocol(
                        "a second Engine.IO open packet".into(),
                    )),
                    EioPacket::Close => break End::Clean(CloseReason::ServerDisconnect),
                    EioPacket::Message(p) if p.namespace != namespace => {}
                    EioPacket::Message(p) => match p.kind {
                        // Taken by `decode_event` above.
                        SioType::Event => {}
                        SioType::Disconnect => break End::Clean(CloseReason::ServerDisconnect),
                        SioType::ConnectError => break End::Clean(CloseReason::Protocol(format!(
                            "CONNECT_ERROR on a connected namespace: {}",
                            p.error_message().unwrap_or_default()
                        ))),
                        // A repeated CONNECT, or an ACK we never asked for.
                        SioType::Connect | SioType::Ack => {}
                    },
                }
            }
            () = &mut watchdog => break End::Dead(CloseReason::PingTimeout),
        }
    };
    let reason = match end {
        End::Clean(reason) => {
            let code = match reason {
                CloseReason::Protocol(_) => CloseCode::Protocol,
                _ => CloseCode::Normal,
            };
            shutdown(&mut ws, code, CLOSE_WAIT).await;
            reason
        }
        End::Dead(reason) => {
            shutdown(&mut ws, CloseCode::Away, DEAD_PEER_CLOSE_WAIT).await;
            reason
        }
        End::Gone(reason) => reason,
    };
    drop(ws);
    tracing::debug!(%namespace, ?reason, "socket closed");
    let _ = events.send(TransportEvent::Closed(reason));
}

/// Sends a frame, giving up when the watchdog would fire anyway.
async fn send_bounded(ws: &mut Ws, text: String, deadline: Instant) -> Result<(), End> {
    match timeout_at(deadline, ws.send(Message::text(text))).await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(e)) => Err(End::Gone(CloseReason::TransportClosed(e.to_string()))),
        Err(_) => Err(End::Dead(CloseReason::PingTimeout)),
    }
}

/// A live namespace connection made by [`WsTransport`].
pub struct WsConnection {
    namespace: String,
    max_payload: Option<u64>,
    events: mpsc::UnboundedReceiver<TransportEvent>,
    commands: mpsc::UnboundedSender<Command>,
    task: Option<JoinHandle<()>>,
    /// Set once `Closed` was handed out: it is then repeated.
    finished: Option<CloseReason>,
}

impl WsConnection {
    pub fn namespace(&self) -> &str {
        &self.namespace
    }
}

impl SocketConnection for WsConnection {
    fn next_event(&mut self) -> BoxFuture<'_, TransportEvent> {
        Box::pin(async move {
            if let Some(reason) = &self.finished {
                return TransportEvent::Closed(reason.clone());
            }
            let event = self.events.recv().await.unwrap_or_else(|| {
                TransportEvent::Closed(CloseReason::TransportClosed(
                    "the transport task ended".into(),
                ))
            });
            if let TransportEvent::Closed(reason) = &event {
                self.finished = Some(reason.clone());
            }
            event
        })
    }

    fn emit(&self, name: &str, data: Value) -> Result<(), ConnectError> {
        if self.finished.is_some() {
            return Err(ConnectError::Io("the connection is closed".into()));
        }
        let text = codec::encode(&SioPacket::event(&self.namespace, name, data));
        if let Some(max) = self.max_payload {
            if text.len() as u64 > max {
                return Err(ConnectError::Protocol(format!(
                    "event of {} bytes exceeds the server's maxPayload of {max}",
                    text.len()
                )));
            }
        }
        self.commands
            .send(Command::Emit(text))
            .map_err(|_| ConnectError::Io("the connection is closed".into()))
    }

    fn close(self: Box<Self>) -> BoxFuture<'static, ()> {
        let WsConnection { commands, task, .. } = *self;
        let _ = commands.send(Command::Close);
        drop(commands);
        Box::pin(async move {
            if let Some(mut task) = task {
                if timeout(CLOSE_BOUND, &mut task).await.is_err() {
                    task.abort();
                }
            }
        })
    }
}
