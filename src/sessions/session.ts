import type { SessionRow } from '../db/schema.js';
import type { TriggerConfig } from './rules.js';

/** A session as the core hands it out: its stored row, the trigger config in its own shape. */
export type Session = Omit<SessionRow, 'triggerConfig'> & { triggerConfig: TriggerConfig };

/** Where a session is in its lifecycle, derived when read; what each state means. */
export const SESSION_STATUSES = {
  ACTIVE: 'Open: not closed, and expiresAt (if any) is still ahead.',
  CLOSED: 'closeSession was called; terminal.',
  EXPIRED: 'Not closed, but expiresAt has passed.',
} as const;

export type SessionStatus = keyof typeof SESSION_STATUSES;
export const STATUS_NAMES = Object.keys(SESSION_STATUSES) as SessionStatus[];

/** CLOSED if closed, else EXPIRED once expiresAt has passed, else ACTIVE; computed when read. */
export function sessionStatus(session: Pick<Session, 'closedAt' | 'expiresAt'>, now = new Date()): SessionStatus {
  if (session.closedAt) return 'CLOSED';
  if (session.expiresAt && session.expiresAt.getTime() <= now.getTime()) return 'EXPIRED';
  return 'ACTIVE';
}
