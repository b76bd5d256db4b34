//! Where the refresh token lives: the OS keychain when there is one, else memory only.
//!
//! The access token never comes here (it stays in memory). The refresh token goes to the
//! platform's secure store through the `keyring` v4 family (`keyring-core` + one store crate
//! per platform):
//!
//! - Linux: the Secret Service (gnome-keyring, KWallet, KeePassXC…) over D-Bus (pure Rust, zbus);
//!   when there is none, the kernel keyring (keyutils) as a *labelled* fallback: it lives in
//!   memory and forgets the session at reboot.
//! - macOS: the login keychain. Windows: the Credential Manager.
//! - Anywhere else, or when none of these answers: [`MemoryStore`], and [`default_store`] says so
//!   plainly ([`NO_SECURE_STORE_WARNING`]).
//!
//! Secrets never reach logs: no `Debug` impl prints one and no [`TokenStoreError`] carries one.
//!
//! The keychain calls are blocking (D-Bus round trips, possibly a few of them): from async code,
//! call them inside `tokio::task::spawn_blocking`.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::error::{ClientErrorCode, ErrorCode};
use serde::Serialize;

/// The keychain entry's service name for every Deskbell secret.
pub const KEYCHAIN_SERVICE: &str = "deskbell";

/// What [`default_store`] says when no secure store is available.
pub const NO_SECURE_STORE_WARNING: &str =
    "No secure password store is available; you will need to sign in again after restarting Deskbell.";

/// What [`default_store`] says when it falls back to the Linux kernel keyring.
pub const KEYUTILS_WARNING: &str = "No secure password store (Secret Service) is available; \
Deskbell keeps your session in the kernel keyring, so you will need to sign in again after \
restarting the computer.";

/// How long [`default_store`] waits for the Secret Service to answer before giving up on it.
pub const PROBE_TIMEOUT: Duration = Duration::from_secs(5);

/// One signed-in identity: which server, which user. Keys one keychain entry.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Account {
    /// The server's base URL, e.g. `https://desk.example.com`.
    pub server: String,
    /// The user's email.
    pub email: String,
}

impl Account {
    pub fn new(server: impl Into<String>, email: impl Into<String>) -> Self {
        Self {
            server: server.into(),
            email: email.into(),
        }
    }

    /// The keychain entry's user name: `email@server`, normalized (email trimmed and
    /// lowercased, server without a trailing slash) so that the same account always maps to
    /// the same entry.
    pub fn keychain_user(&self) -> String {
        let email = self.email.trim().to_lowercase();
        let server = self.server.trim().trim_end_matches('/');
        format!("{email}@{server}")
    }

    fn validate(&self) -> Result<(), TokenStoreError> {
        if self.email.trim().is_empty() {
            return Err(TokenStoreError::InvalidAccount {
                reason: "the email is empty".into(),
            });
        }
        if self.server.trim().trim_end_matches('/').is_empty() {
            return Err(TokenStoreError::InvalidAccount {
                reason: "the server is empty".into(),
            });
        }
        Ok(())
    }
}

/// Which kind of store holds the refresh token.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum StoreKind {
    /// freedesktop Secret Service (Linux desktops).
    SecretService,
    /// Linux kernel keyring: in memory, lost at reboot.
    Keyutils,
    /// macOS keychain.
    AppleKeychain,
    /// Windows Credential Manager.
    WindowsCredentialManager,
    /// This process only: lost when Deskbell exits.
    Memory,
}

impl StoreKind {
    /// A short name for people.
    pub fn label(self) -> &'static str {
        match self {
            StoreKind::SecretService => "Secret Service",
            StoreKind::Keyutils => "kernel keyring (until reboot)",
            StoreKind::AppleKeychain => "macOS keychain",
            StoreKind::WindowsCredentialManager => "Windows Credential Manager",
            StoreKind::Memory => "memory only",
        }
    }

    /// Whether a secret saved here survives a restart of Deskbell and of the computer.
    pub fn survives_reboot(self) -> bool {
        !matches!(self, StoreKind::Keyutils | StoreKind::Memory)
    }
}

impl fmt::Display for StoreKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.label())
    }
}

