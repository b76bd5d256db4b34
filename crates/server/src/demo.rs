//! Demo data and simulated traffic, so a fresh install has something to show.
//!
//! The simulation acts through the operations (`ops`), as members do over REST: the same
//! checks, limits and events. Seeding writes its rows directly, before anyone is connected.
//!
//! The urgent cycle is shown whole, at a believable rate: the simulation makes at most one
//! ticket urgent per `URGENT_COOLDOWN` (`Pacer`, a cap rather than a lower probability, so a
//! fast pace does not flood the desk with urgent tickets); simulated members acknowledge some
//! urgent tickets once they have waited `ACKNOWLEDGE_AFTER` (those with an even id, so the
//! others stay for the escalation), and take (assign to themselves) and close others. Demo
//! companies escalate after `DEMO_ESCALATE_AFTER_MINUTES`, so an admin sees an escalation
//! within a demo session. Seeded urgent tickets are history: each was acknowledged a few
//! minutes after it became urgent (by its assignee, or an agent), so the desk a demo user
//! signs in to has no backlog of urgent tickets nobody took, and no timer to escalate at start;
//! the simulation brings the fresh ones.
//!
//! Dependencies: `ops`, `auth` (the demo password's hash), `store`, `state`, `error`.

use deskbell_protocol::{
    NewComment, NewTicket, Priority, Requester, Role, TicketPatch, TicketStatus,
};
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use sqlx::Row;
use std::time::{Duration, Instant};

use crate::auth::{hash_password_blocking, AuthUser};
use crate::error::{OpError, OpResult};
use crate::ops;
use crate::state::AppState;
use crate::store::{self, USER_COLUMNS};

pub const DEMO_PASSWORD: &str = "deskbell-demo";

/// Demo companies escalate sooner than the default, so a demo session shows one.
pub const DEMO_ESCALATE_AFTER_MINUTES: i64 = 3;
/// The simulation makes at most one ticket urgent per this long.
pub const URGENT_COOLDOWN: Duration = Duration::from_secs(3 * 60);
/// How long an urgent ticket waits before a simulated member acknowledges it (when they do).
pub const ACKNOWLEDGE_AFTER: Duration = Duration::from_secs(60);

struct DemoUser {
    name: &'static str,
    email: &'static str,
    role: Role,
}

const ACME_USERS: [DemoUser; 3] = [
    DemoUser {
        name: "Alex Admin",
        email: "admin@acme.test",
        role: Role::Admin,
    },
    DemoUser {
        name: "Ana Agent",
        email: "agent1@acme.test",
        role: Role::Agent,
    },
    DemoUser {
        name: "Ben Agent",
        email: "agent2@acme.test",
        role: Role::Agent,
    },
];

const GLOBEX_USERS: [DemoUser; 1] = [DemoUser {
    name: "Gina Globex",
    email: "admin@globex.test",
    role: Role::Admin,
}];

const LANES: [(&str, &str); 4] = [
    ("Triage", "#1e88e5"),
    ("In progress", "#fb8c00"),
    ("Waiting on customer", "#8e24aa"),
    ("Done", "#43a047"),
];

const SUBJECTS: [&str; 24] = [
    "Cannot log in after password reset",
    "Invoice shows the wrong VAT rate",
    "Export to CSV times out",
    "Mobile app crashes on startup",
    "Refund for duplicate charge",
    "Two-factor codes not arriving",
    "Dashboard loads very slowly",
    "Need to add five more seats",
    "Webhook deliveries failing with 502",
    "Change billing email address",
    "Data import stuck at 99%",
    "SSO login loops back to the start page",
    "Printer labels cut off on the left",
    "Question about the enterprise plan",
    "Search returns no results for umlauts",
    "Account locked after too many attempts",
    "API rate limit too low for our sync",
    "Calendar invites arrive in the wrong time zone",
    "Attachments over 5 MB are rejected",
    "Cancel subscription at end of term",
    "Notification emails go to spam",
    "Report totals do not match the export",
    "Password reset link expired immediately",
    "Site is down for all our users",
];

