//! Tickets: board snapshot, list, create, patch with optimistic concurrency, lane moves,
//! delete.
//!
//! A patch that changes a single kind of thing is recorded with its own action (`move`,
//! `status_change`, `priority_change`, `assign`), any other with `update`; a reassignment
//! also tells those who lose sight of the ticket that it is gone (see `visibility`).
//!
//! Urgent episodes (`urgent_episode`): a ticket that becomes urgent (created urgent, or raised
//! from any other priority) starts an episode: `urgent_since` = now, `urgent_by` = the actor,
//! no acknowledgement, and the escalation timer (`escalate_due_at`, see `escalation`) armed
//! for now + the company's `escalate_after_minutes`. Lowering the priority ends the episode:
//! all of it cleared, timer disarmed. While it is urgent and unacknowledged, `acknowledge`,
//! taking it (assigning it to oneself) or closing it acknowledges it (the latter two keep
//! their own action) and disarms the timer; the first acknowledgement stays. An episode on a
//! closed ticket is never armed: nobody needs to take it.
//!
//! Dependencies: `attachments` (a deleted ticket's files), `validate`, `visibility`, `writes`,
//! `store`, `auth`, `state`, `error`.

use chrono::{DateTime, Utc};
use deskbell_protocol::{
    Board, EventAction, Id, NewTicket, Priority, Resource, Ticket, TicketPatch, TicketStatus,
};
use sqlx::Row;

use super::validate::{body_id, optional_text, required_text, Lines};
use crate::auth::AuthUser;
use crate::error::{OpError, OpResult};
use crate::state::AppState;
use crate::store::{self, TICKET_COLUMNS};
use crate::visibility::{self, visible_ticket, Audience};
use crate::writes::WriteTx;

const TITLE_MAX: usize = 200;
const NAME_MAX: usize = 200;
const MESSAGE_MAX: usize = 20_000;
/// `lastMessage` is a preview.
const PREVIEW_MAX: usize = 280;

pub fn preview(body: &str) -> String {
    let line = body.trim();
    if line.chars().count() <= PREVIEW_MAX {
        line.to_string()
    } else {
        let mut cut: String = line.chars().take(PREVIEW_MAX - 1).collect();
        cut.push('…');
        cut
    }
}

/// The board as `actor` sees it: lanes, visible tickets, and the event head they reflect.
pub async fn board(state: &AppState, actor: &AuthUser) -> OpResult<Board> {
    // The head is read first: anything committed after it is replayed, and applying an event
    // the snapshot already reflects is a no-op (versions).
    let seq = store::event_head(&state.db.pool, actor.company_id()).await?;
    let lanes = store::lanes(&state.db.pool, actor.company_id()).await?;
    let tickets = visibility::visible_tickets(&state.db.pool, &actor.user).await?;
    Ok(Board {
        lanes,
        tickets,
        seq,
    })
}

/// Which of the visible tickets to list; every field that is set must match.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TicketFilter {
    pub status: Option<TicketStatus>,
    pub priority: Option<Priority>,
    pub assignee: Option<AssigneeFilter>,
    /// Case-insensitive search in title, requester and last message.
    pub q: Option<String>,
}

/// Whose tickets to list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AssigneeFilter {
    /// The acting member's.
    Me,
    /// Unassigned ones.
    Nobody,
    User(Id),
}

/// The tickets `actor` sees that match `filter`, by id.
pub async fn list(
    state: &AppState,
    actor: &AuthUser,
    filter: TicketFilter,
) -> OpResult<Vec<Ticket>> {
    let assignee: Option<Option<Id>> = filter.assignee.map(|a| match a {
        AssigneeFilter::Me => Some(actor.user.id),
        AssigneeFilter::Nobody => None,
        AssigneeFilter::User(id) => Some(id),
    });
    let needle = filter
        .q
        .as_deref()
        .map(str::trim)
        .filter(|q| !q.is_empty())
        .map(str::to_lowercase);
    let tickets = visibility::visible_tickets(&state.db.pool, &actor.user)
        .await?
        .into_iter()
        .filter(|t| filter.status.is_none_or(|s| t.status == s))
        .filter(|t| filter.priority.is_none_or(|p| t.priority == p))
        .filter(|t| assignee.is_none_or(|a| t.assignee_id == a))
        .filter(|t| {
            needle.as_deref().is_none_or(|q| {
                t.title.to_lowercase().contains(q)
                    || t.requester.name.to_lowercase().contains(q)
                    || t.last_message
                        .as_deref()
                        .is_some_and(|m| m.to_lowercase().contains(q))
            })
        })
        .collect();
    Ok(tickets)
}

