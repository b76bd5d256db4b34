// Small formatting helpers.

/** "now", "5 min", "3 h", "2 d", "5 w", "4 mo", "2 y" since `iso`. */
export function age(iso: string, now: number): string {
  const t = Date.parse(iso);
  if (Number.isNaN(t)) return '';
  const s = Math.max(0, (now - t) / 1000);
  if (s < 60) return 'now';
  const m = s / 60;
  if (m < 60) return `${Math.floor(m)} min`;
  const h = m / 60;
  if (h < 24) return `${Math.floor(h)} h`;
  const d = h / 24;
  if (d < 14) return `${Math.floor(d)} d`;
  if (d < 60) return `${Math.floor(d / 7)} w`;
  if (d < 365) return `${Math.floor(d / 30)} mo`;
  return `${Math.floor(d / 365)} y`;
}

/** Long form for screen readers and tooltips. */
export function ageLong(iso: string, now: number): string {
  const short = age(iso, now);
  if (!short || short === 'now') return 'just now';
  const [n, unit] = short.split(' ');
  const words: Record<string, string> = { min: 'minute', h: 'hour', d: 'day', w: 'week', mo: 'month', y: 'year' };
  const word = words[unit ?? ''] ?? unit;
  return `${n} ${word}${n === '1' ? '' : 's'} ago`;
}

export function dateTime(iso: string): string {
  const t = Date.parse(iso);
  if (Number.isNaN(t)) return iso;
  return new Date(t).toLocaleString(undefined, { dateStyle: 'medium', timeStyle: 'short' });
}

export function fileSize(bytes: number): string {
  if (bytes < 1024) return `${bytes} B`;
  const units = ['KB', 'MB', 'GB'];
  let v = bytes / 1024;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${v < 10 ? v.toFixed(1) : Math.round(v)} ${units[i]}`;
}

export const PRIORITY_LABEL = { low: 'Low', normal: 'Normal', high: 'High', urgent: 'Urgent' } as const;
export const STATUS_LABEL = { open: 'Open', pending: 'Pending', closed: 'Closed' } as const;
