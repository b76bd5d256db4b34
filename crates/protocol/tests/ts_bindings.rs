//! The UI's TypeScript types are generated from the protocol types. This test fails when the
//! checked-in file is stale; run with `UPDATE_TS_BINDINGS=1` to rewrite it.

use deskbell_protocol::*;
use ts_rs::TS;

macro_rules! declarations {
    ($($t:ty),* $(,)?) => {
        vec![$(format!("export {}", <$t as TS>::decl())),*]
    };
}

fn generated() -> String {
    let decls = declarations![
        Role,
        Priority,
        TicketStatus,
        Company,
        CompanyPatch,
        Member,
        User,
        Lane,
        Requester,
        Ticket,
        Comment,
        Attachment,
        EventAction,
        EventEnvelope,
        SyncMode,
        SyncMessage,
        SessionEndReason,
        SessionEnded,
        ConnectAuth,
        ConnectErrorCode,
        LoginRequest,
        LoginResponse,
        RefreshRequest,
        LogoutRequest,
        Me,
        Health,
        Board,
        NewTicket,
        TicketPatch,
        MoveRequest,
        NewComment,
        NewLane,
        LanePatch,
        NewUser,
        UserPatch,
        ApiErrorCode,
        ApiErrorDetail,
        ApiErrorBody,
    ];
    let mut out = String::from(
        "// Generated from crates/protocol by `UPDATE_TS_BINDINGS=1 cargo test -p deskbell-protocol`.\n// Do not edit by hand.\n\n",
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
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../ui/src/generated/protocol.ts");
    deskbell_protocol::bindings::check_generated(
        &path,
        &generated(),
        "cargo test -p deskbell-protocol --test ts_bindings",
    );
}