/// A ticket `actor` sees, or `not_found`.
pub async fn show(state: &AppState, actor: &AuthUser, id: Id) -> OpResult<Ticket> {
    let mut conn = state.db.pool.acquire().await?;
    visible_ticket(&mut conn, &actor.user, id).await
}

async fn check_assignee(
    conn: &mut sqlx::AnyConnection,
    company_id: Id,
    assignee: Option<Id>,
) -> OpResult<()> {
    if let Some(id) = assignee {
        match store::company_user(&mut *conn, company_id, id).await? {
            Some(user) if user.active => {}
            Some(_) => return Err(OpError::validation("the assignee's account is disabled")),
            None => return Err(OpError::validation(format!("no user {id} in this company"))),
        }
    }
    Ok(())
}

async fn check_lane(
    conn: &mut sqlx::AnyConnection,
    company_id: Id,
    lane: Option<Id>,
) -> OpResult<()> {
    if let Some(id) = lane {
        if store::lane(conn, company_id, id).await?.is_none() {
            return Err(OpError::validation(format!("no lane {id} in this company")));
        }
    }
    Ok(())
}

/// Creates a ticket, with its first message as a comment when it has one.
pub async fn create(state: &AppState, actor: &AuthUser, new: NewTicket) -> OpResult<Ticket> {
    let title = required_text("title", &new.title, TITLE_MAX, Lines::Single)?;
    let requester_name = required_text(
        "requester.name",
        &new.requester.name,
        NAME_MAX,
        Lines::Single,
    )?;
    let contact = optional_text(
        "requester.contact",
        new.requester.contact.as_deref(),
        NAME_MAX,
        Lines::Single,
    )?;
    let message = optional_text("message", new.message.as_deref(), MESSAGE_MAX, Lines::Multi)?;
    let new = NewTicket {
        title,
        requester: deskbell_protocol::Requester {
            name: requester_name,
            contact,
        },
        message,
        assignee_id: new
            .assignee_id
            .map(|id| body_id("assigneeId", id))
            .transpose()?,
        lane_id: new.lane_id.map(|id| body_id("laneId", id)).transpose()?,
        ..new
    };
    state.count_write(actor.company_id(), actor.user.id).await?;
    super::write(state, actor, new, |w, new| Box::pin(insert_ticket(w, new))).await
}

/// What a write does to a ticket's escalation timer (`escalate_due_at`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Timer {
    Keep,
    Arm(DateTime<Utc>),
    Disarm,
}

impl Timer {
    /// The column's new value; `None` for `Keep` too (a new row has no timer to keep).
    fn due(self) -> Option<String> {
        match self {
            Timer::Arm(at) => Some(store::ts(at)),
            Timer::Keep | Timer::Disarm => None,
        }
    }
}

/// Applies the urgent-episode rules (module docs) to `after`, the ticket as `actor`'s write
/// leaves it (`before`: as it was, `None` for a new ticket), and says what becomes of the
/// escalation timer.
fn urgent_episode(
    before: Option<&Ticket>,
    after: &mut Ticket,
    actor: Id,
    now: DateTime<Utc>,
    escalate_after_minutes: i64,
) -> Timer {
    if after.priority != Priority::Urgent {
        after.urgent_since = None;
        after.urgent_by = None;
        after.acknowledged_by = None;
        after.acknowledged_at = None;
        return Timer::Disarm;
    }
    let begins = before.is_none_or(|b| b.priority != Priority::Urgent);
    if begins {
        after.urgent_since = Some(now);
        after.urgent_by = Some(actor);
        after.acknowledged_by = None;
        after.acknowledged_at = None;
    }
    let took =
        after.assignee_id == Some(actor) && before.is_none_or(|b| b.assignee_id != Some(actor));
    let closed = after.status == TicketStatus::Closed
        && before.is_none_or(|b| b.status != TicketStatus::Closed);
    if after.acknowledged_at.is_none() && (took || closed) {
        after.acknowledged_by = Some(actor);
        after.acknowledged_at = Some(now);
        return Timer::Disarm;
    }
    if begins {
        if after.status == TicketStatus::Closed {
            return Timer::Disarm;
        }
        return Timer::Arm(now + chrono::Duration::minutes(escalate_after_minutes));
    }
    Timer::Keep
}

