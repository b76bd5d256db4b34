//! Who may see what: the server's one visibility rule.
//!
//! Admins see every ticket of their company; agents see the tickets assigned to them and the
//! unassigned ones. Every way a member learns of a ticket applies the rule from here and from
//! nowhere else:
//!
//! - reads (REST, the operations): `can_see`, `visible_ticket`, `visible_tickets`;
//! - events: each is stored with its `Audience`, decided from the ticket as the write left it
//!   (`Audience::of_ticket`, `Audience::lost_sight`);
//! - live fan-out: the rooms an audience reaches (`Audience::rooms`) and the rooms a member's
//!   socket joins (`rooms_of`);
//! - replay: `AUDIENCE_SQL`, the SQL form of `Audience::includes`.
//!
//! The tests below check that these forms agree for every role and audience.
//!
//! Dependencies: `store` (rows), `error`, the protocol. Nothing here knows HTTP or sockets;
//! `ops`, `outbox`, `writes`, `events` and `realtime` depend on this module, never the reverse.

use std::borrow::Cow;

use deskbell_protocol::{EventStream, Id, Role, Ticket, User};
use sqlx::{AnyConnection, Executor};

use crate::error::{OpError, OpResult};
use crate::store::{self, ticket_from_row, TICKET_COLUMNS};

/// Whether `user` may see `ticket`: admins all; agents the ones assigned to them and
/// unassigned ones.
pub fn can_see(user: &User, ticket: &Ticket) -> bool {
    user.role == Role::Admin || ticket.assignee_id.is_none() || ticket.assignee_id == Some(user.id)
}

/// SQL condition matching `can_see` (binds: `$2` = is admin as 0/1, `$3` = user id).
const VISIBLE_TICKET_SQL: &str = "($2 = 1 OR assignee_id IS NULL OR assignee_id = $3)";

/// The company's tickets `viewer` may see, by id.
pub async fn visible_tickets<'e, E: Executor<'e, Database = sqlx::Any>>(
    db: E,
    viewer: &User,
) -> Result<Vec<Ticket>, sqlx::Error> {
    sqlx::query(&format!(
        "SELECT {TICKET_COLUMNS} FROM tickets WHERE company_id = $1 AND {VISIBLE_TICKET_SQL} ORDER BY id"
    ))
    .bind(viewer.company_id)
    .bind(i64::from(viewer.role == Role::Admin))
    .bind(viewer.id)
    .fetch_all(db)
    .await?
    .iter()
    .map(ticket_from_row)
    .collect()
}

/// A ticket `viewer` may see, or `not_found` (never `forbidden`: existence is not revealed).
pub async fn visible_ticket(conn: &mut AnyConnection, viewer: &User, id: Id) -> OpResult<Ticket> {
    store::ticket(conn, viewer.company_id, id)
        .await?
        .filter(|t| can_see(viewer, t))
        .ok_or(OpError::NotFound("ticket"))
}

/// Who may receive an event. Stored with it, so replay filters exactly as live emission does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Audience {
    /// Everyone in the company.
    All,
    /// Admins only (escalations).
    Admins,
    /// Admins and this user (a ticket assigned to them).
    Assignee(Id),
    /// Agents other than this user (an unassigned ticket was just taken by them).
    AgentsExcept(Id),
    /// Only this user (a ticket was reassigned away from them).
    Only(Id),
}

impl Audience {
    /// The audience of events about this ticket as it is now: exactly who `can_see` it.
    pub fn of_ticket(ticket: &Ticket) -> Audience {
        match ticket.assignee_id {
            None => Audience::All,
            Some(user) => Audience::Assignee(user),
        }
    }

    /// Who saw a ticket assigned to `before` (`None`: unassigned) and no longer sees it now
    /// that it is assigned to `after`; `before_role` is the role of the previous assignee.
    /// They are told the ticket is gone.
    pub fn lost_sight(
        before: Option<Id>,
        after: Option<Id>,
        before_role: Option<Role>,
    ) -> Option<Audience> {
        match (before, after) {
            (None, Some(new)) => Some(Audience::AgentsExcept(new)),
            // An admin keeps seeing every ticket.
            (Some(old), Some(new)) if old != new && before_role == Some(Role::Agent) => {
                Some(Audience::Only(old))
            }
            _ => None,
        }
    }

