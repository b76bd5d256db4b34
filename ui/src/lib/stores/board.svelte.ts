// The board as the UI shows it: lanes and tickets, kept up to date by applying the core's
// `BoardDelta`s one by one (the core owns versions, optimistic moves and rollbacks; a delta is
// what to show now). The board is fetched once (`board()` after sign-in / start); never again
// per event.

import type { Board, Lane, Priority, Ticket } from '../../generated/protocol';
import type { BoardDelta } from '../../generated/client';

export const PRIORITY_RANK: Record<Priority, number> = { urgent: 0, high: 1, normal: 2, low: 3 };

/** Sort keys, computed once per ticket object (tickets are replaced, never mutated). */
const sortKeys = new WeakMap<Ticket, number>();

function createdMs(t: Ticket): number {
  let k = sortKeys.get(t);
  if (k === undefined) {
    k = Date.parse(t.createdAt);
    if (Number.isNaN(k)) k = 0;
    sortKeys.set(t, k);
  }
  return k;
}

/** Cards in a lane: urgent first, then the oldest first (a queue), then by id. */
export function compareTickets(a: Ticket, b: Ticket): number {
  return PRIORITY_RANK[a.priority] - PRIORITY_RANK[b.priority] || createdMs(a) - createdMs(b) || a.id - b.id;
}

function byPosition(a: Lane, b: Lane): number {
  return a.position - b.position || a.id - b.id;
}

export class BoardStore {
  /** Lanes by position (without "No lane"). */
  lanes: Lane[] = $state.raw([]);
  /** Bumped on every change of `tickets` (the map itself is not reactive: 10 000 entries). */
  revision = $state(0);
  /** Whether the snapshot has been loaded. */
  loaded = $state(false);
  seq = 0;

  private tickets = new Map<number, Ticket>();
  /** Deltas that arrived while the snapshot was being fetched. */
  private pending: BoardDelta[] | null = null;

  /** All tickets (reactive through `revision`). */
  all(): Ticket[] {
    void this.revision;
    return [...this.tickets.values()];
  }

  get size(): number {
    void this.revision;
    return this.tickets.size;
  }

  get(id: number): Ticket | undefined {
    void this.revision;
    return this.tickets.get(id);
  }

  lane(id: number | null): Lane | undefined {
    return id === null ? undefined : this.lanes.find((l) => l.id === id);
  }

  /** Forget everything (signed out). */
  clear(): void {
    this.tickets = new Map();
    this.lanes = [];
    this.seq = 0;
    this.loaded = false;
    this.pending = null;
    this.revision++;
  }

  /** From now on, deltas are held until [`loadSnapshot`] (the `board()` call is in flight). */
  beginSnapshot(): void {
    this.pending = [];
  }

  /** The snapshot from `board()`, then whatever arrived meanwhile that is not older than it. */
  loadSnapshot(board: Board): void {
    const held = this.pending ?? [];
    this.pending = null;
    this.replace(board.lanes, board.tickets, board.seq);
    const fresh = held.filter((d) => {
      switch (d.kind) {
        case 'reset':
          return d.seq >= board.seq;
        case 'ticketUpserted': {
          const have = this.tickets.get(d.id);
          return !have || d.version >= have.version;
        }
        default:
          return true;
      }
    });
    if (fresh.length) this.apply(fresh);
    this.loaded = true;
  }

  /** Applies the core's deltas, in order. */
  apply(deltas: BoardDelta[]): void {
    if (this.pending) {
      this.pending.push(...deltas);
      return;
    }
    let lanesChanged = false;
    let lanes = this.lanes;
    let ticketsChanged = false;
    for (const d of deltas) {
      switch (d.kind) {
        case 'reset':
          this.replace(d.lanes, d.tickets, d.seq);
          lanes = this.lanes;
          lanesChanged = false;
          ticketsChanged = true;
          break;
        case 'laneUpserted': {
          const { kind: _kind, ...lane } = d;
          void _kind;
          lanes = [...lanes.filter((l) => l.id !== lane.id), lane];
          lanesChanged = true;
          break;
        }
        case 'laneRemoved':
          lanes = lanes.filter((l) => l.id !== d.id);
          lanesChanged = true;
          break;
        case 'ticketUpserted': {
          const { kind: _kind, ...ticket } = d;
          void _kind;
          this.tickets.set(ticket.id, ticket);
          ticketsChanged = true;
          break;
        }
        case 'ticketRemoved':
          ticketsChanged = this.tickets.delete(d.id) || ticketsChanged;
          break;
      }
    }
    if (lanesChanged) this.lanes = [...lanes].sort(byPosition);
    if (ticketsChanged || lanesChanged) this.revision++;
  }

  /** A ticket a command returned (patch, comment): shown when newer than what we have. */
  observe(ticket: Ticket): void {
    const have = this.tickets.get(ticket.id);
    if (have && ticket.version > have.version) {
      this.tickets.set(ticket.id, ticket);
      this.revision++;
    }
  }

  private replace(lanes: Lane[], tickets: Ticket[], seq: number): void {
    this.lanes = [...lanes].sort(byPosition);
    this.tickets = new Map(tickets.map((t) => [t.id, t]));
    this.seq = seq;
    this.revision++;
  }
}

export const board = new BoardStore();