/// The company's minutes before an unacknowledged urgent ticket escalates.
async fn escalate_after_minutes(w: &mut WriteTx) -> OpResult<i64> {
    let company_id = w.company_id;
    Ok(store::company(w.conn(), company_id)
        .await?
        .ok_or_else(|| OpError::Internal(format!("company {company_id} does not exist")))?
        .escalate_after_minutes)
}

/// Inserts a ticket whose fields are checked, and its first message as a comment.
async fn insert_ticket(w: &mut WriteTx, new: &NewTicket) -> OpResult<Ticket> {
    let company_id = w.company_id;
    check_assignee(w.conn(), company_id, new.assignee_id).await?;
    check_lane(w.conn(), company_id, new.lane_id).await?;
    let now = store::ts(w.now);
    let status = new.status.unwrap_or(TicketStatus::Open);
    let priority = new.priority.unwrap_or(Priority::Normal);
    // The episode's fields, decided on the ticket as it will be (only what they read is set).
    let mut episode = Ticket {
        id: 0,
        company_id,
        title: String::new(),
        requester: new.requester.clone(),
        status,
        priority,
        assignee_id: new.assignee_id,
        creator_id: w.actor,
        lane_id: new.lane_id,
        last_message: None,
        comment_count: 0,
        created_at: w.now,
        updated_at: w.now,
        version: 1,
        urgent_since: None,
        urgent_by: None,
        acknowledged_by: None,
        acknowledged_at: None,
    };
    let minutes = if priority == Priority::Urgent {
        escalate_after_minutes(w).await?
    } else {
        0
    };
    let timer = urgent_episode(None, &mut episode, w.actor, w.now, minutes);
    let ticket = sqlx::query(&format!(
        "INSERT INTO tickets (company_id, title, requester_name, requester_contact, status, priority,
            assignee_id, creator_id, lane_id, last_message, comment_count, created_at, updated_at, version,
            urgent_since, urgent_by, acknowledged_by, acknowledged_at, escalate_due_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $12, 1, $13, $14, $15, $16, $17)
         RETURNING {TICKET_COLUMNS}"
    ))
    .bind(company_id)
    .bind(&new.title)
    .bind(&new.requester.name)
    .bind(new.requester.contact.as_deref())
    .bind(status.as_str())
    .bind(priority.as_str())
    .bind(new.assignee_id)
    .bind(w.actor)
    .bind(new.lane_id)
    .bind(new.message.as_deref().map(preview))
    .bind(i64::from(new.message.is_some()))
    .bind(&now)
    .bind(episode.urgent_since.map(store::ts))
    .bind(episode.urgent_by)
    .bind(episode.acknowledged_by)
    .bind(episode.acknowledged_at.map(store::ts))
    .bind(timer.due())
    .fetch_one(w.conn())
    .await
    .map(|row| store::ticket_from_row(&row))??;
    if let Some(body) = &new.message {
        sqlx::query(
            // The first message is the requester's, whoever recorded the ticket.
            "INSERT INTO comments (company_id, ticket_id, author_id, body, created_at, from_requester)
             VALUES ($1, $2, $3, $4, $5, 1)",
        )
        .bind(company_id)
        .bind(ticket.id)
        .bind(w.actor)
        .bind(body)
        .bind(&now)
        .execute(w.conn())
        .await?;
    }
    let mut event = w.envelope(EventAction::Create);
    event.ticket = Some(ticket.clone());
    w.record(Resource::Ticket, Audience::of_ticket(&ticket), event)?;
    Ok(ticket)
}

