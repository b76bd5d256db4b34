//! Wire types and names shared by the Deskbell server, client core and UI.
//!
//! Every JSON field is camelCase, as the spec's wire protocol says. The UI's TypeScript
//! types are generated from these definitions (see `tests/ts_bindings.rs`).

use serde::{Deserialize, Deserializer, Serialize};
use ts_rs::TS;

pub mod bindings;
mod names;
pub use names::*;

/// Database id of any entity. Ids fit in a JS number.
pub type Id = i64;

/// The wire protocol's version, reported by `GET /health` (`protocol`).
///
/// - 1: the first (a server that reports no `protocol` speaks it);
/// - 2: urgent tickets are acknowledged (`POST /api/tickets/{id}/acknowledge`, the ticket's
///   `urgentSince`/`urgentBy`/`acknowledgedBy`/`acknowledgedAt`, the `acknowledge` and
///   `escalate` actions, the `admins` stream, `GET /api/members`, `GET|PATCH /api/company`);
/// - 3: a comment may be the requester's message recorded by a member (`fromRequester` on the
///   comment and on `POST /api/tickets/{id}/comments`; the ticket's first message is one).
pub const PROTOCOL_VERSION: u32 = 3;

/// The `userId` of events the server makes on its own (an escalation): no member's id.
pub const SERVER_ACTOR: Id = 0;

/// Minutes an urgent ticket may wait unacknowledged before the admins are told, unless the
/// company says otherwise.
pub const DEFAULT_ESCALATE_AFTER_MINUTES: i64 = 5;

/// Timestamps travel as RFC 3339 strings. Fields of this type are read with [`timestamp`].
pub type Timestamp = chrono::DateTime<chrono::Utc>;

/// Reads a [`Timestamp`] as chrono does, faster: chrono's strict RFC 3339 parser first (what
/// every sender writes), then, for anything it refuses, chrono's own relaxed reading, which is
/// what a `Timestamp` field accepted before. The same strings are accepted, with the same
/// meaning and the same errors; every event carries three, so the strict path pays.
pub mod timestamp {
    use chrono::{DateTime, FixedOffset, Utc};
    use serde::de::{self, Deserializer, Visitor};

    pub fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<super::Timestamp, D::Error> {
        deserializer.deserialize_str(Rfc3339)
    }

    /// As [`deserialize`], for an optional timestamp (`null` or absent: `None`; absent needs
    /// `#[serde(default)]` as well).
    pub fn deserialize_option<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Option<super::Timestamp>, D::Error> {
        struct Maybe;
        impl<'de> Visitor<'de> for Maybe {
            type Value = Option<super::Timestamp>;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("null or an RFC 3339 formatted date and time string")
            }
            fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
                Ok(None)
            }
            fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
                Ok(None)
            }
            fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
                deserialize(d).map(Some)
            }
        }
        deserializer.deserialize_option(Maybe)
    }

    struct Rfc3339;

    impl Visitor<'_> for Rfc3339 {
        type Value = super::Timestamp;

        fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            // chrono's words, so that errors read as before.
            f.write_str("an RFC 3339 formatted date and time string")
        }

        fn visit_str<E: de::Error>(self, value: &str) -> Result<Self::Value, E> {
            DateTime::parse_from_rfc3339(value)
                .or_else(|_| value.parse::<DateTime<FixedOffset>>())
                .map(|t| t.with_timezone(&Utc))
                .map_err(E::custom)
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, TS)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Admin,
    Agent,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Agent => "agent",
        }
    }
    pub fn parse(s: &str) -> Option<Role> {
        match s {
            "admin" => Some(Role::Admin),
            "agent" => Some(Role::Agent),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, TS)]
#[serde(rename_all = "lowercase")]
pub enum Priority {
    Low,
    Normal,
    High,
    Urgent,
}

impl Priority {
    pub fn as_str(self) -> &'static str {
        match self {
            Priority::Low => "low",
            Priority::Normal => "normal",
            Priority::High => "high",
            Priority::Urgent => "urgent",
        }
    }
    pub fn parse(s: &str) -> Option<Priority> {
        match s {
            "low" => Some(Priority::Low),
            "normal" => Some(Priority::Normal),
            "high" => Some(Priority::High),
            "urgent" => Some(Priority::Urgent),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, TS)]
