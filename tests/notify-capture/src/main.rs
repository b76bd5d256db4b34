//! `deskbell-notify-capture`: a capturing `org.freedesktop.Notifications` server, for the
//! desktop end-to-end tests (tests/e2e). Run it on a private session bus (dbus-run-session with
//! tests/os/session.conf, which activates no real notification daemon).
//!
//! - owns `org.freedesktop.Notifications` on the session bus and serves the interface at
//!   `/org/freedesktop/Notifications` (Notify, CloseNotification, GetCapabilities,
//!   GetServerInformation);
//! - appends every `Notify` call as one JSON line to `--record FILE`:
//!   `{"id", "sender", "appName", "summary", "body", "actions", "urgency", "replacesId",
//!   "appIcon", "expireTimeout", "hints", "receivedAtMs", "receivedAtUs"}` (the receive time is
//!   the wall clock since the Unix epoch, in ms and in µs; `sender` is the caller's unique bus
//!   name, which tells two apps on one bus apart; `urgency` is the `urgency` hint as a number:
//!   0 low, 1 normal, 2 critical; `null` when absent);
//! - records every `CloseNotification` call (`GET /closes`, and as `{"closed": id, "known",
//!   "sender", "receivedAtMs", "receivedAtUs"}` lines in `--record FILE`; `known`: whether it
//!   showed that id) and, as a desktop does (and the specification requires), emits
//!   `NotificationClosed(id, 3)` for a notification it showed, which ends the app's wait;
//! - advertises the capabilities `actions`, `body`, `persistence`, plus `sound` with
//!   `--sound-capability` (a server that plays the `sound-file`/`sound-name` hints itself);
//! - offers a control over HTTP on `--control ADDR` (loopback only):
//!   - `GET /calls` → every recorded call, as a JSON array in arrival order;
//!   - `GET /closes` → every `CloseNotification` call, in arrival order;
//!   - `POST /invoke/{id}/{action}` → emits `ActionInvoked(id, action)`, as a desktop does when
//!     the user clicks the action (404 when no notification `id` was shown);
//!   - `POST /close/{id}` → emits `NotificationClosed(id, 2)` (dismissed by the user);
//!   - `GET /health` → `ok`;
//! - with `--tray-host`, also owns `org.kde.StatusNotifierWatcher` (a tray host, src/tray.rs), so
//!   that apps register their tray icons, and adds to the control:
//!   - `GET /tray` → the registered tray items still on the bus: id, title, status, icon name,
//!     label (the text next to the icon), menu path and the flattened menu (id, label, kind, enabled,
//!     visible, checked);
//!   - `POST /tray/click/{menuId}` → clicks that menu entry (dbusmenu `Event "clicked"`);
//! - once the bus name is owned and the control listens, writes the control's base URL
//!   (`http://127.0.0.1:PORT`) to `--ready-file FILE` (atomically) and to stdout;
//! - exits cleanly (status 0, bus name released) on SIGTERM or SIGINT.

use std::collections::{BTreeMap, HashMap};
use std::io::Write;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::{bail, Context};
use axum::extract::{Path as UrlPath, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use clap::Parser;
use serde::Serialize;
use zbus::zvariant::{OwnedValue, Value};

mod tray;

const BUS_NAME: &str = "org.freedesktop.Notifications";
const PATH: &str = "/org/freedesktop/Notifications";
const IFACE: &str = "org.freedesktop.Notifications";

#[derive(Parser, Debug)]
#[command(
    name = "deskbell-notify-capture",
    about = "Capturing org.freedesktop.Notifications server with an HTTP control (test fixture)"
)]
struct Cli {
    /// Append every Notify call to this file, one JSON object per line.
    #[arg(long)]
    record: PathBuf,
    /// Address of the HTTP control (loopback only; port 0 picks a free one).
    #[arg(long, default_value = "127.0.0.1:0")]
    control: SocketAddr,
    /// Write the control's base URL here once ready (bus name owned, control listening).
    #[arg(long)]
    ready_file: Option<PathBuf>,
    /// Also be the desktop's tray host (org.kde.StatusNotifierWatcher).
    #[arg(long)]
    tray_host: bool,
    /// Advertise the `sound` capability (the server plays notification sounds itself).
    #[arg(long)]
    sound_capability: bool,
}

