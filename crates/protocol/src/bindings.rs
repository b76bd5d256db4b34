//! The UI's generated TypeScript files are checked in; each generator's test keeps its file
//! fresh through [`check_generated`], so a change to a Rust type that the UI has not seen fails
//! the tests instead of the app.

use std::path::Path;

/// Set to rewrite the generated files instead of checking them.
pub const UPDATE_VAR: &str = "UPDATE_TS_BINDINGS";

/// Fails (panics, for a test) when the file at `path` is not `fresh`, naming `regenerate`, the
/// command that rewrites it; with [`UPDATE_VAR`] set it writes `fresh` there instead.
pub fn check_generated(path: &Path, fresh: &str, regenerate: &str) {
    if std::env::var_os(UPDATE_VAR).is_some() {
        if let Err(e) = std::fs::write(path, fresh) {
            panic!("cannot write {}: {e}", path.display());
        }
        return;
    }
    let current = std::fs::read_to_string(path).unwrap_or_default();
    assert!(
        current == fresh,
        "{} is stale: run `{UPDATE_VAR}=1 {regenerate}`",
        path.display()
    );
}
