// The comments and attachments of the tickets opened most recently, kept so that the drawer
// shows a thread at once and can still show it when the server cannot be reached.
//
// Rules: at most THREADS_KEPT tickets (the least recently opened goes first); in memory only —
// nothing of a ticket's content is written to disk; cleared whenever the session ends or
// another account signs in (the controller calls `clear`).

import type { Attachment, Comment } from '../../generated/protocol';

export const THREADS_KEPT = 30;

export interface Thread {
  comments: Comment[] | null;
  attachments: Attachment[] | null;
  /** When the server last answered for this ticket (ms since the epoch). */
  savedAt: number;
}

export class ThreadCache {
  private threads = new Map<number, Thread>();

  get(ticketId: number): Thread | undefined {
    const t = this.threads.get(ticketId);
    if (t) {
      // Most recently used last.
      this.threads.delete(ticketId);
      this.threads.set(ticketId, t);
    }
    return t;
  }

  /** Records what the server answered (or what changed live) for a ticket. */
  put(ticketId: number, part: { comments?: Comment[]; attachments?: Attachment[] }): void {
    const before = this.threads.get(ticketId);
    this.threads.delete(ticketId);
    this.threads.set(ticketId, {
      comments: part.comments ?? before?.comments ?? null,
      attachments: part.attachments ?? before?.attachments ?? null,
      savedAt: Date.now(),
    });
    while (this.threads.size > THREADS_KEPT) {
      const oldest = this.threads.keys().next().value;
      if (oldest === undefined) break;
      this.threads.delete(oldest);
    }
  }

  get size(): number {
    return this.threads.size;
  }

  clear(): void {
    this.threads.clear();
  }
}

export const threads = new ThreadCache();
