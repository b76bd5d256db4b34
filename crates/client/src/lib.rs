//! Deskbell client core: everything the desktop app does, without Tauri.
//!
//! - [`api`]: typed REST calls.
//! - [`transport`]: the Socket.IO v5 transport seam and its websocket implementation.
//! - [`board`]: the board reducer (snapshot + idempotent events + optimistic moves → deltas).
//! - [`board_view`]: what the UI renders of the board (filtered, sorted, windowed lanes) and the
//!   quick switcher's search.
//! - [`alerts`]: which events become OS notifications, and the `Notifier` seam.
//! - [`sound`]: the urgent chime and the `SoundPlayer` seam that plays it.
//! - [`token_store`]: where the refresh token lives (OS keychain, or memory).
//! - [`wake`]: sleep/wake, clock gaps and network-up, as reconnect triggers.
//! - [`session`]: a signed-in session (access token in memory, refresh token in the store).
//! - [`connection`]: the supervisor owning the one live socket; [`live_board`] applies what it
//!   delivers and reports it as [`desk::DeskEvent`]s.
//! - [`app`]: what the desktop shell exchanges with its UI (session info, errors, settings).
//! - [`desk`]: all of the above behind one handle and one event stream (used by the CLI and the app).
//! - [`lifecycle`]: when a sign-in resumes the running core, when a session counts as ended.

pub mod alerts;
pub mod api;
pub mod app;
pub mod backoff;
pub mod board;
pub mod board_view;
pub mod connection;
pub mod desk;
pub mod error;
pub mod lifecycle;
pub mod live_board;
pub mod session;
pub mod sound;
#[cfg(test)]
mod test_fixtures;
pub mod token_store;
pub mod transport;
pub mod wake;

pub use api::Api;
pub use error::ApiError;
