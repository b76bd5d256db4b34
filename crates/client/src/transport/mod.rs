//! The Socket.IO transport seam: one namespace connection at a time, owned by one task.
//!
//! `ws` holds the real implementation (Socket.IO v5 / Engine.IO v4 over a websocket on
//! tokio-tungstenite); tests may use fakes behind `SocketTransport`.

use deskbell_protocol::EventEnvelope;
use futures_util::future::BoxFuture;
use serde::de::DeserializeOwned;
use serde_json::value::RawValue;
use serde_json::Value;
use std::borrow::Cow;
use std::time::Duration;
use url::Url;

pub mod codec;
pub mod ws;

/// What to connect to.
#[derive(Debug, Clone)]
pub struct ConnectRequest {
    /// The server's root URL (`http://host:port`); the transport derives `ws://…/socket.io/`.
    pub server: Url,
    /// E.g. `/workspace-1`.
    pub namespace: String,
    /// The namespace CONNECT payload (`{token, lastSeq?}`).
    pub auth: Value,
    pub timeouts: Timeouts,
}

/// Every step of a connection attempt has a deadline.
#[derive(Debug, Clone, Copy)]
pub struct Timeouts {
    /// TCP + websocket upgrade + Engine.IO open packet.
    pub handshake: Duration,
    /// Namespace CONNECT answered (CONNECT or CONNECT_ERROR).
    pub namespace: Duration,
    /// Extra slack on top of the server's pingInterval + pingTimeout before the link counts as dead.
    pub ping_grace: Duration,
}

impl Default for Timeouts {
    fn default() -> Self {
        Timeouts {
            handshake: Duration::from_secs(10),
            namespace: Duration::from_secs(10),
            ping_grace: Duration::from_secs(1),
        }
    }
}

/// What a live connection reports, in order.
#[derive(Debug, Clone, PartialEq)]
pub enum TransportEvent {
    /// A server EVENT: its name and first argument.
    Event { name: String, data: EventData },
    /// The connection is over; nothing follows.
    Closed(CloseReason),
}

/// A server EVENT's argument, decoded once: a data event's straight into its
/// [`EventEnvelope`] while the frame is read ([`codec::decode_event`]), any other kept as the
/// JSON text it arrived in, for the type its name calls for ([`EventData::decode`]). Never
/// through a `serde_json::Value`.
#[derive(Clone)]
pub struct EventData(Arg);

#[derive(Clone)]
enum Arg {
    Json(Box<RawValue>),
    Event(Box<EventEnvelope>),
}

impl EventData {
    /// The argument as `T`. A data event's is read with [`EventData::into_event`]; this works
    /// for it too, by way of its JSON.
    pub fn decode<T: DeserializeOwned>(&self) -> serde_json::Result<T> {
        match &self.0 {
            Arg::Json(raw) => serde_json::from_str(raw.get()),
            Arg::Event(event) => serde_json::from_value(serde_json::to_value(event)?),
        }
    }

    /// A data event's argument: the envelope decoded with the frame, or decoded now from the
    /// text (a test's, or one the frame's pass could not read as an envelope).
    pub fn into_event(self) -> serde_json::Result<EventEnvelope> {
        match self.0 {
            Arg::Event(event) => Ok(*event),
            Arg::Json(raw) => serde_json::from_str(raw.get()),
        }
    }

    /// As a `Value` (tests, the rare message read field by field).
    pub fn to_value(&self) -> Value {
        self.decode().unwrap_or(Value::Null)
    }

    /// As JSON text (a decoded envelope is encoded again).
    pub fn json(&self) -> Cow<'_, str> {
        match &self.0 {
            Arg::Json(raw) => Cow::Borrowed(raw.get()),
            Arg::Event(event) => {
                Cow::Owned(serde_json::to_string(event).unwrap_or_else(|_| "null".into()))
            }
        }
    }
}

impl From<Box<RawValue>> for EventData {
    fn from(raw: Box<RawValue>) -> Self {
        EventData(Arg::Json(raw))
    }
}

impl From<Box<EventEnvelope>> for EventData {
    fn from(event: Box<EventEnvelope>) -> Self {
        EventData(Arg::Event(event))
    }
}

impl From<Value> for EventData {
    fn from(value: Value) -> Self {
        EventData(Arg::Json(
            serde_json::value::to_raw_value(&value).expect("a Value is valid JSON"),
        ))
    }
}

/// The same JSON, however it is spelled (spacing, key order) or held.
impl PartialEq for EventData {
    fn eq(&self, other: &Self) -> bool {
        self.json() == other.json() || self.to_value() == other.to_value()
    }
}

impl std::fmt::Debug for EventData {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.json())
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CloseReason {
    /// The server disconnected this namespace (DISCONNECT packet) or closed Engine.IO cleanly.
    ServerDisconnect,
    /// The websocket or TCP connection ended or failed.
    TransportClosed(String),
    /// Nothing (not even a ping) arrived for pingInterval + pingTimeout.
    PingTimeout,
    /// The server sent something that is not the protocol.
    Protocol(String),
    /// `close()` was called.
    ClientClosed,
}

/// Why an attempt failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConnectError {
    /// CONNECT_ERROR with the server's `message` (the spec's stable codes).
    #[error("the server refused the connection: {0}")]
    Rejected(String),
    #[error("timed out during {0}")]
    Timeout(&'static str),
    #[error("connection failed: {0}")]
    Io(String),
    #[error("protocol error: {0}")]
    Protocol(String),
}

/// Opens namespace connections.
pub trait SocketTransport: Send + Sync + 'static {
    fn connect(
        &self,
        request: ConnectRequest,
    ) -> BoxFuture<'static, Result<Box<dyn SocketConnection>, ConnectError>>;
}

/// One live namespace connection. Dropping it closes it.
pub trait SocketConnection: Send {
    /// The next event; `Closed` is the last one.
    fn next_event(&mut self) -> BoxFuture<'_, TransportEvent>;
    /// Sends an EVENT (fire and forget).
    fn emit(&self, name: &str, data: Value) -> Result<(), ConnectError>;
    /// Closes cleanly (DISCONNECT + websocket close) and waits until the socket is released.
    fn close(self: Box<Self>) -> BoxFuture<'static, ()>;
}
