// How the user likes to look at the board, remembered across restarts on this computer: the
// filters (scope, priority), hiding closed tickets, card density, collapsed lanes and each lane's
// sort order. Kept in `localStorage` under one versioned key; whatever is there that this
// version does not understand (corrupt JSON, another version, a wrong type) is ignored field by
// field and the default used instead: a bad saved view must never keep the app from starting.
// The search box and "these tickets" are not part of the view: they answer the moment.

import { ui, type PriorityFilter, type Scope } from './ui.svelte';

export const VIEW_KEY = 'deskbell.view.v1';

export type Density = 'comfortable' | 'compact';
/** A lane's order: the default (urgent first, then oldest: a queue), or one the user chose (the
 *  core sorts: `LaneSort` in crates/client/src/board_view.rs). */
export type LaneSort = 'default' | 'priority' | 'updated' | 'age';
/** A lane's key in the saved view: its id, or "none" for "No lane". */
export type LaneKey = string;

export const LANE_SORTS: { value: LaneSort; label: string }[] = [
  { value: 'default', label: 'Default (urgent first, then oldest)' },
  { value: 'priority', label: 'Priority (urgent first, then last update)' },
  { value: 'updated', label: 'Last update (newest first)' },
  { value: 'age', label: 'Age (oldest first)' },
];

const SCOPES: readonly Scope[] = ['all', 'mine', 'queue'];
const PRIORITIES: readonly PriorityFilter[] = ['any', 'unacknowledged', 'urgent', 'high', 'normal', 'low'];
const DENSITIES: readonly Density[] = ['comfortable', 'compact'];
const SORTS: readonly LaneSort[] = ['default', 'priority', 'updated', 'age'];

export function laneKey(laneId: number | null): LaneKey {
  return laneId === null ? 'none' : String(laneId);
}

export class ViewStore {
  hideClosed = $state(true);
  density: Density = $state('comfortable');
  /** Lanes shown as a narrow strip. */
  collapsed: ReadonlySet<LaneKey> = $state.raw(new Set());
  /** Lanes sorted otherwise than by default. */
  sorts: Readonly<Record<LaneKey, LaneSort>> = $state.raw({});

  isCollapsed(laneId: number | null): boolean {
    return this.collapsed.has(laneKey(laneId));
  }

  toggleCollapsed(laneId: number | null): void {
    const next = new Set(this.collapsed);
    const key = laneKey(laneId);
    if (!next.delete(key)) next.add(key);
    this.collapsed = next;
  }

  sortOf(laneId: number | null): LaneSort {
    return this.sorts[laneKey(laneId)] ?? 'default';
  }

  setSort(laneId: number | null, sort: LaneSort): void {
    const { [laneKey(laneId)]: _old, ...rest } = this.sorts;
    void _old;
    this.sorts = sort === 'default' ? rest : { ...rest, [laneKey(laneId)]: sort };
  }

  /** What is saved (the filters live in `ui`). */
  snapshot(): SavedView {
    return {
      version: 1,
      scope: ui.scope,
      priority: ui.priority,
      hideClosed: this.hideClosed,
      density: this.density,
      collapsed: [...this.collapsed].sort(),
      sorts: { ...this.sorts },
    };
  }

  /** Applies a saved view (already checked by `parseView`). */
  apply(v: SavedView): void {
    ui.scope = v.scope;
    ui.priority = v.priority;
    this.hideClosed = v.hideClosed;
    this.density = v.density;
    this.collapsed = new Set(v.collapsed);
    this.sorts = { ...v.sorts };
  }

  /** Loads the saved view, if any (never throws: storage may be unavailable or hold junk). */
  load(): void {
    try {
      this.apply(parseView(localStorage.getItem(VIEW_KEY)));
    } catch {
      // No storage: the defaults stay.
    }
  }

  save(): void {
    try {
      localStorage.setItem(VIEW_KEY, JSON.stringify(this.snapshot()));
    } catch {
      // Full or unavailable storage: the view is only not remembered.
    }
  }
}

export interface SavedView {
  version: 1;
  scope: Scope;
  priority: PriorityFilter;
  hideClosed: boolean;
  density: Density;
  collapsed: LaneKey[];
  sorts: Record<LaneKey, LaneSort>;
}

export const DEFAULT_VIEW: SavedView = {
  version: 1,
  scope: 'all',
  priority: 'any',
  hideClosed: true,
  density: 'comfortable',
  collapsed: [],
  sorts: {},
};

function oneOf<T>(values: readonly T[], v: unknown, fallback: T): T {
  return values.includes(v as T) ? (v as T) : fallback;
}

const LANE_KEY = /^(none|\d{1,15})$/;

/** A saved view from its JSON text: every field checked, the default for whatever is not right. */
export function parseView(text: string | null): SavedView {
  let raw: unknown;
  try {
    raw = text === null ? null : JSON.parse(text);
  } catch {
    return { ...DEFAULT_VIEW };
  }
  if (!raw || typeof raw !== 'object' || Array.isArray(raw) || (raw as { version?: unknown }).version !== 1) {
    return { ...DEFAULT_VIEW };
  }
  const r = raw as Record<string, unknown>;
  const collapsed = Array.isArray(r.collapsed)
    ? r.collapsed.filter((k): k is string => typeof k === 'string' && LANE_KEY.test(k)).slice(0, 500)
    : [];
  const sorts: Record<LaneKey, LaneSort> = {};
  if (r.sorts && typeof r.sorts === 'object' && !Array.isArray(r.sorts)) {
    for (const [k, v] of Object.entries(r.sorts as Record<string, unknown>).slice(0, 500)) {
      if (LANE_KEY.test(k) && SORTS.includes(v as LaneSort) && v !== 'default') sorts[k] = v as LaneSort;
    }
  }
  return {
    version: 1,
    scope: oneOf(SCOPES, r.scope, DEFAULT_VIEW.scope),
    priority: oneOf(PRIORITIES, r.priority, DEFAULT_VIEW.priority),
    hideClosed: typeof r.hideClosed === 'boolean' ? r.hideClosed : DEFAULT_VIEW.hideClosed,
    density: oneOf(DENSITIES, r.density, DEFAULT_VIEW.density),
    collapsed,
    sorts,
  };
}

export const view = new ViewStore();
