// The board as the UI shows it: what the core's last view answered (`board_view`), nothing
// more. The ticket store, the filters, the sorting and the search live in the core; the page
// holds the lanes, each column's counts and the window of cards it renders, and the few
// tickets it shows elsewhere (the drawer's, the inbox's, the lane picker's: "pinned").
//
// Rules:
// - Never computed here: a count, an order or a filter result comes from the core.
// - Replaced as a whole by each answer (`show`); the controller asks again when the core says
//   the board changed, when the filters change and when a lane scrolls (lib/controller.ts).
// - A ticket the page holds is a copy: a command's answer may update it at once (`observe`), the
//   next view replaces it.

import type { Lane, Ticket } from '../../generated/protocol';
import type { BoardView, Column } from '../../generated/client';

/**
 * A lane with at most this many cards renders them all; a longer one renders only the cards in
 * view. It is also the window asked for a lane not measured yet (the core's `DEFAULT_WINDOW`,
 * for a lane the query does not list, is the same).
 */
export const VIRTUALIZE_OVER = 60;

/** Where a pinned ticket is: its column and its position in it (null when filtered out). */
export interface Place {
  laneId: number | null;
  index: number | null;
}

export class BoardStore {
  /** Lanes by position (without "No lane"). */
  lanes: Lane[] = $state.raw([]);
  /** "No lane" first, then the lanes by position: counts and the window of cards. */
  columns: Column[] = $state.raw([]);
  /** Whether a view has been shown since sign-in. */
  loaded = $state(false);
  /** Every ticket on the board. */
  size = $state(0);
  /** Closed tickets left out by "Hide closed", on the whole board. */
  closedHidden = $state(0);
  seq = 0;

  /** Every ticket the last view carried (windows and pinned), by id. */
  private tickets: ReadonlyMap<number, Ticket> = $state.raw(new Map());
  /** The pinned tickets' places, and which ids the last view was asked about. */
  private places: ReadonlyMap<number, Place> = $state.raw(new Map());
  private asked: ReadonlySet<number> = $state.raw(new Set());
  /** Tickets a view of the UI waits for (a ticket just created, to open when it shows). */
  watched: ReadonlySet<number> = $state.raw(new Set());

  /** A ticket the page has (in a window or pinned). */
  get(id: number): Ticket | undefined {
    return this.tickets.get(id);
  }

  /** Whether the last view answered for `id` as a pinned ticket (`get` is then the truth). */
  answered(id: number): boolean {
    return this.asked.has(id);
  }

  /** A pinned ticket's column and position, when on the board. */
  placeOf(id: number): Place | undefined {
    return this.places.get(id);
  }

  lane(id: number | null): Lane | undefined {
    return id === null ? undefined : this.lanes.find((l) => l.id === id);
  }

  column(laneId: number | null): Column | undefined {
    return this.columns.find((c) => c.laneId === laneId);
  }

  watch(id: number): void {
    this.watched = new Set([...this.watched, id]);
  }

  unwatch(id: number): void {
    if (!this.watched.has(id)) return;
    const next = new Set(this.watched);
    next.delete(id);
    this.watched = next;
  }

  /**
   * A ticket a command answered with (a patch, an acknowledgement, a conflict's current state):
   * shown at once where the page has it when newer, until the next view (which has it too: the
   * core applied it before answering).
   */
  observe(ticket: Ticket): void {
    const have = this.tickets.get(ticket.id);
    if (!have || ticket.version <= have.version) return;
    const tickets = new Map(this.tickets);
    // As the core shows it: a lane the board lacks is "No lane".
    tickets.set(ticket.id, { ...ticket, laneId: ticket.laneId !== null && this.lane(ticket.laneId) ? ticket.laneId : null });
    this.tickets = tickets;
  }

  /** Forget everything (signed out, another account). */
  clear(): void {
    this.lanes = [];
    this.columns = [];
    this.size = 0;
    this.closedHidden = 0;
    this.seq = 0;
    this.tickets = new Map();
    this.places = new Map();
    this.asked = new Set();
    this.watched = new Set();
    this.loaded = false;
  }

  /** Shows the core's answer to a view query that asked about `pinned`. */
  show(view: BoardView, pinned: readonly number[]): void {
    // A ticket that did not change keeps its object: its card is not rendered again.
    const before = this.tickets;
    const same = (t: Ticket): Ticket => {
      const had = before.get(t.id);
      return had && had.version === t.version && had.laneId === t.laneId ? had : t;
    };
    const tickets = new Map<number, Ticket>();
    const columns = view.columns.map((c) => {
      const kept = c.tickets.map(same);
      for (const t of kept) tickets.set(t.id, t);
      return { ...c, tickets: kept };
    });
    const places = new Map<number, Place>();
    for (const p of view.pinned) {
      const t = tickets.get(p.ticket.id) ?? same(p.ticket);
      tickets.set(t.id, t);
      places.set(t.id, { laneId: t.laneId, index: p.index });
    }
    if (JSON.stringify(view.lanes) !== JSON.stringify(this.lanes)) this.lanes = view.lanes;
    this.columns = columns;
    this.size = view.ticketCount;
    this.closedHidden = view.closedHidden;
    this.seq = view.seq;
    this.tickets = tickets;
    this.places = places;
    this.asked = new Set(pinned);
    this.loaded = true;
  }
}

export const board = new BoardStore();
