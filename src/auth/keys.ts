import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import type { EnvironmentRow } from '../db/schema.js';

export type EnvironmentType = EnvironmentRow['type'];

const KEY_PREFIX: Record<EnvironmentType, string> = {
  DEVELOPMENT: 'tr_dev_',
  STAGING: 'tr_stg_',
  PRODUCTION: 'tr_prod_',
  PREVIEW: 'tr_prev_',
};

/** Bytes of randomness in a secret key: 192 bits, above the 128 the contract asks for. */
const KEY_RANDOM_BYTES = 24;

export function generateSecretKey(type: EnvironmentType): string {
  return KEY_PREFIX[type] + randomBytes(KEY_RANDOM_BYTES).toString('base64url');
}

export function looksLikeSecretKey(credential: string): boolean {
  return Object.values(KEY_PREFIX).some((prefix) => credential.startsWith(prefix));
}

/**
 * GraphiQL's Headers tab and the README show a placeholder where the key goes (`tr_dev_...`, or
 * `tr_dev_…`, which curl sends as UTF-8 and Node reads as Latin-1); sent as it is, it is told apart
 * from a wrong key, and says where the real one is.
 */
export function isPlaceholderKey(credential: string): boolean {
  return looksLikeSecretKey(credential) && /^tr_[a-z]+_(\.\.\.|…|\u00e2\u0080\u00a6)$/.test(credential);
}

export const placeholderKeyMessage = (credential: string) =>
  `${credential.replace('\u00e2\u0080\u00a6', '…')} is the placeholder GraphiQL and the README show, not a key: put in its place the secret key npm start printed on its first start (lost it? \`npm run -s cli -- key rotate --env dev\` makes a new one)`;

/** Keys carry enough entropy that one SHA-256 is as safe as a slow hash, and costs microseconds. */
export function hashSecretKey(key: string): string {
  return createHash('sha256').update(key).digest('hex');
}

export function sameHash(a: string, b: string): boolean {
  const x = Buffer.from(a, 'hex');
  const y = Buffer.from(b, 'hex');
  return x.length === y.length && timingSafeEqual(x, y);
}

/** What listings show of a key: its prefix and a few characters, never enough to use it. */
export function keyPreview(key: string): string {
  return `${key.slice(0, key.indexOf('_', 3) + 5)}…`;
}

export function generateTokenSecret(): string {
  return randomBytes(32).toString('base64url');
}

export function newEnvironmentId(): string {
  return `env_${randomBytes(12).toString('base64url')}`;
}

/** The shape newEnvironmentId gives: an unverified token claim is checked against it first. */
export function isEnvironmentId(id: string): boolean {
  return /^env_[A-Za-z0-9_-]{16}$/.test(id);
}
