// Links in text people wrote (ticket titles, comments): found here, opened by the shell in the
// system's browser (`open_link`; never in the app's own web view). Pure.
//
// Rules: `http(s)://…`, `mailto:…` and `www.…` (opened as https) are links; punctuation that
// ends a sentence right after a link is not part of it, nor is a closing bracket the link did
// not open.

export type Segment = { text: string; href: null } | { text: string; href: string };

const LINK = /\b(?:https?:\/\/|mailto:|www\.)[^\s<>"']+/gi;

function trimTrailing(url: string): string {
  let end = url.length;
  for (;;) {
    const c = url[end - 1];
    if (c && '.,;:!?'.includes(c)) {
      end--;
      continue;
    }
    if (c === ')' && (url.slice(0, end).match(/\(/g)?.length ?? 0) < (url.slice(0, end).match(/\)/g)?.length ?? 0)) {
      end--;
      continue;
    }
    return url.slice(0, end);
  }
}

export function linkify(text: string): Segment[] {
  const out: Segment[] = [];
  let at = 0;
  for (const m of text.matchAll(LINK)) {
    const start = m.index ?? 0;
    const found = trimTrailing(m[0]);
    if (found.length < 5) continue;
    if (start > at) out.push({ text: text.slice(at, start), href: null });
    const href = /^www\./i.test(found) ? `https://${found}` : found;
    out.push({ text: found, href });
    at = start + found.length;
  }
  if (at < text.length || out.length === 0) out.push({ text: text.slice(at), href: null });
  return out;
}