/// A token store failure. Never carries the secret itself; `reason`s come from the platform
/// (D-Bus error names and messages, OS error codes).
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
pub enum TokenStoreError {
    /// The store could not be reached or failed (no D-Bus, the daemon died, an OS error…).
    #[error("the {store} failed: {reason}")]
    Unavailable { store: StoreKind, reason: String },
    /// The store is there but refused access (locked keyring, dismissed prompt…).
    #[error("the {store} refused access: {reason}")]
    AccessDenied { store: StoreKind, reason: String },
    /// What the store holds for this account is not a token Deskbell wrote.
    #[error("the {store} holds an unreadable entry for this account")]
    Corrupt { store: StoreKind },
    /// Several entries match this account and none could be chosen.
    #[error("the {store} holds {count} entries for this account")]
    Ambiguous { store: StoreKind, count: usize },
    /// The account cannot name a keychain entry.
    #[error("invalid account: {reason}")]
    InvalidAccount { reason: String },
    /// The token cannot be stored as is (empty, too long…).
    #[error("invalid token: {reason}")]
    InvalidToken { reason: String },
}

impl TokenStoreError {
    /// A stable, machine-readable code.
    pub fn code(&self) -> ErrorCode {
        match self {
            TokenStoreError::Unavailable { .. } => ClientErrorCode::StoreUnavailable.into(),
            TokenStoreError::AccessDenied { .. } => ClientErrorCode::StoreAccessDenied.into(),
            TokenStoreError::Corrupt { .. } => ClientErrorCode::StoreCorrupt.into(),
            TokenStoreError::Ambiguous { .. } => ClientErrorCode::StoreAmbiguous.into(),
            TokenStoreError::InvalidAccount { .. } => ClientErrorCode::InvalidAccount.into(),
            TokenStoreError::InvalidToken { .. } => ClientErrorCode::InvalidToken.into(),
        }
    }
}

/// Where the refresh token is kept. Implementations may block (see the module docs).
pub trait TokenStore: Send + Sync {
    /// The saved refresh token of `account`, if any.
    fn load(&self, account: &Account) -> Result<Option<String>, TokenStoreError>;
    /// Saves (or replaces) the refresh token of `account`.
    fn save(&self, account: &Account, refresh_token: &str) -> Result<(), TokenStoreError>;
    /// Forgets the refresh token of `account`; deleting nothing is not an error.
    fn delete(&self, account: &Account) -> Result<(), TokenStoreError>;
    /// Which kind of store this is.
    fn kind(&self) -> StoreKind;
}

fn validate_token(refresh_token: &str) -> Result<(), TokenStoreError> {
    if refresh_token.is_empty() {
        return Err(TokenStoreError::InvalidToken {
            reason: "the token is empty".into(),
        });
    }
    Ok(())
}

/// Keeps tokens in this process only.
#[derive(Default)]
pub struct MemoryStore {
    tokens: Mutex<HashMap<String, String>>,
}

impl MemoryStore {
    pub fn new() -> Self {
        Self::default()
    }

    fn tokens(&self) -> std::sync::MutexGuard<'_, HashMap<String, String>> {
        // A panic while holding this lock cannot leave the map half-updated: recover it.
        self.tokens.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl fmt::Debug for MemoryStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MemoryStore")
            .field("accounts", &self.tokens().len())
            .finish_non_exhaustive()
    }
}

impl TokenStore for MemoryStore {
    fn load(&self, account: &Account) -> Result<Option<String>, TokenStoreError> {
        account.validate()?;
        Ok(self.tokens().get(&account.keychain_user()).cloned())
    }

    fn save(&self, account: &Account, refresh_token: &str) -> Result<(), TokenStoreError> {
        account.validate()?;
        validate_token(refresh_token)?;
        self.tokens()
            .insert(account.keychain_user(), refresh_token.to_owned());
        Ok(())
    }

    fn delete(&self, account: &Account) -> Result<(), TokenStoreError> {
        account.validate()?;
        self.tokens().remove(&account.keychain_user());
        Ok(())
    }

    fn kind(&self) -> StoreKind {
        StoreKind::Memory
    }
}