/// The action that names a change: a single kind of change gets its own action.
fn action_for(
    before: &Ticket,
    after: &Ticket,
) -> (
    EventAction,
    Option<serde_json::Value>,
    Option<serde_json::Value>,
) {
    use serde_json::json;
    let lane = before.lane_id != after.lane_id;
    let assignee = before.assignee_id != after.assignee_id;
    let status = before.status != after.status;
    let priority = before.priority != after.priority;
    let other = before.title != after.title || before.requester != after.requester;
    match (lane, assignee, status, priority, other) {
        (true, false, false, false, false) => (
            EventAction::Move,
            Some(json!(before.lane_id)),
            Some(json!(after.lane_id)),
        ),
        (false, false, true, false, false) => (
            EventAction::StatusChange,
            Some(json!(before.status)),
            Some(json!(after.status)),
        ),
        (false, false, false, true, false) => (
            EventAction::PriorityChange,
            Some(json!(before.priority)),
            Some(json!(after.priority)),
        ),
        (_, true, _, _, _) => (
            EventAction::Assign,
            Some(json!(before.assignee_id)),
            Some(json!(after.assignee_id)),
        ),
        _ => (EventAction::Update, None, None),
    }
}

/// Applies a patch in one transaction: version check (`expected_version`, when given, else
/// `conflict` with the ticket as it is), validation, update, events. Returns the ticket as it
/// is after the call.
pub async fn patch(
    state: &AppState,
    actor: &AuthUser,
    id: Id,
    expected_version: Option<i64>,
    patch: TicketPatch,
) -> OpResult<Ticket> {
    if patch.is_empty() {
        return Err(OpError::validation("nothing to change"));
    }
    let title = patch
        .title
        .as_deref()
        .map(|t| required_text("title", t, TITLE_MAX, Lines::Single))
        .transpose()?;
    let requester = match &patch.requester {
        Some(r) => Some(deskbell_protocol::Requester {
            name: required_text("requester.name", &r.name, NAME_MAX, Lines::Single)?,
            contact: optional_text(
                "requester.contact",
                r.contact.as_deref(),
                NAME_MAX,
                Lines::Single,
            )?,
        }),
        None => None,
    };
    // `Some(None)` clears the field; only ids that are sent are checked.
    let assignee_id = match patch.assignee_id {
        Some(Some(id)) => Some(Some(body_id("assigneeId", id)?)),
        other => other,
    };
    let lane_id = match patch.lane_id {
        Some(Some(id)) => Some(Some(body_id("laneId", id)?)),
        other => other,
    };
    let patch = TicketPatch {
        title,
        requester,
        assignee_id,
        lane_id,
        ..patch
    };
    state.count_write(actor.company_id(), actor.user.id).await?;
    super::write(
        state,
        actor,
        (actor.clone(), id, expected_version, patch),
        |w, (actor, id, expected, patch)| Box::pin(update_ticket(w, actor, *id, *expected, patch)),
    )
    .await
}

/// Moves a ticket to a lane (`None`: no lane): the same one-transaction patch.
pub async fn move_to_lane(
    state: &AppState,
    actor: &AuthUser,
    id: Id,
    expected_version: Option<i64>,
    lane_id: Option<Id>,
) -> OpResult<Ticket> {
    let change = TicketPatch {
        lane_id: Some(lane_id),
        ..TicketPatch::default()
    };
    patch(state, actor, id, expected_version, change).await
}