#[serde(rename_all = "lowercase")]
pub enum TicketStatus {
    Open,
    Pending,
    Closed,
}

impl TicketStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            TicketStatus::Open => "open",
            TicketStatus::Pending => "pending",
            TicketStatus::Closed => "closed",
        }
    }
    pub fn parse(s: &str) -> Option<TicketStatus> {
        match s {
            "open" => Some(TicketStatus::Open),
            "pending" => Some(TicketStatus::Pending),
            "closed" => Some(TicketStatus::Closed),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct Company {
    #[ts(type = "number")]
    pub id: Id,
    pub name: String,
    /// Minutes an urgent ticket may stay unacknowledged before the admins are told (an
    /// `escalate` event). Absent from servers before protocol 2.
    #[serde(default = "default_escalate_after_minutes")]
    #[ts(type = "number")]
    pub escalate_after_minutes: i64,
}

fn default_escalate_after_minutes() -> i64 {
    DEFAULT_ESCALATE_AFTER_MINUTES
}

/// `PATCH /api/company` (admins): absent fields stay as they are.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CompanyPatch {
    /// 1 to 1440.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[ts(optional, type = "number")]
    pub escalate_after_minutes: Option<i64>,
}

/// A colleague as every member may see them (`GET /api/members`): no e-mail address.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct Member {
    #[ts(type = "number")]
    pub id: Id,
    pub name: String,
    pub role: Role,
    pub active: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct User {
    #[ts(type = "number")]
    pub id: Id,
    #[ts(type = "number")]
    pub company_id: Id,
    pub name: String,
    pub email: String,
    pub role: Role,
    pub active: bool,
}

/// A kanban lane (a tag with `kanban = true` in the designs this grew from).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct Lane {
    #[ts(type = "number")]
    pub id: Id,
    #[ts(type = "number")]
    pub company_id: Id,
    pub name: String,
    /// CSS hex color, `#rrggbb`.
    pub color: String,
    #[ts(type = "number")]
    pub position: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct Requester {
    pub name: String,
    /// E-mail address or phone number, free form.
    #[serde(default)]
    pub contact: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct Ticket {
    #[ts(type = "number")]
    pub id: Id,
    #[ts(type = "number")]
    pub company_id: Id,
    pub title: String,
    pub requester: Requester,
    pub status: TicketStatus,
    pub priority: Priority,
    #[ts(type = "number | null")]
    pub assignee_id: Option<Id>,
    #[ts(type = "number")]
    pub creator_id: Id,
    #[ts(type = "number | null")]
    pub lane_id: Option<Id>,
    pub last_message: Option<String>,
    #[ts(type = "number")]
    pub comment_count: i64,
    #[ts(type = "string")]
    #[serde(deserialize_with = "timestamp::deserialize")]
    pub created_at: Timestamp,
    #[ts(type = "string")]
    #[serde(deserialize_with = "timestamp::deserialize")]
    pub updated_at: Timestamp,
    /// Increments on every change; events are applied only when newer.
    #[ts(type = "number")]
    pub version: i64,
    /// While the ticket is urgent: when it became so (the start of this urgent episode).
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "timestamp::deserialize_option"
    )]
    #[ts(optional, type = "string")]
    pub urgent_since: Option<Timestamp>,
    /// While the ticket is urgent: who made it so.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[ts(optional, type = "number")]
    pub urgent_by: Option<Id>,
    /// While the ticket is urgent: the member who acknowledged this urgent episode (cleared
    /// when the ticket becomes urgent again).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[ts(optional, type = "number")]
    pub acknowledged_by: Option<Id>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "timestamp::deserialize_option"
    )]
    #[ts(optional, type = "string")]
    pub acknowledged_at: Option<Timestamp>,
}

