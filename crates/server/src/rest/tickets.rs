//! Ticket routes: the board, list with filters, CRUD with `If-Match`, lane moves,
//! acknowledgement.
//!
//! Dependencies: `ops::tickets`, `extract`, `error`, `auth`, `state`.

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::Json;
use deskbell_protocol::{
    Board, Id, MoveRequest, NewTicket, Priority, Ticket, TicketPatch, TicketStatus,
};
use serde::Deserialize;

use super::error::ApiResult;
use super::extract::{if_match, ApiJson, ApiPath, ApiQuery};
use crate::auth::AuthUser;
use crate::error::OpError;
use crate::ops::tickets::{self, AssigneeFilter, TicketFilter};
use crate::state::AppState;

pub async fn board(State(state): State<AppState>, auth: AuthUser) -> ApiResult<Json<Board>> {
    Ok(Json(tickets::board(&state, &auth).await?))
}

/// `GET /api/tickets`' query string.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TicketQuery {
    status: Option<TicketStatus>,
    priority: Option<Priority>,
    /// `me`, `none` or a user id.
    assignee: Option<String>,
    /// Case-insensitive search in title, requester and last message.
    q: Option<String>,
}

pub async fn list(
    State(state): State<AppState>,
    auth: AuthUser,
    ApiQuery(query): ApiQuery<TicketQuery>,
) -> ApiResult<Json<Vec<Ticket>>> {
    let assignee = match query.assignee.as_deref() {
        None => None,
        Some("me") => Some(AssigneeFilter::Me),
        Some("none") => Some(AssigneeFilter::Nobody),
        Some(id) => Some(AssigneeFilter::User(id.parse().map_err(|_| {
            OpError::BadRequest("assignee must be `me`, `none` or a user id".into())
        })?)),
    };
    let filter = TicketFilter {
        status: query.status,
        priority: query.priority,
        assignee,
        q: query.q,
    };
    Ok(Json(tickets::list(&state, &auth, filter).await?))
}

pub async fn show(
    State(state): State<AppState>,
    auth: AuthUser,
    ApiPath(id): ApiPath<Id>,
) -> ApiResult<Json<Ticket>> {
    Ok(Json(tickets::show(&state, &auth, id).await?))
}

pub async fn create(
    State(state): State<AppState>,
    auth: AuthUser,
    ApiJson(new): ApiJson<NewTicket>,
) -> ApiResult<(StatusCode, Json<Ticket>)> {
    let ticket = tickets::create(&state, &auth, new).await?;
    Ok((StatusCode::CREATED, Json(ticket)))
}

pub async fn patch(
    State(state): State<AppState>,
    auth: AuthUser,
    ApiPath(id): ApiPath<Id>,
    headers: HeaderMap,
    ApiJson(patch): ApiJson<TicketPatch>,
) -> ApiResult<Json<Ticket>> {
    let expected = if_match(&headers)?;
    Ok(Json(
        tickets::patch(&state, &auth, id, expected, patch).await?,
    ))
}

pub async fn move_ticket(
    State(state): State<AppState>,
    auth: AuthUser,
    ApiPath(id): ApiPath<Id>,
    headers: HeaderMap,
    ApiJson(body): ApiJson<MoveRequest>,
) -> ApiResult<Json<Ticket>> {
    let expected = if_match(&headers)?;
    Ok(Json(
        tickets::move_to_lane(&state, &auth, id, expected, body.lane_id).await?,
    ))
}

/// `PUT /api/ticket-tags/{ticketId}/{laneId}`: the same one-transaction move.
pub async fn tag_ticket(
    State(state): State<AppState>,
    auth: AuthUser,
    ApiPath((id, lane)): ApiPath<(Id, Id)>,
    headers: HeaderMap,
) -> ApiResult<Json<Ticket>> {
    let expected = if_match(&headers)?;
    Ok(Json(
        tickets::move_to_lane(&state, &auth, id, expected, Some(lane)).await?,
    ))
}

/// `POST /api/tickets/{id}/acknowledge` (no body).
pub async fn acknowledge(
    State(state): State<AppState>,
    auth: AuthUser,
    ApiPath(id): ApiPath<Id>,
) -> ApiResult<Json<Ticket>> {
    Ok(Json(tickets::acknowledge(&state, &auth, id).await?))
}

pub async fn remove(
    State(state): State<AppState>,
    auth: AuthUser,
    ApiPath(id): ApiPath<Id>,
) -> ApiResult<StatusCode> {
    tickets::delete(&state, &auth, id).await?;
    Ok(StatusCode::NO_CONTENT)
}
