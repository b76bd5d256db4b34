//! `deskbell-cli`: the client core from a terminal, for scripting and operations.

use anyhow::{bail, Context};
use clap::{Parser, Subcommand};
use deskbell_client::connection::ConnectionState;
use deskbell_client::desk::{Desk, DeskEvent, DeskOptions};
use deskbell_client::session::Session;
use deskbell_client::token_store::{default_store, MemoryStore, TokenStore};
use deskbell_client::Api;
use serde::{Deserialize, Serialize};
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

#[derive(Parser)]
#[command(name = "deskbell-cli", version, about = "Deskbell from a terminal")]
struct Cli {
    /// The server's URL. Default: the one of the last `login`.
    #[arg(long, global = true, env = "DESKBELL_SERVER")]
    server: Option<String>,
    /// Keep the session in this process's memory only (never the OS keychain).
    #[arg(long, global = true)]
    no_keychain: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Sign in; the password comes from DESKBELL_PASSWORD or a prompt.
    Login {
        #[arg(long)]
        email: String,
    },
    /// Sign out on the server and forget the saved session.
    Logout,
    /// Print the board once it is in sync with the server.
    Board {
        #[arg(long)]
        json: bool,
        /// Sign in for this run only (password from DESKBELL_PASSWORD), keychain untouched.
        #[arg(long)]
        email: Option<String>,
    },
    /// Follow the connection: states, every applied event and alerts; on SIGINT/SIGTERM the board.
    /// When the server ends the session, says why on stderr and exits with status 3.
    Watch {
        #[arg(long)]
        json: bool,
        /// Also show alerts as desktop notifications.
        #[arg(long)]
        notify: bool,
        /// Sign in for this run only (password from DESKBELL_PASSWORD), keychain untouched.
        #[arg(long)]
        email: Option<String>,
    },
    /// Acknowledge an urgent ticket ("I am on it"); prints the ticket as JSON.
    Ack {
        /// The ticket's number.
        id: i64,
        /// Sign in for this run only (password from DESKBELL_PASSWORD), keychain untouched.
        #[arg(long)]
        email: Option<String>,
    },
}

/// Which account the last `login` used (no secrets: the token is in the keychain).
#[derive(Serialize, Deserialize)]
struct LastLogin {
    server: String,
    email: String,
}

fn last_login_path() -> PathBuf {
    dirs::config_dir()
        .unwrap_or_else(|| PathBuf::from("."))
        .join("deskbell")
        .join("cli.json")
}

fn read_last_login() -> Option<LastLogin> {
    let text = std::fs::read_to_string(last_login_path()).ok()?;
    serde_json::from_str(&text).ok()
}

fn write_last_login(login: &LastLogin) -> anyhow::Result<()> {
    let path = last_login_path();
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    std::fs::write(&path, serde_json::to_string_pretty(login)?)
        .with_context(|| format!("writing {}", path.display()))
}

fn password() -> anyhow::Result<String> {
    if let Ok(p) = std::env::var("DESKBELL_PASSWORD") {
        return Ok(p);
    }
    rpassword::prompt_password("Password: ")
        .context("reading the password (set DESKBELL_PASSWORD to script this)")
}

fn token_store(no_keychain: bool) -> Arc<dyn TokenStore> {
    if no_keychain {
        return Arc::new(MemoryStore::new());
    }
    let choice = default_store();
    if let Some(warning) = &choice.warning {
        eprintln!("{warning}");
    }
    choice.store
}

fn server_url(cli: &Cli) -> anyhow::Result<String> {
    match (&cli.server, read_last_login()) {
        (Some(s), _) => Ok(s.clone()),
        (None, Some(last)) => Ok(last.server),
        (None, None) => bail!("which server? pass --server URL (or sign in once with `login`)"),
    }
}

/// A session for `board`/`watch`: signed in for this run with `--email`, or resumed from the keychain.
async fn session_for_run(cli: &Cli, email: Option<&str>) -> anyhow::Result<Session> {
    let api = Api::new(&server_url(cli)?)?;
    if let Some(email) = email {
        let store: Arc<dyn TokenStore> = Arc::new(MemoryStore::new());
        return Session::login(api, store, email, &password()?)
            .await
            .map_err(|e| anyhow::anyhow!("signing in failed ({}): {e}", e.code()));
    }
    let Some(last) = read_last_login() else {
        bail!("not signed in: run `deskbell-cli --server URL login --email you@example.com`, or pass --email");
    };
    Session::resume(api, token_store(cli.no_keychain), &last.email)
        .await
        .map_err(|e| {
            anyhow::anyhow!(
                "resuming the session of {} failed ({}): {e}",
                last.email,
                e.code()
            )
        })
}

