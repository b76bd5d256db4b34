//! A session ended by the server ends in the client too: the whole core ([`Desk`]) against the
//! real server in-process (and `deskbell-cli watch` against it).
//!
//! - an admin deactivates the user → `needs-login` with the deactivated reason, the saved
//!   refresh token removed, the socket gone;
//! - the session signs out from another call → `needs-login` "You were signed out";
//! - an admin changes the user's role → the core reconnects by itself, reloads the snapshot and
//!   is `live` with the new role's board (no sign-in, the saved session kept);
//! - the session is revoked where no socket hears of it (in the database) → the next command
//!   through the desk gets a 401 and that alone ends the session, socket and all;
//! - `deskbell-cli watch` goes on through a role change and exits with status 3 and the reason
//!   when the session ends.
//!
//! Every wait is a condition with a deadline.

use deskbell_client::alerts::RecordingNotifier;
use deskbell_client::connection::ConnectionState;
use deskbell_client::desk::{Desk, DeskEvent, DeskOptions};
use deskbell_client::session::Session;
use deskbell_client::token_store::{Account, MemoryStore, TokenStore};
use deskbell_client::transport::ws::WsTransport;
use deskbell_client::Api;
use deskbell_protocol::{
    Id, NewTicket, NewUser, Priority, Requester, Role, SessionEndReason, SyncMode, User, UserPatch,
};
use deskbell_server::{demo, Server};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;
use tokio::time::Instant;

mod support;

use support::{CliWatch, WAIT};

/// How soon a session end must reach the client. The spec says the server ends the sockets
/// within 1 s; the rest is slack for a loaded machine.
const SOON: Duration = Duration::from_secs(5);
const NS: &str = "/workspace-1";
const ADMIN: &str = "admin@acme.test";
const AGENT1: &str = "agent1@acme.test";
const AGENT2: &str = "agent2@acme.test";

async fn start_server() -> (Server, tempfile::TempDir) {
    support::start_server("session-end-test-secret").await
}

/// The company's sockets on the server.
fn sockets(server: &Server) -> usize {
    server.io().of(NS).map(|ns| ns.sockets().len()).unwrap_or(0)
}

async fn wait_sockets(server: &Server, n: usize) {
    let deadline = Instant::now() + WAIT;
    while sockets(server) != n {
        assert!(
            Instant::now() < deadline,
            "the server holds {} sockets, not {n}",
            sockets(server)
        );
        tokio::time::sleep(Duration::from_millis(20)).await; // polling interval
    }
}

async fn token(api: &Api, email: &str) -> String {
    api.login(email, demo::DEMO_PASSWORD)
        .await
        .unwrap_or_else(|e| panic!("login {email}: {e}"))
        .access_token
}

fn new_ticket(title: &str, assignee_id: Option<Id>) -> NewTicket {
    NewTicket {
        title: title.into(),
        requester: Requester {
            name: "Grace Hopper".into(),
            contact: None,
        },
        priority: Some(Priority::Normal),
        status: None,
        assignee_id,
        lane_id: None,
        message: Some("It broke".into()),
    }
}

fn is_needs_login(e: &DeskEvent) -> bool {
    matches!(
        e,
        DeskEvent::State {
            state: ConnectionState::NeedsLogin { .. }
        }
    )
}

/// A signed-in core whose refresh token is in `store`, as the desktop app runs it.
struct Signed {
    desk: Desk,
    events: mpsc::Receiver<DeskEvent>,
    seen: Vec<DeskEvent>,
    store: Arc<dyn TokenStore>,
    account: Account,
    user: User,
}

impl Signed {
    async fn start(server: &Server, email: &str, password: &str) -> Signed {
        let api = Api::new(&server.url()).unwrap();
        let store: Arc<dyn TokenStore> = Arc::new(MemoryStore::new());
        let session = Session::login(api, store.clone(), email, password)
            .await
            .unwrap_or_else(|e| panic!("login {email}: {e}"));
        let account = session.account().clone();
        let user = session.user();
        let options = DeskOptions::headless(
            Arc::new(WsTransport::new()),
            Arc::new(RecordingNotifier::new()),
        );
        let (desk, events) = Desk::start(session, options);
        let mut signed = Signed {
            desk,
            events,
            seen: Vec::new(),
            store,
            account,
            user,
        };
        signed
            .wait_for("live", WAIT, |e| {
                matches!(
                    e,
                    DeskEvent::State {
                        state: ConnectionState::Live
                    }
                )
            })
            .await;
        assert!(signed.saved_token().is_some(), "the refresh token is saved");
        signed
    }

    fn saved_token(&self) -> Option<String> {
        self.store.load(&self.account).expect("the store answers")
    }