/// One `Notify` call, as recorded.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
struct Recorded {
    id: u32,
    /// The caller's unique bus name (`:1.42`).
    sender: String,
    app_name: String,
    summary: String,
    body: String,
    actions: Vec<String>,
    urgency: Option<u8>,
    replaces_id: u32,
    app_icon: String,
    expire_timeout: i32,
    /// The hints, each rendered as text (their D-Bus values vary in type).
    hints: BTreeMap<String, String>,
    received_at_ms: u128,
    received_at_us: u128,
}

/// One `CloseNotification` call, as recorded.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
struct Closed {
    closed: u32,
    /// Whether the id was one this server showed (only then is `NotificationClosed` emitted).
    known: bool,
    sender: String,
    received_at_ms: u128,
    received_at_us: u128,
}

struct Shared {
    calls: Mutex<Vec<Recorded>>,
    closed: Mutex<Vec<Closed>>,
    sound_capability: bool,
    record: Mutex<std::fs::File>,
    next_id: Mutex<u32>,
}

impl Shared {
    fn record(&self, call: Recorded) -> u32 {
        let id = call.id;
        self.append(&call);
        self.calls.lock().expect("calls lock").push(call);
        id
    }

    fn record_close(&self, closed: Closed) {
        self.append(&closed);
        self.closed.lock().expect("closed lock").push(closed);
    }

    /// Appends one JSON line to the record file (one write per line, so a reader never sees
    /// half of one).
    fn append(&self, entry: &impl Serialize) {
        let mut line = serde_json::to_string(entry).expect("a record serializes");
        line.push('\n');
        let mut file = self.record.lock().expect("record lock");
        if let Err(e) = file.write_all(line.as_bytes()).and_then(|_| file.flush()) {
            eprintln!("notify-capture: cannot append to the record file: {e}");
        }
        eprintln!("notify-capture: recorded {}", line.trim_end());
    }

    fn knows(&self, id: u32) -> bool {
        self.calls
            .lock()
            .expect("calls lock")
            .iter()
            .any(|c| c.id == id)
    }
}

#[derive(Clone)]
struct Capture {
    shared: Arc<Shared>,
}

fn urgency_of(value: &Value<'_>) -> Option<u8> {
    match value {
        Value::U8(b) => Some(*b),
        Value::I16(n) => u8::try_from(*n).ok(),
        Value::U16(n) => u8::try_from(*n).ok(),
        Value::I32(n) => u8::try_from(*n).ok(),
        Value::U32(n) => u8::try_from(*n).ok(),
        Value::I64(n) => u8::try_from(*n).ok(),
        Value::U64(n) => u8::try_from(*n).ok(),
        Value::Value(inner) => urgency_of(inner),
        _ => None,
    }
}

fn hint_text(value: &Value<'_>) -> String {
    match value {
        Value::Str(s) => s.to_string(),
        Value::Bool(b) => b.to_string(),
        Value::U8(n) => n.to_string(),
        Value::I32(n) => n.to_string(),
        Value::U32(n) => n.to_string(),
        Value::Value(inner) => hint_text(inner),
        other => format!("{other:?}"),
    }
}

