//! Socket.IO: one namespace per company, authenticated per namespace, with replay on connect.
//!
//! Dependencies: `ops::account` (a token's member, a session as the database has it now),
//! `events` (the hub, replay), `visibility` (the rooms a socket joins), `rest` (the client's
//! address, the 429 answer), `auth`, `store`, `state`, `error`. Clients write over REST only: a
//! client emit is counted against the write limit and refused, never an operation.

use deskbell_protocol::{
    event_name, namespace, parse_namespace, ConnectAuth, ConnectErrorCode, Id, Resource,
    SyncMessage, SyncMode, User,
};
use socketioxide::extract::{AckSender, Event, SocketRef, State, TryData};
use socketioxide::handler::ConnectHandler;
use socketioxide::layer::SocketIoLayer;
use socketioxide::SocketIo;

use crate::auth::AuthFailure;
use crate::error::{Limit, OpError};
use crate::events::{self, send_raw_event, SendOutcome, SocketSession};
use crate::ops::account::{authenticate, live_session};
use crate::rest::{client_ip, ApiError};
use crate::state::AppState;
use crate::store;
use crate::visibility::rooms_of;
use axum::extract::Request;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use std::time::Instant;

pub fn layer(state: AppState) -> (SocketIoLayer, SocketIo) {
    let config = &state.config;
    // `max_payload` reaches HTTP long-polling only: websocket messages have limits of their
    // own. A frame's length is checked from its header, so a bigger one closes the connection
    // before its payload is read, let alone buffered.
    let (layer, io) = SocketIo::builder()
        .ping_interval(config.ping_interval)
        .ping_timeout(config.ping_timeout)
        .connect_timeout(config.connect_timeout)
        .max_payload(config.max_payload_bytes as u64)
        .ws_max_frame_size(config.max_payload_bytes)
        .ws_max_message_size(config.max_payload_bytes)
        .max_buffer_size(config.socket_buffer)
        .with_state(state.clone())
        .build_layer();
    io.ns("/", reject_connection.with(unknown_namespace));
    io.dyn_ns(
        "/workspace-{id}",
        on_connect.with(authorize_in_new_namespace),
    )
    .expect("static namespace pattern is valid");
    io.dyn_ns("/{*path}", reject_connection.with(unknown_namespace))
        .expect("static namespace pattern is valid");
    state.hub.set_io(io.clone());
    (layer, io)
}

/// Opens the namespace of every existing company. socketioxide creates a dynamic namespace when
/// its first client connects, and clients connecting at that same moment can each create one:
/// all but the last are left connected yet out of reach of emission. After a restart every
/// desktop reconnects at once, so each company's namespace is opened before the server listens.
pub async fn open_company_namespaces(
    state: &AppState,
    io: &SocketIo,
) -> Result<usize, sqlx::Error> {
    let companies = store::company_ids(&state.db.pool).await?;
    for company in &companies {
        io.ns(namespace(*company), on_connect.with(authorize));
    }
    Ok(companies.len())
}

async fn unknown_namespace(
    socket: SocketRef,
    State(state): State<AppState>,
) -> Result<(), ConnectErrorCode> {
    forget_namespace(&state, socket.ns());
    Err(ConnectErrorCode::InvalidNamespace)
}

async fn reject_connection(socket: SocketRef) {
    let _ = socket.disconnect();
}

/// Rejected connects to made-up paths must not leave a namespace behind.
fn forget_namespace(state: &AppState, path: &str) {
    if path == "/" {
        return;
    }
    if let Some(io) = state.hub.io() {
        let io = io.clone();
        let path = path.to_string();
        tokio::spawn(async move {
            let empty = io
                .of(&path)
                .map(|ns| ns.sockets().is_empty())
                .unwrap_or(false);
            if empty {
                io.delete_ns(&path);
            }
        });
    }
}

/// The auth middleware of a company namespace that was not open at start (every company's
/// is, see `open_company_namespaces`), made by this very connect: whatever the refusal, made-up
/// `/workspace-{n}` paths must not each leave a namespace behind.
async fn authorize_in_new_namespace(
    socket: SocketRef,
    auth: TryData<ConnectAuth>,
    State(state): State<AppState>,
) -> Result<(), ConnectErrorCode> {
    let result = authorize(socket.clone(), auth, State(state.clone())).await;
    if result.is_err() {
        forget_namespace(&state, socket.ns());
    }
    result
}

