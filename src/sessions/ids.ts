import { randomBytes } from 'node:crypto';

export const SESSION_ID_PREFIX = 'session_';

/** A friendly session id: the prefix and 120 random bits, URL-safe. */
export function newSessionId(): string {
  return SESSION_ID_PREFIX + randomBytes(15).toString('base64url');
}

/** An `id` argument names a session by friendly id when it has the prefix, else by externalId. */
export function isFriendlyId(id: string): boolean {
  return id.startsWith(SESSION_ID_PREFIX);
}
