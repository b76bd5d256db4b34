// Reordering lanes: the positions to write so that the lanes read in the wanted order. Pure.
//
// Positions are what the server sorts by (ties by id); after a move every lane gets its index as
// position, and only the lanes whose position changes are written.

import type { Lane } from '../generated/protocol';

/** The `(laneId, position)` writes that move `laneId` by `delta` places (-1 up, +1 down). */
export function moveLane(lanes: Lane[], laneId: number, delta: number): { id: number; position: number }[] {
  const ordered = [...lanes].sort((a, b) => a.position - b.position || a.id - b.id);
  const from = ordered.findIndex((l) => l.id === laneId);
  const to = from + delta;
  if (from < 0 || to < 0 || to >= ordered.length) return [];
  const [moved] = ordered.splice(from, 1);
  ordered.splice(to, 0, moved!);
  return ordered.flatMap((l, i) => (l.position === i ? [] : [{ id: l.id, position: i }]));
}
