//! Files the server keeps on disk are private to the user it runs as.
//!
//! The data dir holds the SQLite database, the attachments and the JWT signing secret: anyone
//! who can read them can read every company's tickets or sign in as anyone. On Unix:
//!
//! - the data dir and every directory under it are 0700, set when created, and a data dir
//!   found looser on start is tightened (with a log line), which also closes whatever an older
//!   version left readable beneath it;
//! - the SQLite database is created 0600 before SQLite opens it, so its `-wal` and `-shm`
//!   files, which SQLite creates with the database's mode, are 0600 too; existing ones are
//!   tightened on start;
//! - attachment files and the JWT secret are created 0600.
//!
//! Elsewhere these are plain creates: the platform's own per-user data dirs apply.
//!
//! Dependencies: none inside the crate; a building block the others use.

use std::io;
use std::path::{Path, PathBuf};

/// Directories: owner only.
pub const DIR_MODE: u32 = 0o700;
/// Files: owner read/write only.
pub const FILE_MODE: u32 = 0o600;

/// Creates `dir` and any missing parents with `DIR_MODE`, or tightens it to `DIR_MODE` if it
/// exists with more permissions.
pub fn private_dir(dir: &Path) -> io::Result<()> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        builder.mode(DIR_MODE);
    }
    builder.create(dir)?;
    tighten(dir, DIR_MODE)
}

/// Removes any permission beyond `mode` from an existing file or directory; a missing path is
/// not an error.
pub fn tighten(path: &Path, mode: u32) -> io::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let meta = match std::fs::metadata(path) {
            Ok(meta) => meta,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(e),
        };
        let current = meta.permissions().mode() & 0o7777;
        if current & !mode != 0 {
            std::fs::set_permissions(path, std::fs::Permissions::from_mode(current & mode))?;
            tracing::info!(
                path = %path.display(),
                from = format!("{current:o}"),
                to = format!("{:o}", current & mode),
                "tightened permissions"
            );
        }
    }
    #[cfg(not(unix))]
    let _ = (path, mode);
    Ok(())
}

/// Options that create a file with `FILE_MODE`.
pub fn private_file_options() -> std::fs::OpenOptions {
    let mut options = std::fs::OpenOptions::new();
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(FILE_MODE);
    }
    options
}

/// The database file of a `sqlite:` URL, unless it names an in-memory database.
pub fn sqlite_file(url: &str) -> Option<PathBuf> {
    use std::str::FromStr;
    if !url.starts_with("sqlite:") || url.contains(":memory:") || url.contains("mode=memory") {
        return None;
    }
    let options = sqlx::sqlite::SqliteConnectOptions::from_str(url).ok()?;
    let file = options.get_filename();
    (!file.as_os_str().is_empty()).then(|| file.to_path_buf())
}

/// Makes sure the SQLite database at `file` is private before SQLite opens it: creates it
/// empty with `FILE_MODE` (SQLite takes an empty file as an empty database) and tightens an
/// existing one with its `-wal` and `-shm` files.
pub fn private_sqlite(file: &Path) -> io::Result<()> {
    match private_file_options()
        .write(true)
        .create_new(true)
        .open(file)
    {
        Ok(_) => {}
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
        Err(e) => return Err(e),
    }
    for suffix in ["", "-wal", "-shm", "-journal"] {
        let mut path = file.as_os_str().to_owned();
        path.push(suffix);
        tighten(Path::new(&path), FILE_MODE)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sqlite_files_are_found_in_urls() {
        assert_eq!(
            sqlite_file("sqlite:///var/lib/d/deskbell.sqlite?mode=rwc"),
            Some(PathBuf::from("/var/lib/d/deskbell.sqlite"))
        );
        assert_eq!(sqlite_file("sqlite::memory:"), None);
        assert_eq!(sqlite_file("sqlite://?mode=memory"), None);
        assert_eq!(sqlite_file("postgres://u@h/db"), None);
    }

    #[cfg(unix)]
    #[test]
    fn directories_and_files_are_made_private() {
        use std::os::unix::fs::PermissionsExt;
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        let root = tempfile::tempdir().unwrap();
        let nested = root.path().join("a/b");
        private_dir(&nested).unwrap();
        assert_eq!(mode(&root.path().join("a")), 0o700);
        assert_eq!(mode(&nested), 0o700);
        std::fs::set_permissions(&nested, std::fs::Permissions::from_mode(0o755)).unwrap();
        private_dir(&nested).unwrap();
        assert_eq!(mode(&nested), 0o700, "tightened");

        let db = nested.join("x.sqlite");
        private_sqlite(&db).unwrap();
        assert_eq!(mode(&db), 0o600);
        let wal = nested.join("x.sqlite-wal");
        std::fs::write(&wal, b"").unwrap();
        std::fs::set_permissions(&wal, std::fs::Permissions::from_mode(0o644)).unwrap();
        std::fs::set_permissions(&db, std::fs::Permissions::from_mode(0o640)).unwrap();
        private_sqlite(&db).unwrap();
        assert_eq!((mode(&db), mode(&wal)), (0o600, 0o600));
    }
}
