// The UI's side of the app contract. Command wrappers, event names and payload types are
// generated from the shell's declaration (src-tauri/src/commands.rs, contract.rs) into
// ../generated/contract.ts; this file only connects them to Tauri and turns rejections into
// typed CommandErrors. A new command needs nothing here.

import { invoke } from '@tauri-apps/api/core';
import { listen, type UnlistenFn } from '@tauri-apps/api/event';

import type { Ticket } from '../generated/protocol';
import type { CommandError, DeskEvent, ErrorCode, InboxEntry, SessionInfo, Settings } from '../generated/client';
import { commands, EVENTS, type Call, type EventPayloads } from '../generated/contract';

export { EVENTS };

/** Codes that mean "the server could not be reached" (crates/client/src/error.rs). */
export const NETWORK_CODES: ReadonlySet<ErrorCode> = new Set<ErrorCode>(['network', 'timeout']);

/** Turns whatever a rejected `invoke` gave into a [`CommandError`]. */
export function toCommandError(e: unknown): CommandError {
  if (e && typeof e === 'object' && 'code' in e && typeof (e as { code: unknown }).code === 'string') {
    const o = e as { code: string; message?: unknown; current?: unknown };
    return {
      // The shell only rejects with its own codes; anything else came from elsewhere and is
      // reported as what it is: unexpected.
      code: o.code as ErrorCode,
      message: typeof o.message === 'string' ? o.message : o.code,
      current: (o.current as Ticket | null | undefined) ?? null,
    };
  }
  if (e instanceof Error) return { code: 'internal', message: e.message, current: null };
  if (typeof e === 'string') return { code: 'internal', message: e, current: null };
  return { code: 'internal', message: 'Something went wrong', current: null };
}

/** Calls a command; a rejection always becomes a thrown [`CommandError`]. Its answer is handled
 *  after the shell's messages that came before it (a refused move's rollback before its error). */
const call: Call = async (command, args) => {
  try {
    return await invoke(command, args);
  } catch (e) {
    throw toCommandError(e);
  } finally {
    // Not for the take itself: it is what the messages' handling waits for.
    if (command !== 'take_desk_events') await inOrder;
  }
};

/** Every command of the shell, typed by the contract. */
export const ipc = commands(call);

export type Unlisten = UnlistenFn;

// The shell's messages are handled one after the other, in the order they came. The core's
// events are taken (`takeDeskEvents`) when the shell says some wait (src-tauri/src/mailbox.rs:
// pushed into the page they would be compiled as scripts); whatever the shell sent after that
// signal waits until they are handled, so it never finds the board behind it. Handlers run
// synchronously: the only thing the queue ever waits for is a take (so a handler that calls a
// command cannot wait on itself).
let inOrder: Promise<void> = Promise.resolve();

function handleInOrder(work: () => void | Promise<void>): void {
  inOrder = inOrder.then(work).catch((e: unknown) => {
    console.error('handling a message from the shell failed', e);
  });
}

function on<E extends keyof EventPayloads>(event: E, handler: (payload: EventPayloads[E]) => void): Promise<Unlisten> {
  return listen<EventPayloads[E]>(event, (e) =>
    handleInOrder(() => {
      handler(e.payload);
    }),
  );
}

/** Takes the core's waiting events and hands them to `handler`, in order. */
function takeInOrder(handler: (event: DeskEvent) => void): void {
  handleInOrder(async () => {
    for (const event of await ipc.takeDeskEvents()) handler(event);
  });
}

/** Every [`DeskEvent`] of the core, in order. */
export function onDeskEvent(handler: (event: DeskEvent) => void): Promise<Unlisten> {
  const unlisten = listen<EventPayloads['deskbell://events-waiting']>(EVENTS.deskWaiting, () =>
    takeInOrder(handler),
  );
  // Events that came before the UI listened (their signal was sent then).
  void unlisten.then(() => takeInOrder(handler));
  return unlisten;
}

/** The session whenever it changes (`null`: signed out). */
export function onSession(handler: (session: SessionInfo | null) => void): Promise<Unlisten> {
  return on(EVENTS.session, handler);
}

/** The settings changed outside the UI (e.g. Do not disturb from the tray). */
export function onSettings(handler: (settings: Settings) => void): Promise<Unlisten> {
  return on(EVENTS.settings, handler);
}

/** A notification's "Open ticket" (or the tray) asks to show that ticket. */
export function onOpenTicket(handler: (ticketId: number) => void): Promise<Unlisten> {
  return on(EVENTS.openTicket, handler);
}

/** The alert inbox whenever it changes (unacknowledged urgent first, then newest first). */
export function onInbox(handler: (entries: InboxEntry[]) => void): Promise<Unlisten> {
  return on(EVENTS.inbox, handler);
}

/** A notification's "Open" for several tickets: the board shows only these until cleared. */
export function onOpenTickets(handler: (ticketIds: number[]) => void): Promise<Unlisten> {
  return on(EVENTS.openTickets, handler);
}

/** A ticket whose drawer is open (and focused) was alerted again: flash it, no notification. */
export function onAlertInPlace(handler: (ticketId: number) => void): Promise<Unlisten> {
  return on(EVENTS.alertInPlace, handler);
}
