//! Engine.IO v4 / Socket.IO v5 text packets, as far as a websocket-only client needs them.
//!
//! One websocket text frame is one Engine.IO packet: a type digit and a payload. Engine.IO
//! MESSAGE (`4`) packets carry one Socket.IO packet:
//! `<type digit>[/<namespace>,][<ack id>][<json payload>]`; the root namespace `/` is implicit.
//! Binary Socket.IO packets (`5`, `6`) are refused: the protocol is JSON only.
//!
//! Every live event takes [`decode_event`]: its argument stays JSON text, to be decoded once,
//! straight into the type its name calls for, by whoever knows that type (the connection
//! supervisor). [`decode`] builds a `serde_json::Value` of the whole payload, which for an event
//! would be decoded a second time. Both follow the same packet rules.

use serde::de::{Deserialize, Deserializer, IgnoredAny, SeqAccess, Visitor};
use serde_json::value::RawValue;
use serde_json::Value;

/// An Engine.IO packet received from the server.
#[derive(Debug, Clone, PartialEq)]
pub enum EioPacket {
    /// `0{json}`: the session handshake.
    Open(OpenInfo),
    /// `1`: the server closes the Engine.IO session.
    Close,
    /// `2[payload]`: a heartbeat; answered with `3[payload]`.
    Ping(String),
    /// `3[payload]`.
    Pong(String),
    /// `4…`: a Socket.IO packet.
    Message(SioPacket),
    /// `5` (upgrade) and `6` (noop): nothing to do on a websocket-only client.
    Noop,
}

/// The Engine.IO open packet's content.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpenInfo {
    pub sid: String,
    /// Milliseconds.
    pub ping_interval: u64,
    /// Milliseconds.
    pub ping_timeout: u64,
    /// Largest packet the server accepts, in bytes (`None` when not announced).
    pub max_payload: Option<u64>,
}

/// Socket.IO packet types (the binary ones are refused by the decoder).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SioType {
    Connect,
    Disconnect,
    Event,
    Ack,
    ConnectError,
}

/// A Socket.IO packet.
#[derive(Debug, Clone, PartialEq)]
pub struct SioPacket {
    pub kind: SioType,
    /// Always starts with `/`; `/` for the root namespace.
    pub namespace: String,
    pub ack_id: Option<u64>,
    /// The JSON payload, when there is one.
    pub data: Option<Value>,
}

impl SioPacket {
    pub fn new(kind: SioType, namespace: &str, data: Option<Value>) -> SioPacket {
        SioPacket {
            kind,
            namespace: normalize_namespace(namespace),
            ack_id: None,
            data,
        }
    }

    /// An EVENT `[name, data]`.
    pub fn event(namespace: &str, name: &str, data: Value) -> SioPacket {
        SioPacket::new(
            SioType::Event,
            namespace,
            Some(Value::Array(vec![Value::String(name.into()), data])),
        )
    }

    /// For an EVENT: its name and first argument (`Null` when there is none).
    pub fn event_parts(&self) -> Option<(String, Value)> {
        match (&self.kind, &self.data) {
            (SioType::Event, Some(Value::Array(args))) => {
                let name = args.first()?.as_str()?.to_string();
                Some((name, args.get(1).cloned().unwrap_or(Value::Null)))
            }
            _ => None,
        }
    }

    /// For a CONNECT_ERROR: the server's `message` (or the bare string of older servers).
    pub fn error_message(&self) -> Option<String> {
        match &self.data {
            Some(Value::Object(o)) => o.get("message")?.as_str().map(str::to_string),
            Some(Value::String(s)) => Some(s.clone()),
            _ => None,
        }
    }
}

/// `""` and `"ns"` become `"/"` and `"/ns"`.
pub fn normalize_namespace(ns: &str) -> String {
    if ns.starts_with('/') {
        ns.to_string()
    } else {
        format!("/{ns}")
    }
}

