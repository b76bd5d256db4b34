// What the user is looking at: filters, the open drawer, messages and announcements.

import type { Priority } from '../../generated/protocol';

export type Scope = 'all' | 'mine' | 'queue';
/** The priority select: a priority, any, or urgent tickets nobody has acknowledged yet. */
export type PriorityFilter = Priority | 'any' | 'unacknowledged';

export interface Toast {
  id: number;
  tone: 'error' | 'info' | 'success';
  text: string;
}

export class UiStore {
  scope: Scope = $state('all');
  priority: PriorityFilter = $state('any');
  search = $state('');
  /**
   * "These tickets": only these ids are shown (a notification's "Open" for several tickets,
   * `deskbell://open-tickets`), until cleared.
   */
  onlyIds: ReadonlySet<number> | null = $state.raw(null);

  /** The ticket whose drawer is open. */
  openTicketId: number | null = $state(null);
  /**
   * The card the keyboard follows: wherever it is shown (moved by the user, rolled back,
   * moved by someone else), it gets the focus back when the focus was lost with it. Cleared
   * as soon as the focus goes anywhere else.
   */
  followTicketId: number | null = $state(null);
  /** The card whose action menu is open. */
  menuTicketId: number | null = $state(null);
  /** The ticket whose "Move to…" lane picker is open. */
  movingTicketId: number | null = $state(null);
  preferencesOpen = $state(false);
  /** The "New ticket" form is open. */
  newTicketOpen = $state(false);
  /** The keyboard shortcut sheet ("?") is open. */
  shortcutsOpen = $state(false);
  /** The quick switcher (Ctrl+K) is open. */
  switcherOpen = $state(false);

  toasts: Toast[] = $state([]);
  /** The polite live region's text (moves, results). */
  announcement = $state('');

  private nextToast = 1;

  get filtered(): boolean {
    return this.scope !== 'all' || this.priority !== 'any' || this.search.trim() !== '' || this.onlyIds !== null;
  }

  toast(text: string, tone: Toast['tone'] = 'error', ms = tone === 'error' ? 8000 : 4000): void {
    const id = this.nextToast++;
    this.toasts = [...this.toasts.slice(-3), { id, tone, text }];
    setTimeout(() => this.dismiss(id), ms);
  }

  dismiss(id: number): void {
    this.toasts = this.toasts.filter((t) => t.id !== id);
  }

  /** Says something to screen readers (re-announces the same text too). */
  announce(text: string): void {
    this.announcement = '';
    queueMicrotask(() => (this.announcement = text));
  }

  /** Forgets what answered the moment (search, "these tickets"); the remembered view stays. */
  clearMoment(): void {
    this.search = '';
    this.onlyIds = null;
  }

  resetFilters(): void {
    this.scope = 'all';
    this.priority = 'any';
    this.search = '';
    this.onlyIds = null;
  }
}

export const ui = new UiStore();