impl Ticket {
    /// Urgent, not closed and acknowledged by nobody: someone must take it.
    pub fn awaits_acknowledgement(&self) -> bool {
        self.priority == Priority::Urgent
            && self.status != TicketStatus::Closed
            && self.acknowledged_at.is_none()
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct Comment {
    #[ts(type = "number")]
    pub id: Id,
    #[ts(type = "number")]
    pub ticket_id: Id,
    #[ts(type = "number")]
    pub author_id: Id,
    pub body: String,
    #[ts(type = "string")]
    #[serde(deserialize_with = "timestamp::deserialize")]
    pub created_at: Timestamp,
    /// The requester's words, recorded by the member `author_id` (the ticket's first message, a
    /// reply by e-mail or phone): shown as written by the requester. Protocol 3; false before.
    #[serde(default)]
    pub from_requester: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct Attachment {
    #[ts(type = "number")]
    pub id: Id,
    #[ts(type = "number")]
    pub ticket_id: Id,
    pub name: String,
    #[ts(type = "number")]
    pub size: i64,
    pub content_type: String,
    #[ts(type = "number")]
    pub uploaded_by: Id,
    #[ts(type = "string")]
    #[serde(deserialize_with = "timestamp::deserialize")]
    pub created_at: Timestamp,
}

/// What happened to the entity an event carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, TS)]
#[serde(rename_all = "kebab-case")]
pub enum EventAction {
    Create,
    Update,
    Move,
    Assign,
    StatusChange,
    PriorityChange,
    /// A member acknowledged an urgent ticket (the ticket carries who and when).
    Acknowledge,
    /// To admins: an urgent ticket stayed unacknowledged too long (the ticket as it is; the
    /// actor is [`SERVER_ACTOR`]). Changes nothing: the ticket's version stays.
    Escalate,
    Delete,
}

impl EventAction {
    pub fn as_str(self) -> &'static str {
        match self {
            EventAction::Create => "create",
            EventAction::Update => "update",
            EventAction::Move => "move",
            EventAction::Assign => "assign",
            EventAction::StatusChange => "status-change",
            EventAction::PriorityChange => "priority-change",
            EventAction::Acknowledge => "acknowledge",
            EventAction::Escalate => "escalate",
            EventAction::Delete => "delete",
        }
    }
}

/// The envelope of every data event (`company-{id}-{ticket|comment|attachment|lane}`).
/// Events carry full entity state, so applying one is idempotent by `ticket.version`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct EventEnvelope {
    pub action: EventAction,
    /// Per-company, strictly increasing.
    #[ts(type = "number")]
    pub seq: i64,
    #[ts(type = "number")]
    pub company_id: Id,
    /// The actor.
    #[ts(type = "number")]
    pub user_id: Id,
    #[ts(type = "string")]
    #[serde(deserialize_with = "timestamp::deserialize")]
    pub timestamp: Timestamp,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub ticket: Option<Ticket>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[ts(optional, type = "number")]
    pub ticket_id: Option<Id>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub comment: Option<Comment>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub attachment: Option<Attachment>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub lane: Option<Lane>,
    /// Previous value of what changed (lane id, assignee id, status or priority).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[ts(optional, type = "string | number | null")]
    pub from: Option<serde_json::Value>,
    /// New value of what changed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[ts(optional, type = "string | number | null")]
    pub to: Option<serde_json::Value>,
    /// The event's stream (see `EventStream`): every event of a stream is visible to the same
    /// users, so a client receives every event of each stream it receives any of. Absent in
    /// events logged before streams existed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[ts(optional, type = "string")]
    pub stream: Option<EventStream>,
    /// The `seq` of the stream's previous event (0: none in the log). A client that has neither
    /// received that event nor loaded a snapshot at or after it has missed it: a gap, which it
    /// recovers by replay or snapshot, never skips.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[ts(optional, type = "number")]
    pub prev_seq: Option<i64>,
}

/// Who may see an event, as a name: `all`, `admins`, `assignee-{userId}` (admins and that user),
/// `agents-except-{userId}` (agents but that one) or `only-{userId}`. Each user sees a fixed
/// set of streams for as long as their role stays, and every event of those streams: the
/// events of one stream, chained by `prevSeq`, let a client tell a gap from an event it was
/// never meant to see.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum EventStream {
    All,
    /// Admins only (escalations).
    Admins,
    Assignee(Id),
    AgentsExcept(Id),
    Only(Id),
}

