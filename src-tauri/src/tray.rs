//! The tray icon and its menu. Linux tray icons get no click events, so everything is in the
//! menu: Open, a status line, Do not disturb, Reconnect now, Sign out, Quit.

use std::sync::Mutex;
use std::time::{Duration, SystemTime};

use deskbell_client::connection::ConnectionState;
use tauri::image::Image;
use tauri::menu::{
    CheckMenuItem, CheckMenuItemBuilder, MenuBuilder, MenuEvent, MenuItem, MenuItemBuilder,
    PredefinedMenuItem,
};
use tauri::tray::{TrayIcon, TrayIconBuilder};
use tauri::{AppHandle, Manager, Wry};

use crate::shell::{self, AppState};

const OPEN: &str = "open";
const STATUS: &str = "status";
const DND: &str = "dnd";
const RECONNECT: &str = "reconnect";
const SIGN_OUT: &str = "sign-out";
const QUIT: &str = "quit";

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Look {
    Live,
    Reconnecting,
    Offline,
    SignedOut,
}

impl Look {
    fn icon(self) -> Image<'static> {
        match self {
            Look::Live => tauri::include_image!("../icons/tray-live@2x.png"),
            Look::Reconnecting => tauri::include_image!("../icons/tray-reconnecting@2x.png"),
            Look::Offline => tauri::include_image!("../icons/tray-offline@2x.png"),
            Look::SignedOut => tauri::include_image!("../icons/tray-signed-out@2x.png"),
        }
    }
}

