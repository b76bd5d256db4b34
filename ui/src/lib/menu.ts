// Keyboard and pointer behaviour shared by the app's popup menus and lists (the card menu, the
// snooze menu, the account menu, the alert inbox): one place for what every popup does alike;
// each popup still says what closing it means.

/** Moves the focus among `items` as menus do: ↑/↓ to the previous/next (wrapping around),
 *  Home/End to the first/last. Answers whether the key was one of those (then handled). */
export function moveMenuFocus(e: KeyboardEvent, items: HTMLElement[]): boolean {
  const n = items.length;
  const i = items.indexOf(document.activeElement as HTMLElement);
  let next: HTMLElement | undefined;
  switch (e.key) {
    case 'ArrowDown':
      next = items[(i + 1 + n) % n];
      break;
    case 'ArrowUp':
      next = items[(i - 1 + n) % n];
      break;
    case 'Home':
      next = items[0];
      break;
    case 'End':
      next = items[n - 1];
      break;
    default:
      return false;
  }
  e.preventDefault();
  next?.focus();
  return true;
}

/** While a popup is open: calls `close` when a pointer goes down, or the focus moves, outside
 *  every one of `inside` (the popup and the button that opened it). Answers the cleanup, for a
 *  Svelte `$effect` to return. */
export function closeWhenOutside(inside: () => (Element | null | undefined)[], close: () => void): () => void {
  const onEvent = (e: Event) => {
    if (e.target instanceof Node && inside().some((el) => el?.contains(e.target as Node))) return;
    close();
  };
  document.addEventListener('pointerdown', onEvent, true);
  document.addEventListener('focusin', onEvent, true);
  return () => {
    document.removeEventListener('pointerdown', onEvent, true);
    document.removeEventListener('focusin', onEvent, true);
  };
}
