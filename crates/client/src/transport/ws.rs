//! Placeholder: filled by the transport work.
