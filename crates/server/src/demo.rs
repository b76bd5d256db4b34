//! Demo data and simulated traffic, so a fresh install has something to show.
//!
//! The simulation acts through the operations (`ops`), as members do over REST: the same
//! checks, limits and events. Seeding writes its rows directly, before anyone is connected.
//!
//! Dependencies: `ops`, `auth` (the demo password's hash), `store`, `state`, `error`.

use deskbell_protocol::{
    NewComment, NewTicket, Priority, Requester, Role, TicketPatch, TicketStatus,
};
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use sqlx::Row;
use std::time::Duration;

use crate::auth::{hash_password_blocking, AuthUser};
use crate::error::{OpError, OpResult};
use crate::ops;
use crate::state::AppState;
use crate::store::{self, USER_COLUMNS};

pub const DEMO_PASSWORD: &str = "deskbell-demo";

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
            "INSERT INTO companies (name, event_seq, created_at) VALUES ($1, 0, $2) RETURNING id",
        )
        .bind(company)
        .bind(store::ts(now))
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
            let created = now - chrono::Duration::minutes(rng.gen_range(5..60 * 24 * 5));
            let ticket_id: i64 = sqlx::query(
                "INSERT INTO tickets (company_id, title, requester_name, requester_contact, status, priority, assignee_id,
                    creator_id, lane_id, last_message, comment_count, created_at, updated_at, version)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, 1, $11, $11, 1) RETURNING id",
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
            .fetch_one(&mut *tx)
            .await?
            .try_get("id")?;
            sqlx::query("INSERT INTO comments (company_id, ticket_id, author_id, body, created_at) VALUES ($1, $2, $3, $4, $5)")
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

/// Keeps Acme busy at a human pace: new tickets, comments, escalations to urgent, moves.
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
    loop {
        let wait = {
            let mut rng = rand::thread_rng();
            pace.mul_f64(rng.gen_range(0.5..1.5))
        };
        tokio::time::sleep(wait).await;
        if let Err(e) = simulate_step(&state, &actors).await {
            match e {
                OpError::RateLimited { .. } | OpError::Conflict { .. } | OpError::NotFound(_) => {}
                other => tracing::warn!(error = %other, "simulation step failed"),
            }
        }
    }
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

async fn simulate_step(state: &AppState, actors: &[AuthUser]) -> OpResult<()> {
    enum Step {
        Create { urgent: bool },
        Comment,
        Escalate,
        Move,
        Close,
    }
    let (actor, step, subject, requester, message, pick, lane_pick) = {
        let mut rng = rand::thread_rng();
        let actor = actors.choose(&mut rng).expect("non-empty").clone();
        let roll = rng.gen_range(0..100);
        let step = match roll {
            0..=24 => Step::Create { urgent: roll < 6 },
            25..=54 => Step::Comment,
            55..=66 => Step::Escalate,
            67..=89 => Step::Move,
            _ => Step::Close,
        };
        (
            actor,
            step,
            *SUBJECTS.choose(&mut rng).expect("non-empty"),
            *REQUESTERS.choose(&mut rng).expect("non-empty"),
            *MESSAGES.choose(&mut rng).expect("non-empty"),
            rng.gen::<u32>(),
            rng.gen::<u32>(),
        )
    };
    // The operations skip the HTTP session check, not the business rules.
    let visible = ops::tickets::list(state, &actor, ops::tickets::TicketFilter::default()).await?;
    let open: Vec<_> = visible
        .iter()
        .filter(|t| t.status != TicketStatus::Closed)
        .collect();
    let target = (!open.is_empty()).then(|| open[pick as usize % open.len()].clone());
    let urgent = matches!(step, Step::Create { urgent: true });
    match (step, target) {
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
            let new = NewComment {
                body: message.to_string(),
            };
            ops::comments::create(state, &actor, t.id, new).await?;
        }
        (Step::Escalate, Some(t)) => {
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