async fn update_ticket(
    w: &mut WriteTx,
    actor: &AuthUser,
    id: Id,
    expected_version: Option<i64>,
    patch: &TicketPatch,
) -> OpResult<Ticket> {
    let before = visible_ticket(w.conn(), &actor.user, id).await?;
    if let Some(expected) = expected_version {
        if expected != before.version {
            return Err(OpError::Conflict {
                message: format!(
                    "the ticket changed meanwhile (you had version {expected}, it is at {})",
                    before.version
                ),
                current: Some(Box::new(before)),
            });
        }
    }
    let mut after = before.clone();
    if let Some(t) = &patch.title {
        after.title = t.clone();
    }
    if let Some(r) = &patch.requester {
        after.requester = r.clone();
    }
    if let Some(s) = patch.status {
        after.status = s;
    }
    if let Some(p) = patch.priority {
        after.priority = p;
    }
    if let Some(a) = patch.assignee_id {
        after.assignee_id = a;
    }
    if let Some(l) = patch.lane_id {
        after.lane_id = l;
    }
    if after == before {
        return Ok(before);
    }
    if after.assignee_id != before.assignee_id {
        check_assignee(w.conn(), actor.company_id(), after.assignee_id).await?;
    }
    if after.lane_id != before.lane_id {
        check_lane(w.conn(), actor.company_id(), after.lane_id).await?;
    }
    let minutes = if after.priority == Priority::Urgent && before.priority != Priority::Urgent {
        escalate_after_minutes(w).await?
    } else {
        0
    };
    let timer = urgent_episode(Some(&before), &mut after, w.actor, w.now, minutes);
    // A kept timer is left as the database has it (the ticket does not carry it).
    let timer_sql = if timer == Timer::Keep {
        ""
    } else {
        ", escalate_due_at = $15"
    };
    let sql = format!(
        "UPDATE tickets SET title = $1, requester_name = $2, requester_contact = $3, status = $4, priority = $5,
            assignee_id = $6, lane_id = $7, updated_at = $8, version = version + 1,
            urgent_since = $11, urgent_by = $12, acknowledged_by = $13, acknowledged_at = $14{timer_sql}
         WHERE id = $9 AND company_id = $10",
    );
    let mut update = sqlx::query(&sql)
        .bind(&after.title)
        .bind(&after.requester.name)
        .bind(after.requester.contact.as_deref())
        .bind(after.status.as_str())
        .bind(after.priority.as_str())
        .bind(after.assignee_id)
        .bind(after.lane_id)
        .bind(store::ts(w.now))
        .bind(id)
        .bind(actor.company_id())
        .bind(after.urgent_since.map(store::ts))
        .bind(after.urgent_by)
        .bind(after.acknowledged_by)
        .bind(after.acknowledged_at.map(store::ts));
    if timer != Timer::Keep {
        update = update.bind(timer.due());
    }
    update.execute(w.conn()).await?;
    let after = w.ticket(id).await?;
    let (action, from, to) = action_for(&before, &after);
    let mut event = w.envelope(action);
    event.ticket = Some(after.clone());
    event.from = from;
    event.to = to;
    w.record(Resource::Ticket, Audience::of_ticket(&after), event)?;
    if let Some(lost_sight) = lost_sight(w.conn(), actor.company_id(), &before, &after).await? {
        let mut gone = w.envelope(EventAction::Delete);
        gone.ticket_id = Some(id);
        w.record(Resource::Ticket, lost_sight, gone)?;
    }
    Ok(after)
}

/// Acknowledges an urgent ticket: `actor` takes responsibility, and the admins will not be
/// told (the timer is disarmed). Anyone who sees the ticket may; a ticket that is not urgent,
/// or closed, is a `conflict` carrying it; one already acknowledged is answered as it is,
/// with no event (the first acknowledgement stays).
pub async fn acknowledge(state: &AppState, actor: &AuthUser, id: Id) -> OpResult<Ticket> {
    state.count_write(actor.company_id(), actor.user.id).await?;
    super::write(state, actor, (actor.clone(), id), |w, (actor, id)| {
        Box::pin(acknowledge_ticket(w, actor, *id))
    })
    .await
}