/// The per-namespace auth middleware: valid token of an active user of this company. A refusal
/// (other than an expired token or a server that cannot check just now) counts against the
/// client's address (see `anonymous_limits`).
async fn authorize(
    socket: SocketRef,
    auth: TryData<ConnectAuth>,
    State(state): State<AppState>,
) -> Result<(), ConnectErrorCode> {
    let result = check_connect(&socket, auth, &state).await;
    if let Err(
        code @ (ConnectErrorCode::Unauthorized
        | ConnectErrorCode::Forbidden
        | ConnectErrorCode::InvalidNamespace),
    ) = result
    {
        if let Some(address) = client_ip(&socket.req_parts().extensions) {
            let refusals = state.connect_throttle.refused(address, Instant::now());
            tracing::debug!(%address, %code, refusals, "socket connect refused");
        }
    }
    result
}

/// Refuses Socket.IO requests from an address past its free refused connects, before any
/// Engine.IO connection is made (429 with Retry-After).
pub async fn refuse_throttled_addresses(
    axum::extract::State(state): axum::extract::State<AppState>,
    request: Request,
    next: Next,
) -> Response {
    if request.uri().path().starts_with("/socket.io") {
        if let Some(address) = client_ip(request.extensions()) {
            let wait = state.connect_throttle.wait(address, Instant::now());
            if !wait.is_zero() {
                tracing::warn!(%address, wait_secs = wait.as_secs_f32(), "socket connections refused: too many refused connects");
                return ApiError(OpError::rate_limited(Limit::RefusedConnects, wait))
                    .into_response();
            }
        }
    }
    next.run(request).await
}

/// Whether the CONNECT may join its namespace.
async fn check_connect(
    socket: &SocketRef,
    TryData(auth): TryData<ConnectAuth>,
    state: &AppState,
) -> Result<(), ConnectErrorCode> {
    let Some(company_id) = parse_namespace(socket.ns()) else {
        forget_namespace(state, socket.ns());
        return Err(ConnectErrorCode::InvalidNamespace);
    };
    let Ok(auth) = auth else {
        return Err(ConnectErrorCode::Unauthorized);
    };
    let caller = match authenticate(state, &auth.token).await {
        Ok(caller) => caller,
        Err(AuthFailure::Expired) => return Err(ConnectErrorCode::TokenExpired),
        Err(AuthFailure::Internal(e)) => {
            // Not the token's fault: a refusal code would sign the user out for good.
            tracing::error!(error = %e, "socket auth failed on the database");
            return Err(ConnectErrorCode::Unavailable);
        }
        Err(_) => return Err(ConnectErrorCode::Unauthorized),
    };
    if caller.user.company_id != company_id {
        tracing::warn!(
            user = caller.user.id,
            company_id,
            "socket refused: token of another company"
        );
        return Err(ConnectErrorCode::Forbidden);
    }
    socket.extensions.insert(SocketSession {
        user: caller.user,
        session: caller.session,
        last_seq: auth.last_seq.filter(|s| *s >= 0),
    });
    Ok(())
}