    pub(crate) fn to_db(self) -> (&'static str, Option<Id>) {
        match self {
            Audience::All => ("all", None),
            Audience::Admins => ("admins", None),
            Audience::Assignee(u) => ("assignee", Some(u)),
            Audience::AgentsExcept(u) => ("agents_except", Some(u)),
            Audience::Only(u) => ("only", Some(u)),
        }
    }

    pub(crate) fn from_db(kind: &str, user: Option<Id>) -> Option<Audience> {
        match (kind, user) {
            ("all", _) => Some(Audience::All),
            ("admins", _) => Some(Audience::Admins),
            ("assignee", Some(u)) => Some(Audience::Assignee(u)),
            ("agents_except", Some(u)) => Some(Audience::AgentsExcept(u)),
            ("only", Some(u)) => Some(Audience::Only(u)),
            _ => None,
        }
    }

    /// The protocol's name for who sees the event: one stream per audience.
    pub fn stream(self) -> EventStream {
        match self {
            Audience::All => EventStream::All,
            Audience::Admins => EventStream::Admins,
            Audience::Assignee(u) => EventStream::Assignee(u),
            Audience::AgentsExcept(u) => EventStream::AgentsExcept(u),
            Audience::Only(u) => EventStream::Only(u),
        }
    }

    pub fn of_stream(stream: EventStream) -> Audience {
        match stream {
            EventStream::All => Audience::All,
            EventStream::Admins => Audience::Admins,
            EventStream::Assignee(u) => Audience::Assignee(u),
            EventStream::AgentsExcept(u) => Audience::AgentsExcept(u),
            EventStream::Only(u) => Audience::Only(u),
        }
    }

    pub fn includes(self, user: &User) -> bool {
        match self {
            Audience::All => true,
            Audience::Admins => user.role == Role::Admin,
            Audience::Assignee(u) => user.role == Role::Admin || user.id == u,
            Audience::AgentsExcept(u) => user.role == Role::Agent && user.id != u,
            Audience::Only(u) => user.id == u,
        }
    }

    /// The socket rooms live emission sends the event to: the sockets in any of `to` and not
    /// in `except` are exactly the sockets (see `rooms_of`) of the members it `includes`.
    pub fn rooms(self) -> Rooms {
        let (to, except) = match self {
            Audience::All => (vec![Cow::Borrowed(ROOM_MEMBERS)], None),
            Audience::Admins => (vec![Cow::Borrowed(ROOM_ADMINS)], None),
            Audience::Assignee(u) => (vec![Cow::Borrowed(ROOM_ADMINS), user_room(u).into()], None),
            Audience::AgentsExcept(u) => (
                vec![Cow::Borrowed(ROOM_AGENTS)],
                Some(Cow::Owned(user_room(u))),
            ),
            Audience::Only(u) => (vec![Cow::Owned(user_room(u))], None),
        };
        Rooms { to, except }
    }
}

/// Where live emission sends an event (see `Audience::rooms`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rooms {
    pub to: Vec<Cow<'static, str>>,
    pub except: Option<Cow<'static, str>>,
}

pub const ROOM_MEMBERS: &str = "members";
pub const ROOM_ADMINS: &str = "role:admin";
pub const ROOM_AGENTS: &str = "role:agent";

pub fn user_room(user: Id) -> String {
    format!("user:{user}")
}

/// The rooms a member's socket joins: everyone's, their own, their role's.
pub fn rooms_of(user: &User) -> [String; 3] {
    [
        ROOM_MEMBERS.to_string(),
        user_room(user.id),
        match user.role {
            Role::Admin => ROOM_ADMINS.to_string(),
            Role::Agent => ROOM_AGENTS.to_string(),
        },
    ]
}

/// SQL condition matching `Audience::includes` (binds: `$3` user id, `$4` role).
pub(crate) const AUDIENCE_SQL: &str = "(audience = 'all' \
    OR (audience = 'admins' AND $4 = 'admin') \
    OR (audience = 'assignee' AND ($4 = 'admin' OR audience_user = $3)) \
    OR (audience = 'agents_except' AND $4 = 'agent' AND audience_user <> $3) \
    OR (audience = 'only' AND audience_user = $3))";

#[cfg(test)]
mod tests {
    use super::*;

    fn user(id: Id, role: Role) -> User {
        User {
            id,
            company_id: 1,
            name: "u".into(),
            email: "u@x".into(),
            role,
            active: true,
        }
    }