impl EventStream {
    pub fn parse(name: &str) -> Option<EventStream> {
        match name {
            "all" => return Some(EventStream::All),
            "admins" => return Some(EventStream::Admins),
            _ => {}
        }
        let user = |prefix: &str| -> Option<Id> {
            let digits = name.strip_prefix(prefix)?;
            // Canonical decimal only: one stream, one name.
            if digits.is_empty()
                || digits.starts_with('0')
                || !digits.bytes().all(|b| b.is_ascii_digit())
            {
                return None;
            }
            digits.parse().ok()
        };
        if let Some(id) = user("assignee-") {
            return Some(EventStream::Assignee(id));
        }
        if let Some(id) = user("agents-except-") {
            return Some(EventStream::AgentsExcept(id));
        }
        user("only-").map(EventStream::Only)
    }
}

impl std::fmt::Display for EventStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            EventStream::All => f.write_str("all"),
            EventStream::Admins => f.write_str("admins"),
            EventStream::Assignee(id) => write!(f, "assignee-{id}"),
            EventStream::AgentsExcept(id) => write!(f, "agents-except-{id}"),
            EventStream::Only(id) => write!(f, "only-{id}"),
        }
    }
}

impl Serialize for EventStream {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for EventStream {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        // Read from the text in place: every event carries its stream, and a `String` would be
        // one allocation more per event.
        struct Name;
        impl serde::de::Visitor<'_> for Name {
            type Value = EventStream;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a string")
            }
            fn visit_str<E: serde::de::Error>(self, name: &str) -> Result<EventStream, E> {
                EventStream::parse(name)
                    .ok_or_else(|| E::custom(format!("unknown event stream {name:?}")))
            }
        }
        deserializer.deserialize_str(Name)
    }
}

impl EventEnvelope {
    /// An event carrying nothing yet: the caller sets the entity and what changed.
    pub fn new(
        action: EventAction,
        seq: i64,
        company_id: Id,
        user_id: Id,
        timestamp: Timestamp,
    ) -> EventEnvelope {
        EventEnvelope {
            action,
            seq,
            company_id,
            user_id,
            timestamp,
            ticket: None,
            ticket_id: None,
            comment: None,
            attachment: None,
            lane: None,
            from: None,
            to: None,
            stream: None,
            prev_seq: None,
        }
    }

    /// The ticket this event concerns, whichever field carries it.
    pub fn ticket_ref(&self) -> Option<Id> {
        self.ticket
            .as_ref()
            .map(|t| t.id)
            .or(self.ticket_id)
            .or(self.comment.as_ref().map(|c| c.ticket_id))
            .or(self.attachment.as_ref().map(|a| a.ticket_id))
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(rename_all = "lowercase")]
pub enum SyncMode {
    /// Every missed event was replayed before this message.
    Replay,
    /// The log could not serve the gap: reload the snapshot over REST.
    Reset,
}

/// The `company-{id}-sync` control message, sent once after connect.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct SyncMessage {
    pub mode: SyncMode,
    /// The company's latest seq at the moment of the sync.
    #[ts(type = "number")]
    pub head: i64,
}

/// Why the server ended a session. Sent in `company-{id}-session` right before it disconnects
/// the session's sockets; every reason but `role-changed` means only a new sign-in can go on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, TS)]
#[serde(rename_all = "kebab-case")]
pub enum SessionEndReason {
    /// The user signed out (`POST /api/auth/logout`) in this session.
    SignedOut,
    /// The session was revoked: an old refresh token of it was presented again.
    Revoked,
    /// An admin deactivated the account.
    Deactivated,
    /// An admin changed the account's password.
    PasswordChanged,
    /// An admin changed the account's role: reconnect with the same token to get the new
    /// role's rooms and visibility (the snapshot is reloaded).
    RoleChanged,
}