async fn acknowledge_ticket(w: &mut WriteTx, actor: &AuthUser, id: Id) -> OpResult<Ticket> {
    let before = visible_ticket(w.conn(), &actor.user, id).await?;
    if before.priority != Priority::Urgent || before.status == TicketStatus::Closed {
        return Err(OpError::Conflict {
            message: "only an urgent ticket that is not closed can be acknowledged".into(),
            current: Some(Box::new(before)),
        });
    }
    if before.acknowledged_at.is_some() {
        return Ok(before);
    }
    let now = store::ts(w.now);
    sqlx::query(
        "UPDATE tickets SET acknowledged_by = $1, acknowledged_at = $2, escalate_due_at = NULL,
            updated_at = $2, version = version + 1
         WHERE id = $3 AND company_id = $4",
    )
    .bind(actor.user.id)
    .bind(&now)
    .bind(id)
    .bind(actor.company_id())
    .execute(w.conn())
    .await?;
    let after = w.ticket(id).await?;
    let mut event = w.envelope(EventAction::Acknowledge);
    event.ticket = Some(after.clone());
    w.record(Resource::Ticket, Audience::of_ticket(&after), event)?;
    Ok(after)
}

/// Who saw the ticket before a reassignment and no longer does: they get `delete`.
async fn lost_sight(
    conn: &mut sqlx::AnyConnection,
    company_id: Id,
    before: &Ticket,
    after: &Ticket,
) -> OpResult<Option<Audience>> {
    let before_role = match (before.assignee_id, after.assignee_id) {
        (Some(old), Some(new)) if old != new => store::company_user(&mut *conn, company_id, old)
            .await?
            .map(|u| u.role),
        _ => None,
    };
    Ok(Audience::lost_sight(
        before.assignee_id,
        after.assignee_id,
        before_role,
    ))
}

/// Deletes a ticket with its comments and attachments (admins only); the attachments' files
/// go once the deletion is committed.
pub async fn delete(state: &AppState, actor: &AuthUser, id: Id) -> OpResult<()> {
    actor.require_admin()?;
    state.count_write(actor.company_id(), actor.user.id).await?;
    let keys = super::write(state, actor, (actor.clone(), id), |w, (actor, id)| {
        Box::pin(delete_ticket(w, actor, *id))
    })
    .await?;
    super::attachments::remove_files(state, &keys).await;
    Ok(())
}