fn print_json(value: &impl Serialize) {
    let mut out = std::io::stdout().lock();
    // A closed stdout (e.g. `| head`) just ends the output.
    let _ = serde_json::to_writer(&mut out, value);
    let _ = out.write_all(b"\n");
    let _ = out.flush();
}

fn print_board_text(board: &deskbell_protocol::Board) {
    let mut lanes: Vec<(Option<i64>, String)> = vec![(None, "No lane".into())];
    lanes.extend(board.lanes.iter().map(|l| (Some(l.id), l.name.clone())));
    for (id, name) in lanes {
        let cards: Vec<_> = board.tickets.iter().filter(|t| t.lane_id == id).collect();
        println!("== {name} ({}) ==", cards.len());
        for t in cards {
            println!(
                "  #{:<5} {:<7} {}  [{}]",
                t.id,
                t.priority.as_str(),
                t.title,
                t.requester.name
            );
        }
    }
    println!("(seq {})", board.seq);
}

fn start(session: Session, notify: bool) -> (Desk, tokio::sync::mpsc::Receiver<DeskEvent>) {
    let mut options = DeskOptions::desktop();
    if !notify {
        // Alerts are still decided and printed; only the OS notification is left out.
        options.notifier = None;
        options.notifier_events = None;
    }
    Desk::start(session, options)
}

async fn board(cli: &Cli, json: bool, email: Option<&str>) -> anyhow::Result<()> {
    let session = session_for_run(cli, email).await?;
    let (desk, _events) = start(session, false);
    let mut state = desk.state();
    let waited = tokio::time::timeout(Duration::from_secs(60), async {
        loop {
            let current = state.borrow_and_update().clone();
            match current {
                ConnectionState::Live => return Ok(()),
                ConnectionState::NeedsLogin { reason } => {
                    return Err(SessionEndedError(reason).into())
                }
                _ => {}
            }
            if state.changed().await.is_err() {
                return Err(anyhow::anyhow!("the connection stopped"));
            }
        }
    })
    .await;
    let snapshot = desk.board();
    desk.shutdown().await;
    match waited {
        Ok(Ok(())) => {}
        Ok(Err(e)) => return Err(e),
        Err(_) => bail!("could not get in sync with the server within 60 s"),
    }
    if json {
        print_json(&snapshot);
    } else {
        print_board_text(&snapshot);
    }
    Ok(())
}

/// The exit status of a run whose session the server ended (signed out, revoked, deactivated…).
const SESSION_ENDED_STATUS: u8 = 3;

/// The session ended while the command ran; `0` is the plain reason.
#[derive(Debug, thiserror::Error)]
#[error("the session ended: {0}")]
struct SessionEndedError(String);

async fn watch(cli: &Cli, json: bool, notify: bool, email: Option<&str>) -> anyhow::Result<()> {
    let session = session_for_run(cli, email).await?;
    let (desk, mut events) = start(session, notify);
    let stop = deskbell_shutdown::requested();
    tokio::pin!(stop);
    let mut ended = None;
    loop {
        tokio::select! {
            _ = &mut stop => break,
            event = events.recv() => {
                let Some(event) = event else { break };
                print_event(&event, json);
                // Only a new sign-in goes on (the core has already forgotten the session); a
                // role change is not this: the core reconnects by itself.
                if let DeskEvent::State { state: ConnectionState::NeedsLogin { reason } } = &event {
                    ended = Some(reason.clone());
                    break;
                }
            }
        }
    }
    let snapshot = desk.board();
    desk.shutdown().await;
    // What was already reported before the stop is still printed, in order.
    while let Ok(event) = events.try_recv() {
        print_event(&event, json);
    }
    if let Some(reason) = ended {
        return Err(SessionEndedError(reason).into());
    }
    if json {
        print_json(&serde_json::json!({ "kind": "board", "board": snapshot }));
    } else {
        print_board_text(&snapshot);
    }
    Ok(())
}

fn print_event(event: &DeskEvent, json: bool) {
    match event {
        // UI deltas: the applied events already say it all.
        DeskEvent::Board { .. } => {}
        _ if json => print_json(event),
        _ => print_event_text(event),
    }
}