/// The websocket text frame carrying `packet` (Engine.IO MESSAGE + Socket.IO packet).
pub fn encode(packet: &SioPacket) -> String {
    let kind = match packet.kind {
        SioType::Connect => '0',
        SioType::Disconnect => '1',
        SioType::Event => '2',
        SioType::Ack => '3',
        SioType::ConnectError => '4',
    };
    let mut out = format!("4{kind}");
    if packet.namespace != "/" {
        out.push_str(&packet.namespace);
        out.push(',');
    }
    if let Some(id) = packet.ack_id {
        out.push_str(&id.to_string());
    }
    if let Some(data) = &packet.data {
        out.push_str(&data.to_string());
    }
    out
}

/// Decodes one websocket text frame.
pub fn decode(frame: &str) -> Result<EioPacket, String> {
    let mut chars = frame.chars();
    let kind = chars.next().ok_or("empty Engine.IO packet")?;
    let rest = chars.as_str();
    match kind {
        '0' => decode_open(rest).map(EioPacket::Open),
        '1' => Ok(EioPacket::Close),
        '2' => Ok(EioPacket::Ping(rest.to_string())),
        '3' => Ok(EioPacket::Pong(rest.to_string())),
        '4' => decode_sio(rest).map(EioPacket::Message),
        '5' | '6' => Ok(EioPacket::Noop),
        _ => Err(format!(
            "unknown Engine.IO packet type in {}",
            excerpt(frame)
        )),
    }
}

fn decode_open(json: &str) -> Result<OpenInfo, String> {
    let v: Value =
        serde_json::from_str(json).map_err(|e| format!("bad Engine.IO open packet: {e}"))?;
    let sid = v["sid"].as_str().filter(|s| !s.is_empty());
    let interval = v["pingInterval"].as_u64();
    let timeout = v["pingTimeout"].as_u64();
    match (sid, interval, timeout) {
        (Some(sid), Some(ping_interval), Some(ping_timeout)) => Ok(OpenInfo {
            sid: sid.to_string(),
            ping_interval,
            ping_timeout,
            max_payload: v["maxPayload"].as_u64(),
        }),
        _ => Err(format!(
            "incomplete Engine.IO open packet: {}",
            excerpt(json)
        )),
    }
}

/// A Socket.IO packet's parts before its payload.
struct SioHeader<'a> {
    kind: SioType,
    namespace: String,
    ack_id: Option<u64>,
    /// The JSON payload's text; empty when there is none.
    payload: &'a str,
}

fn bad_sio(s: &str, why: &str) -> String {
    format!("{why} in Socket.IO packet {}", excerpt(s))
}

fn split_sio(s: &str) -> Result<SioHeader<'_>, String> {
    let bad = |why: &str| bad_sio(s, why);
    let mut chars = s.chars();
    let kind = match chars.next() {
        Some('0') => SioType::Connect,
        Some('1') => SioType::Disconnect,
        Some('2') => SioType::Event,
        Some('3') => SioType::Ack,
        Some('4') => SioType::ConnectError,
        Some('5' | '6') => return Err(bad("binary packets are not supported")),
        _ => return Err(bad("unknown packet type")),
    };
    let mut rest = chars.as_str();
    let namespace = if rest.starts_with('/') {
        let (ns, after) = match rest.find(',') {
            Some(i) => (&rest[..i], &rest[i + 1..]),
            None => (rest, ""),
        };
        rest = after;
        ns.to_string()
    } else {
        "/".to_string()
    };
    let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
    let ack_id = if digits > 0 {
        Some(rest[..digits].parse().map_err(|_| bad("bad ack id"))?)
    } else {
        None
    };
    Ok(SioHeader {
        kind,
        namespace,
        ack_id,
        payload: &rest[digits..],
    })
}

