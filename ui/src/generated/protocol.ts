// Generated from crates/protocol by `UPDATE_TS_BINDINGS=1 cargo test -p deskbell-protocol`.
// Do not edit by hand.

export type Role = "admin" | "agent";

export type Priority = "low" | "normal" | "high" | "urgent";

export type TicketStatus = "open" | "pending" | "closed";

export type Company = { id: number, name: string, 
/**
 * Minutes an urgent ticket may stay unacknowledged before the admins are told (an
 * `escalate` event). Absent from servers before protocol 2.
 */
escalateAfterMinutes: number, };

export type CompanyPatch = { 
/**
 * 1 to 1440.
 */
escalateAfterMinutes?: number, };

export type Member = { id: number, name: string, role: Role, active: boolean, };

export type User = { id: number, companyId: number, name: string, email: string, role: Role, active: boolean, };

export type Lane = { id: number, companyId: number, name: string, 
/**
 * CSS hex color, `#rrggbb`.
 */
color: string, position: number, };

export type Requester = { name: string, 
/**
 * E-mail address or phone number, free form.
 */
contact: string | null, };

export type Ticket = { id: number, companyId: number, title: string, requester: Requester, status: TicketStatus, priority: Priority, assigneeId: number | null, creatorId: number, laneId: number | null, lastMessage: string | null, commentCount: number, createdAt: string, updatedAt: string, 
/**
 * Increments on every change; events are applied only when newer.
 */
version: number, 
/**
 * While the ticket is urgent: when it became so (the start of this urgent episode).
 */
urgentSince?: string, 
/**
 * While the ticket is urgent: who made it so.
 */
urgentBy?: number, 
/**
 * While the ticket is urgent: the member who acknowledged this urgent episode (cleared
 * when the ticket becomes urgent again).
 */
acknowledgedBy?: number, acknowledgedAt?: string, };

export type Comment = { id: number, ticketId: number, authorId: number, body: string, createdAt: string, 
/**
 * The requester's words, recorded by the member `author_id` (the ticket's first message, a
 * reply by e-mail or phone): shown as written by the requester. Protocol 3; false before.
 */
fromRequester: boolean, };

export type Attachment = { id: number, ticketId: number, name: string, size: number, contentType: string, uploadedBy: number, createdAt: string, };

export type EventAction = "create" | "update" | "move" | "assign" | "status-change" | "priority-change" | "acknowledge" | "escalate" | "delete";

export type EventEnvelope = { action: EventAction, 
/**
 * Per-company, strictly increasing.
 */
seq: number, companyId: number, 
/**
 * The actor.
 */
userId: number, timestamp: string, ticket?: Ticket, ticketId?: number, comment?: Comment, attachment?: Attachment, lane?: Lane, 
/**
 * Previous value of what changed (lane id, assignee id, status or priority).
 */
from?: string | number | null, 
/**
 * New value of what changed.
 */
to?: string | number | null, 
/**
 * The event's stream (see `EventStream`): every event of a stream is visible to the same
 * users, so a client receives every event of each stream it receives any of. Absent in
 * events logged before streams existed.
 */
stream?: string, 
/**
 * The `seq` of the stream's previous event (0: none in the log). A client that has neither
 * received that event nor loaded a snapshot at or after it has missed it: a gap, which it
 * recovers by replay or snapshot, never skips.
 */
prevSeq?: number, };

export type SyncMode = "replay" | "reset";

export type SyncMessage = { mode: SyncMode, 
/**
 * The company's latest seq at the moment of the sync.
 */
head: number, };

export type SessionEndReason = "signed-out" | "revoked" | "deactivated" | "password-changed" | "role-changed";

export type SessionEnded = { reason: SessionEndReason, 
/**
 * `reason` in plain words, for clients that do not know the code.
 */
message: string, };

export type ConnectAuth = { token: string, lastSeq?: number, };

export type ConnectErrorCode = "unauthorized" | "token_expired" | "forbidden" | "invalid_namespace" | "unavailable";

export type LoginRequest = { email: string, password: string, 
/**
 * The workspace (company) to sign in to. Emails are unique per company, so one email
 * may have accounts in several; without it the password picks the account, and when it
 * opens more than one the server answers `workspace_required` naming them.
 */
companyId?: number, };

export type LoginResponse = { accessToken: string, refreshToken: string, 
/**
 * Seconds until the access token expires.
 */
expiresIn: number, user: User, company: Company, };

export type RefreshRequest = { refreshToken: string, };

export type LogoutRequest = { 
/**
 * Revokes this refresh token's family too, when given.
 */
refreshToken?: string, };

export type Me = { user: User, company: Company, };

export type Health = { 
/**
 * `ok`, or `degraded` when the database or the link to the other nodes is down.
 */
status: string, db: string, version: string, 
/**
 * Which server process answered (several may serve behind a load balancer).
 */
node: string, 
/**
 * The wire protocol's version ([`PROTOCOL_VERSION`]); 1 when absent.
 */
protocol: number, 
/**
 * The link to the other nodes: `up` or `down`; absent when this node serves alone.
 */
redis?: string, };

export type Board = { lanes: Array<Lane>, tickets: Array<Ticket>, seq: number, };

export type NewTicket = { title: string, requester: Requester, priority?: Priority, status?: TicketStatus, assigneeId?: number, laneId?: number, 
/**
 * First message of the ticket; becomes `lastMessage`.
 */
message?: string, };

export type TicketPatch = { title?: string, requester?: Requester, status?: TicketStatus, priority?: Priority, assigneeId?: number | null, laneId?: number | null, };

export type MoveRequest = { 
/**
 * Required; `null` moves the ticket to "No lane".
 */
laneId: number | null, };

export type NewComment = { body: string, 
/**
 * Records the requester's message rather than the member's own (protocol 3).
 */
fromRequester?: boolean, };

export type NewLane = { name: string, color: string, position?: number, };

export type LanePatch = { name?: string, color?: string, position?: number, };

export type NewUser = { name: string, email: string, password: string, role: Role, };

export type UserPatch = { name?: string, role?: Role, active?: boolean, password?: string, };

export type ApiErrorCode = "bad_request" | "invalid_credentials" | "unauthorized" | "token_expired" | "refresh_reused" | "forbidden" | "not_found" | "conflict" | "workspace_required" | "payload_too_large" | "validation" | "rate_limited" | "internal";

export type ApiErrorDetail = { code: ApiErrorCode, message: string, 
/**
 * On 409: the ticket as it is now on the server.
 */
current?: Ticket, };

export type ApiErrorBody = { error: ApiErrorDetail, };