/// A store of the `keyring` v4 family (`keyring-core` API).
pub struct KeyringStore {
    kind: StoreKind,
    inner: Arc<keyring_core::CredentialStore>,
    /// Whether entries get a human-readable `label` modifier (Secret Service only).
    label_entries: bool,
}

impl fmt::Debug for KeyringStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyringStore")
            .field("kind", &self.kind)
            .field("vendor", &self.inner.vendor())
            .finish()
    }
}

impl KeyringStore {
    /// Wraps any `keyring-core` credential store (tests can pass `keyring_core::mock::Store`).
    pub fn from_store(kind: StoreKind, inner: Arc<keyring_core::CredentialStore>) -> Self {
        Self {
            kind,
            inner,
            label_entries: false,
        }
    }

    /// The Secret Service on the session bus. Fails when there is no session bus, no service,
    /// or the service does not answer a search (checked here, so that a store that "opens" but
    /// cannot work is not chosen).
    #[cfg(target_os = "linux")]
    pub fn secret_service() -> Result<Self, TokenStoreError> {
        let kind = StoreKind::SecretService;
        let inner: Arc<keyring_core::CredentialStore> =
            zbus_secret_service_keyring_store::Store::new().map_err(|e| map_err(kind, e))?;
        let store = Self {
            kind,
            inner,
            label_entries: true,
        };
        // Probe: a search for an entry that never exists. Unlike a write, this never prompts.
        let probe = Account::new("probe.invalid", "probe@deskbell.invalid");
        store.load(&probe)?;
        Ok(store)
    }

    /// The Linux kernel keyring (keyutils): always there, but forgets everything at reboot.
    #[cfg(target_os = "linux")]
    pub fn keyutils() -> Result<Self, TokenStoreError> {
        let kind = StoreKind::Keyutils;
        let inner: Arc<keyring_core::CredentialStore> =
            linux_keyutils_keyring_store::Store::new().map_err(|e| map_err(kind, e))?;
        let store = Self::from_store(kind, inner);
        let probe = Account::new("probe.invalid", "probe@deskbell.invalid");
        store.load(&probe)?;
        Ok(store)
    }

    /// The macOS login keychain.
    #[cfg(target_os = "macos")]
    pub fn apple_keychain() -> Result<Self, TokenStoreError> {
        let kind = StoreKind::AppleKeychain;
        let inner: Arc<keyring_core::CredentialStore> =
            apple_native_keyring_store::keychain::Store::new().map_err(|e| map_err(kind, e))?;
        Ok(Self::from_store(kind, inner))
    }

    /// The Windows Credential Manager.
    #[cfg(target_os = "windows")]
    pub fn windows_credential_manager() -> Result<Self, TokenStoreError> {
        let kind = StoreKind::WindowsCredentialManager;
        let inner: Arc<keyring_core::CredentialStore> =
            windows_native_keyring_store::Store::new().map_err(|e| map_err(kind, e))?;
        Ok(Self::from_store(kind, inner))
    }

    fn entry(&self, account: &Account) -> Result<keyring_core::Entry, TokenStoreError> {
        account.validate()?;
        let user = account.keychain_user();
        let built = if self.label_entries {
            // The label is what keyring UIs (Seahorse, KWallet) show.
            let label = format!("Deskbell sign-in for {user}");
            let mods = HashMap::from([("label", label.as_str())]);
            self.inner.build(KEYCHAIN_SERVICE, &user, Some(&mods))
        } else {
            self.inner.build(KEYCHAIN_SERVICE, &user, None)
        };
        built.map_err(|e| map_err(self.kind, e))
    }
}

impl TokenStore for KeyringStore {
    fn load(&self, account: &Account) -> Result<Option<String>, TokenStoreError> {
        match self.entry(account)?.get_password() {
            Ok(token) => Ok(Some(token)),
            Err(keyring_core::Error::NoEntry) => Ok(None),
            Err(e) => Err(map_err(self.kind, e)),
        }
    }