fn decode_sio(s: &str) -> Result<SioPacket, String> {
    let bad = |why: &str| bad_sio(s, why);
    let SioHeader {
        kind,
        namespace,
        ack_id,
        payload,
    } = split_sio(s)?;
    let data = if payload.is_empty() {
        None
    } else {
        Some(serde_json::from_str::<Value>(payload).map_err(|_| bad("bad JSON payload"))?)
    };
    let valid = match kind {
        SioType::Connect => matches!(data, None | Some(Value::Object(_))),
        SioType::Disconnect => data.is_none(),
        SioType::Event => {
            matches!(&data, Some(Value::Array(a)) if a.first().is_some_and(Value::is_string))
        }
        SioType::Ack => matches!(data, Some(Value::Array(_))) && ack_id.is_some(),
        SioType::ConnectError => matches!(data, Some(Value::Object(_) | Value::String(_))),
    };
    if !valid {
        return Err(bad("unexpected payload"));
    }
    Ok(SioPacket {
        kind,
        namespace,
        ack_id,
        data,
    })
}

/// A server EVENT as [`decode_event`] gives it.
#[derive(Debug)]
pub struct EventFrame {
    /// Always starts with `/`; `/` for the root namespace.
    pub namespace: String,
    pub name: String,
    /// The first argument, as JSON text (`null` when there is none).
    pub data: Box<RawValue>,
}

/// For an EVENT frame (`42…`): the event, its argument left as JSON text, under the rules of
/// [`decode`] (a JSON array whose first element is the name). `None` for any other frame.
pub fn decode_event(frame: &str) -> Option<Result<EventFrame, String>> {
    let sio = frame.strip_prefix('4').filter(|s| s.starts_with('2'))?;
    let bad = |why: &str| bad_sio(sio, why);
    let header = match split_sio(sio) {
        Ok(header) => header,
        Err(e) => return Some(Err(e)),
    };
    if header.payload.is_empty() {
        return Some(Err(bad("unexpected payload")));
    }
    Some(
        serde_json::from_str::<EventArgs>(header.payload)
            .map_err(|e| {
                if e.is_data() {
                    bad("unexpected payload")
                } else {
                    bad("bad JSON payload")
                }
            })
            .map(|args| EventFrame {
                namespace: header.namespace,
                name: args.name,
                data: args.data,
            }),
    )
}

/// `[name, data, …]`: the name and the first argument (further arguments are ignored, as
/// `SioPacket::event_parts` ignores them).
struct EventArgs {
    name: String,
    data: Box<RawValue>,
}

impl<'de> Deserialize<'de> for EventArgs {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Args;
        impl<'de> Visitor<'de> for Args {
            type Value = EventArgs;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("an array starting with the event name")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<EventArgs, A::Error> {
                let name: String = seq
                    .next_element()?
                    .ok_or_else(|| serde::de::Error::invalid_length(0, &self))?;
                let data = match seq.next_element::<Box<RawValue>>()? {
                    Some(data) => data,
                    None => {
                        RawValue::from_string("null".into()).map_err(serde::de::Error::custom)?
                    }
                };
                while seq.next_element::<IgnoredAny>()?.is_some() {}
                Ok(EventArgs { name, data })
            }
        }
        deserializer.deserialize_seq(Args)
    }
}

/// The start of a frame, for error messages (never the whole, possibly huge, frame).
fn excerpt(s: &str) -> String {
    let cut: String = s.chars().take(80).collect();
    if cut.len() < s.len() {
        format!("{cut:?}…")
    } else {
        format!("{cut:?}")
    }
}

