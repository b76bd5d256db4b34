//! The UI's TypeScript types for what the core reports are generated from these Rust types.
//! This test fails when the checked-in file is stale; run with `UPDATE_TS_BINDINGS=1` to
//! rewrite it.

use deskbell_client::alerts::{
    Alert, AlertKind, AlertLevel, AlertPreferences, InboxEntry, NotificationAction, QuietHours,
    Snooze,
};
use deskbell_client::app::{
    CommandError, Rgb, SessionInfo, Settings, SkeletonBox, Theme, WindowSkeleton,
};
use deskbell_client::board::BoardDelta;
use deskbell_client::board_view::{
    BoardQuery, BoardView, Column, LaneSort, LaneWindow, PinnedTicket, PriorityFilter, Scope,
};
use deskbell_client::connection::ConnectionState;
use deskbell_client::desk::DeskEvent;
use deskbell_client::error::{ClientErrorCode, ErrorCode};
use ts_rs::TS;

macro_rules! declarations {
    ($($t:ty),* $(,)?) => {
        vec![$(format!("export {}", <$t as TS>::decl())),*]
    };
}

fn generated() -> String {
    let decls = declarations![
        ConnectionState,
        BoardDelta,
        Scope,
        PriorityFilter,
        LaneSort,
        LaneWindow,
        BoardQuery,
        Column,
        PinnedTicket,
        BoardView,
        AlertLevel,
        QuietHours,
        AlertPreferences,
        AlertKind,
        Alert,
        Snooze,
        InboxEntry,
        NotificationAction,
        DeskEvent,
        SessionInfo,
        ClientErrorCode,
        ErrorCode,
        CommandError,
        Theme,
        Settings,
        Rgb,
        SkeletonBox,
        WindowSkeleton,
    ];
    let mut out = String::from(
        "// Generated from crates/client by `UPDATE_TS_BINDINGS=1 cargo test -p deskbell-client --test ts_bindings`.\n// Do not edit by hand.\n\nimport type { ApiErrorCode, Company, EventEnvelope, Lane, Member, SyncMessage, Ticket, User } from \"./protocol\";\n\n",
    );
    for d in decls {
        out.push_str(&d);
        out.push_str("\n\n");
    }
    out.truncate(out.trim_end().len());
    out.push('\n');
    out
}

#[test]
fn typescript_bindings_are_up_to_date() {
    let path =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../ui/src/generated/client.ts");
    deskbell_protocol::bindings::check_generated(
        &path,
        &generated(),
        "cargo test -p deskbell-client --test ts_bindings",
    );
}
