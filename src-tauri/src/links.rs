//! Links in ticket titles and comments open in the user's browser or mail program, never in the
//! app's own web view (which would leave the board). Only `http`, `https` and `mailto` links are
//! opened: a comment is text anyone on the team (or a requester) wrote, so anything that could
//! run a program (`file:`, custom schemes) is refused.

use deskbell_client::app::CommandError;
use deskbell_client::error::ClientErrorCode;
use tauri::Url;

/// The link, if it may be opened.
#[allow(clippy::result_large_err)]
pub fn checked(link: &str) -> Result<Url, CommandError> {
    let url = Url::parse(link.trim())
        .map_err(|e| CommandError::new(ClientErrorCode::InvalidUrl, format!("not a link: {e}")))?;
    match url.scheme() {
        "http" | "https" if url.host_str().is_some() => Ok(url),
        "mailto" => Ok(url),
        scheme => Err(CommandError::new(
            ClientErrorCode::InvalidUrl,
            format!("{scheme}: links are not opened, only web and e-mail links"),
        )),
    }
}

/// Opens the link with the system's handler (detached: the app does not wait for it).
#[allow(clippy::result_large_err)]
pub fn open(link: &str) -> Result<(), CommandError> {
    let url = checked(link)?;
    let mut command = if cfg!(target_os = "macos") {
        std::process::Command::new("open")
    } else if cfg!(target_os = "windows") {
        let mut c = std::process::Command::new("rundll32");
        c.arg("url.dll,FileProtocolHandler");
        c
    } else {
        std::process::Command::new("xdg-open")
    };
    command
        .arg(url.as_str())
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null());
    match command.spawn() {
        Ok(mut child) => {
            // Reaped off the main thread: the handler may run as long as it likes.
            std::thread::spawn(move || {
                let _ = child.wait();
            });
            Ok(())
        }
        Err(e) => Err(CommandError::new(
            ClientErrorCode::SaveFailed,
            format!("the link could not be opened: {e}"),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn web_and_mail_links_open_and_nothing_else() {
        for ok in [
            "https://status.example.com/incident/42",
            " http://intranet.local:8080/wiki ",
            "mailto:help@example.com",
        ] {
            assert!(checked(ok).is_ok(), "{ok}");
        }
        for refused in [
            "file:///etc/passwd",
            "javascript:alert(1)",
            "smb://share/x",
            "https://",
            "not a link",
        ] {
            let e = checked(refused).unwrap_err();
            assert_eq!(e.code, "invalid_url", "{refused}");
        }
    }
}