    fn save(&self, account: &Account, refresh_token: &str) -> Result<(), TokenStoreError> {
        validate_token(refresh_token)?;
        let entry = self.entry(account)?;
        match entry.set_password(refresh_token) {
            Ok(()) => Ok(()),
            // Duplicates (written by an older build, or by hand): remove them all, write one.
            Err(keyring_core::Error::Ambiguous(dupes)) => {
                for dupe in dupes {
                    dupe.delete_credential()
                        .map_err(|e| map_err(self.kind, e))?;
                }
                entry
                    .set_password(refresh_token)
                    .map_err(|e| map_err(self.kind, e))
            }
            Err(e) => Err(map_err(self.kind, e)),
        }
    }

    fn delete(&self, account: &Account) -> Result<(), TokenStoreError> {
        match self.entry(account)?.delete_credential() {
            Ok(()) | Err(keyring_core::Error::NoEntry) => Ok(()),
            Err(keyring_core::Error::Ambiguous(dupes)) => {
                for dupe in dupes {
                    match dupe.delete_credential() {
                        Ok(()) | Err(keyring_core::Error::NoEntry) => {}
                        Err(e) => return Err(map_err(self.kind, e)),
                    }
                }
                Ok(())
            }
            Err(e) => Err(map_err(self.kind, e)),
        }
    }

    fn kind(&self) -> StoreKind {
        self.kind
    }
}

/// Maps a `keyring-core` error without ever keeping the secret bytes some variants carry.
fn map_err(store: StoreKind, err: keyring_core::Error) -> TokenStoreError {
    use keyring_core::Error as E;
    match err {
        E::NoStorageAccess(e) => TokenStoreError::AccessDenied {
            store,
            reason: e.to_string(),
        },
        E::PlatformFailure(e) => TokenStoreError::Unavailable {
            store,
            reason: e.to_string(),
        },
        // Both carry the raw secret bytes: drop them.
        E::BadEncoding(_) | E::BadDataFormat(..) => TokenStoreError::Corrupt { store },
        E::BadStoreFormat(reason) => TokenStoreError::Unavailable {
            store,
            reason: format!("the store is malformed: {reason}"),
        },
        E::Ambiguous(entries) => TokenStoreError::Ambiguous {
            store,
            count: entries.len(),
        },
        E::TooLong(name, limit) => {
            if name.contains("password") || name.contains("secret") {
                TokenStoreError::InvalidToken {
                    reason: format!("longer than the store's limit of {limit}"),
                }
            } else {
                TokenStoreError::InvalidAccount {
                    reason: format!("{name} is longer than the store's limit of {limit}"),
                }
            }
        }
        E::Invalid(name, reason) => TokenStoreError::InvalidAccount {
            reason: format!("{name}: {reason}"),
        },
        E::NoEntry => TokenStoreError::Unavailable {
            store,
            reason: "no matching entry".into(),
        },
        E::NoDefaultStore => TokenStoreError::Unavailable {
            store,
            reason: "no credential store".into(),
        },
        E::NotSupportedByStore(reason) => TokenStoreError::Unavailable {
            store,
            reason: format!("not supported: {reason}"),
        },
        other => TokenStoreError::Unavailable {
            store,
            reason: other.to_string(),
        },
    }
}

/// The store Deskbell uses, and what to tell the user about it.
#[derive(Clone)]
pub struct StoreChoice {
    pub store: Arc<dyn TokenStore>,
    /// A plain sentence for the user when the session will not survive a restart.
    pub warning: Option<String>,
}

impl StoreChoice {
    pub fn kind(&self) -> StoreKind {
        self.store.kind()
    }
}

impl fmt::Debug for StoreChoice {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StoreChoice")
            .field("kind", &self.store.kind())
            .field("warning", &self.warning)
            .finish()
    }
}

/// A store [`choose_store`] may pick: its kind, and how to open (and check) it.
pub struct Candidate {
    pub kind: StoreKind,
    pub open: Box<dyn FnOnce() -> Result<Arc<dyn TokenStore>, TokenStoreError> + Send>,
}

impl Candidate {
    pub fn new(
        kind: StoreKind,
        open: impl FnOnce() -> Result<Arc<dyn TokenStore>, TokenStoreError> + Send + 'static,
    ) -> Self {
        Self {
            kind,
            open: Box::new(open),
        }
    }
}

