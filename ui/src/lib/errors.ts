// What people read when a command fails: by the error's stable code (crates/client).

import type { CommandError } from '../generated/client';
import { NETWORK_CODES } from './ipc';

export const CONFLICT_MOVE = 'Someone changed this ticket meanwhile; it is back where the server has it';
export const CONFLICT_PATCH = 'Someone changed this ticket meanwhile; it now shows what the server has. Try again if needed.';
export const UNREACHABLE = 'Could not reach the server. Check your connection and try again.';

export function isNetwork(e: CommandError): boolean {
  return NETWORK_CODES.has(e.code);
}

function capitalize(s: string): string {
  return s ? s[0]!.toUpperCase() + s.slice(1) : s;
}

/** A lane move was refused (the core has already put the card back). */
export function moveErrorMessage(e: CommandError): string {
  if (e.code === 'conflict') return CONFLICT_MOVE;
  if (isNetwork(e)) return 'Could not reach the server; the card is back where it was.';
  return capitalize(e.message);
}

/** A change in the drawer was refused. */
export function patchErrorMessage(e: CommandError): string {
  if (e.code === 'conflict') return CONFLICT_PATCH;
  if (isNetwork(e)) return UNREACHABLE;
  if (e.code === 'forbidden') return 'You are not allowed to make this change.';
  return capitalize(e.message);
}

/** Any other command. */
export function errorMessage(e: CommandError): string {
  if (isNetwork(e)) return UNREACHABLE;
  return capitalize(e.message);
}

/** One sentence: capitalized (unless it starts with an address), with its full stop. */
function sentence(text: string): string {
  const t = text.trim();
  const s = /^[a-z][a-z0-9+.-]*:\/\//i.test(t) ? t : capitalize(t);
  return /[.!?]$/.test(s) ? s : `${s}.`;
}

/**
 * Signing in (or starting the demo) failed. The core has already told a server that is not
 * Deskbell (`not_deskbell`, naming the address that works when it knows one) and TLS failures
 * (`tls`) apart, in plain words; the rest is said here.
 */
export function loginErrorMessage(e: CommandError, server: string): string {
  const where = server || 'that address';
  switch (e.code) {
    case 'invalid_credentials':
      return 'Wrong email or password';
    case 'invalid_url':
      return `“${server}” is not a server address. Type it like desk.example.com or https://desk.example.com.`;
    case 'network':
      return `Could not reach the server at ${where}. Check the address and your connection.`;
    case 'timeout':
      return `Could not reach the server at ${where}: it did not answer in time. Try again in a moment.`;
    case 'tls':
      return `Could not make a secure connection to ${where}: ${e.message.replace(/^a secure connection to the server could not be made \((.*)\)$/, '$1')}.`;
    case 'not_deskbell':
    case 'not_found':
      return sentence(e.message);
    case 'rate_limited':
      return 'Too many attempts. Wait a moment and try again.';
    case 'forbidden':
      return 'This account may not sign in (it may have been deactivated).';
    default:
      return capitalize(e.message);
  }
}

/**
 * Why the session ended, as the sign-in form says it. The core gives a plain sentence ("Your
 * account was deactivated by an administrator", "You were signed out", …): shown as is, as one
 * sentence.
 */
export function signedOutMessage(reason: string): string {
  const text = capitalize(reason.trim());
  return /[.!?]$/.test(text) ? text : `${text}.`;
}

/**
 * Acknowledge / Assign to me / Snooze was refused: said in place, in the drawer. A conflict
 * carries the server's ticket: it says why there is nothing (left) to do.
 */
export function urgentActionErrorMessage(e: CommandError): string {
  if (isNetwork(e)) return UNREACHABLE;
  switch (e.code) {
    case 'conflict':
      if (e.current?.status === 'closed') return 'This ticket is closed: there is nothing to acknowledge.';
      if (e.current && e.current.priority !== 'urgent') return 'This ticket is no longer urgent: there is nothing to acknowledge.';
      return CONFLICT_PATCH;
    case 'not_found':
    case 'unknown_ticket':
      return 'You can no longer see this ticket (it may have been reassigned or deleted).';
    case 'forbidden':
      return 'You are not allowed to do this.';
    default:
      return capitalize(e.message);
  }
}
