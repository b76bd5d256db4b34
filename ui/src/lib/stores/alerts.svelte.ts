// The in-app alert inbox (the core keeps it; the shell sends it on `deskbell://inbox`) and
// the open drawer's "alerted again" flash (`deskbell://alert-in-place`).

import type { InboxEntry } from '../../generated/client';
import type { Ticket } from '../../generated/protocol';
import { awaitsAcknowledgement } from '../urgent';

export class AlertsStore {
  entries: InboxEntry[] = $state.raw([]);
  unread = $state(0);
  /** The ticket whose open drawer was just alerted again, while it flashes. */
  flashTicketId: number | null = $state(null);
  /** Bumped per flash, so that a second alert restarts it. */
  flashes = $state(0);

  private flashTimer: ReturnType<typeof setTimeout> | null = null;

  /** The inbox as the core sends it: the unread entries are those not `read`. */
  set(entries: InboxEntry[]): void {
    this.entries = entries;
    this.unread = entries.reduce((n, e) => n + (e.read ? 0 : 1), 0);
  }

  clear(): void {
    this.entries = [];
    this.unread = 0;
    this.flashTicketId = null;
  }

  /** Opening the inbox reads it (the core confirms with a new inbox). */
  markAllRead(): void {
    this.entries = this.entries.map((e) => (e.read ? e : { ...e, read: true }));
    this.unread = 0;
  }

  /**
   * Still awaiting acknowledgement: as the entry says, unless the board knows better (someone
   * acknowledged it since, or it is no longer urgent).
   */
  awaiting(entry: InboxEntry, ticket: Ticket | undefined): boolean {
    return entry.awaitingAck && (ticket ? awaitsAcknowledgement(ticket) : true);
  }

  /** Unacknowledged first, then newest first. */
  ordered(lookup: (ticketId: number) => Ticket | undefined): { entry: InboxEntry; awaiting: boolean }[] {
    return this.entries
      .map((entry) => ({ entry, awaiting: this.awaiting(entry, lookup(entry.ticketId)) }))
      .sort(
        (a, b) =>
          Number(b.awaiting) - Number(a.awaiting) ||
          Date.parse(b.entry.at) - Date.parse(a.entry.at) ||
          b.entry.id - a.entry.id,
      );
  }

  /** Flashes the drawer of `ticketId` for a moment. */
  flash(ticketId: number): void {
    this.flashTicketId = ticketId;
    this.flashes++;
    if (this.flashTimer) clearTimeout(this.flashTimer);
    // A visual cue only: nothing waits for it to end.
    this.flashTimer = setTimeout(() => {
      this.flashTicketId = null;
      this.flashTimer = null;
    }, 1600);
  }
}

export const alerts = new AlertsStore();