    /// The next event matching `pred` (from now on), within `within`.
    async fn wait_for(
        &mut self,
        what: &str,
        within: Duration,
        pred: impl Fn(&DeskEvent) -> bool,
    ) -> DeskEvent {
        support::next_desk_event(&mut self.events, &mut self.seen, what, within, pred).await
    }

    /// Waits for `needs-login` and answers its reason.
    async fn needs_login(&mut self, within: Duration) -> String {
        match self.wait_for("needs-login", within, is_needs_login).await {
            DeskEvent::State {
                state: ConnectionState::NeedsLogin { reason },
            } => reason,
            _ => unreachable!(),
        }
    }

    /// What an ended session leaves: no saved refresh token, no socket on the server, no
    /// command sent; then the core is shut down.
    async fn assert_gone(self, server: &Server) {
        assert_eq!(
            self.saved_token(),
            None,
            "the saved refresh token is removed"
        );
        wait_sockets(server, 0).await;
        self.assert_commands_refused_locally().await;
        self.desk.shutdown().await;
    }

    /// After the end: nothing more goes to the server with this session.
    async fn assert_commands_refused_locally(&self) {
        let error = self
            .desk
            .create_ticket(new_ticket("after the end", None))
            .await
            .expect_err("an ended session sends nothing");
        assert_eq!(error.code(), "session_ended", "{error}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deactivating_the_user_ends_their_live_session_and_removes_the_saved_token() {
    let (server, _dir) = start_server().await;
    let api = Api::new(&server.url()).unwrap();
    let admin = token(&api, ADMIN).await;
    let mut agent = Signed::start(&server, AGENT2, demo::DEMO_PASSWORD).await;
    wait_sockets(&server, 1).await;

    let at = Instant::now();
    let deactivate = UserPatch {
        active: Some(false),
        ..UserPatch::default()
    };
    api.update_user(&admin, agent.user.id, &deactivate)
        .await
        .expect("deactivate");
    let reason = agent.needs_login(SOON).await;
    println!("needs-login {:?} after the deactivation", at.elapsed());
    assert_eq!(reason, SessionEndReason::Deactivated.describe());
    agent.assert_gone(&server).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signing_out_from_another_call_of_the_session_ends_it_everywhere() {
    let (server, _dir) = start_server().await;
    let api = Api::new(&server.url()).unwrap();
    let mut agent = Signed::start(&server, AGENT1, demo::DEMO_PASSWORD).await;
    wait_sockets(&server, 1).await;

    // The same session, signed out by a call that is not the core's (another window, a script).
    let access = agent.desk.session().access_token();
    api.logout(&access, None).await.expect("logout");
    let reason = agent.needs_login(SOON).await;
    assert_eq!(reason, SessionEndReason::SignedOut.describe());
    assert_eq!(reason, "You were signed out");
    agent.assert_gone(&server).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_role_change_reconnects_by_itself_with_the_new_roles_board() {
    let (server, _dir) = start_server().await;
    let api = Api::new(&server.url()).unwrap();
    let admin = token(&api, ADMIN).await;
    let agent1 = api
        .login(AGENT1, demo::DEMO_PASSWORD)
        .await
        .expect("login agent1")
        .user;
    // A second admin, demoted below (the first one keeps the admin calls going).
    let password = "second-admin-password";
    let second = api
        .create_user(
            &admin,
            &NewUser {
                name: "Second Admin".into(),
                email: "admin2@acme.test".into(),
                password: password.into(),
                role: Role::Admin,
            },
        )
        .await
        .expect("create the second admin");
    // Someone else's ticket: an admin sees it, an agent does not.
    let theirs = api
        .create_ticket(&admin, &new_ticket("Assigned to agent1", Some(agent1.id)))
        .await
        .expect("create");
    let mut demoted = Signed::start(&server, &second.email, password).await;
    assert!(
        demoted
            .desk
            .board()
            .tickets
            .iter()
            .any(|t| t.id == theirs.id),
        "as an admin it sees agent1's ticket"
    );

    let demote = UserPatch {
        role: Some(Role::Agent),
        ..UserPatch::default()
    };
    api.update_user(&admin, second.id, &demote)
        .await
        .expect("demote");
    // The snapshot is reloaded (a reset), then live again: no sign-in asked for.
    let reset = demoted
        .wait_for("the snapshot reloaded after the role change", SOON, |e| {
            is_needs_login(e)
                || matches!(e, DeskEvent::Synced { sync } if sync.mode == SyncMode::Reset)
        })
        .await;
    assert!(!is_needs_login(&reset), "a role change needs no sign-in");
    demoted
        .wait_for("live again", WAIT, |e| {
            is_needs_login(e)
                || matches!(
                    e,
                    DeskEvent::State {
                        state: ConnectionState::Live
                    }
                )
        })
        .await;
    assert!(!demoted.seen.iter().any(is_needs_login));
    assert!(
        !demoted.seen.iter().any(|e| matches!(
            e,
            DeskEvent::State {
                state: ConnectionState::Connecting {
                    retry_at: Some(_),
                    ..
                }
            }
        )),
        "reconnected at once, without a backoff"
    );
    // The account is reloaded too: what the app offers follows the new role.
    assert!(
        demoted.seen.iter().any(
            |e| matches!(e, DeskEvent::User { user } if user.id == second.id && user.role == Role::Agent)
        ),
        "the new user is reported"
    );
    assert_eq!(demoted.desk.user().role, Role::Agent);
    let board = demoted.desk.board();
    assert!(
        !board.tickets.iter().any(|t| t.id == theirs.id),
        "as an agent it no longer sees agent1's ticket"
    );
    // The same session goes on, and its board is the server's for the new role.
    let access = demoted.desk.session().access_token();
    let expected = api
        .board(&access)
        .await
        .expect("the same token still works");
    assert_eq!(board.tickets, expected.tickets);
    assert_eq!(board.lanes, expected.lanes);
    assert!(demoted.saved_token().is_some(), "the saved session is kept");
    wait_sockets(&server, 1).await;
    // Live events follow the new visibility too.
    let visible = api
        .create_ticket(&admin, &new_ticket("In the queue", None))
        .await
        .expect("create");
    demoted
        .wait_for("the new ticket", WAIT, |e| {
            matches!(e, DeskEvent::Event { event, .. } if event.ticket.as_ref().is_some_and(|t| t.id == visible.id))
        })
        .await;
    demoted.desk.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rest_401_on_a_command_ends_the_session_while_its_socket_is_up() {
    let (server, _dir) = start_server().await;
    let mut agent = Signed::start(&server, AGENT1, demo::DEMO_PASSWORD).await;
    wait_sockets(&server, 1).await;

    // Revoked where no socket hears of it: straight in the database, then the server's session
    // cache dropped (as a revocation does). The socket stays up, the core stays live.
    let state = server.state();
    sqlx::query("UPDATE refresh_tokens SET revoked = 1 WHERE user_id = $1")
        .bind(agent.user.id)
        .execute(&state.db.pool)
        .await
        .expect("revoke in the database");
    state.sessions.invalidate();
    assert_eq!(sockets(&server), 1, "the socket is still up");
    assert_eq!(*agent.desk.state().borrow(), ConnectionState::Live);

    // A command from the desk: the server answers 401, and that ends the session.
    let error = agent
        .desk
        .create_ticket(new_ticket("from a revoked session", None))
        .await
        .expect_err("a revoked session's command is refused");
    assert_eq!(error.code(), "unauthorized", "{error}");
    let reason = agent.needs_login(SOON).await;
    assert_eq!(
        reason,
        "The server ended this session (this session has been signed out); sign in again"
    );
    // The core let its socket go, among the rest.
    agent.assert_gone(&server).await;
}

/// `deskbell-cli watch`: a role change is followed silently; the end of the session is said on
/// stderr with exit status 3.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cli_watch_exits_with_the_reason_when_the_session_ends() {
    let (server, _dir) = start_server().await;
    let api = Api::new(&server.url()).unwrap();
    let admin = token(&api, ADMIN).await;
    let agent = api
        .login(AGENT2, demo::DEMO_PASSWORD)
        .await
        .expect("login")
        .user;
    let mut cli = CliWatch::spawn(&server.url(), AGENT2);
    cli.state("live").await;

    // Promoted: reconnected and in sync again, still running.
    let promote = UserPatch {
        role: Some(Role::Admin),
        ..UserPatch::default()
    };
    api.update_user(&admin, agent.id, &promote)
        .await
        .expect("promote");
    cli.next("the reset after the role change", |v| {
        v["kind"] == "synced" && v["sync"]["mode"] == "reset"
    })
    .await;
    cli.state("live").await;

    // Deactivated: the reason, then exit status 3 and the reason on stderr.
    let deactivate = UserPatch {
        active: Some(false),
        ..UserPatch::default()
    };
    api.update_user(&admin, agent.id, &deactivate)
        .await
        .expect("deactivate");
    let ended = cli.state("needs-login").await;
    let reason = SessionEndReason::Deactivated.describe();
    assert_eq!(ended["state"]["reason"], reason);
    let (status, stderr) = cli.exit().await;
    assert_eq!(status.code(), Some(3), "{status:?}");
    assert!(
        stderr.contains(&format!("the session ended: {reason}")),
        "stderr: {stderr}"
    );
    assert!(
        !cli.all.iter().any(|v| v["kind"] == "board"),
        "no board printed for an ended session: {:#?}",
        cli.all
    );
}