const REQUESTERS: [(&str, &str); 12] = [
    ("Maria Keller", "maria.keller@example.com"),
    ("Tom Becker", "tom@becker-logistics.example"),
    ("Priya Natarajan", "priya.n@example.org"),
    ("Lukas Wagner", "+49 30 1234567"),
    ("Chen Wei", "chen.wei@example.net"),
    ("Sofia Rossi", "sofia.rossi@example.it"),
    ("James O'Neill", "james@oneill.example"),
    ("Aiko Tanaka", "aiko.tanaka@example.jp"),
    ("Omar Haddad", "omar.haddad@example.com"),
    ("Emma Laurent", "emma@laurent.example.fr"),
    ("Noah Fischer", "noah.fischer@example.de"),
    ("Zoe Martins", "zoe.martins@example.pt"),
];

const MESSAGES: [&str; 10] = [
    "Hi, this started this morning and blocks our whole team.",
    "Could you have a look? Screenshots attached earlier.",
    "We tried clearing the cache, no change.",
    "Any update on this? Our customer is waiting.",
    "Thanks, that fixed it for two of us, one still sees the error.",
    "It happens only in Firefox as far as we can tell.",
    "Happy to jump on a call if that helps.",
    "This is urgent for us, the quarter closes on Friday.",
    "Following up on my previous message.",
    "Confirmed on our side, please go ahead.",
];

/// What the simulated members answer (the requester's messages are `MESSAGES`).
const STAFF_REPLIES: [&str; 6] = [
    "Thanks for the report, we are looking into it now.",
    "Could you tell us which browser and version you are on?",
    "A fix is rolling out; please try again in ten minutes.",
    "I have passed this to the billing team, they will reply today.",
    "Can you confirm the error is gone on your side?",
    "We reproduced it and are working on a fix.",
];

/// Creates the demo companies, users, lanes and tickets unless they exist.
pub async fn seed(state: &AppState) -> OpResult<()> {
    let hash = hash_password_blocking(&state.hash_gate, DEMO_PASSWORD.to_string()).await?;
    let mut tx = state.db.pool.begin().await?;
    if state.db.backend == crate::db::Backend::Postgres {
        // Nodes of a cluster may all start `demo` at once on one database: one seeds, the
        // others wait here and then find the data. (SQLite has one server per file.)
        sqlx::query("SELECT pg_advisory_xact_lock(7263501)")
            .execute(&mut *tx)
            .await?;
    }
    let exists = sqlx::query("SELECT id FROM users WHERE email = $1")
        .bind(ACME_USERS[0].email)
        .fetch_optional(&mut *tx)
        .await?
        .is_some();
    if exists {
        tracing::info!("demo data already present");
        return Ok(());
    }
    let now = chrono::Utc::now();
    // Not `thread_rng()`: it cannot be held across the awaits below (the future must be Send).
    let mut rng = rand::rngs::StdRng::from_entropy();
    for (company, users, tickets) in [
        ("Acme Support", &ACME_USERS[..], 36usize),
        ("Globex", &GLOBEX_USERS[..], 8),
    ] {
        let company_id: i64 = sqlx::query(
            "INSERT INTO companies (name, event_seq, created_at, escalate_after_minutes)
             VALUES ($1, 0, $2, $3) RETURNING id",
        )
        .bind(company)
        .bind(store::ts(now))
        .bind(DEMO_ESCALATE_AFTER_MINUTES)
        .fetch_one(&mut *tx)
        .await?
        .try_get("id")?;
        let mut user_ids = Vec::new();
        for u in users {
            let id: i64 = sqlx::query(
                "INSERT INTO users (company_id, name, email, password_hash, role, active, created_at)
                 VALUES ($1, $2, $3, $4, $5, 1, $6) RETURNING id",
            )
            .bind(company_id)
            .bind(u.name)
            .bind(u.email)
            .bind(&hash)
            .bind(u.role.as_str())
            .bind(store::ts(now))
            .fetch_one(&mut *tx)
            .await?
            .try_get("id")?;
            user_ids.push((id, u.role));
        }
        let mut lane_ids = Vec::new();
        for (pos, (name, color)) in LANES.iter().enumerate() {
            let id: i64 = sqlx::query(
                "INSERT INTO lanes (company_id, name, color, position, created_at) VALUES ($1, $2, $3, $4, $5) RETURNING id",
            )
            .bind(company_id)
            .bind(*name)
            .bind(*color)
            .bind(pos as i64)
            .bind(store::ts(now))
            .fetch_one(&mut *tx)
            .await?
            .try_get("id")?;
            lane_ids.push(id);
        }
        let agents: Vec<i64> = user_ids
            .iter()
            .filter(|(_, r)| *r == Role::Agent)
            .map(|(id, _)| *id)
            .collect();
        let creator = user_ids[0].0;
        for i in 0..tickets {
            let subject = SUBJECTS[i % SUBJECTS.len()];
            let (requester, contact) = REQUESTERS[(i * 7) % REQUESTERS.len()];
            let priority = match i % 9 {
                0 => Priority::Urgent,
                1 | 2 => Priority::High,
                3 => Priority::Low,
                _ => Priority::Normal,
            };
            let lane = if i % 5 == 0 {
                None
            } else {
                Some(lane_ids[i % lane_ids.len()])
            };
            let status = if lane == lane_ids.last().copied() {
                TicketStatus::Closed
            } else if i % 4 == 1 {
                TicketStatus::Pending
            } else {
                TicketStatus::Open
            };
            let assignee = match (i % 3, agents.is_empty()) {
                (0, false) => Some(agents[i % agents.len()]),
                (1, false) => Some(agents[(i + 1) % agents.len()]),
                _ => None,
            };
            let message = MESSAGES[i % MESSAGES.len()];
            let created = now - chrono::Duration::minutes(rng.gen_range(15..60 * 24 * 5));
            let urgent = priority == Priority::Urgent;
            let acknowledged_by = assignee.or(agents.first().copied()).unwrap_or(creator);
            let acknowledged_at = created + chrono::Duration::minutes(rng.gen_range(1..10));
            let ticket_id: i64 = sqlx::query(
                "INSERT INTO tickets (company_id, title, requester_name, requester_contact, status, priority, assignee_id,
                    creator_id, lane_id, last_message, comment_count, created_at, updated_at, version,
                    urgent_since, urgent_by, acknowledged_by, acknowledged_at)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, 1, $11, $12, 1, $13, $14, $15, $16)
                 RETURNING id",
            )
            .bind(company_id)
            .bind(subject)
            .bind(requester)
            .bind(contact)
            .bind(status.as_str())
            .bind(priority.as_str())
            .bind(assignee)
            .bind(creator)
            .bind(lane)
            .bind(message)
            .bind(store::ts(created))
            .bind(store::ts(if urgent { acknowledged_at } else { created }))
            .bind(urgent.then(|| store::ts(created)))
            .bind(urgent.then_some(creator))
            .bind(urgent.then_some(acknowledged_by))
            .bind(urgent.then(|| store::ts(acknowledged_at)))
            .fetch_one(&mut *tx)
            .await?
            .try_get("id")?;
            sqlx::query("INSERT INTO comments (company_id, ticket_id, author_id, body, created_at, from_requester) VALUES ($1, $2, $3, $4, $5, 1)")
                .bind(company_id)
                .bind(ticket_id)
                .bind(creator)
                .bind(message)
                .bind(store::ts(created))
                .execute(&mut *tx)
                .await?;
        }
    }
    tx.commit().await?;
    // No password in logs, not even the demo's (`logs`): the banner on stdout gives it.
    tracing::info!("demo data created");
    Ok(())
}

