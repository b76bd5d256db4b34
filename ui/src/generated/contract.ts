// Generated from src-tauri/src/commands.rs and src-tauri/src/contract.rs by
// `UPDATE_TS_BINDINGS=1 cargo test -p deskbell contract`. Do not edit by hand.

import type { Attachment, Comment, Company, CompanyPatch, Lane, LanePatch, Member, NewComment, NewLane, NewTicket, NewUser, Ticket, TicketPatch, User, UserPatch } from './protocol';
import type { BoardQuery, BoardView, ConnectionState, DeskEvent, InboxEntry, SessionInfo, Settings, Snooze, WindowSkeleton } from './client';

/** Every command: its arguments (as `invoke` takes them) and its answer. */
export interface Commands {
  session_status: { args: {}; answer: SessionInfo | null };
  login: { args: { server: string; email: string; password: string }; answer: SessionInfo };
  start_demo: { args: {}; answer: SessionInfo };
  logout: { args: {}; answer: null };
  take_desk_events: { args: {}; answer: Array<DeskEvent> };
  board_view: { args: { query: BoardQuery }; answer: BoardView };
  find_tickets: { args: { text: string; limit: number }; answer: Array<Ticket> };
  connection_state: { args: {}; answer: ConnectionState };
  reconnect_now: { args: {}; answer: null };
  move_ticket: { args: { ticketId: number; laneId: number | null }; answer: Ticket };
  patch_ticket: { args: { ticketId: number; expectedVersion: number | null; patch: TicketPatch }; answer: Ticket };
  create_ticket: { args: { ticket: NewTicket }; answer: Ticket };
  comments: { args: { ticketId: number }; answer: Array<Comment> };
  add_comment: { args: { ticketId: number; comment: NewComment }; answer: Comment };
  attachments: { args: { ticketId: number }; answer: Array<Attachment> };
  upload_attachment: { args: { ticketId: number; fileName: string; contentType: string; bytes: Array<number> }; answer: Attachment };
  save_attachment: { args: { attachmentId: number; fileName: string }; answer: string };
  users: { args: {}; answer: Array<User> };
  open_link: { args: { url: string }; answer: null };
  window_ready: { args: { skeleton: WindowSkeleton | null }; answer: null };
  window_painted: { args: {}; answer: null };
  create_lane: { args: { lane: NewLane }; answer: Lane };
  update_lane: { args: { laneId: number; patch: LanePatch }; answer: Lane };
  delete_lane: { args: { laneId: number }; answer: null };
  create_user: { args: { user: NewUser }; answer: User };
  update_user: { args: { userId: number; patch: UserPatch }; answer: User };
  settings: { args: {}; answer: Settings };
  set_settings: { args: { settings: Settings }; answer: Settings };
  mark_read: { args: { ticketId: number }; answer: null };
  urgent_count: { args: {}; answer: number };
  acknowledge: { args: { ticketId: number }; answer: Ticket };
  assign_to_me: { args: { ticketId: number }; answer: Ticket };
  snooze: { args: { ticketId: number; snooze: Snooze }; answer: null };
  set_open_ticket: { args: { ticketId: number | null }; answer: null };
  inbox: { args: {}; answer: Array<InboxEntry> };
  mark_inbox_read: { args: {}; answer: null };
  members: { args: {}; answer: Array<Member> };
  company: { args: {}; answer: Company };
  update_company: { args: { patch: CompanyPatch }; answer: Company };
}

export type CommandName = keyof Commands;
export type CommandArgs<C extends CommandName> = Commands[C]['args'];
export type CommandAnswer<C extends CommandName> = Commands[C]['answer'];

/** How the wrappers reach the shell: `invoke`, mapping a rejection to a CommandError. */
export type Call = <C extends CommandName>(command: C, args: CommandArgs<C>) => Promise<CommandAnswer<C>>;

