//! A minimal raw Socket.IO v5 / Engine.IO v4 client over one websocket, light enough that a
//! benchmark runs thousands of them: text frames only, no binary, no polling, no acks.
//!
//! The handshake: server `0{...}` open → client `40/<ns>,{"token":..}` → server `40/<ns>,{sid}`
//! → server `42/<ns>,["<sync event>",{..,"head":N}]` (the socket is now in its rooms; `head` is
//! the last `seq` it has). Then server `2` ping → client `3` pong, server `42/<ns>,[..]` events;
//! server `44/<ns>,{message}` is a refused connect, `41/<ns>` a namespace disconnect and `1` an
//! Engine.IO close. What a benchmark does with the events is its own business: [`Socket::recv`]
//! hands them over as text, and [`number_after`] / [`string_after`] read fields out of them
//! without parsing the JSON (the cost of parsing would be measured along).

use futures_util::{SinkExt, StreamExt};
use std::time::Duration;
use tokio::sync::{watch, Semaphore};
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::{Message, Utf8Bytes};

type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// Where and how one client joins.
pub struct Handshake<'a> {
    /// `ws://host:port/socket.io/?EIO=4&transport=websocket`
    pub url: &'a str,
    /// e.g. `/workspace-1`
    pub namespace: &'a str,
    /// Sent in the CONNECT packet's auth, `{"token": ..}`.
    pub token: &'a str,
    /// The event the server sends once the socket is in its rooms, with `"head":N`.
    pub sync_event: &'a str,
    /// tungstenite zeroes the free part of its read buffer before every read: a buffer near
    /// the size of the frames received keeps that memset from costing more than the frames.
    pub read_buffer_size: usize,
}

/// How [`Socket::connect`] retries.
pub struct Retry {
    pub handshake_timeout: Duration,
    /// Handshakes tried before giving up (a refused connect, `44`, is not retried).
    pub attempts: u32,
}

/// What [`Socket::recv`] got.
pub enum Received {
    /// An Engine.IO ping (`2`): answer with [`Socket::pong`].
    Ping,
    /// Any other packet, as received.
    Packet(Utf8Bytes),
    /// The connection is over, for this reason.
    Ended(String),
    /// A frame that carries no packet (binary, websocket-level ping or pong).
    Nothing,
}

/// One joined client.
pub struct Socket {
    ws: Ws,
    /// `41/<ns>`: the server's namespace DISCONNECT.
    disconnect: String,
}

impl Socket {
    /// Opens the websocket and joins the namespace; returns the socket and the sync `head`.
    pub async fn open(hs: &Handshake<'_>) -> Result<(Socket, i64), String> {
        let ws_config = WebSocketConfig::default()
            .read_buffer_size(hs.read_buffer_size)
            .write_buffer_size(0);
        let (mut ws, _) =
            tokio_tungstenite::connect_async_with_config(hs.url, Some(ws_config), true)
                .await
                .map_err(|e| format!("websocket: {e}"))?;
        let ns = hs.namespace;
        let connect_ack = format!("40{ns},");
        let connect_err = format!("44{ns},");
        let sync_prefix = format!("42{ns},[\"{}\",", hs.sync_event);
        let mut opened = false;
        let mut joined = false;
        loop {
            let text = match ws.next().await {
                Some(Ok(Message::Text(t))) => t,
                Some(Ok(Message::Close(_))) | None => return Err("closed during handshake".into()),
                Some(Ok(_)) => continue,
                Some(Err(e)) => return Err(format!("websocket: {e}")),
            };
            let text = text.as_str();
            if !opened {
                if !text.starts_with('0') {
                    return Err(format!("expected engine.io OPEN, got {text:.40}"));
                }
                opened = true;
                let connect = format!("40{ns},{}", serde_json::json!({ "token": hs.token }));
                ws.send(Message::Text(connect.into()))
                    .await
                    .map_err(|e| format!("send CONNECT: {e}"))?;
            } else if text == "2" {
                ws.send(Message::Text("3".into()))
                    .await
                    .map_err(|e| format!("send pong: {e}"))?;
            } else if text.starts_with(&connect_ack) {
                joined = true;
            } else if let Some(rest) = text.strip_prefix(&connect_err) {
                return Err(format!("connect error packet {rest:.80}"));
            } else if let Some(rest) = text.strip_prefix(&sync_prefix) {
                if !joined {
                    return Err("sync before CONNECT ack".into());
                }
                let head = number_after(rest, "\"head\":").unwrap_or(0);
                let disconnect = format!("41{ns}");
                return Ok((Socket { ws, disconnect }, head));
            }
        }
    }

