//! The session lifecycle as a front end (the desktop shell) follows it: when a sign-in resumes
//! the running core instead of replacing it, when the session counts as ended for the UI, and
//! how a core shared with the calls made on it is stopped ([`SharedDesk`]).
//!
//! Rules:
//! - A sign-in **resumes** the running core (it keeps its board, its alert state and its urgent
//!   count) only when that core waits for exactly this account to sign in again: its connection
//!   is `needs-login`, the server and the email are the same, and neither side is the embedded
//!   demo (a demo session lives in memory with its own server, and a real one is never mixed
//!   with it). Any other sign-in replaces the core.
//! - The session **ends for the UI** when the connection enters `needs-login` from any other
//!   state: once per end, not again for a repeated `needs-login`, and again after a resume.
//!   While the connection is `needs-login` there is no signed-in session to show.
//! - A core is **stopped** (shut down, or signed out and shut down) once the calls in flight on
//!   it have ended, so that a sign-out does not revoke the tokens under a running upload; but
//!   never later than a bound, after which it is stopped anyway (those calls then fail or are
//!   ignored). Calls that start while it stops wait for the stop and find a stopped core.

use std::ops::Deref;
use std::sync::{Arc, Weak};
use std::time::Duration;

use tokio::sync::{OwnedRwLockReadGuard, RwLock};

use crate::connection::ConnectionState;
use crate::desk::{Desk, DeskError};
use crate::session::Session;

/// Whether a session is signed in to the embedded demo server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    /// A server the user chose.
    Server,
    /// The embedded demo server (its session is in memory only).
    Demo,
}

/// What a new sign-in does with the core that is running.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignIn {
    /// The running core goes on with the new session ([`Desk::resume`]).
    Resume,
    /// The running core (if any) is stopped and a new one started.
    Replace,
}

/// Whether a state means that only a new sign-in helps (no session to show).
pub fn is_signed_out(state: &ConnectionState) -> bool {
    matches!(state, ConnectionState::NeedsLogin { .. })
}

/// The resume rule (see the module doc) for `session` signing in from `origin`, with `running`
/// (started from `running_origin`) as the current core.
pub fn sign_in(
    running: &Desk,
    running_origin: Origin,
    session: &Session,
    origin: Origin,
) -> SignIn {
    let waits_for_login = is_signed_out(&running.state().borrow());
    decide(
        running.session().account() == session.account(),
        waits_for_login,
        running_origin,
        origin,
    )
}

fn decide(same_account: bool, waits_for_login: bool, running: Origin, new: Origin) -> SignIn {
    if same_account && waits_for_login && running == Origin::Server && new == Origin::Server {
        SignIn::Resume
    } else {
        SignIn::Replace
    }
}

/// Follows one core's connection states and says when its session ended (see the module doc).
#[derive(Debug, Default)]
pub struct SignedOutTracker {
    signed_out: bool,
}

impl SignedOutTracker {
    pub fn new() -> SignedOutTracker {
        SignedOutTracker::default()
    }

    /// Takes the next state into account; true when it ends the session (tell the UI before
    /// the state itself, so that the reason the state carries is what the UI keeps).
    pub fn ends_session(&mut self, state: &ConnectionState) -> bool {
        let signed_out = is_signed_out(state);
        let ended = signed_out && !self.signed_out;
        self.signed_out = signed_out;
        ended
    }
}

/// How a core is stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stop {
    /// Stop it; the session stays saved for the next start.
    Shutdown,
    /// Sign out on the server, forget the saved session, and stop.
    Logout,
}

/// A running core shared with the calls made on it (see the module doc for how it stops).
/// Reads that never wait (state, user, board) go through `Deref`; a call that does I/O on the
/// core takes a [`DeskLease`] for its duration.
#[derive(Clone)]
pub struct SharedDesk {
    desk: Arc<Desk>,
    /// Read: a call in flight. Write: the stop.
    calls: Arc<RwLock<()>>,
}

/// The core for the length of one call; see [`SharedDesk::lease`].
pub struct DeskLease {
    desk: Arc<Desk>,
    _call: OwnedRwLockReadGuard<()>,
}

impl Deref for DeskLease {
    type Target = Desk;
    fn deref(&self) -> &Desk {
        &self.desk
    }
}

impl Deref for SharedDesk {
    type Target = Desk;
    fn deref(&self) -> &Desk {
        &self.desk
    }
}

impl SharedDesk {
    pub fn new(desk: Desk) -> SharedDesk {
        SharedDesk {
            desk: Arc::new(desk),
            calls: Arc::new(RwLock::new(())),
        }
    }