/// Keeps Acme busy at a human pace: new tickets, comments, raising to urgent (capped, see
/// `Pacer`), acknowledgements, takes, moves, closes.
pub async fn simulate(state: AppState, pace: Duration) {
    let actors = match simulation_actors(&state).await {
        Ok(a) if !a.is_empty() => a,
        Ok(_) => {
            tracing::warn!("no demo users to simulate with");
            return;
        }
        Err(e) => {
            tracing::error!(error = %e, "cannot start the simulation");
            return;
        }
    };
    tracing::info!(?pace, "simulating traffic for Acme Support");
    let mut pacer = Pacer::default();
    loop {
        let wait = {
            let mut rng = rand::thread_rng();
            pace.mul_f64(rng.gen_range(0.5..1.5))
        };
        tokio::time::sleep(wait).await;
        let roll = rand::thread_rng().gen_range(0..100);
        let step = pacer.step(roll, Instant::now());
        if let Err(e) = simulate_step(&state, &actors, step).await {
            match e {
                OpError::RateLimited { .. } | OpError::Conflict { .. } | OpError::NotFound(_) => {}
                other => tracing::warn!(error = %other, "simulation step failed"),
            }
        }
    }
}

/// What the simulation does next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    Create {
        urgent: bool,
    },
    Comment,
    /// Raises an open ticket's priority to urgent.
    Raise,
    /// Acknowledges an urgent ticket that has waited (`acknowledge_waiting`).
    Acknowledge,
    /// Assigns an open unassigned ticket to the actor.
    Take,
    Move,
    Close,
}

