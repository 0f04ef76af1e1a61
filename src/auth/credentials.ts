import { and, eq, isNull, sql } from 'drizzle-orm';
import type { Db } from '../db/client.js';
import { apiKeys, environments } from '../db/schema.js';
import { RateLimitedError, UnauthenticatedError } from '../sessions/errors.js';
import { type RateLimit, RateLimiter } from './rate-limit.js';
import { TtlCache } from './cache.js';
import { hashSecretKey, isPlaceholderKey, looksLikeSecretKey, placeholderKeyMessage, sameHash } from './keys.js';
import type { Principal } from './principal.js';
import { claimedEnvironment, verifyPublicToken } from './tokens.js';

/**
 * How long a looked-up key or token secret is trusted before it is read again. A rotated key
 * therefore stops working within this time on every instance, with no query per request.
 */
export const CREDENTIAL_TTL_MS = 500;
const MAX_CACHED = 10_000;

/** Failed authentications allowed per client address: a burst of 20, then 2 a second. */
export const DEFAULT_FAILED_AUTH_LIMIT: RateLimit = { perSecond: 2, burst: 20 };

const BEARER_HINT = '"Authorization: Bearer <secret key or public access token>"';

/**
 * The credential an Authorization header carries: the scheme is case-insensitive and spaces
 * around it do not matter. Anything else is refused with what is wrong with it.
 */
export function parseAuthorization(header: string | null | undefined): string {
  const value = header?.trim() ?? '';
  if (value === '') throw new UnauthenticatedError(`Missing credentials: send ${BEARER_HINT}`);
  const [scheme, ...rest] = value.split(/\s+/);
  if (scheme!.toLowerCase() !== 'bearer') {
    if (rest.length === 0) {
      throw new UnauthenticatedError(`The Authorization header has a credential but no scheme: send ${BEARER_HINT}`);
    }
    throw new UnauthenticatedError(`Unsupported authorization scheme "${scheme!.slice(0, 20)}": send ${BEARER_HINT}`);
  }
  if (rest.length === 0) throw new UnauthenticatedError(`The Authorization header names no credential after Bearer: send ${BEARER_HINT}`);
  if (rest.length > 1) throw new UnauthenticatedError(`The Authorization header holds more than one credential: send ${BEARER_HINT}`);
  return rest[0]!;
}

/** Turns an Authorization header into a principal, or throws UnauthenticatedError. */
export class Authenticator {
  private readonly keys: TtlCache<{ environmentId: string; keyHash: string } | null>;
  private readonly tokenSecrets: TtlCache<string | null>;
  /** Failed authentications per client address, so made-up credentials cannot cost a lookup each. */
  private readonly failures: RateLimiter;

  constructor(db: Db, options: { ttlMs?: number; failedAuthLimit?: RateLimit } = {}) {
    const ttlMs = options.ttlMs ?? CREDENTIAL_TTL_MS;
    this.failures = new RateLimiter(options.failedAuthLimit ?? DEFAULT_FAILED_AUTH_LIMIT);
    const findKey = db
      .select({ environmentId: apiKeys.environmentId, keyHash: apiKeys.keyHash })
      .from(apiKeys)
      .where(and(eq(apiKeys.keyHash, sql.placeholder('keyHash')), isNull(apiKeys.revokedAt)))
      .prepare('find_api_key');
    const findTokenSecret = db
      .select({ tokenSecret: environments.tokenSecret })
      .from(environments)
      .where(eq(environments.id, sql.placeholder('environmentId')))
      .prepare('find_token_secret');
    this.keys = new TtlCache(ttlMs, MAX_CACHED, async (keyHash) => (await findKey.execute({ keyHash }))[0] ?? null);
    this.tokenSecrets = new TtlCache(
      ttlMs,
      MAX_CACHED,
      async (environmentId) => (await findTokenSecret.execute({ environmentId }))[0]?.tokenSecret ?? null,
    );
  }

  /**
   * The principal of an Authorization header. `address` is the client's: once it has failed too
   * often, credentials that would need a database lookup are refused (429) without one.
   */
  authenticate(authorization: string | null | undefined, address = 'unknown'): Principal | Promise<Principal> {
    const credential = parseAuthorization(authorization);
    // The usual case, a secret key read less than CREDENTIAL_TTL_MS ago, is answered at once.
    if (looksLikeSecretKey(credential)) {
      const keyHash = hashSecretKey(credential);
      const key = this.keys.peek(keyHash)?.value;
      if (key && sameHash(key.keyHash, keyHash)) return { kind: 'secret', environmentId: key.environmentId };
    }
    return this.verify(credential, address).catch((error: unknown) => {
      if (error instanceof UnauthenticatedError && this.failures.enabled) this.failures.take(address);
      throw error;
    });
  }

  private async verify(credential: string, address: string): Promise<Principal> {
    if (isPlaceholderKey(credential)) throw new UnauthenticatedError(placeholderKeyMessage(credential));
    if (looksLikeSecretKey(credential)) {
      // Only the SHA-256 digest is looked up, never the key, so lookup timing says nothing about
      // a key; the stored digest is then compared in constant time rather than with ===.
      const keyHash = hashSecretKey(credential);
      if (!this.keys.has(keyHash)) this.refuseIfFailing(address);
      const key = await this.keys.get(keyHash);
      if (!key || !sameHash(key.keyHash, keyHash)) throw new UnauthenticatedError('Invalid or revoked secret key');
      return { kind: 'secret', environmentId: key.environmentId };
    }
    const environmentId = claimedEnvironment(credential);
    if (environmentId && !this.tokenSecrets.has(environmentId)) this.refuseIfFailing(address);
    const secret = environmentId ? await this.tokenSecrets.get(environmentId) : null;
    const claims = secret ? await verifyPublicToken(credential, secret) : null;
    if (!claims) throw new UnauthenticatedError('Invalid or expired public access token');
    return { kind: 'public', environmentId: claims.environmentId, scopes: claims.scopes };
  }

  private refuseIfFailing(address: string): void {
    if (!this.failures.enabled) return;
    const { allowed, retryAfterSeconds } = this.failures.check(address);
    if (!allowed) {
      throw new RateLimitedError(
        `Too many failed authentications from this address; retry after ${retryAfterSeconds} s`,
        retryAfterSeconds,
      );
    }
  }

  /** The secret that signs the environment's public access tokens; null for an unknown one. */
  tokenSecret(environmentId: string): Promise<string | null> {
    return this.tokenSecrets.get(environmentId);
  }
}
