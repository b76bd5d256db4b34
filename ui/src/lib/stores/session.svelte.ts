// Who is signed in, the team's users (admins only), settings and the urgent count.

import type { Member, User } from '../../generated/protocol';
import type { SessionInfo, Settings } from '../../generated/client';

export const DEFAULT_SETTINGS: Settings = {
  alerts: {
    level: 'urgentOnly',
    doNotDisturb: false,
    reminderMinutes: 2,
    sound: true,
    soundWithReminders: true,
    quietHours: { enabled: false, startMinute: 22 * 60, endMinute: 7 * 60 },
    urgentBreaksDnd: false,
  },
  launchAtLogin: false,
  closeToTray: true,
  theme: 'system',
  lastServer: null,
  lastEmail: null,
  closeToTrayExplained: false,
};

export class SessionStore {
  /** The session, `null` when signed out (`undefined`: not known yet, at start). */
  info: SessionInfo | null | undefined = $state(undefined);
  /** Why the sign-in form is shown again (session ended, token refused…). */
  signedOutReason: string | null = $state(null);
  /** Users by id (loaded for admins; agents may not list users). */
  users: Map<number, User> = $state.raw(new Map());
  /** Every member's name and role (everyone may list them; for "Acknowledged by …"). */
  members: Map<number, Member> = $state.raw(new Map());
  /** The store warning, until the user dismisses it. */
  warningDismissed = $state(false);

  get user(): User | null {
    return this.info?.user ?? null;
  }

  get isAdmin(): boolean {
    return this.info?.user.role === 'admin';
  }

  /** The name to show for an assignee / author. */
  userName(id: number | null, meLabel = 'Me'): string {
    if (id === null) return 'Unassigned';
    const me = this.info?.user;
    if (me && me.id === id) return meLabel;
    return this.users.get(id)?.name ?? this.members.get(id)?.name ?? `User #${id}`;
  }

  /** Who acknowledged (or did something): "you", a member's name, else "a colleague". */
  memberName(id: number | null | undefined): string {
    if (id == null) return 'a colleague';
    if (this.info?.user.id === id) return 'you';
    return this.members.get(id)?.name ?? this.users.get(id)?.name ?? 'a colleague';
  }
}

export class SettingsStore {
  value: Settings = $state(structuredClone(DEFAULT_SETTINGS));
}

export class UrgentStore {
  count = $state(0);
}

export const session = new SessionStore();
export const settings = new SettingsStore();
export const urgent = new UrgentStore();