impl SessionEndReason {
    pub const ALL: [SessionEndReason; 5] = [
        SessionEndReason::SignedOut,
        SessionEndReason::Revoked,
        SessionEndReason::Deactivated,
        SessionEndReason::PasswordChanged,
        SessionEndReason::RoleChanged,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            SessionEndReason::SignedOut => "signed-out",
            SessionEndReason::Revoked => "revoked",
            SessionEndReason::Deactivated => "deactivated",
            SessionEndReason::PasswordChanged => "password-changed",
            SessionEndReason::RoleChanged => "role-changed",
        }
    }

    pub fn parse(s: &str) -> Option<SessionEndReason> {
        SessionEndReason::ALL.into_iter().find(|r| r.as_str() == s)
    }

    /// Whether the session can go on: only a role change keeps it (with new visibility).
    pub fn needs_login(self) -> bool {
        self != SessionEndReason::RoleChanged
    }

    /// A plain sentence for the person whose session ended.
    pub fn describe(self) -> &'static str {
        match self {
            SessionEndReason::SignedOut => "You were signed out",
            SessionEndReason::Revoked => {
                "Your session was revoked because its sign-in was used from somewhere else; sign in again"
            }
            SessionEndReason::Deactivated => "Your account was deactivated by an administrator",
            SessionEndReason::PasswordChanged => {
                "Your password was changed by an administrator; sign in with the new one"
            }
            SessionEndReason::RoleChanged => "Your role was changed by an administrator",
        }
    }
}

impl std::fmt::Display for SessionEndReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The `company-{id}-session` control message: this socket's session has ended. The server
/// disconnects the socket right after it and sends it nothing else.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct SessionEnded {
    pub reason: SessionEndReason,
    /// `reason` in plain words, for clients that do not know the code.
    pub message: String,
}

impl SessionEnded {
    pub fn new(reason: SessionEndReason) -> SessionEnded {
        SessionEnded {
            reason,
            message: reason.describe().to_string(),
        }
    }
}

/// The `auth` payload of the namespace CONNECT packet.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct ConnectAuth {
    pub token: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[ts(optional, type = "number")]
    pub last_seq: Option<i64>,
}

/// Stable `message` codes of a namespace CONNECT_ERROR.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, TS)]
#[serde(rename_all = "snake_case")]
pub enum ConnectErrorCode {
    Unauthorized,
    TokenExpired,
    Forbidden,
    InvalidNamespace,
    /// The server could not check the token just now (e.g. it is shutting down): not a
    /// refusal, retry later.
    Unavailable,
}

impl ConnectErrorCode {
    pub fn as_str(self) -> &'static str {
        match self {
            ConnectErrorCode::Unauthorized => "unauthorized",
            ConnectErrorCode::TokenExpired => "token_expired",
            ConnectErrorCode::Forbidden => "forbidden",
            ConnectErrorCode::InvalidNamespace => "invalid_namespace",
            ConnectErrorCode::Unavailable => "unavailable",
        }
    }
    pub fn parse(s: &str) -> Option<ConnectErrorCode> {
        match s {
            "unauthorized" => Some(ConnectErrorCode::Unauthorized),
            "token_expired" => Some(ConnectErrorCode::TokenExpired),
            "forbidden" => Some(ConnectErrorCode::Forbidden),
            "invalid_namespace" => Some(ConnectErrorCode::InvalidNamespace),
            "unavailable" => Some(ConnectErrorCode::Unavailable),
            _ => None,
        }
    }
}

impl std::fmt::Display for ConnectErrorCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

// ---------------------------------------------------------------- REST bodies

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct LoginRequest {
    pub email: String,
    pub password: String,
    /// The workspace (company) to sign in to. Emails are unique per company, so one email
    /// may have accounts in several; without it the password picks the account, and when it
    /// opens more than one the server answers `workspace_required` naming them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[ts(optional, type = "number")]
    pub company_id: Option<Id>,
}

