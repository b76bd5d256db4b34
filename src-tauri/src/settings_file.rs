//! Where the desktop app keeps the user's [`Settings`]: `settings.json` in its config dir.
//!
//! Rules:
//! - No secrets in it, ever (the session is in the keychain).
//! - A missing file is the defaults; so is a broken one, which is set aside as
//!   `settings.json.broken` (and the reason logged) so that nothing is silently lost.
//! - Unknown or missing fields take their defaults (the type says so), so an older or newer file
//!   never stops the app.
//! - Writes are atomic (temp file + rename) and create the directory.

use std::path::{Path, PathBuf};

use deskbell_client::app::Settings;

pub const FILE_NAME: &str = "settings.json";

#[derive(Debug, thiserror::Error)]
pub enum SettingsError {
    #[error("cannot write the settings to {path}: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// Reads the settings in `dir` (see the module doc for missing and broken files).
pub fn load(dir: &Path) -> Settings {
    let path = dir.join(FILE_NAME);
    let text = match std::fs::read_to_string(&path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Settings::default(),
        Err(e) => {
            tracing::warn!(path = %path.display(), error = %e, "cannot read the settings; using defaults");
            return Settings::default();
        }
    };
    match serde_json::from_str(&text) {
        Ok(settings) => settings,
        Err(e) => {
            let aside = dir.join(format!("{FILE_NAME}.broken"));
            let _ = std::fs::rename(&path, &aside);
            tracing::warn!(path = %path.display(), error = %e, aside = %aside.display(), "unreadable settings set aside; using defaults");
            Settings::default()
        }
    }
}

/// Writes `settings` into `dir`, atomically.
pub fn save(settings: &Settings, dir: &Path) -> Result<(), SettingsError> {
    let path = dir.join(FILE_NAME);
    let write = || -> std::io::Result<()> {
        std::fs::create_dir_all(dir)?;
        let tmp = dir.join(format!(".{FILE_NAME}.tmp"));
        let text = serde_json::to_string_pretty(settings).map_err(std::io::Error::other)?;
        std::fs::write(&tmp, text)?;
        std::fs::rename(&tmp, &path)
    };
    write().map_err(|source| SettingsError::Write { path, source })
}

#[cfg(test)]
mod tests {
    use super::*;
    use deskbell_client::alerts::{AlertLevel, AlertPreferences};
    use deskbell_client::app::Theme;

    #[test]
    fn settings_round_trip_and_defaults() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(load(dir.path()), Settings::default());
        let settings = Settings {
            alerts: AlertPreferences {
                level: AlertLevel::AlsoAssignedToMe,
                do_not_disturb: true,
                ..AlertPreferences::default()
            },
            launch_at_login: true,
            close_to_tray: false,
            theme: Theme::Dark,
            last_server: Some("http://127.0.0.1:7878".into()),
            last_email: Some("agent1@acme.test".into()),
            close_to_tray_explained: true,
        };
        save(&settings, &dir.path().join("nested")).unwrap();
        assert_eq!(load(&dir.path().join("nested")), settings);
    }

    #[test]
    fn partial_and_broken_files_fall_back_without_losing_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(FILE_NAME);
        std::fs::write(&path, r#"{"theme":"light","someFutureField":1}"#).unwrap();
        let loaded = load(dir.path());
        assert_eq!(loaded.theme, Theme::Light);
        assert!(loaded.close_to_tray, "missing fields take their defaults");

        std::fs::write(&path, "{not json").unwrap();
        assert_eq!(load(dir.path()), Settings::default());
        let aside = dir.path().join("settings.json.broken");
        assert_eq!(std::fs::read_to_string(aside).unwrap(), "{not json");
    }
}
