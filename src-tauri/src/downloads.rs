//! Saving an attachment on this computer: into a folder (the user's Downloads), under a name
//! that came from the server.
//!
//! Rules:
//! - The name is made safe first ([`safe_file_name`]): the file always lands in the folder.
//! - An existing file is never overwritten ("report.pdf", then "report (1).pdf", …).
//! - A file that could not be written whole is removed.

use std::path::{Path, PathBuf};

/// A file name from the server (an attachment's name), made safe to create in a folder: no
/// directories, no control characters, not hidden, not empty, not endless.
pub fn safe_file_name(name: &str) -> String {
    let base = name.rsplit(['/', '\\']).next().unwrap_or_default();
    let visible: String = base.chars().filter(|c| !c.is_control()).collect();
    let trimmed = visible.trim().trim_start_matches('.').trim();
    let limited: String = trimmed.chars().take(200).collect();
    if limited.is_empty() {
        "attachment".to_string()
    } else {
        limited
    }
}

/// Saves downloaded bytes in `dir` under [`safe_file_name`]`(name)` (see the module doc).
/// Answers the path written.
pub fn save_download(dir: &Path, name: &str, bytes: &[u8]) -> std::io::Result<PathBuf> {
    use std::io::Write;
    std::fs::create_dir_all(dir)?;
    let name = safe_file_name(name);
    let (stem, ext) = match name.rfind('.') {
        Some(dot) if dot > 0 => name.split_at(dot),
        _ => (name.as_str(), ""),
    };
    for n in 0..1000 {
        let candidate = if n == 0 {
            name.clone()
        } else {
            format!("{stem} ({n}){ext}")
        };
        let path = dir.join(candidate);
        match std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&path)
        {
            Ok(mut file) => {
                if let Err(e) = file.write_all(bytes).and_then(|()| file.sync_all()) {
                    let _ = std::fs::remove_file(&path);
                    return Err(e);
                }
                return Ok(path);
            }
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(e),
        }
    }
    Err(std::io::Error::new(
        std::io::ErrorKind::AlreadyExists,
        format!("{name} and 999 numbered copies of it already exist"),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_names_from_the_server_stay_in_their_folder() {
        assert_eq!(safe_file_name("report.pdf"), "report.pdf");
        assert_eq!(safe_file_name("../../etc/passwd"), "passwd");
        assert_eq!(safe_file_name("C:\\Users\\x\\evil.exe"), "evil.exe");
        assert_eq!(safe_file_name(".bashrc"), "bashrc");
        assert_eq!(safe_file_name("a\nb\u{7}.txt"), "ab.txt");
        assert_eq!(safe_file_name("  ..  "), "attachment");
        assert_eq!(safe_file_name("dir/"), "attachment");
        assert_eq!(safe_file_name(&"x".repeat(500)).chars().count(), 200);
    }

    #[test]
    fn downloads_never_overwrite() {
        let dir = tempfile::tempdir().unwrap();
        let downloads = dir.path().join("Downloads");
        let first = save_download(&downloads, "report.pdf", b"one").unwrap();
        let second = save_download(&downloads, "report.pdf", b"two").unwrap();
        let third = save_download(&downloads, "../report.pdf", b"three").unwrap();
        let bare = save_download(&downloads, "README", b"four").unwrap();
        let bare2 = save_download(&downloads, "README", b"five").unwrap();
        assert_eq!(first, downloads.join("report.pdf"));
        assert_eq!(second, downloads.join("report (1).pdf"));
        assert_eq!(third, downloads.join("report (2).pdf"));
        assert_eq!(bare2, downloads.join("README (1)"));
        assert_eq!(std::fs::read(&first).unwrap(), b"one");
        assert_eq!(std::fs::read(&second).unwrap(), b"two");
        assert_eq!(std::fs::read(&third).unwrap(), b"three");
        assert_eq!(std::fs::read(&bare).unwrap(), b"four");
        assert!(
            !dir.path().join("report.pdf").exists(),
            "nothing outside the folder"
        );
    }
}
