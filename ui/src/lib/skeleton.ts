// The first view's skeleton for the shell: the page's background and its main boxes (marked
// `data-skeleton`: the top bar, the lanes, the sign-in card) as laid out now. The shell draws
// them in the window until the page has painted its first frame (src-tauri/src/skeleton.rs),
// so that the window is never shown blank. Read before the window is shown: the page is laid
// out, not painted.

import type { Rgb, SkeletonBox, WindowSkeleton } from '../generated/client';

/** At most this many boxes (the shell's limit is higher). */
const MAX_BOXES = 32;

/** An opaque colour from a computed `rgb()` / `rgba()` value; null when (partly) transparent. */
export function parseColor(value: string): Rgb | null {
  const m = /^rgba?\(\s*(\d+)[,\s]+(\d+)[,\s]+(\d+)(?:\s*[,/]\s*([\d.]+%?))?\s*\)$/.exec(value.trim());
  if (!m) return null;
  if (m[4] !== undefined && (m[4].endsWith('%') ? parseFloat(m[4]) < 100 : parseFloat(m[4]) < 1)) return null;
  const [r, g, b] = [m[1], m[2], m[3]].map((v) => Math.min(255, Number(v)));
  return { r: r!, g: g!, b: b! };
}

export function readSkeleton(doc: Document = document): WindowSkeleton | null {
  const background = parseColor(getComputedStyle(doc.body).backgroundColor) ?? parseColor(getComputedStyle(doc.documentElement).backgroundColor);
  if (!background) return null;
  const boxes: SkeletonBox[] = [];
  for (const el of doc.querySelectorAll<HTMLElement>('[data-skeleton]')) {
    if (boxes.length >= MAX_BOXES) break;
    const color = parseColor(getComputedStyle(el).backgroundColor);
    const r = el.getBoundingClientRect();
    if (!color || r.width <= 0 || r.height <= 0) continue;
    boxes.push({ x: r.x, y: r.y, width: r.width, height: r.height, color });
  }
  return { background, boxes };
}
