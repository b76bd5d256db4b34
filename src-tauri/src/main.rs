//! `deskbell`: the Deskbell desktop app, a thin Tauri shell over the client core
//! (`deskbell-client`): windows, tray, single instance, launch at login, the embedded demo, and
//! what only a desktop has (the settings file, saving downloads).
//! The UI contract (commands, event channels, error codes) is declared in `commands.rs` and
//! `contract.rs` and generated for the UI (`ui/src/generated/contract.ts`).

// No console window on Windows release builds.
#![cfg_attr(not(debug_assertions), windows_subsystem = "windows")]

mod badge;
mod commands;
mod contract;
mod demo;
mod downloads;
mod heap;
mod links;
mod mailbox;
mod rendering;
mod settings_file;
mod shell;
mod skeleton;
mod tray;

use clap::Parser;
use tauri::{Manager, RunEvent, WindowEvent};
use tauri_plugin_window_state::{AppHandleExt, StateFlags};

use crate::shell::{AppState, Dirs};
use crate::tray::Tray;

/// What the window state remembers: everything but visibility, which is ours (launch at
/// login starts hidden, closing to the tray hides).
const WINDOW_STATE_FLAGS: StateFlags = StateFlags::all().difference(StateFlags::VISIBLE);

/// The argument launch at login starts Deskbell with.
const HIDDEN_ARG: &str = "--hidden";

#[derive(Parser, Debug, Default)]
#[command(
    name = "deskbell",
    version,
    about = "Deskbell: the real-time ticket board"
)]
struct Args {
    /// Start the embedded demo server and sign in to it.
    #[arg(long)]
    demo: bool,
    /// Start in the tray, without showing the window (used by launch at login).
    #[arg(long)]
    hidden: bool,
}

fn parse_args() -> Args {
    match Args::try_parse() {
        Ok(args) => args,
        Err(e)
            if matches!(
                e.kind(),
                clap::error::ErrorKind::DisplayHelp | clap::error::ErrorKind::DisplayVersion
            ) =>
        {
            e.exit()
        }
        // Whatever launched us (a desktop file, a test driver) may add arguments: not fatal.
        Err(e) => {
            eprintln!("deskbell: ignoring the arguments: {e}");
            Args::default()
        }
    }
}

fn init_logs() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| {
        tracing_subscriber::EnvFilter::new(
            "info,tower_http=warn,socketioxide=warn,engineioxide=warn,sqlx=warn",
        )
    });
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
}

/// With `DESKBELL_CONFIG_DIR` set, a separate profile: its own single-instance name, so that
/// test runs with their own config dirs do not find each other.
fn single_instance_id() -> Option<String> {
    use std::hash::{Hash, Hasher};
    let dir = std::env::var_os("DESKBELL_CONFIG_DIR").filter(|d| !d.is_empty())?;
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    dir.hash(&mut hasher);
    Some(format!("app.deskbell.desktop.p{:016x}", hasher.finish()))
}

fn window_state_plugin() -> tauri::plugin::TauriPlugin<tauri::Wry> {
    let mut builder =
        tauri_plugin_window_state::Builder::new().with_state_flags(WINDOW_STATE_FLAGS);
    if let Some(dir) = std::env::var_os("DESKBELL_CONFIG_DIR").filter(|d| !d.is_empty()) {
        // An absolute file name replaces the plugin's own config dir (which the plugin
        // creates; this one it does not).
        let dir = std::path::PathBuf::from(dir);
        if let Err(e) = std::fs::create_dir_all(&dir) {
            tracing::warn!(dir = %dir.display(), error = %e, "cannot create the config dir");
        }
        let file = dir.join(tauri_plugin_window_state::DEFAULT_FILENAME);
        builder = builder.with_filename(file.to_string_lossy());
    }
    builder.build()
}

fn main() {
    let args = parse_args();
    init_logs();
    rendering::choose();
    // Tray hosts show the indicator's title, which is the application name: without it, the
    // binary's lowercase name.
    #[cfg(target_os = "linux")]
    glib::set_application_name("Deskbell");
    tracing::info!(
        version = env!("CARGO_PKG_VERSION"),
        ?args,
        "Deskbell starting"
    );

    let mut single_instance = tauri_plugin_single_instance::Builder::new().callback(
        |app: &tauri::AppHandle, argv: Vec<String>, _cwd: String| {
            tracing::info!(?argv, "launched again: showing the window");
            shell::show_main_window(app);
        },
    );
    if let Some(id) = single_instance_id() {
        single_instance = single_instance.dbus_id(id);
    }

    let built = tauri::Builder::default()
        // First, so that a second launch ends before anything else starts.
        .plugin(single_instance.build())
        .plugin(window_state_plugin())
        .plugin(
            tauri_plugin_autostart::Builder::new()
                .arg(HIDDEN_ARG)
                .build(),
        )
        .setup(move |app| {
            let handle = app.handle().clone();
            let state = AppState::new(Dirs::resolve(&handle));
            tracing::info!(
                config = %state.dirs.config.display(),
                data = %state.dirs.data.display(),
                "directories"
            );
            let do_not_disturb = state.settings().alerts.do_not_disturb;
            app.manage(state);
            let (trimmer, trimming) = heap::Trimmer::new(heap::release_free_memory);
            tauri::async_runtime::spawn(trimming);
            app.manage(trimmer);
            let tray = Tray::build(&handle, do_not_disturb);
            let has_tray = tray.is_some();
            app.state::<AppState>().set_tray(tray);
            tray::spawn_ticker(handle.clone());
            shell::sync_launch_at_login(&handle);
            shell::quit_on_signals(handle.clone());

            if !args.hidden || !has_tray {
                shell::show_main_window_when_ready(&handle);
            }
            if args.demo {
                let app = handle.clone();
                tauri::async_runtime::spawn(async move {
                    if let Err(e) = shell::start_demo(&app).await {
                        tracing::error!(code = %e.code, error = %e.message, "the demo could not start");
                    }
                });
            } else {
                tauri::async_runtime::spawn(shell::resume_at_start(handle.clone()));
            }
            Ok(())
        })
        .on_window_event(|window, event| {
            // Whether the user looks at the window: with the drawer's ticket, it decides whether
            // an alert for that ticket flashes in place instead of notifying.
            if let WindowEvent::Focused(focused) = event {
                if window.label() == "main" {
                    shell::set_window_focused(window.app_handle(), *focused);
                }
            }
            if let WindowEvent::CloseRequested { api, .. } = event {
                let state = window.state::<AppState>();
                if window.label() == "main"
                    && !state.is_quitting()
                    && state.has_tray()
                    && state.settings().close_to_tray
                {
                    api.prevent_close();
                    let _ = window.hide();
                    // Kept now too, not only at exit (a session may end without one).
                    let _ = window.app_handle().save_window_state(WINDOW_STATE_FLAGS);
                    shell::closed_to_tray(window.app_handle());
                }
            }
        })
        .invoke_handler(commands::handler())
        .build(tauri::generate_context!());

    let app = match built {
        Ok(app) => app,
        Err(e) => {
            tracing::error!(error = %e, "Deskbell could not start");
            std::process::exit(1);
        }
    };
    app.run(|app, event| {
        if let RunEvent::ExitRequested { api, .. } = event {
            // The last window closed (no tray, or close to tray off): shut down cleanly first.
            if !app.state::<AppState>().is_quitting() {
                api.prevent_exit();
                shell::quit(app);
            }
        }
    });
}
