//! OS integration of the token stores, with no mocks: a real gnome-keyring (Secret Service)
//! in a private D-Bus session, and a session with no secret service at all.
//!
//! Run them with `tests/os/run.sh`, which starts those sessions; here they are ignored.

#![cfg(target_os = "linux")]

use std::process::Command;

use deskbell_client::token_store::{
    default_store_with, Account, StoreKind, StoreOptions, KEYCHAIN_SERVICE, NO_SECURE_STORE_WARNING,
};

/// What `secret-tool` (libsecret, a different client than ours) finds for the account.
fn secret_tool_lookup(account: &Account) -> Option<String> {
    let out = Command::new("secret-tool")
        .args(["lookup", "service", KEYCHAIN_SERVICE, "username"])
        .arg(account.keychain_user())
        .output()
        .expect("run secret-tool (Debian package libsecret-tools)");
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).into_owned())
}

#[test]
#[ignore = "needs an unlocked gnome-keyring in a private D-Bus session: tests/os/run.sh"]
fn keychain_round_trip_against_gnome_keyring() {
    let choice = default_store_with(StoreOptions {
        keyutils_fallback: false,
    });
    assert_eq!(choice.kind(), StoreKind::SecretService, "{choice:?}");
    assert_eq!(choice.warning, None);
    let store = choice.store;

    let account = Account::new("http://127.0.0.1:7878", "agent1@acme.test");
    let other = Account::new("http://127.0.0.1:7878", "agent2@acme.test");
    let secret = format!("rt-{}", std::process::id());

    assert_eq!(store.load(&account).unwrap(), None, "starts empty");
    store.save(&account, &secret).unwrap();
    assert_eq!(
        store.load(&account).unwrap().as_deref(),
        Some(secret.as_str())
    );
    assert_eq!(store.load(&other).unwrap(), None, "accounts are apart");

    // The secret is really in the keyring, where other Secret Service clients see it.
    assert_eq!(
        secret_tool_lookup(&account).as_deref(),
        Some(secret.as_str())
    );

    // Rotation replaces it.
    store.save(&account, "rt-rotated").unwrap();
    assert_eq!(store.load(&account).unwrap().as_deref(), Some("rt-rotated"));
    assert_eq!(secret_tool_lookup(&account).as_deref(), Some("rt-rotated"));

    // Sign-out deletes it, twice is fine.
    store.delete(&account).unwrap();
    store.delete(&account).unwrap();
    assert_eq!(store.load(&account).unwrap(), None);
    assert_eq!(secret_tool_lookup(&account), None, "gone from the keyring");
}

#[test]
#[ignore = "needs a private D-Bus session without a secret service: tests/os/run.sh"]
fn without_a_secret_service_the_message_is_the_plain_one() {
    let choice = default_store_with(StoreOptions {
        keyutils_fallback: false,
    });
    assert_eq!(choice.kind(), StoreKind::Memory, "{choice:?}");
    assert_eq!(choice.warning.as_deref(), Some(NO_SECURE_STORE_WARNING));

    // The memory store still works for this process.
    let account = Account::new("http://127.0.0.1:7878", "agent1@acme.test");
    choice.store.save(&account, "rt-in-memory").unwrap();
    assert_eq!(
        choice.store.load(&account).unwrap().as_deref(),
        Some("rt-in-memory")
    );
}