    /// [`Socket::open`], at most `gate`'s permits of them handshaking at once, tried again
    /// after a failure up to `retry.attempts` in all; `on_retry` is called before each retry.
    /// `Err(None)` when told to `stop` (or the gate closed) meanwhile, `Err(Some(why))` when it
    /// gave up.
    pub async fn connect(
        hs: &Handshake<'_>,
        retry: &Retry,
        gate: &Semaphore,
        stop: &watch::Receiver<bool>,
        mut on_retry: impl FnMut(),
    ) -> Result<(Socket, i64), Option<String>> {
        let mut attempt = 0;
        loop {
            attempt += 1;
            let Ok(permit) = gate.acquire().await else {
                return Err(None);
            };
            let result = tokio::time::timeout(retry.handshake_timeout, Socket::open(hs)).await;
            drop(permit);
            match result {
                Ok(Ok(done)) => return Ok(done),
                Ok(Err(e))
                    if attempt < retry.attempts && !e.starts_with("connect error packet") =>
                {
                    on_retry();
                    // Back off after a quick failure; a timed-out handshake has waited already.
                    tokio::time::sleep(Duration::from_millis(100 * u64::from(attempt))).await;
                }
                Err(_) if attempt < retry.attempts => on_retry(),
                Ok(Err(e)) => return Err(Some(e)),
                Err(_) => return Err(Some("handshake timed out".into())),
            }
            if *stop.borrow() {
                return Err(None);
            }
        }
    }

    /// The next packet. Cancel safe (it only awaits the stream), so it can sit in a `select!`.
    pub async fn recv(&mut self) -> Received {
        match self.ws.next().await {
            Some(Ok(Message::Text(text))) => {
                let packet = text.as_str();
                if packet == "2" {
                    Received::Ping
                } else if packet.starts_with(&self.disconnect) {
                    Received::Ended("server sent namespace DISCONNECT (41)".into())
                } else if packet == "1" {
                    Received::Ended("server sent engine.io CLOSE (1)".into())
                } else {
                    Received::Packet(text)
                }
            }
            Some(Ok(Message::Close(frame))) => Received::Ended(format!(
                "websocket closed by server ({})",
                frame
                    .map(|f| f.code.to_string())
                    .unwrap_or_else(|| "no code".into())
            )),
            Some(Ok(_)) => Received::Nothing,
            Some(Err(e)) => Received::Ended(format!("websocket error: {e}")),
            None => Received::Ended("connection ended".into()),
        }
    }

    /// Answers a ping; the error says why the connection is over.
    pub async fn pong(&mut self) -> Result<(), String> {
        self.ws
            .send(Message::Text("3".into()))
            .await
            .map_err(|e| format!("pong failed: {e}"))
    }

    /// Closes the websocket, waiting at most `within` for the server's side of it.
    pub async fn close(mut self, within: Duration) {
        let _ = tokio::time::timeout(within, self.ws.close(None)).await;
    }
}

/// The integer right after `key` in a packet, e.g. `number_after(frame, "\"seq\":")`.
pub fn number_after(s: &str, key: &str) -> Option<i64> {
    let start = s.find(key)? + key.len();
    let digits = &s[start..];
    let end = digits
        .find(|c: char| !(c.is_ascii_digit() || c == '-'))
        .unwrap_or(digits.len());
    digits[..end].parse().ok()
}

/// The string right after `key` (which ends with the opening quote), up to the closing quote;
/// no escapes are read.
pub fn string_after<'a>(s: &'a str, key: &str) -> Option<&'a str> {
    let start = s.find(key)? + key.len();
    let rest = &s[start..];
    Some(&rest[..rest.find('"')?])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_fields_out_of_a_packet() {
        let frame = r#"42/workspace-1,["company-1-ticket",{"action":"create","seq":42,"timestamp":"2026-01-02T03:04:05.123456Z","ticket":{"id":-7,"title":"fb-1-123"}}]"#;
        assert_eq!(number_after(frame, "\"seq\":"), Some(42));
        assert_eq!(number_after(frame, "\"id\":"), Some(-7));
        assert_eq!(number_after(frame, "\"head\":"), None);
        assert_eq!(
            string_after(frame, "\"timestamp\":\""),
            Some("2026-01-02T03:04:05.123456Z")
        );
        assert_eq!(string_after(frame, "\"title\":\"fb-"), Some("1-123"));
        assert_eq!(string_after(frame, "\"missing\":\""), None);
    }
}
