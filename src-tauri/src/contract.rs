//! The app contract: what the UI may ask of the shell and what the shell tells the UI.
//!
//! It is declared once, in Rust, and generated for the UI as `ui/src/generated/contract.ts`
//! (the test at the bottom fails when that file is stale; `UPDATE_TS_BINDINGS=1 cargo test -p
//! deskbell contract` rewrites it):
//! - commands: `commands.rs` declares each one with [`app_commands!`] — its name, arguments,
//!   result and body in one place. The same declaration registers it with Tauri
//!   ([`crate::commands::handler`]) and describes it for the generator, so the UI's wrappers
//!   and the registered handlers cannot disagree.
//! - event channels: [`channels!`] below, each with the type of its payload. The shell emits
//!   only through these typed [`Channel`]s.
//! - error codes: every failing command rejects with a `CommandError` whose `code` is the
//!   client core's `ErrorCode`, a TypeScript union in `ui/src/generated/client.ts`.
//!
//! Types are the ones ts-rs generates for `protocol.ts` and `client.ts`; this module only
//! names them. Why ts-rs and not tauri-specta: `docs/decisions/0004-app-contract.md`.

use std::marker::PhantomData;

use deskbell_client::alerts::InboxEntry;
use deskbell_client::app::{SessionInfo, Settings};
use deskbell_protocol::Id;
use serde::Serialize;
use tauri::{AppHandle, Emitter};

/// An event channel to the UI whose payload is a `T`.
pub struct Channel<T: ?Sized> {
    pub name: &'static str,
    payload: PhantomData<fn(&T)>,
}

impl<T: ?Sized> Channel<T> {
    pub const fn new(name: &'static str) -> Channel<T> {
        Channel {
            name,
            payload: PhantomData,
        }
    }
}

impl<T: Serialize + ?Sized> Channel<T> {
    /// Sends `payload` to every window. A UI that is gone is not an error worth more than a
    /// log line: the next event or command brings it up to date.
    pub fn emit(&self, app: &AppHandle, payload: &T) {
        if let Err(e) = app.emit(self.name, payload) {
            tracing::warn!(event = self.name, error = %e, "cannot emit to the UI");
        }
    }
}