/// Deletes a ticket with its comments and attachments; returns the attachments' storage keys
/// (their files go once the deletion is committed).
async fn delete_ticket(w: &mut WriteTx, actor: &AuthUser, id: Id) -> OpResult<Vec<String>> {
    let ticket = visible_ticket(w.conn(), &actor.user, id).await?;
    let keys: Vec<String> =
        sqlx::query("SELECT storage_key FROM attachments WHERE ticket_id = $1 AND company_id = $2")
            .bind(id)
            .bind(actor.company_id())
            .fetch_all(w.conn())
            .await?
            .iter()
            .map(|r| r.try_get("storage_key"))
            .collect::<Result<_, _>>()?;
    for table in ["attachments", "comments"] {
        sqlx::query(&format!(
            "DELETE FROM {table} WHERE ticket_id = $1 AND company_id = $2"
        ))
        .bind(id)
        .bind(actor.company_id())
        .execute(w.conn())
        .await?;
    }
    sqlx::query("DELETE FROM tickets WHERE id = $1 AND company_id = $2")
        .bind(id)
        .bind(actor.company_id())
        .execute(w.conn())
        .await?;
    let mut event = w.envelope(EventAction::Delete);
    event.ticket_id = Some(id);
    w.record(Resource::Ticket, Audience::of_ticket(&ticket), event)?;
    Ok(keys)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ticket() -> Ticket {
        Ticket {
            id: 1,
            company_id: 1,
            title: "t".into(),
            requester: deskbell_protocol::Requester {
                name: "r".into(),
                contact: None,
            },
            status: TicketStatus::Open,
            priority: Priority::Normal,
            assignee_id: None,
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

    #[test]
    fn single_changes_get_their_own_action() {
        let before = ticket();
        let mut moved = before.clone();
        moved.lane_id = Some(4);
        assert_eq!(action_for(&before, &moved).0, EventAction::Move);
        let mut urgent = before.clone();
        urgent.priority = Priority::Urgent;
        let (action, from, to) = action_for(&before, &urgent);
        assert_eq!(action, EventAction::PriorityChange);
        assert_eq!(from.unwrap(), "normal");
        assert_eq!(to.unwrap(), "urgent");
        let mut closed = before.clone();
        closed.status = TicketStatus::Closed;
        assert_eq!(action_for(&before, &closed).0, EventAction::StatusChange);
        let mut assigned = urgent.clone();
        assigned.assignee_id = Some(2);
        assert_eq!(action_for(&before, &assigned).0, EventAction::Assign);
        let mut both = moved.clone();
        both.title = "new".into();
        assert_eq!(action_for(&before, &both).0, EventAction::Update);
    }

    #[test]
    fn urgent_episodes_begin_end_and_are_taken() {
        let now = chrono::Utc::now();
        let due = now + chrono::Duration::minutes(5);
        // Created urgent: begins, armed; created urgent and closed: never armed.
        let mut created = ticket();
        created.priority = Priority::Urgent;
        assert_eq!(
            urgent_episode(None, &mut created, 7, now, 5),
            Timer::Arm(due)
        );
        assert_eq!(
            (created.urgent_since, created.urgent_by),
            (Some(now), Some(7))
        );
        assert_eq!(created.acknowledged_at, None);
        let mut closed = ticket();
        closed.priority = Priority::Urgent;
        closed.status = TicketStatus::Closed;
        assert_eq!(urgent_episode(None, &mut closed, 7, now, 5), Timer::Disarm);
        // Created urgent and assigned to oneself: taken at once.
        let mut mine = created.clone();
        mine.assignee_id = Some(7);
        assert_eq!(urgent_episode(None, &mut mine, 7, now, 5), Timer::Disarm);
        assert_eq!(mine.acknowledged_by, Some(7));

        // Still urgent, another change: the timer and the episode stay.
        let later = now + chrono::Duration::minutes(1);
        let mut moved = created.clone();
        moved.lane_id = Some(3);
        assert_eq!(
            urgent_episode(Some(&created), &mut moved, 8, later, 5),
            Timer::Keep
        );
        assert_eq!(moved.urgent_since, Some(now));
        // Given to someone else: not taken.
        let mut handed = created.clone();
        handed.assignee_id = Some(9);
        assert_eq!(
            urgent_episode(Some(&created), &mut handed, 8, later, 5),
            Timer::Keep
        );
        assert_eq!(handed.acknowledged_by, None);
        // Taken, or closed: acknowledged by the actor, disarmed; the first one stays.
        let mut taken = created.clone();
        taken.assignee_id = Some(8);
        assert_eq!(
            urgent_episode(Some(&created), &mut taken, 8, later, 5),
            Timer::Disarm
        );
        assert_eq!(
            (taken.acknowledged_by, taken.acknowledged_at),
            (Some(8), Some(later))
        );
        let mut then_closed = taken.clone();
        then_closed.status = TicketStatus::Closed;
        assert_eq!(
            urgent_episode(Some(&taken), &mut then_closed, 9, later, 5),
            Timer::Keep
        );
        assert_eq!(then_closed.acknowledged_by, Some(8));
        // Lowered: all cleared.
        let mut lowered = taken.clone();
        lowered.priority = Priority::High;
        assert_eq!(
            urgent_episode(Some(&taken), &mut lowered, 9, later, 5),
            Timer::Disarm
        );
        assert_eq!(
            (
                lowered.urgent_since,
                lowered.urgent_by,
                lowered.acknowledged_by,
                lowered.acknowledged_at
            ),
            (None, None, None, None)
        );
        // Raised again: a new episode, unacknowledged, armed from now.
        let mut raised = lowered.clone();
        raised.priority = Priority::Urgent;
        assert_eq!(
            urgent_episode(Some(&lowered), &mut raised, 9, later, 2),
            Timer::Arm(later + chrono::Duration::minutes(2))
        );
        assert_eq!(
            (raised.urgent_since, raised.urgent_by),
            (Some(later), Some(9))
        );
    }

    #[test]
    fn previews_are_bounded() {
        assert_eq!(preview("  hi "), "hi");
        let long = "x".repeat(1000);
        assert_eq!(preview(&long).chars().count(), PREVIEW_MAX);
    }
}
