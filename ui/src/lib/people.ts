// Who is who in the drawer: the author of each comment and the colleagues a ticket can be
// assigned to. Names come from the member directory every member may read (`members`), or the
// admin-only user list; pure functions, so the rules are tested without a page.
//
// Rules:
// - a comment with `fromRequester` is the requester's words: it shows the requester's name and
//   a "Requester" badge, and who recorded it (the member in `authorId`);
// - otherwise it is staff: "You" for my own, else the member's name and role;
// - a ticket can be assigned to any active member (agents too: handing a ticket to a colleague
//   is everyday work), or to nobody; a current assignee who is inactive stays listed.

import type { Comment, Member, Requester, Role, User } from '../generated/protocol';

export interface CommentAuthor {
  name: string;
  badge: 'Requester' | 'Admin' | 'Agent' | null;
  /** Written by me (my own words, not a requester's that I recorded). */
  mine: boolean;
  /** For the requester's words: who recorded them ("you" or a name). */
  recordedBy: string | null;
}

export interface People {
  me: User | null;
  members: Map<number, Member>;
  users: Map<number, User>;
}

const ROLE_BADGE: Record<Role, 'Admin' | 'Agent'> = { admin: 'Admin', agent: 'Agent' };

function member(people: People, id: number): { name: string; role: Role } | null {
  const m = people.members.get(id) ?? people.users.get(id);
  return m ? { name: m.name, role: m.role } : null;
}

/** A member's name, "you" for me, or "a former member" when the directory does not know them. */
export function personName(people: People, id: number, meLabel = 'you'): string {
  if (people.me?.id === id) return meLabel;
  return member(people, id)?.name ?? 'a former member';
}

export function commentAuthor(comment: Comment, requester: Requester, people: People): CommentAuthor {
  if (comment.fromRequester) {
    return {
      name: requester.name,
      badge: 'Requester',
      mine: false,
      recordedBy: personName(people, comment.authorId),
    };
  }
  if (people.me?.id === comment.authorId) {
    return { name: 'You', badge: null, mine: true, recordedBy: null };
  }
  const m = member(people, comment.authorId);
  return {
    name: m?.name ?? 'A former member',
    badge: m ? ROLE_BADGE[m.role] : null,
    mine: false,
    recordedBy: null,
  };
}

export interface AssigneeOption {
  value: string;
  label: string;
}

/** "Unassigned", then every active member by name (me marked), then an inactive current one. */
export function assigneeOptions(people: People, current: number | null): AssigneeOption[] {
  const byId = new Map<number, { id: number; name: string; role: Role; active: boolean }>();
  for (const u of people.users.values()) byId.set(u.id, u);
  for (const m of people.members.values()) byId.set(m.id, m);
  const me = people.me;
  if (me && !byId.has(me.id)) byId.set(me.id, me);
  const options: AssigneeOption[] = [{ value: '', label: 'Unassigned' }];
  const listed = [...byId.values()]
    .filter((p) => p.active || p.id === current)
    .sort((a, b) => a.name.localeCompare(b.name) || a.id - b.id);
  for (const p of listed) {
    const suffix = p.id === me?.id ? ' (me)' : !p.active ? ' (inactive)' : p.role === 'admin' ? ' · Admin' : '';
    options.push({ value: String(p.id), label: `${p.name}${suffix}` });
  }
  if (current !== null && !byId.has(current)) {
    options.push({ value: String(current), label: 'A former member' });
  }
  return options;
}
