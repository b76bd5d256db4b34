//! Input rules of every operation (see `ops`).
//!
//! Every write checks its input with the helpers below before it touches the database, so a
//! refused input changes nothing and a bad value is a `validation` error naming the field
//! (422 over REST), never a database error:
//!
//! - Positions (a lane's `position`) lie in `0..=POSITION_MAX`. Clients only order lanes with
//!   them; a bounded range keeps "one more than the largest" from ever overflowing.
//! - Ids sent in bodies (`assigneeId`, `laneId`, …) lie in `1..=ID_MAX`, the largest integer
//!   a JavaScript client represents exactly: no row has an id outside it, so an id outside it
//!   is a client bug to report, not a lookup to run. Ids in paths that name nothing are 404.
//! - Text holds no NUL and no other control character (Unicode `Cc`). SQLite would store them
//!   and PostgreSQL refuses NUL with an error; either way they only hide content or break a
//!   line-based reader. Single-line fields (titles, names, requester name and contact, lane
//!   names, emails, file names) allow none; multi-line bodies (comments, a ticket's first
//!   message) allow newline and tab, and a CRLF line ending is stored as LF. Text is trimmed
//!   and bounded in characters. `required_text`, `optional_text` and `bounded` apply this to
//!   every text field of every write; `email` adds the shape of an address.
//!
//! Dependencies: `error` and the protocol only.

use deskbell_protocol::Id;

use crate::error::{OpError, OpResult};

/// Largest lane position; positions are `0..=POSITION_MAX`.
pub const POSITION_MAX: i64 = 1_000_000;

/// Largest id a client may send: 2^53 - 1 (`Number.MAX_SAFE_INTEGER`).
pub const ID_MAX: i64 = 9_007_199_254_740_991;

/// Checks a client-supplied position.
pub fn position(field: &str, value: i64) -> OpResult<i64> {
    if (0..=POSITION_MAX).contains(&value) {
        Ok(value)
    } else {
        Err(OpError::validation(format!(
            "{field} must be between 0 and {POSITION_MAX}, not {value}"
        )))
    }
}

/// Checks an id sent in a request body.
pub fn body_id(field: &str, value: Id) -> OpResult<Id> {
    if (1..=ID_MAX).contains(&value) {
        Ok(value)
    } else {
        Err(OpError::validation(format!(
            "{field} must be an id between 1 and {ID_MAX}, not {value}"
        )))
    }
}

/// Whether a text field may span lines (see the module docs).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lines {
    /// Titles, names, contacts, emails: no control character at all.
    Single,
    /// Comment bodies and a ticket's first message: newline and tab allowed.
    Multi,
}

/// Trims, checks and bounds a required text field.
pub fn required_text(field: &str, value: &str, max_chars: usize, lines: Lines) -> OpResult<String> {
    let text = normalize(value, lines);
    let trimmed = text.trim();
    if trimmed.is_empty() {
        return Err(OpError::validation(format!("{field} must not be empty")));
    }
    bounded(field, trimmed, max_chars, lines)
}

/// Trims, checks and bounds an optional text field; absent or blank is `None`.
pub fn optional_text(
    field: &str,
    value: Option<&str>,
    max_chars: usize,
    lines: Lines,
) -> OpResult<Option<String>> {
    let Some(value) = value else {
        return Ok(None);
    };
    let text = normalize(value, lines);
    match text.trim() {
        "" => Ok(None),
        trimmed => bounded(field, trimmed, max_chars, lines).map(Some),
    }
}

/// Checks the characters of a text field and bounds its length (no trimming).
pub fn bounded(field: &str, value: &str, max_chars: usize, lines: Lines) -> OpResult<String> {
    let text = normalize(value, lines);
    let refused = text
        .chars()
        .find(|&c| c.is_control() && !(lines == Lines::Multi && (c == '\n' || c == '\t')));
    if let Some(c) = refused {
        let allowed = match lines {
            Lines::Single => "",
            Lines::Multi => " other than newline and tab",
        };
        return Err(OpError::validation(format!(
            "{field} must not contain control characters{allowed} (found U+{:04X})",
            u32::from(c)
        )));
    }
    if text.chars().count() > max_chars {
        return Err(OpError::validation(format!(
            "{field} is longer than {max_chars} characters"
        )));
    }
    Ok(text.into_owned())
}

/// Multi-line text from Windows clients ends lines with CRLF; it is stored with LF. A lone CR
/// stays, and is refused as a control character.
fn normalize(value: &str, lines: Lines) -> std::borrow::Cow<'_, str> {
    if lines == Lines::Multi && value.contains("\r\n") {
        std::borrow::Cow::Owned(value.replace("\r\n", "\n"))
    } else {
        std::borrow::Cow::Borrowed(value)
    }
}

/// Longest email address (RFC 5321's path limit).
pub const EMAIL_MAX: usize = 254;