impl Step {
    /// Whether the step makes a ticket urgent.
    pub fn is_urgent(self) -> bool {
        matches!(self, Step::Create { urgent: true } | Step::Raise)
    }
}

/// Picks steps from rolls (0..100) and caps the urgent ones: at most one per
/// `URGENT_COOLDOWN`, whatever the pace; a capped roll does its non-urgent counterpart.
/// Deterministic: the same rolls at the same instants give the same steps.
#[derive(Debug, Default)]
pub struct Pacer {
    last_urgent: Option<Instant>,
}

impl Pacer {
    pub fn step(&mut self, roll: u32, now: Instant) -> Step {
        let step = match roll {
            0..=21 => Step::Create { urgent: roll < 6 },
            22..=49 => Step::Comment,
            50..=57 => Step::Raise,
            58..=67 => Step::Acknowledge,
            68..=73 => Step::Take,
            74..=91 => Step::Move,
            _ => Step::Close,
        };
        if !step.is_urgent() {
            return step;
        }
        let cooling = self
            .last_urgent
            .is_some_and(|at| now.saturating_duration_since(at) < URGENT_COOLDOWN);
        if cooling {
            return match step {
                Step::Raise => Step::Comment,
                _ => Step::Create { urgent: false },
            };
        }
        self.last_urgent = Some(now);
        step
    }
}

/// `actor` acknowledges one urgent ticket they see that has waited `ACKNOWLEDGE_AFTER` by
/// `now`, if any; only tickets with an even id, so that the others escalate and the demo shows
/// both ends of the cycle. Returns the acknowledged ticket.
pub async fn acknowledge_waiting(
    state: &AppState,
    actor: &AuthUser,
    now: chrono::DateTime<chrono::Utc>,
) -> OpResult<Option<deskbell_protocol::Ticket>> {
    let waited = chrono::Duration::from_std(ACKNOWLEDGE_AFTER).unwrap_or_default();
    let visible = ops::tickets::list(state, actor, ops::tickets::TicketFilter::default()).await?;
    let Some(ticket) = visible.iter().find(|t| {
        t.awaits_acknowledgement()
            && t.id % 2 == 0
            && t.urgent_since.is_some_and(|since| now - since >= waited)
    }) else {
        return Ok(None);
    };
    ops::tickets::acknowledge(state, actor, ticket.id)
        .await
        .map(Some)
}

/// The simulation acts as the admin and the second agent, so agent 1 sees other people's work.
async fn simulation_actors(state: &AppState) -> OpResult<Vec<AuthUser>> {
    let mut actors = Vec::new();
    for email in ["admin@acme.test", "agent2@acme.test"] {
        // Emails are unique per company only: the seeded account is the oldest with that email.
        let row = sqlx::query(&format!(
            "SELECT {USER_COLUMNS} FROM users WHERE email = $1 ORDER BY id LIMIT 1"
        ))
        .bind(email)
        .fetch_optional(&state.db.pool)
        .await?;
        if let Some(user) = row.as_ref().map(store::user_from_row).transpose()? {
            actors.push(AuthUser {
                user,
                session: String::new(),
            });
        }
    }
    Ok(actors)
}