/** A typed wrapper per command, named in camelCase, arguments in declaration order. */
export function commands(call: Call) {
  return {
    /** The current session, if any (also after a silent resume from the keychain at start). */
    sessionStatus: () => call('session_status', {}),
    /** Signs in with a password. */
    login: (server: string, email: string, password: string) => call('login', { server, email, password }),
    /** Starts the embedded demo server and signs in to it as `agent1@acme.test`. */
    startDemo: () => call('start_demo', {}),
    /** Signs out (the server ends the session; the keychain forgets it). */
    logout: () => call('logout', {}),
    /**
     * The core's events waiting since the last take, in order (`deskbell://events-waiting`
     * says when there are some).
     */
    takeDeskEvents: () => call('take_desk_events', {}),
    /**
     * What the UI renders of the board: per lane ("No lane" first) its counts and only the
     * window of cards asked for, filtered and sorted by the core, plus the pinned tickets.
     * Asked again whenever a `board` event says the board changed, or the query changes.
     * Refused with `invalid_query` beyond its limits.
     */
    boardView: (query: BoardQuery) => call('board_view', { query }),
    /**
     * The quick switcher: at most `limit` (1–100) tickets whose number or title matches
     * `text`, best first, whatever the board's filters.
     */
    findTickets: (text: string, limit: number) => call('find_tickets', { text, limit }),
    connectionState: () => call('connection_state', {}),
    reconnectNow: () => call('reconnect_now', {}),
    /** Moves a card (optimistic: a `board` event at once, then the server's answer). */
    moveTicket: (ticketId: number, laneId: number | null) => call('move_ticket', { ticketId, laneId }),
    patchTicket: (ticketId: number, expectedVersion: number | null, patch: TicketPatch) => call('patch_ticket', { ticketId, expectedVersion, patch }),
    createTicket: (ticket: NewTicket) => call('create_ticket', { ticket }),
    comments: (ticketId: number) => call('comments', { ticketId }),
    addComment: (ticketId: number, comment: NewComment) => call('add_comment', { ticketId, comment }),
    attachments: (ticketId: number) => call('attachments', { ticketId }),
    uploadAttachment: (ticketId: number, fileName: string, contentType: string, bytes: Array<number>) => call('upload_attachment', { ticketId, fileName, contentType, bytes }),
    /**
     * Downloads into the Downloads folder (never over an existing file); answers the path
     * saved to.
     */
    saveAttachment: (attachmentId: number, fileName: string) => call('save_attachment', { attachmentId, fileName }),
    /** The company's users with their e-mail addresses (admins; the settings' Members). */
    users: () => call('users', {}),
    /** Opens a web or e-mail link from a ticket in the system's browser or mail program. */
    openLink: (url: string) => call('open_link', { url }),
    /**
     * The UI mounted its first view (the window waits for it before it is shown); the
     * window shows `skeleton` (that view's layout) until the page has painted.
     */
    windowReady: (skeleton: WindowSkeleton | null) => call('window_ready', { skeleton }),
    /** The page has painted its first frame since the window was shown: the skeleton goes. */
    windowPainted: () => call('window_painted', {}),
    /** Adds a lane (admins); every member's board shows it from the lane event. */
    createLane: (lane: NewLane) => call('create_lane', { lane }),
    /** Renames, recolours or moves a lane (admins). */
    updateLane: (laneId: number, patch: LanePatch) => call('update_lane', { laneId, patch }),
    /** Deletes a lane (admins); its tickets go to "No lane". */
    deleteLane: (laneId: number) => call('delete_lane', { laneId }),
    /** Adds a member (admins). */
    createUser: (user: NewUser) => call('create_user', { user }),
    /** Changes a member's name, role, password or whether they may sign in (admins). */
    updateUser: (userId: number, patch: UserPatch) => call('update_user', { userId, patch }),
    settings: () => call('settings', {}),
    setSettings: (settings: Settings) => call('set_settings', { settings }),
    /** The user has seen this ticket: it leaves the urgent count. */
    markRead: (ticketId: number) => call('mark_read', { ticketId }),
    /** Urgent tickets alerted and not yet opened (the tray's count). */
    urgentCount: () => call('urgent_count', {}),
    /**
     * Acknowledges an urgent ticket: reminders stop for every member. Refused with `conflict`
     * (and the ticket) when it is no longer urgent or is closed; idempotent otherwise.
     */
    acknowledge: (ticketId: number) => call('acknowledge', { ticketId }),
    /**
     * Assigns the ticket to the signed-in member (an unacknowledged urgent one is
     * acknowledged by taking it).
     */
    assignToMe: (ticketId: number) => call('assign_to_me', { ticketId }),
    /** No reminders for this ticket for a while (this member only). */
    snooze: (ticketId: number, snooze: Snooze) => call('snooze', { ticketId, snooze }),
    /**
     * The ticket the drawer shows (`null`: none). With the window's focus it decides whether an
     * alert for that ticket flashes the drawer instead of notifying.
     */
    setOpenTicket: (ticketId: number | null) => call('set_open_ticket', { ticketId }),
    /** The alert inbox: recent alerts, unacknowledged urgent ones first, then newest first. */
    inbox: () => call('inbox', {}),
    /** Everything in the inbox is read (the inbox is sent again on `deskbell://inbox`). */
    markInboxRead: () => call('mark_inbox_read', {}),
    /**
     * Every member of the company, with names (for "Acknowledged by …"), as the core last
     * loaded them (changes come as `members` events).
     */
    members: () => call('members', {}),
    /** The company, with its settings, as the core has it. */
    company: () => call('company', {}),
    /** Changes the company's settings (admins; `validation` when out of range). */
    updateCompany: (patch: CompanyPatch) => call('update_company', { patch }),
  };
}

/** Event channels, by the key the UI names them. */
export const EVENTS = {
  /**
   * The core's events are waiting: take them with `take_desk_events` (they are not pushed,
   * see `mailbox.rs`). Sent when there were none waiting, so one take answers many events.
   */
  deskWaiting: 'deskbell://events-waiting',
  /** The session whenever it changes (`null`: signed out). */
  session: 'deskbell://session',
  /** Show the window on this ticket (a notification's action, the tray). */
  openTicket: 'deskbell://open-ticket',
  /** The settings changed outside the UI (the tray's Do not disturb). */
  settings: 'deskbell://settings',
  /**
   * The alert inbox whenever it changes (not also among the desk events): unacknowledged
   * urgent alerts first, then newest first; the unread ones are those not `read`.
   */
  inbox: 'deskbell://inbox',
  /**
   * Show the window on these tickets (a notification's "Open" for several): the UI shows only
   * them until the user clears that filter.
   */
  openTickets: 'deskbell://open-tickets',
  /**
   * This ticket, open in the focused window, was alerted again: the UI flashes its drawer (no
   * notification was shown).
   */
  alertInPlace: 'deskbell://alert-in-place',
} as const;

/** What each channel carries. */
export interface EventPayloads {
  'deskbell://events-waiting': null;
  'deskbell://session': SessionInfo | null;
  'deskbell://open-ticket': number;
  'deskbell://settings': Settings;
  'deskbell://inbox': Array<InboxEntry>;
  'deskbell://open-tickets': Array<number>;
  'deskbell://alert-in-place': number;
}