/// The state's icon with the urgent count drawn in (none: the icon as is).
fn badged(icon: Image<'static>, badge: Option<&str>) -> Image<'static> {
    match badge {
        None => icon,
        Some(text) => {
            let (width, height) = (icon.width(), icon.height());
            let rgba = crate::badge::with_badge(icon.rgba(), width, height, text);
            Image::new_owned(rgba, width, height)
        }
    }
}

/// What the tray shows: the connection state (`None`: no session), the urgent count, demo or not.
#[derive(Clone, Debug, Default)]
struct View {
    state: Option<ConnectionState>,
    urgent: usize,
    demo: bool,
}

/// What was last put on screen, so that unchanged parts are not set again.
#[derive(Clone, Debug, PartialEq, Default)]
struct Shown {
    look: Option<Look>,
    /// What the icon's badge says (the urgent count).
    badge: Option<String>,
    status: String,
    title: Option<String>,
    session_actions: bool,
    reconnect: bool,
}

pub struct Tray {
    icon: TrayIcon,
    status: MenuItem<Wry>,
    dnd: CheckMenuItem<Wry>,
    reconnect: MenuItem<Wry>,
    sign_out: MenuItem<Wry>,
    view: Mutex<(View, Shown)>,
}

impl View {
    fn look(&self) -> Look {
        match &self.state {
            None | Some(ConnectionState::NeedsLogin { .. }) => Look::SignedOut,
            Some(ConnectionState::Live | ConnectionState::Syncing) => Look::Live,
            Some(ConnectionState::Connecting { .. }) => Look::Reconnecting,
            Some(ConnectionState::Offline { .. }) => Look::Offline,
        }
    }

    /// The status line: "Live", "Reconnecting in 4 s", "Signed out", … with the urgent count.
    fn status(&self) -> String {
        let mut text = match &self.state {
            None | Some(ConnectionState::NeedsLogin { .. }) => "Signed out".to_string(),
            Some(ConnectionState::Live) => "Live".to_string(),
            Some(ConnectionState::Syncing) => "Syncing".to_string(),
            Some(ConnectionState::Connecting { attempt, retry_at }) => {
                match retry_at.map(seconds_until) {
                    Some(secs) if secs > 0 => format!("Reconnecting in {secs} s"),
                    _ if *attempt <= 1 && retry_at.is_none() => "Connecting…".to_string(),
                    _ => "Reconnecting…".to_string(),
                }
            }
            Some(ConnectionState::Offline { .. }) => "Offline".to_string(),
        };
        if self.demo && self.state.is_some() {
            text.push_str(" (demo)");
        }
        if self.urgent > 0 {
            text.push_str(&format!(" · {} urgent", self.urgent));
        }
        text
    }

    /// A session Sign out can end. Not once the server ended it (`needs-login`): nothing is
    /// left to sign out of, and the tray then looks as after the user's own sign-out.
    fn has_session(&self) -> bool {
        matches!(&self.state, Some(state) if !matches!(state, ConnectionState::NeedsLogin { .. }))
    }

    fn can_reconnect(&self) -> bool {
        !matches!(
            self.state,
            None | Some(ConnectionState::NeedsLogin { .. } | ConnectionState::Live)
        )
    }

    /// Whether the status line counts down (so it is refreshed every second).
    fn counting_down(&self) -> bool {
        matches!(
            &self.state,
            Some(ConnectionState::Connecting {
                retry_at: Some(_),
                ..
            })
        )
    }

    fn shown(&self) -> Shown {
        Shown {
            look: Some(self.look()),
            badge: crate::badge::badge_text(self.urgent),
            status: self.status(),
            title: (self.urgent > 0).then(|| self.urgent.to_string()),
            session_actions: self.has_session(),
            reconnect: self.can_reconnect(),
        }
    }
}

/// Whole seconds until `at`, rounded up (0 when past).
fn seconds_until(at: impl Into<SystemTime>) -> u128 {
    at.into()
        .duration_since(SystemTime::now())
        .map(|left| left.as_millis().div_ceil(1000))
        .unwrap_or(0)
}

impl Tray {
    /// Builds the tray. `None` when the platform has no tray (then closing the window quits).
    pub fn build(app: &AppHandle, do_not_disturb: bool) -> Option<Tray> {
        // libappindicator is loaded at run time and panics when it is missing: no tray then.
        let built = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            Self::try_build(app, do_not_disturb)
        }));
        match built {
            Ok(Ok(tray)) => Some(tray),
            Ok(Err(e)) => {
                tracing::warn!(error = %e, "no tray icon; closing the window will quit");
                None
            }
            Err(_) => {
                tracing::warn!(
                    "no tray icon (is libayatana-appindicator3 installed?); closing the window will quit"
                );
                None
            }
        }
    }

    fn try_build(app: &AppHandle, do_not_disturb: bool) -> tauri::Result<Tray> {
        let view = View::default();
        let open = MenuItemBuilder::with_id(OPEN, "Open Deskbell").build(app)?;
        let status = MenuItemBuilder::with_id(STATUS, view.status())
            .enabled(false)
            .build(app)?;
        let dnd = CheckMenuItemBuilder::with_id(DND, "Do not disturb")
            .checked(do_not_disturb)
            .build(app)?;
        let reconnect = MenuItemBuilder::with_id(RECONNECT, "Reconnect now")
            .enabled(false)
            .build(app)?;
        let sign_out = MenuItemBuilder::with_id(SIGN_OUT, "Sign out")
            .enabled(false)
            .build(app)?;
        let quit = MenuItemBuilder::with_id(QUIT, "Quit Deskbell").build(app)?;
        let menu = MenuBuilder::new(app)
            .item(&open)
            .item(&PredefinedMenuItem::separator(app)?)
            .item(&status)
            .item(&dnd)
            .item(&reconnect)
            .item(&PredefinedMenuItem::separator(app)?)
            .item(&sign_out)
            .item(&quit)
            .build()?;
        let icon = TrayIconBuilder::with_id("deskbell")
            .icon(Look::SignedOut.icon())
            .tooltip("Deskbell — Signed out")
            .menu(&menu)
            .show_menu_on_left_click(true)
            .on_menu_event(on_menu_event)
            .build(app)?;
        let shown = view.shown();
        Ok(Tray {
            icon,
            status,
            dnd,
            reconnect,
            sign_out,
            view: Mutex::new((view, shown)),
        })
    }

    fn update(&self, change: impl FnOnce(&mut View)) {
        let mut guard = self.view.lock().unwrap_or_else(|e| e.into_inner());
        let (view, shown) = &mut *guard;
        change(view);
        let next = view.shown();
        if next == *shown {
            return;
        }
        let result = (|| -> tauri::Result<()> {
            if next.look != shown.look || next.badge != shown.badge {
                if let Some(look) = next.look {
                    self.icon
                        .set_icon(Some(badged(look.icon(), next.badge.as_deref())))?;
                }
            }
            if next.status != shown.status {
                self.status.set_text(&next.status)?;
                self.icon
                    .set_tooltip(Some(format!("Deskbell — {}", next.status)))?;
            }
            if next.title != shown.title {
                // Shown next to the icon (Linux: the indicator's label).
                self.icon.set_title(next.title.as_deref())?;
            }
            if next.session_actions != shown.session_actions {
                self.sign_out.set_enabled(next.session_actions)?;
            }
            if next.reconnect != shown.reconnect {
                self.reconnect.set_enabled(next.reconnect)?;
            }
            Ok(())
        })();
        if let Err(e) = result {
            tracing::warn!(error = %e, "cannot update the tray");
        }
        *shown = next;
    }

    /// A new session (`Some(state)`), or none (`None`).
    pub fn set_session(&self, state: Option<ConnectionState>, demo: bool, urgent: usize) {
        self.update(|v| {
            v.state = state;
            v.demo = demo;
            v.urgent = urgent;
        });
    }

    pub fn set_state(&self, state: ConnectionState) {
        self.update(|v| {
            if v.state.is_some() {
                v.state = Some(state);
            }
        });
    }

    pub fn set_urgent(&self, count: usize) {
        self.update(|v| v.urgent = count);
    }

    pub fn set_do_not_disturb(&self, on: bool) {
        if let Err(e) = self.dnd.set_checked(on) {
            tracing::warn!(error = %e, "cannot update the tray");
        }
    }

    /// Refreshes the countdown of "Reconnecting in N s".
    fn tick(&self) {
        let counting = self
            .view
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .0
            .counting_down();
        if counting {
            self.update(|_| {});
        }
    }
}

/// Keeps "Reconnecting in N s" counting down.
pub fn spawn_ticker(app: AppHandle) {
    tauri::async_runtime::spawn(async move {
        let mut every = tokio::time::interval(Duration::from_millis(500));
        every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        loop {
            every.tick().await;
            if let Some(tray) = app.state::<AppState>().tray() {
                tray.tick();
            }
        }
    });
}

fn on_menu_event(app: &AppHandle, event: MenuEvent) {
    let app = app.clone();
    match event.id().as_ref() {
        OPEN => shell::show_main_window(&app),
        DND => {
            let state = app.state::<AppState>();
            let on = state
                .tray()
                .and_then(|t| t.dnd.is_checked().ok())
                .unwrap_or(false);
            tauri::async_runtime::spawn(async move {
                shell::set_do_not_disturb(&app, on).await;
            });
        }
        RECONNECT => {
            tauri::async_runtime::spawn(async move {
                if let Ok(desk) = app.state::<AppState>().desk().await {
                    desk.reconnect_now();
                }
            });
        }
        SIGN_OUT => {
            tauri::async_runtime::spawn(async move {
                if let Err(e) = shell::logout(&app).await {
                    tracing::warn!(code = %e.code, error = %e.message, "signing out from the tray failed");
                }
            });
        }
        QUIT => shell::quit(&app),
        _ => {}
    }
}