/// Joins the rooms and replays missed events, holding the company's emission (see
/// `EventHub::join_point`) so that no live event falls between the replay's head and the
/// socket joining its rooms, and none comes twice.
async fn on_connect(socket: SocketRef, State(state): State<AppState>) {
    let Some(session) = socket.extensions.get::<SocketSession>() else {
        let _ = socket.disconnect();
        return;
    };
    let company = session.user.company_id;
    state.hub.settle(company, session.last_seq).await;
    // Emission is held from here until the socket has joined and replayed: every event up to
    // `head` was handed out before it joined (it replays them), every later one after.
    let (_emission, head) = state.hub.join_point(company).await;
    // Checked again now: a session ended (or a role changed) between the auth middleware and
    // here was handed out before this socket joined a room, so it would not reach it; it is
    // committed, so the database says so.
    let now = match live_session(&state, session.user.id, &session.session).await {
        Ok(now) => now,
        Err(AuthFailure::Internal(e)) => {
            tracing::error!(error = %e, "socket auth failed on the database");
            let _ = socket.disconnect();
            return;
        }
        Err(refused) => {
            // Its client reconnects and is refused with the connect error's code.
            tracing::info!(
                user = session.user.id,
                ?refused,
                "session ended while connecting"
            );
            let _ = socket.disconnect();
            return;
        }
    };
    let user = now.user;
    socket.extensions.insert(SocketSession {
        user: user.clone(),
        ..session.clone()
    });
    // Defence for namespaces created on a first connect (see `open_company_namespaces`): a
    // socket in an instance that emission cannot reach would miss every live event. Dropped,
    // its client reconnects into the live instance and replays.
    let reachable = state
        .hub
        .io()
        .and_then(|io| io.of(socket.ns()))
        .and_then(|ns| ns.get_socket(socket.id))
        .is_some();
    if !reachable {
        tracing::warn!(
            user = user.id,
            company,
            "socket in a namespace instance emission cannot reach; disconnecting it"
        );
        let _ = socket.disconnect();
        return;
    }
    socket.join(rooms_of(&user));
    // Events before the user's visibility floor had their audience decided for who the user
    // was not (yet): such a client reloads the snapshot instead.
    let last_seq = session
        .last_seq
        .filter(|&after| after >= now.visible_from_seq);
    let mode = match replay(&state, &socket, &user, last_seq, head).await {
        Ok(mode) => mode,
        Err(()) => {
            let _ = socket.disconnect();
            return;
        }
    };
    socket.on_fallback(client_event);
    let sync = SyncMessage { mode, head };
    if socket
        .emit(event_name(company, Resource::Sync), &sync)
        .is_err()
    {
        let _ = socket.disconnect();
        return;
    }
    tracing::debug!(user = user.id, company, ?mode, head, "socket connected");
}

/// Clients write over REST. A client emit still counts against the company's write limit and
/// is answered (when it asks for an ack) with a clear error rather than silence.
async fn client_event(
    socket: SocketRef,
    Event(name): Event,
    ack: AckSender,
    State(state): State<AppState>,
) {
    let Some(session) = socket.extensions.get::<SocketSession>() else {
        return;
    };
    let (code, message) = match state
        .count_write(session.user.company_id, session.user.id)
        .await
    {
        Err(e @ OpError::RateLimited { .. }) => (e.code().as_str(), e.to_string()),
        _ => (
            "unsupported_event",
            format!("the server accepts no {name:?} event from clients; write over the REST API"),
        ),
    };
    tracing::debug!(user = session.user.id, event = %name, code, "client event refused");
    let _ = ack.send(&serde_json::json!({ "error": { "code": code, "message": message } }));
}

/// Sends the events after `last_seq`, or decides on a reset when the log cannot serve them.
async fn replay(
    state: &AppState,
    socket: &SocketRef,
    user: &User,
    last_seq: Option<i64>,
    head: i64,
) -> Result<SyncMode, ()> {
    let Some(after) = last_seq else {
        return Ok(SyncMode::Reset);
    };
    if after > head || head - after > state.config.replay_limit {
        return Ok(SyncMode::Reset);
    }
    if after < head {
        let oldest = events::oldest_seq(&state.db, company_of(user))
            .await
            .map_err(|e| {
                tracing::error!(error = %e, "cannot read the event log");
            })?;
        if oldest == 0 || after + 1 < oldest {
            return Ok(SyncMode::Reset);
        }
    }
    let missed = events::replay_events(&state.db, user, after, head)
        .await
        .map_err(|e| tracing::error!(error = %e, "cannot read the event log"))?;
    let company = company_of(user);
    for event in &missed {
        let payload = serde_json::value::RawValue::from_string(event.payload.clone()).map_err(
            |e| tracing::error!(error = %e, seq = event.seq, "stored event is not JSON"),
        )?;
        match send_raw_event(socket, &event_name(company, event.resource), &payload) {
            Ok(()) => {}
            Err(SendOutcome::Full) => {
                tracing::warn!(user = user.id, "replay overflowed the socket buffer");
                return Err(());
            }
            Err(SendOutcome::Closed) => return Err(()),
        }
    }
    Ok(SyncMode::Replay)
}

fn company_of(user: &User) -> Id {
    user.company_id
}