impl fmt::Debug for Candidate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Candidate")
            .field("kind", &self.kind)
            .finish_non_exhaustive()
    }
}

/// Picks the first candidate that opens, in order; with none, [`MemoryStore`] and
/// [`NO_SECURE_STORE_WARNING`]. A store that forgets at reboot comes with its own warning.
pub fn choose_store(candidates: Vec<Candidate>) -> StoreChoice {
    for candidate in candidates {
        let kind = candidate.kind;
        match (candidate.open)() {
            Ok(store) => {
                tracing::info!(store = %kind, "refresh token store chosen");
                let warning = match kind {
                    StoreKind::Keyutils => Some(KEYUTILS_WARNING.to_owned()),
                    StoreKind::Memory => Some(NO_SECURE_STORE_WARNING.to_owned()),
                    _ => None,
                };
                return StoreChoice { store, warning };
            }
            Err(e) => {
                tracing::info!(store = %kind, code = %e.code(), error = %e, "token store not usable");
            }
        }
    }
    tracing::warn!("no secure token store: the session is kept in memory only");
    StoreChoice {
        store: Arc::new(MemoryStore::new()),
        warning: Some(NO_SECURE_STORE_WARNING.to_owned()),
    }
}

/// Runs `open` on its own thread and gives up after `timeout` (a D-Bus peer that never
/// answers must not hang start-up). The thread is left to finish on its own.
pub fn with_timeout(
    kind: StoreKind,
    timeout: Duration,
    open: impl FnOnce() -> Result<Arc<dyn TokenStore>, TokenStoreError> + Send + 'static,
) -> Result<Arc<dyn TokenStore>, TokenStoreError> {
    let (tx, rx) = std::sync::mpsc::channel();
    let spawned = std::thread::Builder::new()
        .name("deskbell-store-probe".into())
        .spawn(move || {
            let _ = tx.send(open());
        });
    if let Err(e) = spawned {
        return Err(TokenStoreError::Unavailable {
            store: kind,
            reason: format!("cannot start the probe thread: {e}"),
        });
    }
    match rx.recv_timeout(timeout) {
        Ok(result) => result,
        Err(std::sync::mpsc::RecvTimeoutError::Timeout) => Err(TokenStoreError::Unavailable {
            store: kind,
            reason: format!("no answer within {} s", timeout.as_secs()),
        }),
        Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => Err(TokenStoreError::Unavailable {
            store: kind,
            reason: "the probe failed".into(),
        }),
    }
}

/// Which stores [`default_store_with`] may pick.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StoreOptions {
    /// Linux: fall back to the kernel keyring (keyutils) when there is no Secret Service.
    /// It keeps the session across restarts of Deskbell but not of the computer, and comes
    /// with [`KEYUTILS_WARNING`]. When false, no Secret Service means memory only.
    pub keyutils_fallback: bool,
}

impl Default for StoreOptions {
    fn default() -> Self {
        Self {
            keyutils_fallback: true,
        }
    }
}

/// This platform's secure stores, best first.
pub fn platform_candidates(options: StoreOptions) -> Vec<Candidate> {
    #[allow(unused_mut)]
    let mut candidates = Vec::new();
    #[cfg(target_os = "linux")]
    {
        candidates.push(Candidate::new(StoreKind::SecretService, || {
            with_timeout(StoreKind::SecretService, PROBE_TIMEOUT, || {
                Ok(Arc::new(KeyringStore::secret_service()?) as Arc<dyn TokenStore>)
            })
        }));
        if options.keyutils_fallback {
            candidates.push(Candidate::new(StoreKind::Keyutils, || {
                with_timeout(StoreKind::Keyutils, PROBE_TIMEOUT, || {
                    Ok(Arc::new(KeyringStore::keyutils()?) as Arc<dyn TokenStore>)
                })
            }));
        }
    }
    #[cfg(target_os = "macos")]
    candidates.push(Candidate::new(StoreKind::AppleKeychain, || {
        Ok(Arc::new(KeyringStore::apple_keychain()?) as Arc<dyn TokenStore>)
    }));
    #[cfg(target_os = "windows")]
    candidates.push(Candidate::new(StoreKind::WindowsCredentialManager, || {
        Ok(Arc::new(KeyringStore::windows_credential_manager()?) as Arc<dyn TokenStore>)
    }));
    let _ = options;
    candidates
}

