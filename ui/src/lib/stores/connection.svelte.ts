// The connection state as the core reports it, plus a ticking clock for the countdown.

import type { ConnectionState } from '../../generated/client';

export type PillKind = 'live' | 'syncing' | 'connecting' | 'reconnecting' | 'offline' | 'signed-out' | 'unknown';

export interface PillView {
  kind: PillKind;
  label: string;
  /** Longer text for the tooltip / screen readers. */
  detail: string;
  /** Whether "Retry now" makes sense. */
  canRetry: boolean;
}

export class ConnectionStore {
  state: ConnectionState | null = $state(null);
  /** Has this session been live at least once (then a new attempt is a *re*connect). */
  wasLive = $state(false);
  /** How many times the connection became live: views reload what they may have missed. */
  lives = $state(0);
  /** Now, in ms; ticks while a countdown is shown. */
  now = $state(Date.now());

  private timer: ReturnType<typeof setInterval> | null = null;

  set(state: ConnectionState): void {
    if (state.state === 'live' && this.state?.state !== 'live') this.lives++;
    this.state = state;
    if (state.state === 'live') this.wasLive = true;
    if (state.state === 'needs-login') this.wasLive = false;
    this.now = Date.now();
    const ticking = state.state === 'connecting' && state.retryAt !== null;
    if (ticking && !this.timer) {
      this.timer = setInterval(() => (this.now = Date.now()), 250);
    } else if (!ticking && this.timer) {
      clearInterval(this.timer);
      this.timer = null;
    }
  }

  reset(): void {
    this.state = null;
    this.wasLive = false;
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }

  /** Seconds until the next attempt (≥ 0), or null when none is scheduled. */
  get secondsLeft(): number | null {
    const s = this.state;
    if (!s || s.state !== 'connecting' || !s.retryAt) return null;
    const at = Date.parse(s.retryAt);
    if (Number.isNaN(at)) return null;
    return Math.max(0, Math.ceil((at - this.now) / 1000));
  }

  get view(): PillView {
    const s = this.state;
    if (!s) return { kind: 'unknown', label: 'Starting…', detail: 'Starting the connection', canRetry: false };
    switch (s.state) {
      case 'live':
        return { kind: 'live', label: 'Live', detail: 'Connected: changes appear as they happen', canRetry: false };
      case 'syncing':
        return { kind: 'syncing', label: 'Syncing', detail: 'Connected: catching up on what changed', canRetry: false };
      case 'connecting': {
        const left = this.secondsLeft;
        const re = this.wasLive || s.attempt > 1 || s.retryAt !== null;
        if (left !== null && left > 0) {
          return {
            kind: 'reconnecting',
            label: `Reconnecting in ${left} s`,
            detail: `Connection lost; attempt ${s.attempt + 1} in ${left} seconds`,
            canRetry: true,
          };
        }
        return re
          ? { kind: 'reconnecting', label: 'Reconnecting…', detail: `Reconnecting (attempt ${s.attempt})`, canRetry: true }
          : { kind: 'connecting', label: 'Connecting…', detail: 'Connecting to the server', canRetry: false };
      }
      case 'offline':
        return { kind: 'offline', label: 'Offline', detail: `Offline: ${s.reason}`, canRetry: true };
      case 'needs-login':
        return { kind: 'signed-out', label: 'Signed out', detail: `Signed out: ${s.reason}`, canRetry: false };
    }
  }
}

export const connection = new ConnectionStore();
