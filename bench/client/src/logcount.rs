//! Counts WARN and ERROR log events of the whole process (server and client core), keeping the
//! first few distinct messages for the report.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::{Arc, Mutex};
use tracing::field::{Field, Visit};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::layer::Context;
use tracing_subscriber::Layer;

const KEEP: usize = 20;

#[derive(Default)]
struct Inner {
    warn: u64,
    error: u64,
    /// "LEVEL target: message" → count, at most `KEEP` entries.
    messages: BTreeMap<String, u64>,
}

#[derive(Clone, Default)]
pub struct LogCounter(Arc<Mutex<Inner>>);

#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
pub struct LogCounts {
    pub warn: u64,
    pub error: u64,
    pub messages: BTreeMap<String, u64>,
}

impl LogCounter {
    pub fn counts(&self) -> LogCounts {
        let inner = self.0.lock().unwrap_or_else(|e| e.into_inner());
        LogCounts {
            warn: inner.warn,
            error: inner.error,
            messages: inner.messages.clone(),
        }
    }
}

struct Message(String);

impl Visit for Message {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        if field.name() == "message" {
            let _ = write!(self.0, "{value:?}");
        } else {
            let _ = write!(self.0, " {}={value:?}", field.name());
        }
    }
}

impl<S: Subscriber> Layer<S> for LogCounter {
    fn on_event(&self, event: &Event<'_>, _ctx: Context<'_, S>) {
        let level = *event.metadata().level();
        if level > Level::WARN {
            return;
        }
        let mut msg = Message(String::new());
        event.record(&mut msg);
        let mut key = format!("{level} {}: {}", event.metadata().target(), msg.0);
        key.truncate(200);
        let mut inner = self.0.lock().unwrap_or_else(|e| e.into_inner());
        if level == Level::ERROR {
            inner.error += 1;
        } else {
            inner.warn += 1;
        }
        if inner.messages.len() < KEEP || inner.messages.contains_key(&key) {
            *inner.messages.entry(key).or_default() += 1;
        }
    }
}