#[cfg(test)]
mod tests {
    /// Every EVENT frame: `decode_event` and `decode` agree (the same name, namespace and data,
    /// or both refuse it); any other frame is not `decode_event`'s.
    #[test]
    fn decode_event_follows_the_rules_of_decode() {
        let frames = [
            r#"42/workspace-1,["company-1-ticket",{"seq":3,"ticket":{"title":"a\"b"}}]"#,
            r#"42/workspace-1,12["open",{"a":1},2]"#,
            r#"42["message"]"#,
            r#"42/workspace-1,["n",[1,2],{"x":null}]"#,
            r#"42/workspace-1,[]"#,
            r#"42/workspace-1,[1,2]"#,
            r#"42/workspace-1,{"a":1}"#,
            r#"42/workspace-1,"#,
            r#"42/workspace-1,["n",{]"#,
            r#"42/workspace-1,["n",{}] x"#,
            r#"42/workspace-1,99999999999999999999999["n"]"#,
        ];
        for frame in frames {
            let fast = decode_event(frame).expect("an EVENT frame");
            let slow = decode(frame);
            match (fast, slow) {
                (Ok(event), Ok(EioPacket::Message(packet))) => {
                    assert_eq!(packet.namespace, event.namespace, "{frame}");
                    let (name, data) = packet.event_parts().expect("an event");
                    assert_eq!(name, event.name, "{frame}");
                    let raw: Value = serde_json::from_str(event.data.get()).unwrap();
                    assert_eq!(raw, data, "{frame}");
                }
                (Err(_), Err(_)) => {}
                (fast, slow) => panic!("{frame}: decode_event {fast:?}, decode {slow:?}"),
            }
        }
        for other in [
            r#"40/workspace-1,{"sid":"x"}"#,
            "2",
            "3probe",
            r#"43/x,1[1]"#,
            "6",
        ] {
            assert!(decode_event(other).is_none(), "{other}");
        }
    }

    use super::*;
    use serde_json::json;

    fn sio(frame: &str) -> SioPacket {
        match decode(frame) {
            Ok(EioPacket::Message(p)) => p,
            other => panic!("{frame}: {other:?}"),
        }
    }