    fn ticket(assignee_id: Option<Id>) -> Ticket {
        Ticket {
            id: 1,
            company_id: 1,
            title: "t".into(),
            requester: deskbell_protocol::Requester {
                name: "r".into(),
                contact: None,
            },
            status: deskbell_protocol::TicketStatus::Open,
            priority: deskbell_protocol::Priority::Normal,
            assignee_id,
            creator_id: 1,
            lane_id: None,
            last_message: None,
            comment_count: 0,
            created_at: chrono::Utc::now(),
            updated_at: chrono::Utc::now(),
            version: 1,
            urgent_since: None,
            urgent_by: None,
            acknowledged_by: None,
            acknowledged_at: None,
        }
    }

    fn members() -> Vec<User> {
        vec![
            user(1, Role::Admin),
            user(2, Role::Agent),
            user(3, Role::Agent),
        ]
    }

    fn audiences() -> Vec<Audience> {
        let mut all = vec![Audience::All, Audience::Admins];
        for u in 1..=3 {
            all.extend([
                Audience::Assignee(u),
                Audience::AgentsExcept(u),
                Audience::Only(u),
            ]);
        }
        all
    }

    #[test]
    fn audiences_match_visibility() {
        let admin = user(1, Role::Admin);
        let a = user(2, Role::Agent);
        let b = user(3, Role::Agent);
        assert!(Audience::All.includes(&a));
        assert!(Audience::Assignee(2).includes(&admin));
        assert!(Audience::Assignee(2).includes(&a));
        assert!(!Audience::Assignee(2).includes(&b));
        assert!(Audience::AgentsExcept(2).includes(&b));
        assert!(!Audience::AgentsExcept(2).includes(&a));
        assert!(!Audience::AgentsExcept(2).includes(&admin));
        assert!(Audience::Only(3).includes(&b));
        assert!(!Audience::Only(3).includes(&admin));
    }

    #[test]
    fn a_tickets_audience_is_who_can_see_it() {
        for assignee in [None, Some(1), Some(2), Some(3)] {
            let t = ticket(assignee);
            for member in members() {
                assert_eq!(
                    Audience::of_ticket(&t).includes(&member),
                    can_see(&member, &t),
                    "ticket assigned to {assignee:?}, member {}",
                    member.id
                );
            }
        }
    }

    #[test]
    fn those_who_lose_sight_are_exactly_who_saw_it_before_and_not_after() {
        for before in [None, Some(1), Some(2), Some(3)] {
            for after in [None, Some(1), Some(2), Some(3)] {
                let role = before.map(|id| members()[id as usize - 1].role);
                let told = Audience::lost_sight(before, after, role);
                for member in members() {
                    let lost =
                        can_see(&member, &ticket(before)) && !can_see(&member, &ticket(after));
                    // Moving to "unassigned" widens sight: nobody loses it.
                    assert_eq!(
                        told.is_some_and(|a| a.includes(&member)),
                        lost,
                        "{before:?} -> {after:?}, member {}",
                        member.id
                    );
                }
            }
        }
    }

    #[test]
    fn live_rooms_reach_exactly_the_audience() {
        for audience in audiences() {
            let rooms = audience.rooms();
            for member in members() {
                let joined = rooms_of(&member);
                let reached = rooms.to.iter().any(|r| joined.iter().any(|j| j == r))
                    && !rooms
                        .except
                        .as_ref()
                        .is_some_and(|r| joined.iter().any(|j| j == r));
                assert_eq!(
                    reached,
                    audience.includes(&member),
                    "{audience:?}, member {}",
                    member.id
                );
            }
        }
    }

    #[tokio::test]
    async fn replay_filters_as_live_emission_does() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}?mode=rwc", dir.path().join("v.db").display());
        let db = crate::db::Db::connect(&url).await.expect("database");
        for audience in audiences() {
            let (kind, user) = audience.to_db();
            for member in members() {
                let row = sqlx::query(&format!(
                    "SELECT 1 AS hit FROM (SELECT $1 AS audience, $2 AS audience_user) e WHERE {AUDIENCE_SQL}"
                ))
                .bind(kind)
                .bind(user)
                .bind(member.id)
                .bind(member.role.as_str())
                .fetch_optional(&db.pool)
                .await
                .unwrap();
                assert_eq!(
                    row.is_some(),
                    audience.includes(&member),
                    "{audience:?}, member {}",
                    member.id
                );
            }
        }
        db.close().await;
    }
}
