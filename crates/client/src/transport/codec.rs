//! Engine.IO v4 / Socket.IO v5 text packets, as far as a websocket-only client needs them.
//!
//! One websocket text frame is one Engine.IO packet: a type digit and a payload. Engine.IO
//! MESSAGE (`4`) packets carry one Socket.IO packet:
//! `<type digit>[/<namespace>,][<ack id>][<json payload>]`; the root namespace `/` is implicit.
//! Binary Socket.IO packets (`5`, `6`) are refused: the protocol is JSON only.
//!
//! Every live event takes [`decode_event`], which reads the frame once: a data event's argument
//! (`company-{id}-{ticket|comment|attachment|lane}`) is decoded in that same pass straight into
//! an [`EventEnvelope`]; any other argument stays JSON text, decoded later into the type its
//! name calls for by whoever knows that type (the connection supervisor). A data event whose
//! argument is not an `EventEnvelope` comes out as JSON text too, so the supervisor treats it
//! as before (a malformed event, skipped). [`decode`] builds a `serde_json::Value` of the whole
//! payload, which for an event would be decoded a second time. Both follow the same packet rules.

use deskbell_protocol::{parse_event_name, EventEnvelope, Resource};
use serde::de::{Deserializer, IgnoredAny, SeqAccess, Visitor};
use serde_json::value::RawValue;
use serde_json::Value;

use super::EventData;

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
    namespace: &'a str,
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
        ns
    } else {
        "/"
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
        namespace: namespace.to_string(),
        ack_id,
        data,
    })
}

/// A server EVENT as [`decode_event`] gives it.
#[derive(Debug)]
pub struct EventFrame<'a> {
    /// Always starts with `/`; `/` for the root namespace. Borrowed from the frame: it is only
    /// compared with the connection's.
    pub namespace: &'a str,
    pub name: String,
    /// The first argument (`null` when there is none): a data event's already decoded, any
    /// other's as JSON text.
    pub data: EventData,
}

/// For an EVENT frame (`42…`): the event, in one pass over its JSON (a data event's argument
/// decoded into an [`EventEnvelope`], any other left as JSON text), under the rules of
/// [`decode`] (a JSON array whose first element is the name). `None` for any other frame.
pub fn decode_event(frame: &str) -> Option<Result<EventFrame<'_>, String>> {
    let sio = frame.strip_prefix('4').filter(|s| s.starts_with('2'))?;
    let bad = |why: &str| bad_sio(sio, why);
    let header = match split_sio(sio) {
        Ok(header) => header,
        Err(e) => return Some(Err(e)),
    };
    if header.payload.is_empty() {
        return Some(Err(bad("unexpected payload")));
    }
    // The one pass fails for a bad frame and for a data event whose argument is not an
    // `EventEnvelope`; the second pass, which keeps every argument as text, tells them apart
    // (and gives a bad frame its error). Neither happens with a working server.
    let args = event_args(header.payload, true).or_else(|_| event_args(header.payload, false));
    Some(
        args.map_err(|e| {
            if e.is_data() {
                bad("unexpected payload")
            } else {
                bad("bad JSON payload")
            }
        })
        .map(|(name, data)| EventFrame {
            namespace: header.namespace,
            name,
            data,
        }),
    )
}

/// `[name, data, …]`: the name and the first argument (further arguments are ignored, as
/// `SioPacket::event_parts` ignores them). With `typed`, a data event's argument is decoded
/// into an `EventEnvelope`; otherwise every argument is kept as JSON text.
fn event_args(payload: &str, typed: bool) -> serde_json::Result<(String, EventData)> {
    let mut de = serde_json::Deserializer::from_str(payload);
    let args = (&mut de).deserialize_seq(EventArgs { typed })?;
    // As `serde_json::from_str`: nothing but whitespace may follow.
    de.end()?;
    Ok(args)
}

/// Whether `name`'s argument is an [`EventEnvelope`] (the names the supervisor decodes into one).
fn carries_envelope(name: &str) -> bool {
    matches!(
        parse_event_name(name),
        Some((
            _,
            Resource::Ticket | Resource::Comment | Resource::Attachment | Resource::Lane
        ))
    )
}

struct EventArgs {
    typed: bool,
}

impl<'de> Visitor<'de> for EventArgs {
    type Value = (String, EventData);
    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("an array starting with the event name")
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let name: String = seq
            .next_element()?
            .ok_or_else(|| serde::de::Error::invalid_length(0, &self))?;
        let data = if self.typed && carries_envelope(&name) {
            seq.next_element::<Box<EventEnvelope>>()?
                .map(EventData::from)
        } else {
            seq.next_element::<Box<RawValue>>()?.map(EventData::from)
        };
        let data = match data {
            Some(data) => data,
            None => EventData::from(
                RawValue::from_string("null".into()).map_err(serde::de::Error::custom)?,
            ),
        };
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok((name, data))
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
                    let raw: Value = event.data.decode().unwrap();
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

    /// A data event's frame: the one pass gives the envelope the two steps (text, then typed)
    /// give; a data event whose argument is no envelope, and any other event, keep their text.
    #[test]
    fn decode_event_types_a_data_events_argument_in_one_pass() {
        let envelope = json!({
            "action": "update", "seq": 12, "companyId": 1, "userId": 2,
            "timestamp": "2026-11-02T08:00:00.123Z",
            "ticket": {
                "id": 7, "companyId": 1, "title": "Printer \"on\" fire",
                "requester": {"name": "Ann", "contact": null}, "status": "open",
                "priority": "high", "assigneeId": null, "creatorId": 1, "laneId": 2,
                "lastMessage": null, "commentCount": 0,
                "createdAt": "2026-11-01T08:00:00Z", "updatedAt": "2026-11-02T08:00:00.123Z",
                "version": 3
            },
            "from": "normal", "to": "high", "stream": "all", "prevSeq": 9
        });
        let frame = encode(&SioPacket::event(
            "/workspace-1",
            "company-1-ticket",
            envelope.clone(),
        ));
        let event = decode_event(&frame).expect("an EVENT frame").unwrap();
        assert_eq!(event.name, "company-1-ticket");
        assert!(
            matches!(event.data, EventData(super::super::Arg::Event(_))),
            "{event:?}"
        );
        let expected: EventEnvelope = serde_json::from_value(envelope).unwrap();
        assert_eq!(event.data.into_event().unwrap(), expected);

        // Not an envelope (no seq): the frame is fine, the event is the supervisor's to skip.
        let frame = r#"42/workspace-1,["company-1-ticket",{"ticket":{"id":7}}]"#;
        let event = decode_event(frame).expect("an EVENT frame").unwrap();
        assert!(
            matches!(event.data, EventData(super::super::Arg::Json(_))),
            "{event:?}"
        );
        assert_eq!(event.data.to_value(), json!({"ticket": {"id": 7}}));
        assert!(event.data.into_event().is_err());

        // Any other event keeps its text, even when it would read as an envelope.
        let frame = r#"42/workspace-1,["company-1-sync",{"mode":"replay"}]"#;
        let event = decode_event(frame).expect("an EVENT frame").unwrap();
        assert_eq!(event.data.json(), r#"{"mode":"replay"}"#);
    }

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
