//! The server's operations, as plain functions apart from HTTP.
//!
//! Every write of the server is an `async fn` here that takes the state, the acting member
//! (`AuthUser`, see `auth`) and a typed input, and returns a typed result or an `OpError`
//! whose stable code is the protocol's `ApiErrorCode` (see `error`). The REST handlers
//! (`rest`), the demo simulator (`demo`) and the socket handlers (`realtime`) call them; none of
//! them writes on its own. The escalation timer (`escalation`) writes as the server
//! (`SERVER_ACTOR`) through `submit`, the same writer. One module per feature: `tickets`, `comments`, `attachments`,
//! `lanes`, `users`, `company` (settings), `account` (sessions), with `validate` holding the input rules.
//!
//! Rules every operation keeps:
//!
//! - Its input is checked (`validate`) before anything is written, so a refused input changes
//!   nothing.
//! - A limit is counted before the work it limits: the company's write limit
//!   (`AppState::count_write`) before a file is stored or the write is submitted, the hash gate
//!   before any argon2 work.
//! - Who may see what is `visibility`'s rule; acting on something the actor cannot see is
//!   `not_found`, never `forbidden` (existence is not revealed).
//! - A change and its events commit together through the company's writer (`submit`, see
//!   `writes`); effects outside the database (files) happen only once it has committed.
//!
//! Dependency direction: `rest`, `realtime`, `demo`, `escalation` → `ops` → `visibility`, `writes`,
//! `outbox`, `store`, `auth`, `state`, `error`. Nothing below depends on `ops`, and no
//! operation knows HTTP: status codes are the REST edge's.

pub mod account;
pub mod attachments;
pub mod comments;
pub mod company;
pub mod lanes;
pub mod tickets;
pub mod users;
pub mod validate;

use deskbell_protocol::Id;

use crate::auth::AuthUser;
use crate::error::OpResult;
use crate::state::AppState;
use crate::writes::WriteBody;

/// Runs `body` on `input` as `actor`'s write in `company_id` and returns its result once
/// committed (see `writes`). Counting it against the rate limit is the caller's, before any
/// work such as storing a file.
pub(crate) async fn submit<I, T>(
    state: &AppState,
    company_id: Id,
    actor: Id,
    input: I,
    body: WriteBody<I, T>,
) -> OpResult<T>
where
    I: Send + Sync + 'static,
    T: Send + 'static,
{
    state
        .hub
        .writer(company_id)
        .submit(actor, input, body)
        .await
}

/// `submit` as the member's write in their company.
pub(crate) async fn write<I, T>(
    state: &AppState,
    actor: &AuthUser,
    input: I,
    body: WriteBody<I, T>,
) -> OpResult<T>
where
    I: Send + Sync + 'static,
    T: Send + 'static,
{
    submit(state, actor.company_id(), actor.user.id, input, body).await
}