#[zbus::interface(name = "org.freedesktop.Notifications")]
impl Capture {
    #[allow(clippy::too_many_arguments)]
    fn notify(
        &self,
        #[zbus(header)] header: zbus::message::Header<'_>,
        app_name: String,
        replaces_id: u32,
        app_icon: String,
        summary: String,
        body: String,
        actions: Vec<String>,
        hints: HashMap<String, OwnedValue>,
        expire_timeout: i32,
    ) -> u32 {
        let id = {
            let mut next = self.shared.next_id.lock().expect("id lock");
            if replaces_id != 0 && self.shared.knows(replaces_id) {
                replaces_id
            } else {
                let id = *next;
                *next += 1;
                id
            }
        };
        let urgency = hints.get("urgency").and_then(|v| urgency_of(v));
        let hints = hints
            .iter()
            .map(|(k, v)| (k.clone(), hint_text(v)))
            .collect();
        let received_at_us = now_us();
        let received_at_ms = received_at_us / 1000;
        self.shared.record(Recorded {
            id,
            sender: sender_of(&header),
            app_name,
            summary,
            body,
            actions,
            urgency,
            replaces_id,
            app_icon,
            expire_timeout,
            hints,
            received_at_ms,
            received_at_us,
        })
    }

    async fn close_notification(
        &self,
        #[zbus(header)] header: zbus::message::Header<'_>,
        #[zbus(signal_emitter)] emitter: zbus::object_server::SignalEmitter<'_>,
        id: u32,
    ) {
        let received_at_us = now_us();
        let known = self.shared.knows(id);
        self.shared.record_close(Closed {
            closed: id,
            known,
            sender: sender_of(&header),
            received_at_ms: received_at_us / 1000,
            received_at_us,
        });
        if known {
            // Reason 3: closed by a call to CloseNotification.
            if let Err(e) = emitter.emit(IFACE, "NotificationClosed", &(id, 3u32)).await {
                eprintln!("notify-capture: cannot emit NotificationClosed({id}, 3): {e}");
            }
        }
    }

    fn get_capabilities(&self) -> Vec<String> {
        let mut caps: Vec<String> = vec!["actions".into(), "body".into(), "persistence".into()];
        if self.shared.sound_capability {
            caps.push("sound".into());
        }
        caps
    }

    fn get_server_information(&self) -> (String, String, String, String) {
        (
            "deskbell-notify-capture".into(),
            "deskbell".into(),
            env!("CARGO_PKG_VERSION").into(),
            "1.2".into(),
        )
    }
}

#[derive(Clone)]
struct Control {
    shared: Arc<Shared>,
    bus: zbus::Connection,
    registry: Arc<tray::Registry>,
}

async fn tray_items(State(control): State<Control>) -> Json<Vec<tray::TrayItem>> {
    Json(tray::items(&control.bus, &control.registry).await)
}

async fn tray_click(State(control): State<Control>, UrlPath(id): UrlPath<i32>) -> Response {
    match tray::click(&control.bus, &control.registry, id).await {
        Ok(label) => {
            eprintln!("notify-capture: clicked tray menu entry {id} ({label:?})");
            Json(serde_json::json!({ "clicked": id, "label": label })).into_response()
        }
        Err(e) => error(StatusCode::NOT_FOUND, e.to_string()),
    }
}

async fn calls(State(control): State<Control>) -> Json<Vec<Recorded>> {
    Json(control.shared.calls.lock().expect("calls lock").clone())
}

async fn closes(State(control): State<Control>) -> Json<Vec<Closed>> {
    Json(control.shared.closed.lock().expect("closed lock").clone())
}

fn sender_of(header: &zbus::message::Header<'_>) -> String {
    header.sender().map(|s| s.to_string()).unwrap_or_default()
}

fn now_us() -> u128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_micros())
        .unwrap_or(0)
}

fn error(status: StatusCode, message: String) -> Response {
    (status, Json(serde_json::json!({ "error": message }))).into_response()
}