    /// The core for one call: a stop waits for the lease to be dropped (up to its bound).
    pub async fn lease(&self) -> DeskLease {
        DeskLease {
            desk: self.desk.clone(),
            _call: self.calls.clone().read_owned().await,
        }
    }

    /// For whoever must not keep the core alive (the event forwarder).
    pub fn downgrade(&self) -> Weak<Desk> {
        Arc::downgrade(&self.desk)
    }

    /// Stops the core once the calls in flight have ended, or after `patience` anyway.
    pub async fn stop(&self, how: Stop, patience: Duration) -> Result<(), DeskError> {
        let calls_done = tokio::time::timeout(patience, self.calls.clone().write_owned()).await;
        if calls_done.is_err() {
            tracing::warn!(
                ?patience,
                "calls still running: stopping the core under them"
            );
        }
        // Held (when it was had) until the core has stopped: no call starts on a dying core.
        let _no_new_calls = calls_done.ok();
        match how {
            Stop::Shutdown => {
                self.desk.shutdown().await;
                Ok(())
            }
            Stop::Logout => self.desk.logout().await,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::Api;
    use crate::desk::{DeskEvent, DeskOptions};
    use crate::session::SessionEnd;
    use crate::token_store::{Account, MemoryStore, TokenStore};
    use crate::transport::{ConnectError, ConnectRequest, SocketConnection, SocketTransport};
    use deskbell_protocol::{Company, LoginResponse, Role, User};
    use futures_util::future::BoxFuture;
    use std::sync::Arc;
    use std::time::Duration;

    /// Every attempt waits forever: the core stays `connecting` until it is stopped.
    struct NeverConnects;

    impl SocketTransport for NeverConnects {
        fn connect(
            &self,
            _request: ConnectRequest,
        ) -> BoxFuture<'static, Result<Box<dyn SocketConnection>, ConnectError>> {
            Box::pin(std::future::pending())
        }
    }

    fn user(email: &str) -> User {
        User {
            id: 3,
            company_id: 1,
            name: "Agent".into(),
            email: email.into(),
            role: Role::Agent,
            active: true,
        }
    }

    /// A signed-in session on `server` (its REST API points nowhere: never called here).
    fn session(server: &str, email: &str) -> Session {
        let api = Api::new(server).unwrap();
        let store: Arc<dyn TokenStore> = Arc::new(MemoryStore::new());
        let account = Account::new(api.base_url().to_string(), email);
        store.save(&account, "refresh-1").unwrap();
        Session::from_response(
            api,
            store,
            account,
            LoginResponse {
                access_token: "access-1".into(),
                refresh_token: "refresh-1".into(),
                expires_in: 900,
                user: user(email),
                company: Company {
                    id: 1,
                    name: "Acme".into(),
                    escalate_after_minutes: deskbell_protocol::DEFAULT_ESCALATE_AFTER_MINUTES,
                },
            },
        )
    }

    fn start(session: Session) -> (Desk, tokio::sync::mpsc::Receiver<DeskEvent>) {
        let notifier = Arc::new(crate::alerts::RecordingNotifier::default());
        Desk::start(
            session,
            DeskOptions::headless(Arc::new(NeverConnects), notifier),
        )
    }

    /// Waits (bounded) until the desk's connection is in a state `pred` accepts.
    async fn wait_state(desk: &Desk, pred: impl Fn(&ConnectionState) -> bool) {
        let mut state = desk.state();
        tokio::time::timeout(Duration::from_secs(10), state.wait_for(|s| pred(s)))
            .await
            .expect("state reached within 10 s")
            .expect("the connection is running");
    }

    const SERVER: &str = "http://127.0.0.1:9";

    #[test]
    fn only_the_same_account_waiting_for_login_resumes_and_never_with_the_demo() {
        use Origin::{Demo, Server};
        assert_eq!(decide(true, true, Server, Server), SignIn::Resume);
        assert_eq!(decide(false, true, Server, Server), SignIn::Replace);
        assert_eq!(decide(true, false, Server, Server), SignIn::Replace);
        assert_eq!(decide(true, true, Demo, Server), SignIn::Replace);
        assert_eq!(decide(true, true, Server, Demo), SignIn::Replace);
        assert_eq!(decide(true, true, Demo, Demo), SignIn::Replace);
    }

    #[tokio::test]
    async fn a_sign_in_resumes_a_core_whose_session_ended_for_the_same_account_only() {
        let (desk, _events) = start(session(SERVER, "agent1@acme.test"));
        let again = session(SERVER, "agent1@acme.test");
        let other_user = session(SERVER, "agent2@acme.test");
        let other_server = session("http://127.0.0.2:9", "agent1@acme.test");
        // Still trying to connect: the session has not ended, a sign-in replaces the core.
        assert_eq!(
            sign_in(&desk, Origin::Server, &again, Origin::Server),
            SignIn::Replace
        );
        desk.session().end(SessionEnd::Unreadable);
        wait_state(&desk, is_signed_out).await;
        assert_eq!(
            sign_in(&desk, Origin::Server, &again, Origin::Server),
            SignIn::Resume
        );
        assert_eq!(
            sign_in(&desk, Origin::Server, &other_user, Origin::Server),
            SignIn::Replace
        );
        assert_eq!(
            sign_in(&desk, Origin::Server, &other_server, Origin::Server),
            SignIn::Replace
        );
        assert_eq!(
            sign_in(&desk, Origin::Demo, &again, Origin::Server),
            SignIn::Replace
        );
        // Resumed: the core goes on with the new session and connects again.
        desk.resume(again);
        wait_state(&desk, |s| !is_signed_out(s)).await;
        desk.shutdown().await;
    }

    #[test]
    fn the_session_ends_once_per_needs_login_and_again_after_a_resume() {
        let needs_login = ConnectionState::NeedsLogin {
            reason: "signed out elsewhere".into(),
        };
        let connecting = ConnectionState::Connecting {
            attempt: 1,
            retry_at: None,
        };
        let mut tracker = SignedOutTracker::new();
        let seen: Vec<bool> = [
            connecting.clone(),
            ConnectionState::Live,
            needs_login.clone(),
            needs_login.clone(),
            connecting,
            ConnectionState::Syncing,
            needs_login.clone(),
        ]
        .iter()
        .map(|s| tracker.ends_session(s))
        .collect();
        assert_eq!(seen, [false, false, true, false, false, false, true]);
        // A core that starts signed out (a resume that failed at once) ends once too.
        let mut fresh = SignedOutTracker::new();
        assert!(fresh.ends_session(&needs_login));
        assert!(!fresh.ends_session(&needs_login));
    }

    #[tokio::test]
    async fn any_holder_stops_the_core_without_waiting_for_the_others() {
        let (desk, mut events) = start(session(SERVER, "agent1@acme.test"));
        let desk = Arc::new(desk);
        // Someone else still holds the desk (the old shell polled until it was the only one).
        let other = desk.clone();
        tokio::time::timeout(Duration::from_secs(10), desk.shutdown())
            .await
            .expect("the shutdown does not wait for the other holder");
        // The stream has ended: everything reported before the stop came first.
        let reported = tokio::time::timeout(Duration::from_secs(10), async {
            let mut n = 0;
            while events.recv().await.is_some() {
                n += 1;
            }
            n
        })
        .await
        .expect("the event stream ended");
        assert!(reported > 0, "the connection reported its states");
        // The other holder finds a stopped core: requests are ignored, a second stop is a no-op.
        other.reconnect_now();
        tokio::time::timeout(Duration::from_secs(1), other.shutdown())
            .await
            .expect("a second shutdown returns at once");
    }

    /// Whether `task` is still running once everything else has had its turn (paused clock:
    /// the runtime is idle when this returns).
    async fn still_running<T>(task: &tokio::task::JoinHandle<T>) -> bool {
        tokio::time::sleep(Duration::from_millis(1)).await;
        !task.is_finished()
    }

    #[tokio::test(start_paused = true)]
    async fn a_stop_waits_for_the_calls_in_flight_and_later_calls_find_it_stopped() {
        let (desk, mut events) = start(session(SERVER, "agent1@acme.test"));
        let shared = SharedDesk::new(desk);
        let call = shared.lease().await;
        let stopping = tokio::spawn({
            let shared = shared.clone();
            async move { shared.stop(Stop::Shutdown, Duration::from_secs(15)).await }
        });
        assert!(
            still_running(&stopping).await,
            "the stop waits for the call"
        );
        // A call that starts now waits for the stop.
        let late = tokio::spawn({
            let shared = shared.clone();
            async move { shared.lease().await.state().borrow().clone() }
        });
        assert!(still_running(&late).await);
        drop(call);
        stopping.await.unwrap().unwrap();
        late.await.unwrap();
        // Stopped: the stream has ended.
        while events.recv().await.is_some() {}
    }

    #[tokio::test(start_paused = true)]
    async fn a_call_that_does_not_end_delays_the_stop_only_up_to_the_bound() {
        let (desk, mut events) = start(session(SERVER, "agent1@acme.test"));
        let shared = SharedDesk::new(desk);
        let _stuck = shared.lease().await;
        let started = tokio::time::Instant::now();
        shared
            .stop(Stop::Shutdown, Duration::from_secs(15))
            .await
            .unwrap();
        assert_eq!(started.elapsed().as_secs(), 15);
        while events.recv().await.is_some() {}
    }
}