/// Checks an email address and returns it trimmed and lowercased: one `@`, a local part of
/// 1..=64 printable characters without spaces, quotes or brackets and without dots at its
/// ends or in a row, and a domain of at least two dot-separated labels of letters, digits and
/// inner hyphens (Unicode letters allowed). Sane rather than complete: quoted local parts and
/// address literals are refused.
pub fn email(field: &str, value: &str) -> OpResult<String> {
    let address = bounded(field, value.trim(), EMAIL_MAX, Lines::Single)?.to_lowercase();
    let invalid = |why: &str| {
        OpError::validation(format!(
            "{field} {address:?} is not an email address ({why})"
        ))
    };
    let Some((local, domain)) = address.split_once('@') else {
        return Err(invalid("no @"));
    };
    if domain.contains('@') {
        return Err(invalid("more than one @"));
    }
    if local.is_empty() || local.chars().count() > 64 {
        return Err(invalid("the part before @ must have 1 to 64 characters"));
    }
    if local
        .chars()
        .any(|c| c.is_whitespace() || "\"(),:;<>[\\]".contains(c))
        || local.starts_with('.')
        || local.ends_with('.')
        || local.contains("..")
    {
        return Err(invalid(
            "the part before @ has characters an address cannot have",
        ));
    }
    let labels: Vec<&str> = domain.split('.').collect();
    let label_ok = |l: &&str| {
        !l.is_empty()
            && l.chars().count() <= 63
            && l.chars().all(|c| c.is_alphanumeric() || c == '-')
            && !l.starts_with('-')
            && !l.ends_with('-')
    };
    if labels.len() < 2 || !labels.iter().all(label_ok) {
        return Err(invalid("the domain must look like example.com"));
    }
    Ok(address)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_are_range_checked() {
        assert_eq!(position("position", 0).unwrap(), 0);
        assert_eq!(position("position", POSITION_MAX).unwrap(), POSITION_MAX);
        for bad in [-1, POSITION_MAX + 1, i64::MAX, i64::MIN] {
            assert!(matches!(
                position("position", bad),
                Err(OpError::Validation(_))
            ));
        }
        assert_eq!(body_id("laneId", 1).unwrap(), 1);
        assert_eq!(body_id("laneId", ID_MAX).unwrap(), ID_MAX);
        for bad in [0, -1, ID_MAX + 1, i64::MAX, i64::MIN] {
            assert!(matches!(
                body_id("laneId", bad),
                Err(OpError::Validation(_))
            ));
        }
    }

    #[test]
    fn text_bounds() {
        assert_eq!(required_text("t", "  a ", 5, Lines::Single).unwrap(), "a");
        assert!(required_text("t", "   ", 5, Lines::Single).is_err());
        assert!(required_text("t", "abcdef", 5, Lines::Single).is_err());
        assert!(bounded("t", "ééééé", 5, Lines::Single).is_ok());
        assert_eq!(
            optional_text("t", Some("  "), 5, Lines::Single).unwrap(),
            None
        );
        assert_eq!(optional_text("t", None, 5, Lines::Single).unwrap(), None);
    }

    #[test]
    fn control_characters_are_refused_but_newline_and_tab_in_bodies() {
        for bad in [
            "a\0b",
            "a\u{1}",
            "a\u{7f}",
            "a\u{9b}",
            "a\rb",
            "a\u{1b}[31m",
        ] {
            for lines in [Lines::Single, Lines::Multi] {
                let err = required_text("f", bad, 50, lines).unwrap_err();
                assert!(matches!(err, OpError::Validation(_)), "{bad:?}");
            }
        }
        for line_break in ["a\nb", "a\tb"] {
            assert!(required_text("f", line_break, 50, Lines::Single).is_err());
            assert_eq!(
                required_text("f", line_break, 50, Lines::Multi).unwrap(),
                line_break
            );
        }
        assert_eq!(
            required_text("f", "one\r\ntwo\r\n", 50, Lines::Multi).unwrap(),
            "one\ntwo"
        );
        let message = required_text("title", "x\0", 50, Lines::Single)
            .unwrap_err()
            .to_string();
        assert!(
            message.contains("title") && message.contains("U+0000"),
            "{message}"
        );
    }

    #[test]
    fn emails_have_a_sane_shape() {
        assert_eq!(
            email("email", " Ann@Example.test ").unwrap(),
            "ann@example.test"
        );
        assert_eq!(
            email("email", "a.b+tag@mail.ex-ample.co").unwrap(),
            "a.b+tag@mail.ex-ample.co"
        );
        assert!(email("email", "zoë@bücher.example").is_ok());
        for bad in [
            "ann",
            "@x.test",
            "ann@",
            "ann@x",
            "a b@x.test",
            "ann@.test",
            "ann@x..test",
            "ann@-x.test",
            "a@b@x.test",
            ".ann@x.test",
            "an..n@x.test",
            "\"ann\"@x.test",
            "ann\0@x.test",
            "ann@x.test\u{1}",
            "ann\t@x.test",
            "ann@x.te st",
        ] {
            assert!(email("email", bad).is_err(), "{bad:?}");
        }
        let long = format!("{}@x.test", "a".repeat(65));
        assert!(email("email", &long).is_err());
    }
}