async fn simulate_step(state: &AppState, actors: &[AuthUser], step: Step) -> OpResult<()> {
    let (actor, subject, requester, message, reply, pick, lane_pick) = {
        let mut rng = rand::thread_rng();
        (
            actors.choose(&mut rng).expect("non-empty").clone(),
            *SUBJECTS.choose(&mut rng).expect("non-empty"),
            *REQUESTERS.choose(&mut rng).expect("non-empty"),
            *MESSAGES.choose(&mut rng).expect("non-empty"),
            *STAFF_REPLIES.choose(&mut rng).expect("non-empty"),
            rng.gen::<u32>(),
            rng.gen::<u32>(),
        )
    };
    match step {
        Step::Acknowledge => {
            acknowledge_waiting(state, &actor, chrono::Utc::now()).await?;
            return Ok(());
        }
        Step::Take => {
            let open = ops::tickets::list(state, &actor, ops::tickets::TicketFilter::default())
                .await?
                .into_iter()
                .filter(|t| t.status != TicketStatus::Closed && t.assignee_id.is_none())
                .collect::<Vec<_>>();
            if let Some(t) = (!open.is_empty()).then(|| &open[pick as usize % open.len()]) {
                let patch = TicketPatch {
                    assignee_id: Some(Some(actor.user.id)),
                    ..TicketPatch::default()
                };
                ops::tickets::patch(state, &actor, t.id, Some(t.version), patch).await?;
            }
            return Ok(());
        }
        _ => {}
    }
    // The operations skip the HTTP session check, not the business rules.
    let visible = ops::tickets::list(state, &actor, ops::tickets::TicketFilter::default()).await?;
    let open: Vec<_> = visible
        .iter()
        .filter(|t| t.status != TicketStatus::Closed)
        .collect();
    let target = (!open.is_empty()).then(|| open[pick as usize % open.len()].clone());
    let urgent = matches!(step, Step::Create { urgent: true });
    match (step, target) {
        // Handled above.
        (Step::Acknowledge | Step::Take, _) => {}
        (Step::Create { .. }, _) | (_, None) => {
            let new = NewTicket {
                title: subject.to_string(),
                requester: Requester {
                    name: requester.0.to_string(),
                    contact: Some(requester.1.to_string()),
                },
                priority: Some(if urgent {
                    Priority::Urgent
                } else {
                    Priority::Normal
                }),
                status: None,
                assignee_id: None,
                lane_id: None,
                message: Some(message.to_string()),
            };
            ops::tickets::create(state, &actor, new).await?;
        }
        (Step::Comment, Some(t)) => {
            // Half are the requester writing back (recorded by the member), half the member's
            // own answer: the thread reads as a conversation.
            let from_requester = pick % 2 == 0;
            let new = NewComment {
                body: if from_requester { message } else { reply }.to_string(),
                from_requester,
            };
            ops::comments::create(state, &actor, t.id, new).await?;
        }
        (Step::Raise, Some(t)) => {
            let patch = TicketPatch {
                priority: Some(Priority::Urgent),
                ..TicketPatch::default()
            };
            ops::tickets::patch(state, &actor, t.id, Some(t.version), patch).await?;
        }
        (Step::Move, Some(t)) => {
            let lanes = ops::lanes::list(state, &actor).await?;
            if lanes.is_empty() {
                return Ok(());
            }
            let lane = lanes[lane_pick as usize % lanes.len()].id;
            ops::tickets::move_to_lane(state, &actor, t.id, Some(t.version), Some(lane)).await?;
        }
        (Step::Close, Some(t)) => {
            let patch = TicketPatch {
                status: Some(TicketStatus::Closed),
                ..TicketPatch::default()
            };
            ops::tickets::patch(state, &actor, t.id, Some(t.version), patch).await?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A day of steps at a fast pace (one a second, every roll in turn): urgent steps come
    /// at most once per cooldown, yet they do come, and every kind of step is taken.
    #[test]
    fn urgent_steps_are_capped_whatever_the_pace() {
        let mut pacer = Pacer::default();
        let start = Instant::now();
        let mut urgent_at: Vec<Duration> = Vec::new();
        let mut acknowledges = 0;
        for i in 0..24 * 3600u64 {
            let now = start + Duration::from_secs(i);
            let step = pacer.step((i % 100) as u32, now);
            if step.is_urgent() {
                urgent_at.push(now - start);
            }
            if step == Step::Acknowledge {
                acknowledges += 1;
            }
        }
        for pair in urgent_at.windows(2) {
            assert!(pair[1] - pair[0] >= URGENT_COOLDOWN, "{pair:?}");
        }
        let most = (24 * 3600 / URGENT_COOLDOWN.as_secs()) as usize;
        assert!(urgent_at.len() <= most, "{} urgent steps", urgent_at.len());
        // Rolls for urgent come every 100 s here: nearly every cooldown has one.
        assert!(
            urgent_at.len() >= most / 2,
            "{} urgent steps",
            urgent_at.len()
        );
        assert!(acknowledges > 0);
    }

    #[test]
    fn a_capped_roll_does_its_non_urgent_counterpart() {
        let mut pacer = Pacer::default();
        let t0 = Instant::now();
        assert_eq!(pacer.step(0, t0), Step::Create { urgent: true });
        assert_eq!(
            pacer.step(0, t0 + Duration::from_secs(1)),
            Step::Create { urgent: false }
        );
        assert_eq!(pacer.step(50, t0 + Duration::from_secs(2)), Step::Comment);
        assert_eq!(pacer.step(50, t0 + URGENT_COOLDOWN), Step::Raise);
        assert_eq!(pacer.step(60, t0 + URGENT_COOLDOWN), Step::Acknowledge);
    }
}