async fn invoke(
    State(control): State<Control>,
    UrlPath((id, action)): UrlPath<(u32, String)>,
) -> Response {
    if !control.shared.knows(id) {
        return error(StatusCode::NOT_FOUND, format!("no notification {id}"));
    }
    match control
        .bus
        .emit_signal(
            None::<&str>,
            PATH,
            IFACE,
            "ActionInvoked",
            &(id, action.as_str()),
        )
        .await
    {
        Ok(()) => {
            eprintln!("notify-capture: emitted ActionInvoked({id}, {action:?})");
            Json(serde_json::json!({ "emitted": "ActionInvoked", "id": id, "action": action }))
                .into_response()
        }
        Err(e) => error(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
    }
}

async fn close(State(control): State<Control>, UrlPath(id): UrlPath<u32>) -> Response {
    if !control.shared.knows(id) {
        return error(StatusCode::NOT_FOUND, format!("no notification {id}"));
    }
    // Reason 2: dismissed by the user.
    match control
        .bus
        .emit_signal(None::<&str>, PATH, IFACE, "NotificationClosed", &(id, 2u32))
        .await
    {
        Ok(()) => {
            eprintln!("notify-capture: emitted NotificationClosed({id}, 2)");
            Json(serde_json::json!({ "emitted": "NotificationClosed", "id": id })).into_response()
        }
        Err(e) => error(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
    }
}

fn write_atomically(path: &Path, text: &str) -> anyhow::Result<()> {
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, text).with_context(|| format!("writing {}", tmp.display()))?;
    std::fs::rename(&tmp, path).with_context(|| format!("renaming to {}", path.display()))
}

async fn shutdown_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = signal(SignalKind::terminate()).expect("SIGTERM handler");
    let mut int = signal(SignalKind::interrupt()).expect("SIGINT handler");
    tokio::select! {
        _ = term.recv() => eprintln!("notify-capture: SIGTERM, exiting"),
        _ = int.recv() => eprintln!("notify-capture: SIGINT, exiting"),
    }
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    if !cli.control.ip().is_loopback() {
        bail!("--control must be a loopback address, not {}", cli.control);
    }
    let record = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&cli.record)
        .with_context(|| format!("opening the record file {}", cli.record.display()))?;
    let shared = Arc::new(Shared {
        calls: Mutex::new(Vec::new()),
        closed: Mutex::new(Vec::new()),
        sound_capability: cli.sound_capability,
        record: Mutex::new(record),
        next_id: Mutex::new(1),
    });

    // Listen first, so that a taken port fails before the bus name is taken.
    let listener = tokio::net::TcpListener::bind(cli.control)
        .await
        .with_context(|| format!("binding the control on {}", cli.control))?;
    let control_addr = listener.local_addr()?;

    let registry = Arc::new(tray::Registry::default());
    let mut builder = zbus::connection::Builder::session()
        .context("no session bus (DBUS_SESSION_BUS_ADDRESS); run inside dbus-run-session")?
        .serve_at(
            PATH,
            Capture {
                shared: shared.clone(),
            },
        )?
        .name(BUS_NAME)?;
    if cli.tray_host {
        builder = builder
            .serve_at(
                tray::WATCHER_PATH,
                tray::Watcher {
                    registry: registry.clone(),
                },
            )?
            .name(tray::WATCHER_NAME)?;
    }
    let bus = builder.build().await.with_context(|| {
        format!(
            "cannot own {BUS_NAME} (or the tray host's name) on the session bus (another server?)"
        )
    })?;

    let app = Router::new()
        .route("/health", get(|| async { "ok" }))
        .route("/calls", get(calls))
        .route("/closes", get(closes))
        .route("/invoke/{id}/{action}", post(invoke))
        .route("/close/{id}", post(close))
        .route("/tray", get(tray_items))
        .route("/tray/click/{id}", post(tray_click))
        .with_state(Control {
            shared,
            bus: bus.clone(),
            registry,
        });

    let url = format!("http://{control_addr}");
    if let Some(path) = &cli.ready_file {
        write_atomically(path, &url)?;
    }
    println!("notify-capture: owns {BUS_NAME}; control {url}");

    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown_signal())
        .await
        .context("control server")?;

    if let Err(e) = bus.release_name(BUS_NAME).await {
        eprintln!("notify-capture: releasing {BUS_NAME}: {e}");
    }
    if cli.tray_host {
        let _ = bus.release_name(tray::WATCHER_NAME).await;
    }
    drop(bus);
    Ok(())
}