fn print_event_text(event: &DeskEvent) {
    match event {
        DeskEvent::State { state } => println!(
            "state: {}",
            serde_json::to_string(state).unwrap_or_default()
        ),
        DeskEvent::Event {
            resource, event, ..
        } => {
            let what = event
                .ticket
                .as_ref()
                .map(|t| format!("#{} {}", t.id, t.title))
                .or(event.ticket_ref().map(|id| format!("#{id}")))
                .unwrap_or_default();
            println!(
                "seq {:>6}  {} {}  {what}",
                event.seq,
                resource.as_str(),
                event.action.as_str()
            );
        }
        DeskEvent::Board { .. } => {}
        DeskEvent::Synced { sync } => println!("in sync (head {})", sync.head),
        DeskEvent::Alert { alert, .. } => println!("ALERT {}: {}", alert.title, alert.body),
        DeskEvent::UrgentCount { count } => println!("urgent unread: {count}"),
        DeskEvent::OpenTicket { ticket_id } => println!("open ticket #{ticket_id}"),
        DeskEvent::NotificationFailed { error, .. } => println!("notification failed: {error}"),
        DeskEvent::Wake { reason } => println!("wake ({reason}): reconnecting"),
        DeskEvent::Unknown { name } => println!("skipped unknown event {name}"),
        DeskEvent::User { user } => println!("signed in as {} ({})", user.name, user.role.as_str()),
        DeskEvent::OpenTickets { ticket_ids } => println!("open tickets {ticket_ids:?}"),
        DeskEvent::AlertInPlace { ticket_id } => println!("alert in place on #{ticket_id}"),
        DeskEvent::Inbox { entries, unread } => {
            println!("inbox: {} entries, {unread} unread", entries.len())
        }
        DeskEvent::AlertActionFailed {
            ticket_ids,
            action,
            code,
            message,
        } => println!("{action:?} on {ticket_ids:?} failed ({code}): {message}"),
        DeskEvent::Members { members } => println!("{} members", members.len()),
        DeskEvent::Company { company } => println!(
            "company {}: escalate after {} min",
            company.name, company.escalate_after_minutes
        ),
    }
}

/// `ack ID`: acknowledges on the server, prints the ticket as JSON.
async fn ack(cli: &Cli, id: i64, email: Option<&str>) -> anyhow::Result<()> {
    if id <= 0 {
        bail!("no ticket #{id}: ticket numbers are positive");
    }
    let session = session_for_run(cli, email).await?;
    let ticket = session
        .call(|api, token| async move { api.acknowledge(&token, id).await })
        .await
        .map_err(|e| anyhow::anyhow!("acknowledging #{id} failed ({}): {e}", e.code()))?;
    print_json(&ticket);
    Ok(())
}

async fn login(cli: &Cli, email: &str) -> anyhow::Result<()> {
    let typed = cli.server.clone().context("login needs --server URL")?;
    let api = Api::connect(&typed)
        .await
        .map_err(|e| anyhow::anyhow!("{typed}: {e} ({})", e.code()))?;
    let server = api.base_url().as_str().trim_end_matches('/').to_string();
    let store = token_store(cli.no_keychain);
    let session = Session::login(api, store.clone(), email, &password()?)
        .await
        .map_err(|e| anyhow::anyhow!("signing in failed ({}): {e}", e.code()))?;
    let user = session.user();
    if !cli.no_keychain {
        write_last_login(&LastLogin {
            server,
            email: user.email.clone(),
        })?;
    }
    eprintln!(
        "Signed in as {} ({}) at {}; session kept in: {}",
        user.name,
        user.role.as_str(),
        session.company().name,
        store.kind()
    );
    Ok(())
}

async fn logout(cli: &Cli) -> anyhow::Result<()> {
    let Some(last) = read_last_login() else {
        bail!("not signed in");
    };
    let api = Api::new(cli.server.as_deref().unwrap_or(&last.server))?;
    let store = token_store(cli.no_keychain);
    match Session::resume(api, store.clone(), &last.email).await {
        Ok(session) => session
            .logout()
            .await
            .map_err(|e| anyhow::anyhow!("signing out failed ({}): {e}", e.code()))?,
        // Already over on the server: forget it locally all the same.
        Err(e) if e.needs_login() => {
            let account =
                deskbell_client::token_store::Account::new(last.server.clone(), last.email.clone());
            let _ = store.delete(&account);
        }
        Err(e) => bail!("signing out failed ({}): {e}", e.code()),
    }
    let _ = std::fs::remove_file(last_login_path());
    eprintln!("Signed out {}", last.email);
    Ok(())
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        .init();
    let result = match &cli.command {
        Command::Login { email } => login(&cli, email).await,
        Command::Logout => logout(&cli).await,
        Command::Board { json, email } => board(&cli, *json, email.as_deref()).await,
        Command::Watch {
            json,
            notify,
            email,
        } => watch(&cli, *json, *notify, email.as_deref()).await,
        Command::Ack { id, email } => ack(&cli, *id, email.as_deref()).await,
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => match e.downcast_ref::<SessionEndedError>() {
            Some(ended) => {
                eprintln!("deskbell-cli: {ended}");
                ExitCode::from(SESSION_ENDED_STATUS)
            }
            None => {
                // As `main` returning the error would print it.
                eprintln!("Error: {e:?}");
                ExitCode::FAILURE
            }
        },
    }
}
