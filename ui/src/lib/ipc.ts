// The one place that knows the shell's command and event names (crates/client/src/app.rs).
// Everything else in the UI calls these typed wrappers.

import { invoke } from '@tauri-apps/api/core';
import { listen, type UnlistenFn } from '@tauri-apps/api/event';

import type {
  Attachment,
  Board,
  Comment,
  NewTicket,
  Ticket,
  TicketPatch,
  User,
} from '../generated/protocol';
import type { CommandError, ConnectionState, DeskEvent, SessionInfo, Settings } from '../generated/client';

/** Command names, exactly as the shell registers them. */
export const COMMANDS = {
  sessionStatus: 'session_status',
  login: 'login',
  startDemo: 'start_demo',
  logout: 'logout',
  board: 'board',
  connectionState: 'connection_state',
  reconnectNow: 'reconnect_now',
  moveTicket: 'move_ticket',
  patchTicket: 'patch_ticket',
  createTicket: 'create_ticket',
  comments: 'comments',
  addComment: 'add_comment',
  attachments: 'attachments',
  uploadAttachment: 'upload_attachment',
  saveAttachment: 'save_attachment',
  users: 'users',
  settings: 'settings',
  setSettings: 'set_settings',
  markRead: 'mark_read',
  urgentCount: 'urgent_count',
} as const;

/** Event names, exactly as the shell emits them. */
export const EVENTS = {
  /** `DeskEvent[]`, in order (the shell batches what is waiting). */
  desk: 'deskbell://events',
  session: 'deskbell://session',
  openTicket: 'deskbell://open-ticket',
  /** Not in app.rs's contract yet: settings changed outside the UI (the tray's Do not disturb). */
  settings: 'deskbell://settings',
} as const;

/** Codes that mean "the server could not be reached" (crates/client/src/error.rs). */
export const NETWORK_CODES: ReadonlySet<string> = new Set(['network', 'timeout']);

/** Turns whatever a rejected `invoke` gave into a [`CommandError`]. */
export function toCommandError(e: unknown): CommandError {
  if (e && typeof e === 'object' && 'code' in e && typeof (e as { code: unknown }).code === 'string') {
    const o = e as { code: string; message?: unknown; current?: unknown };
    return {
      code: o.code,
      message: typeof o.message === 'string' ? o.message : o.code,
      current: (o.current as Ticket | null | undefined) ?? null,
    };
  }
  if (e instanceof Error) return { code: 'internal', message: e.message, current: null };
  if (typeof e === 'string') return { code: 'internal', message: e, current: null };
  return { code: 'internal', message: 'Something went wrong', current: null };
}

/** Calls a command; a rejection always becomes a thrown [`CommandError`]. */
async function call<T>(cmd: string, args?: Record<string, unknown>): Promise<T> {
  try {
    return await invoke<T>(cmd, args);
  } catch (e) {
    throw toCommandError(e);
  }
}

export const ipc = {
  sessionStatus: () => call<SessionInfo | null>(COMMANDS.sessionStatus),
  login: (server: string, email: string, password: string) =>
    call<SessionInfo>(COMMANDS.login, { server, email, password }),
  startDemo: () => call<SessionInfo>(COMMANDS.startDemo),
  logout: () => call<void>(COMMANDS.logout),
  board: () => call<Board>(COMMANDS.board),
  connectionState: () => call<ConnectionState>(COMMANDS.connectionState),
  reconnectNow: () => call<void>(COMMANDS.reconnectNow),
  moveTicket: (ticketId: number, laneId: number | null) =>
    call<Ticket>(COMMANDS.moveTicket, { ticketId, laneId }),
  patchTicket: (ticketId: number, expectedVersion: number | null, patch: TicketPatch) =>
    call<Ticket>(COMMANDS.patchTicket, { ticketId, expectedVersion, patch }),
  createTicket: (ticket: NewTicket) => call<Ticket>(COMMANDS.createTicket, { ticket }),
  comments: (ticketId: number) => call<Comment[]>(COMMANDS.comments, { ticketId }),
  addComment: (ticketId: number, body: string) => call<Comment>(COMMANDS.addComment, { ticketId, body }),
  attachments: (ticketId: number) => call<Attachment[]>(COMMANDS.attachments, { ticketId }),
  uploadAttachment: (ticketId: number, fileName: string, contentType: string, bytes: number[]) =>
    call<Attachment>(COMMANDS.uploadAttachment, { ticketId, fileName, contentType, bytes }),
  /** Downloads into the Downloads folder; answers the path saved to. */
  saveAttachment: (attachmentId: number, fileName: string) =>
    call<string>(COMMANDS.saveAttachment, { attachmentId, fileName }),
  users: () => call<User[]>(COMMANDS.users),
  settings: () => call<Settings>(COMMANDS.settings),
  setSettings: (settings: Settings) => call<Settings>(COMMANDS.setSettings, { settings }),
  markRead: (ticketId: number) => call<void>(COMMANDS.markRead, { ticketId }),
  urgentCount: () => call<number>(COMMANDS.urgentCount),
};

export type Unlisten = UnlistenFn;

/** Every [`DeskEvent`] of the core, in order. */
export function onDeskEvent(handler: (event: DeskEvent) => void): Promise<Unlisten> {
  return listen<DeskEvent[]>(EVENTS.desk, (e) => {
    for (const event of e.payload) handler(event);
  });
}

/** The session whenever it changes (`null`: signed out). */
export function onSession(handler: (session: SessionInfo | null) => void): Promise<Unlisten> {
  return listen<SessionInfo | null>(EVENTS.session, (e) => handler(e.payload));
}

/** The settings changed outside the UI (e.g. Do not disturb from the tray). */
export function onSettings(handler: (settings: Settings) => void): Promise<Unlisten> {
  return listen<Settings>(EVENTS.settings, (e) => handler(e.payload));
}

/** A notification's "Open ticket" (or the tray) asks to show that ticket. */
export function onOpenTicket(handler: (ticketId: number) => void): Promise<Unlisten> {
  return listen<number>(EVENTS.openTicket, (e) => handler(e.payload));
}