/// Answer to login and to refresh.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct LoginResponse {
    pub access_token: String,
    pub refresh_token: String,
    /// Seconds until the access token expires.
    #[ts(type = "number")]
    pub expires_in: i64,
    pub user: User,
    pub company: Company,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RefreshRequest {
    pub refresh_token: String,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct LogoutRequest {
    /// Revokes this refresh token's family too, when given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub refresh_token: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct Me {
    pub user: User,
    pub company: Company,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct Health {
    /// `ok`, or `degraded` when the database or the link to the other nodes is down.
    pub status: String,
    pub db: String,
    pub version: String,
    /// Which server process answered (several may serve behind a load balancer).
    #[serde(default)]
    pub node: String,
    /// The wire protocol's version ([`PROTOCOL_VERSION`]); 1 when absent.
    #[serde(default = "first_protocol")]
    pub protocol: u32,
    /// The link to the other nodes: `up` or `down`; absent when this node serves alone.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub redis: Option<String>,
}

fn first_protocol() -> u32 {
    1
}

/// `GET /api/board`: the snapshot a client loads, consistent with `seq`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct Board {
    pub lanes: Vec<Lane>,
    pub tickets: Vec<Ticket>,
    #[ts(type = "number")]
    pub seq: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NewTicket {
    pub title: String,
    pub requester: Requester,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub priority: Option<Priority>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub status: Option<TicketStatus>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[ts(optional, type = "number")]
    pub assignee_id: Option<Id>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[ts(optional, type = "number")]
    pub lane_id: Option<Id>,
    /// First message of the ticket; becomes `lastMessage`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub message: Option<String>,
}

/// `PATCH /api/tickets/{id}`: absent fields stay as they are; `null` clears a nullable one.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TicketPatch {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub title: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub requester: Option<Requester>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub status: Option<TicketStatus>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub priority: Option<Priority>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "double_option"
    )]
    #[ts(optional, type = "number | null")]
    pub assignee_id: Option<Option<Id>>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "double_option"
    )]
    #[ts(optional, type = "number | null")]
    pub lane_id: Option<Option<Id>>,
}

impl TicketPatch {
    pub fn is_empty(&self) -> bool {
        self == &TicketPatch::default()
    }
}