/// Declares the shell's event channels: a typed constant each, and their specs.
macro_rules! channels {
    ($( $(#[doc = $doc:literal])* $konst:ident ($key:ident) = $name:literal: $payload:ty; )*) => {
        $( $(#[doc = $doc])* pub const $konst: Channel<$payload> = Channel::new($name); )*

        /// Every channel, in declaration order.
        #[cfg(test)]
        pub fn channel_specs() -> Vec<generate::ChannelSpec> {
            vec![$(generate::ChannelSpec {
                key: stringify!($key),
                name: $name,
                doc: concat!($($doc, "\n",)* ""),
                payload: generate::ts_type::<$payload>(),
            }),*]
        }
    };
}

channels! {
    /// The core's events are waiting: take them with `take_desk_events` (they are not pushed,
    /// see `mailbox.rs`). Sent when there were none waiting, so one take answers many events.
    DESK_EVENTS_WAITING(deskWaiting) = "deskbell://events-waiting": ();
    /// The session whenever it changes (`null`: signed out).
    SESSION(session) = "deskbell://session": Option<SessionInfo>;
    /// Show the window on this ticket (a notification's action, the tray).
    OPEN_TICKET(openTicket) = "deskbell://open-ticket": Id;
    /// The settings changed outside the UI (the tray's Do not disturb).
    SETTINGS(settings) = "deskbell://settings": Settings;
    /// The alert inbox whenever it changes (not also among the desk events): unacknowledged
    /// urgent alerts first, then newest first; the unread ones are those not `read`.
    INBOX(inbox) = "deskbell://inbox": [InboxEntry];
    /// Show the window on these tickets (a notification's "Open" for several): the UI shows only
    /// them until the user clears that filter.
    OPEN_TICKETS(openTickets) = "deskbell://open-tickets": [Id];
    /// This ticket, open in the focused window, was alerted again: the UI flashes its drawer (no
    /// notification was shown).
    ALERT_IN_PLACE(alertInPlace) = "deskbell://alert-in-place": Id;
}

/// Declares the UI's commands. Each entry is written like the async function it becomes:
///
/// ```ignore
/// /// What it does (also the UI wrapper's doc).
/// fn name(app, arg: Type, …) -> Answer { body returning Result<Answer, CommandError> }
/// ```
///
/// `app` is the `AppHandle` every command gets; the other arguments come from the UI. The
/// macro makes each entry a `#[tauri::command]`, [`handler`]-registers them all, and lists
/// them for the generator ([`command_specs`]).
macro_rules! app_commands {
    ($(
        $(#[doc = $doc:literal])*
        fn $name:ident($app:ident $(, $arg:ident: $ty:ty)* $(,)?) -> $answer:ty $body:block
    )*) => {
        $(
            $(#[doc = $doc])*
            #[tauri::command]
            pub async fn $name(
                $app: tauri::AppHandle $(, $arg: $ty)*
            ) -> Result<$answer, deskbell_client::app::CommandError> $body
        )*

        /// Tauri's invoke handler for every command above.
        pub fn handler() -> impl Fn(tauri::ipc::Invoke) -> bool + Send + Sync + 'static {
            tauri::generate_handler![$($name),*]
        }

        /// Every command, in declaration order.
        #[cfg(test)]
        pub fn command_specs() -> Vec<$crate::contract::generate::CommandSpec> {
            vec![$($crate::contract::generate::CommandSpec {
                name: stringify!($name),
                doc: concat!($($doc, "\n",)* ""),
                args: vec![$((stringify!($arg), $crate::contract::generate::ts_type::<$ty>())),*],
                result: $crate::contract::generate::ts_type::<$answer>(),
            }),*]
        }
    };
}
pub(crate) use app_commands;

/// The generator of `contract.ts`: only the tests run it.
#[cfg(test)]
pub mod generate {
    /// A command as the generator sees it.
    #[derive(Debug, Clone, PartialEq, Eq)]
    pub struct CommandSpec {
        /// The `invoke` name (snake_case, as Tauri registers it).
        pub name: &'static str,
        pub doc: &'static str,
        /// Argument names as the Rust function has them, with their TypeScript types. Tauri takes
        /// them from the UI in camelCase.
        pub args: Vec<(&'static str, String)>,
        /// The TypeScript type of a successful answer.
        pub result: String,
    }

    /// An event channel as the generator sees it.
    #[derive(Debug, Clone, PartialEq, Eq)]
    pub struct ChannelSpec {
        /// The key the UI names it by (`EVENTS.session`).
        pub key: &'static str,
        /// The Tauri event name.
        pub name: &'static str,
        pub doc: &'static str,
        pub payload: String,
    }

    /// The TypeScript type the UI sees for `T`. Ids and counts are 64-bit in Rust and plain JSON
    /// numbers on the wire (all below 2^53), so the UI handles them as `number`, as the generated
    /// protocol types do field by field; ts-rs would name a bare `i64` `bigint`.
    pub fn ts_type<T: ts_rs::TS + ?Sized>() -> String {
        T::name().replace("bigint", "number")
    }

    /// `snake_case` → `camelCase`, as Tauri maps argument names and as the UI names commands.
    fn camel(name: &str) -> String {
        let mut out = String::with_capacity(name.len());
        let mut upper = false;
        for c in name.chars() {
            if c == '_' {
                upper = true;
            } else if upper {
                out.extend(c.to_uppercase());
                upper = false;
            } else {
                out.push(c);
            }
        }
        out
    }

    /// The type names a TypeScript type expression refers to (`Array<Comment>` → `Comment`).
    fn referenced_types(ts: &str) -> Vec<String> {
        const BUILT_IN: &[&str] = &["Array", "Record", "Partial"];
        let mut names = Vec::new();
        let mut word = String::new();
        for c in ts.chars().chain(std::iter::once(' ')) {
            if c.is_ascii_alphanumeric() || c == '_' {
                word.push(c);
                continue;
            }
            if word.starts_with(|c: char| c.is_ascii_uppercase()) && !BUILT_IN.contains(&&*word) {
                names.push(std::mem::take(&mut word));
            }
            word.clear();
        }
        names
    }

    /// Where the UI finds a generated type: `./protocol` or `./client`, by which generated file
    /// declares it.
    #[derive(Debug)]
    pub struct TypeSources<'a> {
        pub protocol: &'a str,
        pub client: &'a str,
    }

    impl TypeSources<'_> {
        fn module_of(&self, name: &str) -> Option<&'static str> {
            let declares = |file: &str| {
                file.contains(&format!("export type {name} ="))
                    || file.contains(&format!("export type {name}<"))
            };
            if declares(self.protocol) {
                Some("./protocol")
            } else if declares(self.client) {
                Some("./client")
            } else {
                None
            }
        }
    }

    /// Renders `contract.ts`: typed wrappers for every command, the event channels with their
    /// payload types, and the maps the UI's fake shell is typed by.
    pub fn render(
        commands: &[CommandSpec],
        channels: &[ChannelSpec],
        sources: &TypeSources,
    ) -> Result<String, String> {
        let mut protocol_types = std::collections::BTreeSet::new();
        let mut client_types = std::collections::BTreeSet::new();
        let types = commands
            .iter()
            .flat_map(|c| c.args.iter().map(|(_, t)| t).chain([&c.result]))
            .chain(channels.iter().map(|c| &c.payload));
        for ts in types {
            for name in referenced_types(ts) {
                match sources.module_of(&name) {
                    Some("./protocol") => protocol_types.insert(name),
                    Some(_) => client_types.insert(name),
                    None => {
                        return Err(format!(
                            "the contract uses the type {name}, which neither protocol.ts nor \
                             client.ts declares: add it to a ts_bindings test"
                        ))
                    }
                };
            }
        }
        let list = |names: &std::collections::BTreeSet<String>| {
            names.iter().cloned().collect::<Vec<_>>().join(", ")
        };
        let doc = |doc: &str, indent: &str| -> String {
            let lines: Vec<&str> = doc.lines().map(str::trim).collect();
            if lines.iter().all(|l| l.is_empty()) {
                return String::new();
            }
            if let [line] = lines[..] {
                return format!("{indent}/** {line} */\n");
            }
            let mut out = format!("{indent}/**\n");
            for line in lines {
                out.push_str(&format!("{indent} * {line}\n").replace(" * \n", " *\n"));
            }
            out.push_str(&format!("{indent} */\n"));
            out
        };

        let mut out = String::from(
            "// Generated from src-tauri/src/commands.rs and src-tauri/src/contract.rs by\n\
             // `UPDATE_TS_BINDINGS=1 cargo test -p deskbell contract`. Do not edit by hand.\n\n",
        );
        if !protocol_types.is_empty() {
            out.push_str(&format!(
                "import type {{ {} }} from './protocol';\n",
                list(&protocol_types)
            ));
        }
        out.push_str(&format!(
            "import type {{ {} }} from './client';\n\n",
            list(&client_types)
        ));

        out.push_str(
            "/** Every command: its arguments (as `invoke` takes them) and its answer. */\n",
        );
        out.push_str("export interface Commands {\n");
        for c in commands {
            let args: Vec<String> = c
                .args
                .iter()
                .map(|(name, ts)| format!("{}: {ts}", camel(name)))
                .collect();
            out.push_str(&format!(
                "  {}: {{ args: {{ {} }}; answer: {} }};\n",
                c.name,
                args.join("; "),
                c.result
            ));
        }
        out.push_str("}\n\nexport type CommandName = keyof Commands;\n");
        out.push_str("export type CommandArgs<C extends CommandName> = Commands[C]['args'];\n");
        out.push_str(
            "export type CommandAnswer<C extends CommandName> = Commands[C]['answer'];\n\n",
        );

        out.push_str(
            "/** How the wrappers reach the shell: `invoke`, mapping a rejection to a CommandError. */\n\
             export type Call = <C extends CommandName>(command: C, args: CommandArgs<C>) => Promise<CommandAnswer<C>>;\n\n\
             /** A typed wrapper per command, named in camelCase, arguments in declaration order. */\n\
             export function commands(call: Call) {\n  return {\n",
        );
        for c in commands {
            out.push_str(&doc(c.doc, "    "));
            let params: Vec<String> = c
                .args
                .iter()
                .map(|(name, ts)| format!("{}: {ts}", camel(name)))
                .collect();
            let keys: Vec<String> = c.args.iter().map(|(name, _)| camel(name)).collect();
            out.push_str(&format!(
                "    {}: ({}) => call('{}', {{ {} }}),\n",
                camel(c.name),
                params.join(", "),
                c.name,
                keys.join(", ")
            ));
        }
        out.push_str("  };\n}\n\n");

        out.push_str(
            "/** Event channels, by the key the UI names them. */\nexport const EVENTS = {\n",
        );
        for c in channels {
            out.push_str(&doc(c.doc, "  "));
            out.push_str(&format!("  {}: '{}',\n", c.key, c.name));
        }
        out.push_str(
            "} as const;\n\n/** What each channel carries. */\nexport interface EventPayloads {\n",
        );
        for c in channels {
            out.push_str(&format!("  '{}': {};\n", c.name, c.payload));
        }
        out.push_str("}\n");
        // `{  }` for commands without arguments reads oddly; keep the file tidy.
        Ok(out.replace("{  }", "{}"))
    }

    mod tests {
        use super::*;
        use crate::contract::channel_specs;

        #[test]
        fn names_are_camel_cased_like_tauri_does() {
            assert_eq!(camel("ticket_id"), "ticketId");
            assert_eq!(camel("expected_version"), "expectedVersion");
            assert_eq!(camel("body"), "body");
        }

        #[test]
        fn referenced_types_skip_built_ins_and_primitives() {
            assert_eq!(referenced_types("Array<Comment>"), vec!["Comment"]);
            assert_eq!(referenced_types("SessionInfo | null"), vec!["SessionInfo"]);
            assert!(referenced_types("Array<number>").is_empty());
            assert!(referenced_types("string").is_empty());
        }

        #[test]
        fn an_undeclared_type_is_refused_with_its_name() {
            let spec = CommandSpec {
                name: "mystery",
                doc: "",
                args: vec![],
                result: "Mystery".into(),
            };
            let sources = TypeSources {
                protocol: "export type Ticket = {};",
                client: "export type CommandError = {};",
            };
            let err = render(&[spec], &[], &sources).unwrap_err();
            assert!(err.contains("Mystery"), "{err}");
        }

        fn generated_dir() -> std::path::PathBuf {
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../ui/src/generated")
        }

        fn fresh() -> String {
            let dir = generated_dir();
            let read = |name: &str| {
                std::fs::read_to_string(dir.join(name))
                    .unwrap_or_else(|e| panic!("cannot read ui/src/generated/{name}: {e}"))
            };
            let (protocol, client) = (read("protocol.ts"), read("client.ts"));
            let sources = TypeSources {
                protocol: &protocol,
                client: &client,
            };
            render(
                &crate::commands::command_specs(),
                &channel_specs(),
                &sources,
            )
            .unwrap_or_else(|e| panic!("{e}"))
        }

        #[test]
        fn contract_bindings_are_up_to_date() {
            let path = generated_dir().join("contract.ts");
            deskbell_protocol::bindings::check_generated(
                &path,
                &fresh(),
                "cargo test -p deskbell contract",
            );
        }

        #[test]
        fn every_command_and_channel_has_one_name() {
            let commands = crate::commands::command_specs();
            let mut names: Vec<_> = commands.iter().map(|c| c.name).collect();
            names.sort_unstable();
            names.dedup();
            assert_eq!(names.len(), commands.len(), "a command is declared twice");
            let channels = channel_specs();
            let mut keys: Vec<_> = channels.iter().map(|c| c.key).collect();
            keys.sort_unstable();
            keys.dedup();
            assert_eq!(
                keys.len(),
                channels.len(),
                "a channel key is declared twice"
            );
        }
    }
}
