//! Namespace and event names of the realtime protocol.

use crate::Id;

/// The resources a company's events are about; each has its own event name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Resource {
    Ticket,
    Comment,
    Attachment,
    Lane,
    /// The replay control message.
    Sync,
    /// The session-ended control message (`SessionEnded`), sent right before a disconnect.
    Session,
}

impl Resource {
    pub const ALL: [Resource; 6] = [
        Resource::Ticket,
        Resource::Comment,
        Resource::Attachment,
        Resource::Lane,
        Resource::Sync,
        Resource::Session,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Resource::Ticket => "ticket",
            Resource::Comment => "comment",
            Resource::Attachment => "attachment",
            Resource::Lane => "lane",
            Resource::Sync => "sync",
            Resource::Session => "session",
        }
    }

    pub fn parse(s: &str) -> Option<Resource> {
        Resource::ALL.into_iter().find(|r| r.as_str() == s)
    }
}

/// `/workspace-{companyId}`.
pub fn namespace(company_id: Id) -> String {
    format!("/workspace-{company_id}")
}

/// The company id of a `/workspace-{id}` namespace; `None` for anything else.
pub fn parse_namespace(ns: &str) -> Option<Id> {
    let digits = ns.strip_prefix("/workspace-")?;
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) || digits.starts_with('0') {
        return None;
    }
    digits.parse().ok()
}

/// `company-{companyId}-{resource}`.
pub fn event_name(company_id: Id, resource: Resource) -> String {
    format!("company-{company_id}-{}", resource.as_str())
}

/// Splits `company-{id}-{resource}` into its parts; `None` for any other name.
pub fn parse_event_name(name: &str) -> Option<(Id, Resource)> {
    let rest = name.strip_prefix("company-")?;
    let (id, resource) = rest.split_once('-')?;
    if id.is_empty() || !id.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some((id.parse().ok()?, Resource::parse(resource)?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_the_spec() {
        assert_eq!(namespace(12), "/workspace-12");
        assert_eq!(event_name(3, Resource::Ticket), "company-3-ticket");
        assert_eq!(event_name(3, Resource::Sync), "company-3-sync");
        assert_eq!(event_name(3, Resource::Session), "company-3-session");
    }

    #[test]
    fn namespaces_parse_strictly() {
        assert_eq!(parse_namespace("/workspace-12"), Some(12));
        for bad in [
            "/workspace-",
            "/workspace-0",
            "/workspace-01",
            "/workspace-1a",
            "/workspace--1",
            "/",
            "/workspace-99999999999999999999999",
        ] {
            assert_eq!(parse_namespace(bad), None, "{bad}");
        }
    }

    #[test]
    fn event_names_round_trip() {
        for r in Resource::ALL {
            assert_eq!(parse_event_name(&event_name(42, r)), Some((42, r)));
        }
        assert_eq!(parse_event_name("company-1-tickets"), None);
        assert_eq!(parse_event_name("company-x-ticket"), None);
        assert_eq!(parse_event_name("message"), None);
    }
}