/// `POST /api/tickets/{id}/move`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct MoveRequest {
    /// Required; `null` moves the ticket to "No lane".
    #[serde(deserialize_with = "required_nullable")]
    #[ts(type = "number | null")]
    pub lane_id: Option<Id>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NewComment {
    pub body: String,
    /// Records the requester's message rather than the member's own (protocol 3).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    #[ts(optional, as = "Option<bool>")]
    pub from_requester: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NewLane {
    pub name: String,
    pub color: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[ts(optional, type = "number")]
    pub position: Option<i64>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct LanePatch {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub color: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[ts(optional, type = "number")]
    pub position: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NewUser {
    pub name: String,
    pub email: String,
    pub password: String,
    pub role: Role,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct UserPatch {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub role: Option<Role>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub active: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub password: Option<String>,
}

/// Stable error codes of REST error bodies; the UI switches on these.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, TS)]
#[serde(rename_all = "snake_case")]
pub enum ApiErrorCode {
    BadRequest,
    InvalidCredentials,
    Unauthorized,
    TokenExpired,
    RefreshReused,
    Forbidden,
    NotFound,
    Conflict,
    /// 409 on sign-in: the email and password open accounts in several companies; sign in
    /// again with `companyId` (the message names the companies and their ids).
    WorkspaceRequired,
    PayloadTooLarge,
    Validation,
    RateLimited,
    Internal,
}

impl ApiErrorCode {
    /// The code as it is on the wire (`bad_request`, …).
    pub fn as_str(self) -> &'static str {
        match self {
            ApiErrorCode::BadRequest => "bad_request",
            ApiErrorCode::InvalidCredentials => "invalid_credentials",
            ApiErrorCode::Unauthorized => "unauthorized",
            ApiErrorCode::TokenExpired => "token_expired",
            ApiErrorCode::RefreshReused => "refresh_reused",
            ApiErrorCode::Forbidden => "forbidden",
            ApiErrorCode::NotFound => "not_found",
            ApiErrorCode::Conflict => "conflict",
            ApiErrorCode::WorkspaceRequired => "workspace_required",
            ApiErrorCode::PayloadTooLarge => "payload_too_large",
            ApiErrorCode::Validation => "validation",
            ApiErrorCode::RateLimited => "rate_limited",
            ApiErrorCode::Internal => "internal",
        }
    }

    pub fn http_status(self) -> u16 {
        match self {
            ApiErrorCode::BadRequest => 400,
            ApiErrorCode::InvalidCredentials
            | ApiErrorCode::Unauthorized
            | ApiErrorCode::TokenExpired
            | ApiErrorCode::RefreshReused => 401,
            ApiErrorCode::Forbidden => 403,
            ApiErrorCode::NotFound => 404,
            ApiErrorCode::Conflict | ApiErrorCode::WorkspaceRequired => 409,
            ApiErrorCode::PayloadTooLarge => 413,
            ApiErrorCode::Validation => 422,
            ApiErrorCode::RateLimited => 429,
            ApiErrorCode::Internal => 500,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct ApiErrorDetail {
    pub code: ApiErrorCode,
    pub message: String,
    /// On 409: the ticket as it is now on the server.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub current: Option<Ticket>,
}

/// Body of every REST error: `{error: {code, message}}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct ApiErrorBody {
    pub error: ApiErrorDetail,
}

/// A field that must be present but may be `null`.
fn required_nullable<'de, D, T>(de: D) -> Result<Option<T>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(de)
}

/// Distinguishes "field absent" (`None`) from "field is null" (`Some(None)`).
fn double_option<'de, D, T>(de: D) -> Result<Option<Option<T>>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(de).map(Some)
}

#[cfg(test)]
mod tests {
    /// `timestamp::deserialize` accepts what chrono's own `Deserialize` accepts, with the same
    /// value, and refuses the rest with the same error.
    #[test]
    fn timestamps_read_as_chrono_reads_them() {
        #[derive(serde::Deserialize)]
        struct Ours(#[serde(deserialize_with = "super::timestamp::deserialize")] super::Timestamp);
        let texts = [
            r#""2026-11-02T08:00:00Z""#,
            r#""2026-11-02T08:00:00.123456789Z""#,
            r#""2026-11-02T08:00:00.5+02:00""#,
            r#""2026-11-02t08:00:00z""#,
            r#""2026-11-02 08:00:00-05:30""#,
            r#""2026-11-02T08:00:00 +02:00""#,
            r#""2026-11-02T08:00:00+0200""#,
            r#""2026-12-31T23:59:60Z""#,
            r#""2026-11-02T08:00:00""#,
            r#""2026-13-02T08:00:00Z""#,
            r#""yesterday""#,
            r#""""#,
            "12",
            "null",
        ];
        let mut accepted = 0;
        for text in texts {
            let ours = serde_json::from_str::<Ours>(text).map(|t| t.0);
            let chrono = serde_json::from_str::<super::Timestamp>(text);
            match (ours, chrono) {
                (Ok(a), Ok(b)) => {
                    assert_eq!(a, b, "{text}");
                    accepted += 1;
                }
                (Err(a), Err(b)) => assert_eq!(a.to_string(), b.to_string(), "{text}"),
                (a, b) => panic!("{text}: ours {a:?}, chrono {b:?}"),
            }
        }
        // Both kinds of input were seen.
        assert!((5..texts.len()).contains(&accepted), "{accepted}");
    }

    #[test]
    fn event_streams_have_one_name_each() {
        for stream in [
            EventStream::All,
            EventStream::Admins,
            EventStream::Assignee(7),
            EventStream::AgentsExcept(12),
            EventStream::Only(9_007_199_254_740_991),
        ] {
            let name = stream.to_string();
            assert_eq!(EventStream::parse(&name), Some(stream), "{name}");
            let json = serde_json::to_string(&stream).unwrap();
            assert_eq!(serde_json::from_str::<EventStream>(&json).unwrap(), stream);
        }
        for bad in [
            "",
            "ALL",
            "assignee-",
            "assignee-07",
            "only-1x",
            "only--1",
            "agents-7",
            "all-1",
        ] {
            assert_eq!(EventStream::parse(bad), None, "{bad:?}");
        }
        assert!(serde_json::from_str::<EventStream>("\"someone\"").is_err());
    }

    use super::*;

    #[test]
    fn patch_distinguishes_absent_from_null() {
        let absent: TicketPatch = serde_json::from_str(r#"{"title":"x"}"#).unwrap();
        assert_eq!(absent.assignee_id, None);
        let null: TicketPatch = serde_json::from_str(r#"{"assigneeId":null}"#).unwrap();
        assert_eq!(null.assignee_id, Some(None));
        let set: TicketPatch = serde_json::from_str(r#"{"laneId":4}"#).unwrap();
        assert_eq!(set.lane_id, Some(Some(4)));
        assert!(TicketPatch::default().is_empty());
        assert!(!set.is_empty());
    }

    #[test]
    fn requests_reject_unknown_and_missing_fields() {
        assert!(serde_json::from_str::<TicketPatch>(r#"{"priorty":"urgent"}"#).is_err());
        assert!(serde_json::from_str::<MoveRequest>(r#"{}"#).is_err());
        let to_no_lane: MoveRequest = serde_json::from_str(r#"{"laneId":null}"#).unwrap();
        assert_eq!(to_no_lane.lane_id, None);
    }

    #[test]
    fn envelope_uses_camel_case_and_omits_absent_fields() {
        let env = EventEnvelope {
            ticket_id: Some(9),
            from: Some("open".into()),
            to: Some("closed".into()),
            ..EventEnvelope::new(
                EventAction::StatusChange,
                7,
                1,
                2,
                "2026-01-02T03:04:05Z".parse().unwrap(),
            )
        };
        let json = serde_json::to_value(&env).unwrap();
        assert_eq!(json["action"], "status-change");
        assert_eq!(json["companyId"], 1);
        assert_eq!(json["ticketId"], 9);
        assert!(json.get("ticket").is_none());
        let back: EventEnvelope = serde_json::from_value(json).unwrap();
        assert_eq!(back, env);
        assert_eq!(back.ticket_ref(), Some(9));
    }

    #[test]
    fn enum_string_forms_round_trip() {
        for p in [
            Priority::Low,
            Priority::Normal,
            Priority::High,
            Priority::Urgent,
        ] {
            assert_eq!(Priority::parse(p.as_str()), Some(p));
            assert_eq!(serde_json::to_value(p).unwrap(), p.as_str());
        }
        for s in [
            TicketStatus::Open,
            TicketStatus::Pending,
            TicketStatus::Closed,
        ] {
            assert_eq!(TicketStatus::parse(s.as_str()), Some(s));
        }
        for c in [
            ConnectErrorCode::Unauthorized,
            ConnectErrorCode::TokenExpired,
            ConnectErrorCode::Forbidden,
            ConnectErrorCode::InvalidNamespace,
        ] {
            assert_eq!(ConnectErrorCode::parse(c.as_str()), Some(c));
            assert_eq!(serde_json::to_value(c).unwrap(), c.as_str());
        }
        for r in SessionEndReason::ALL {
            assert_eq!(SessionEndReason::parse(r.as_str()), Some(r));
            assert_eq!(serde_json::to_value(r).unwrap(), r.as_str());
        }
        assert_eq!(
            serde_json::to_value(SessionEnded::new(SessionEndReason::Deactivated)).unwrap()
                ["reason"],
            "deactivated"
        );
        assert_eq!(Priority::parse("URGENT"), None);
        assert_eq!(ApiErrorCode::Conflict.http_status(), 409);
        assert_eq!(ApiErrorCode::WorkspaceRequired.http_status(), 409);
        assert_eq!(
            serde_json::to_value(ApiErrorCode::WorkspaceRequired).unwrap(),
            "workspace_required"
        );
    }

    #[test]
    fn login_takes_an_optional_company() {
        let plain: LoginRequest =
            serde_json::from_str(r#"{"email":"a@x.test","password":"p"}"#).unwrap();
        assert_eq!(plain.company_id, None);
        assert_eq!(
            serde_json::to_value(&plain).unwrap(),
            serde_json::json!({"email": "a@x.test", "password": "p"}),
            "absent, not null, when not given"
        );
        let scoped: LoginRequest =
            serde_json::from_str(r#"{"email":"a@x.test","password":"p","companyId":2}"#).unwrap();
        assert_eq!(scoped.company_id, Some(2));
        assert!(serde_json::from_str::<LoginRequest>(
            r#"{"email":"a@x.test","password":"p","company":2}"#
        )
        .is_err());
    }
}
