// Urgent tickets are handled, not just announced: what the UI derives from a ticket's
// acknowledgement fields (protocol 2) and from the alert preferences. The rules mirror the
// server's (`Ticket::awaits_acknowledgement` in crates/protocol); the UI decides nothing else.

import type { Ticket } from '../generated/protocol';
import { age } from './format';

/** Urgent, not closed, and nobody has acknowledged this urgent episode yet. */
export function awaitsAcknowledgement(t: Ticket): boolean {
  return t.priority === 'urgent' && t.status !== 'closed' && t.acknowledgedBy == null;
}

/** Urgent and acknowledged (the acknowledgement belongs to the current urgent episode). */
export function isAcknowledged(t: Ticket): boolean {
  return t.priority === 'urgent' && t.acknowledgedBy != null;
}

/** "2 min", "just now" since an acknowledgement (the board's minute clock drives `now`). */
export function sinceText(iso: string | undefined, now: number): string {
  if (!iso) return '';
  const a = age(iso, now);
  return a === 'now' ? 'just now' : a;
}

/** "07:30" for minutes since local midnight. */
export function clockTime(minutes: number): string {
  const m = ((Math.round(minutes) % 1440) + 1440) % 1440;
  return `${String(Math.floor(m / 60)).padStart(2, '0')}:${String(m % 60).padStart(2, '0')}`;
}

/** Minutes since midnight from an `<input type="time">` value ("07:30"), or null. */
export function parseClockTime(value: string): number | null {
  const m = /^(\d{1,2}):(\d{2})/.exec(value);
  if (!m) return null;
  const h = Number(m[1]);
  const min = Number(m[2]);
  if (h > 23 || min > 59) return null;
  return h * 60 + min;
}

/**
 * Whether local time `now` falls in quiet hours from `start` to `end` (minutes since local
 * midnight; a window may wrap past midnight, e.g. 22:00 → 07:00; start == end is empty).
 */
export function inQuietHours(q: { enabled: boolean; startMinute: number; endMinute: number }, now: Date): boolean {
  if (!q.enabled || q.startMinute === q.endMinute) return false;
  const m = now.getHours() * 60 + now.getMinutes();
  return q.startMinute < q.endMinute ? m >= q.startMinute && m < q.endMinute : m >= q.startMinute || m < q.endMinute;
}