/// The store to use on this machine: Secret Service, else (Linux) the kernel keyring with a
/// warning, else memory with [`NO_SECURE_STORE_WARNING`]. Blocking: probes D-Bus on Linux,
/// [`PROBE_TIMEOUT`] at most per store.
pub fn default_store() -> StoreChoice {
    default_store_with(StoreOptions::default())
}

/// [`default_store`] with options.
pub fn default_store_with(options: StoreOptions) -> StoreChoice {
    choose_store(platform_candidates(options))
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &str = "rt-5f1c0ffee-very-secret";

    fn alice() -> Account {
        Account::new("https://desk.example.com/", "Alice@Example.com")
    }

    #[test]
    fn memory_store_round_trip() {
        let store = MemoryStore::new();
        let a = alice();
        assert_eq!(store.load(&a).unwrap(), None);
        store.save(&a, SECRET).unwrap();
        assert_eq!(store.load(&a).unwrap().as_deref(), Some(SECRET));
        store.save(&a, "rotated").unwrap();
        assert_eq!(store.load(&a).unwrap().as_deref(), Some("rotated"));
        store.delete(&a).unwrap();
        assert_eq!(store.load(&a).unwrap(), None);
        // Deleting nothing is fine.
        store.delete(&a).unwrap();
        assert_eq!(store.kind(), StoreKind::Memory);
    }

    #[test]
    fn memory_store_keeps_accounts_apart_and_normalizes() {
        let store = MemoryStore::new();
        let a = alice();
        let same = Account::new("https://desk.example.com", " alice@example.com ");
        let other_server = Account::new("https://other.example.com", "alice@example.com");
        let bob = Account::new("https://desk.example.com", "bob@example.com");
        store.save(&a, SECRET).unwrap();
        assert_eq!(store.load(&same).unwrap().as_deref(), Some(SECRET));
        assert_eq!(store.load(&other_server).unwrap(), None);
        assert_eq!(store.load(&bob).unwrap(), None);
    }

    #[test]
    fn invalid_inputs_are_refused_with_codes() {
        let store = MemoryStore::new();
        let err = store.save(&alice(), "").unwrap_err();
        assert_eq!(err.code(), "invalid_token");
        let err = store.load(&Account::new("https://x", "  ")).unwrap_err();
        assert_eq!(err.code(), "invalid_account");
        let err = store.load(&Account::new("/", "a@b")).unwrap_err();
        assert_eq!(err.code(), "invalid_account");
    }

    #[test]
    fn keychain_user_is_email_at_server() {
        assert_eq!(
            alice().keychain_user(),
            "alice@example.com@https://desk.example.com"
        );
    }

    #[test]
    fn debug_never_prints_the_secret() {
        let store = MemoryStore::new();
        store.save(&alice(), SECRET).unwrap();
        let printed = format!("{store:?}");
        assert!(!printed.contains(SECRET), "{printed}");
        let choice = StoreChoice {
            store: Arc::new(store),
            warning: None,
        };
        let printed = format!("{choice:?}");
        assert!(!printed.contains(SECRET), "{printed}");
        assert!(printed.contains("Memory"), "{printed}");
    }

    #[test]
    fn errors_drop_the_secret_bytes() {
        let raw = SECRET.as_bytes().to_vec();
        for err in [
            keyring_core::Error::BadEncoding(raw.clone()),
            keyring_core::Error::BadDataFormat(raw.clone(), "bad".into()),
        ] {
            let mapped = map_err(StoreKind::SecretService, err);
            assert_eq!(mapped.code(), "store_corrupt");
            assert!(!mapped.to_string().contains(SECRET));
            assert!(!format!("{mapped:?}").contains(SECRET));
        }
        let mapped = map_err(
            StoreKind::SecretService,
            keyring_core::Error::NoStorageAccess("org.freedesktop.Secret.Error.IsLocked".into()),
        );
        assert_eq!(mapped.code(), "store_access_denied");
        assert!(mapped.to_string().contains("IsLocked"));
    }

    fn failing(kind: StoreKind) -> Candidate {
        Candidate::new(kind, move || {
            Err(TokenStoreError::Unavailable {
                store: kind,
                reason: "org.freedesktop.DBus.Error.ServiceUnknown".into(),
            })
        })
    }

    fn working(kind: StoreKind) -> Candidate {
        Candidate::new(kind, move || {
            let store = KeyringStore::from_store(kind, keyring_core::mock::Store::new().unwrap());
            Ok(Arc::new(store) as Arc<dyn TokenStore>)
        })
    }

    #[test]
    fn no_secure_store_means_memory_and_a_plain_warning() {
        let choice = choose_store(vec![
            failing(StoreKind::SecretService),
            failing(StoreKind::Keyutils),
        ]);
        assert_eq!(choice.kind(), StoreKind::Memory);
        assert_eq!(choice.warning.as_deref(), Some(NO_SECURE_STORE_WARNING));
        // And it works.
        choice.store.save(&alice(), SECRET).unwrap();
        assert_eq!(
            choice.store.load(&alice()).unwrap().as_deref(),
            Some(SECRET)
        );

        let choice = choose_store(Vec::new());
        assert_eq!(choice.kind(), StoreKind::Memory);
        assert_eq!(choice.warning.as_deref(), Some(NO_SECURE_STORE_WARNING));
    }

    #[test]
    fn first_working_candidate_wins_in_order() {
        let choice = choose_store(vec![
            working(StoreKind::SecretService),
            working(StoreKind::Keyutils),
        ]);
        assert_eq!(choice.kind(), StoreKind::SecretService);
        assert_eq!(choice.warning, None);

        let choice = choose_store(vec![
            failing(StoreKind::SecretService),
            working(StoreKind::Keyutils),
        ]);
        assert_eq!(choice.kind(), StoreKind::Keyutils);
        assert_eq!(choice.warning.as_deref(), Some(KEYUTILS_WARNING));
    }

    #[test]
    fn later_candidates_are_not_opened() {
        let opened = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let flag = opened.clone();
        let choice = choose_store(vec![
            working(StoreKind::SecretService),
            Candidate::new(StoreKind::Keyutils, move || {
                flag.store(true, std::sync::atomic::Ordering::SeqCst);
                Err(TokenStoreError::Unavailable {
                    store: StoreKind::Keyutils,
                    reason: "x".into(),
                })
            }),
        ]);
        assert_eq!(choice.kind(), StoreKind::SecretService);
        assert!(!opened.load(std::sync::atomic::Ordering::SeqCst));
    }

    #[test]
    fn a_store_that_hangs_is_given_up_on() {
        let started = std::time::Instant::now();
        let choice = choose_store(vec![Candidate::new(StoreKind::SecretService, || {
            with_timeout(StoreKind::SecretService, Duration::from_millis(50), || {
                std::thread::sleep(Duration::from_secs(3));
                Ok(Arc::new(MemoryStore::new()) as Arc<dyn TokenStore>)
            })
        })]);
        assert!(started.elapsed() < Duration::from_secs(2));
        assert_eq!(choice.kind(), StoreKind::Memory);
        assert_eq!(choice.warning.as_deref(), Some(NO_SECURE_STORE_WARNING));
    }

    #[test]
    fn keyring_store_round_trip_on_the_mock_store() {
        let store = KeyringStore::from_store(
            StoreKind::SecretService,
            keyring_core::mock::Store::new().unwrap(),
        );
        let a = alice();
        assert_eq!(store.load(&a).unwrap(), None);
        store.save(&a, SECRET).unwrap();
        assert_eq!(store.load(&a).unwrap().as_deref(), Some(SECRET));
        store.delete(&a).unwrap();
        assert_eq!(store.load(&a).unwrap(), None);
        store.delete(&a).unwrap();
        assert!(!format!("{store:?}").contains(SECRET));
    }
}