    #[test]
    fn engine_io_packets() {
        let open = r#"0{"sid":"lv_VI97HAXpY6yYWAAAC","upgrades":[],"pingInterval":25000,"pingTimeout":20000,"maxPayload":1000000}"#;
        assert_eq!(
            decode(open),
            Ok(EioPacket::Open(OpenInfo {
                sid: "lv_VI97HAXpY6yYWAAAC".into(),
                ping_interval: 25000,
                ping_timeout: 20000,
                max_payload: Some(1_000_000),
            }))
        );
        // socketioxide's 16-character ids, no maxPayload.
        let short =
            r#"0{"sid":"AbCdEfGhIjKlMnOp","upgrades":[],"pingInterval":300,"pingTimeout":200}"#;
        match decode(short) {
            Ok(EioPacket::Open(o)) => {
                assert_eq!((o.sid.len(), o.max_payload), (16, None));
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(decode("1"), Ok(EioPacket::Close));
        assert_eq!(decode("2"), Ok(EioPacket::Ping(String::new())));
        assert_eq!(decode("2probe"), Ok(EioPacket::Ping("probe".into())));
        assert_eq!(decode("3"), Ok(EioPacket::Pong(String::new())));
        assert_eq!(decode("5"), Ok(EioPacket::Noop));
        assert_eq!(decode("6"), Ok(EioPacket::Noop));
    }

    #[test]
    fn connect_with_and_without_namespace() {
        let auth = json!({"token": "t", "lastSeq": 4});
        let p = SioPacket::new(SioType::Connect, "/workspace-1", Some(auth.clone()));
        assert_eq!(encode(&p), r#"40/workspace-1,{"lastSeq":4,"token":"t"}"#);
        assert_eq!(sio(&encode(&p)), p);
        let root = SioPacket::new(SioType::Connect, "/", Some(auth));
        assert_eq!(encode(&root), r#"40{"lastSeq":4,"token":"t"}"#);
        assert_eq!(sio(&encode(&root)), root);
        assert_eq!(encode(&SioPacket::new(SioType::Connect, "", None)), "40");
        let ok = sio(r#"40/workspace-1,{"sid":"xyz"}"#);
        assert_eq!(
            (ok.kind, ok.namespace.as_str()),
            (SioType::Connect, "/workspace-1")
        );
        assert_eq!(sio("40").namespace, "/");
    }

    #[test]
    fn disconnect() {
        let p = SioPacket::new(SioType::Disconnect, "/workspace-1", None);
        assert_eq!(encode(&p), "41/workspace-1,");
        assert_eq!(sio("41/workspace-1,"), p);
        // A namespace without the trailing comma is still a namespace.
        assert_eq!(sio("41/workspace-1"), p);
        assert_eq!(sio("41").namespace, "/");
    }

    #[test]
    fn events_with_and_without_ack_ids() {
        let p = SioPacket::event("/workspace-1", "company-1-ticket", json!({"seq": 3}));
        assert_eq!(
            encode(&p),
            r#"42/workspace-1,["company-1-ticket",{"seq":3}]"#
        );
        assert_eq!(sio(&encode(&p)), p);
        let acked = sio(r#"42/workspace-1,12["open",{"a":1},2]"#);
        assert_eq!(acked.ack_id, Some(12));
        assert_eq!(acked.event_parts(), Some(("open".into(), json!({"a": 1}))));
        let mut with_id = p.clone();
        with_id.ack_id = Some(7);
        assert_eq!(
            encode(&with_id),
            r#"42/workspace-1,7["company-1-ticket",{"seq":3}]"#
        );
        assert_eq!(sio(&encode(&with_id)), with_id);
        let root = sio(r#"42["message"]"#);
        assert_eq!(root.namespace, "/");
        assert_eq!(root.event_parts(), Some(("message".into(), Value::Null)));
        assert_eq!(encode(&root), r#"42["message"]"#);
    }

    #[test]
    fn acks() {
        let ack = sio(r#"43/workspace-1,5[{"ok":true}]"#);
        assert_eq!(ack.kind, SioType::Ack);
        assert_eq!(ack.ack_id, Some(5));
        assert_eq!(ack.data, Some(json!([{"ok": true}])));
        assert_eq!(encode(&ack), r#"43/workspace-1,5[{"ok":true}]"#);
        assert!(decode("43/workspace-1,[1]").is_err(), "an ack needs an id");
    }

    #[test]
    fn connect_errors() {
        let e = sio(r#"44/workspace-2,{"message":"forbidden"}"#);
        assert_eq!(
            (e.kind, e.namespace.as_str()),
            (SioType::ConnectError, "/workspace-2")
        );
        assert_eq!(e.error_message().as_deref(), Some("forbidden"));
        let root = sio(r#"44{"message":"invalid_namespace","data":null}"#);
        assert_eq!(root.error_message().as_deref(), Some("invalid_namespace"));
        assert_eq!(
            sio(r#"44/x,"Invalid namespace""#)
                .error_message()
                .as_deref(),
            Some("Invalid namespace")
        );
        let encoded = encode(&e);
        assert_eq!(encoded, r#"44/workspace-2,{"message":"forbidden"}"#);
    }

    #[test]
    fn garbage_is_an_error_never_a_panic() {
        for frame in [
            "",
            "7",
            "x",
            "0",
            "0{",
            r#"0{"sid":"","pingInterval":1,"pingTimeout":1}"#,
            r#"0{"sid":"a","pingInterval":"25000","pingTimeout":1}"#,
            "4",
            "49",
            "45-/ns,[]",
            "451-[\"e\",{\"_placeholder\":true,\"num\":0}]",
            "46/ns,1-0[]",
            "42/ns,",
            "42/ns,{}",
            "42/ns,[]",
            "42/ns,[1]",
            "42/ns,[\"a\"",
            "42/ns,99999999999999999999999[\"a\"]",
            "41/ns,{}",
            "40/ns,[1]",
            "44/ns,",
            "44/ns,[1]",
            "42/ns,1x",
            "4é",
            "42é",
            "42/é,[\"é\"]x",
        ] {
            assert!(decode(frame).is_err(), "{frame:?} should be refused");
        }
        // Non-ASCII inside valid packets is fine.
        assert_eq!(
            sio("42/é,[\"é\"]").event_parts(),
            Some(("é".into(), Value::Null))
        );
    }
}
