import { createHash } from 'node:crypto';
import { and, isNull, sql } from 'drizzle-orm';
import type { Db } from '../db/client.js';
import { apiKeys, environments } from '../db/schema.js';
import { textArray } from '../db/text-array.js';
import type { Principal } from '../sessions/principal.js';
import { prepared } from '../telemetry/statements.js';
import { LookupCache } from './cache.js';
import { UnauthenticatedError } from './errors.js';
import { hashSecretKey, isPlaceholderKey, looksLikeSecretKey, placeholderKeyMessage, sameHash } from './keys.js';
import { claimedEnvironment, signPublicToken, verifyPublicToken } from './tokens.js';

/**
 * How long a looked-up key or token secret is trusted before it is read again. A rotated key
 * therefore stops working within this time on every instance, with no query per request.
 */
export const CREDENTIAL_TTL_MS = 500;
const MAX_CACHED = 10_000;
/** Most credentials looked up in one statement. */
const MAX_BATCH = 500;

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

/** A checked credential: who is asking, and a stand-in for the credential (a digest, never the credential itself). */
export interface Credential {
  principal: Principal;
  /** Names the credential in rate limits and caps, however the header spelled it. */
  id: string;
}

/** Who sent a request: its credential, checked once, or why it has none (requests that need none still run). */
export type Caller = { credential: Credential } | { failure: unknown };

/** The caller's credential, or the reason it has none, thrown. */
export function credentialOf(caller: Caller): Credential {
  if ('failure' in caller) throw caller.failure;
  return caller.credential;
}

/** Turns an Authorization header into a credential, or throws UnauthenticatedError. */
export class Authenticator {
  private readonly keys: LookupCache<Credential>;
  private readonly tokenSecrets: LookupCache<string>;

  constructor(db: Db, options: { ttlMs?: number } = {}) {
    const ttlMs = options.ttlMs ?? CREDENTIAL_TTL_MS;
    const findKeys = prepared(
      db
        .select({ environmentId: apiKeys.environmentId, keyHash: apiKeys.keyHash })
        .from(apiKeys)
        .where(and(sql`${apiKeys.keyHash} = any(${sql.placeholder('keyHashes')}::text[])`, isNull(apiKeys.revokedAt))),
      'find_api_keys',
    );
    const findTokenSecrets = prepared(
      db
        .select({ environmentId: environments.id, tokenSecret: environments.tokenSecret })
        .from(environments)
        .where(sql`${environments.id} = any(${sql.placeholder('environmentIds')}::text[])`),
      'find_token_secrets',
    );
    this.keys = new LookupCache({
      ttlMs,
      maxEntries: MAX_CACHED,
      maxBatch: MAX_BATCH,
      load: async (keyHashes) => {
        const rows = await findKeys.execute({ keyHashes: textArray(keyHashes) });
        return new Map(
          rows.map((r) => [r.keyHash, { principal: { kind: 'secret', environmentId: r.environmentId }, id: `key:${r.keyHash}` }]),
        );
      },
    });
    this.tokenSecrets = new LookupCache({
      ttlMs,
      maxEntries: MAX_CACHED,
      maxBatch: MAX_BATCH,
      load: async (environmentIds) => {
        const rows = await findTokenSecrets.execute({ environmentIds: textArray(environmentIds) });
        return new Map(rows.map((r) => [r.environmentId, r.tokenSecret]));
      },
    });
  }

  /**
   * The credential of an Authorization header: at once when it was looked up less than
   * CREDENTIAL_TTL_MS ago (the usual case), else after one batched lookup. A credential that
   * exists is always looked up, whoever else fails to authenticate meanwhile.
   */
  authenticate(authorization: string | null | undefined): Credential | Promise<Credential> {
    const credential = parseAuthorization(authorization);
    if (isPlaceholderKey(credential)) throw new UnauthenticatedError(placeholderKeyMessage(credential));
    if (!looksLikeSecretKey(credential)) return this.publicToken(credential);
    // Only the SHA-256 digest is looked up, never the key, so lookup timing says nothing about a
    // key; the stored digest is then compared in constant time rather than with ===.
    const keyHash = hashSecretKey(credential);
    const found = this.keys.get(keyHash);
    return found instanceof Promise ? found.then((key) => secretKey(key, keyHash)) : secretKey(found, keyHash);
  }

  private async publicToken(token: string): Promise<Credential> {
    // A token naming no environment id costs no lookup and no cache entry.
    const environmentId = claimedEnvironment(token);
    const secret = environmentId ? await this.tokenSecrets.get(environmentId) : null;
    const claims = secret ? await verifyPublicToken(token, secret) : null;
    if (!claims) throw new UnauthenticatedError('Invalid or expired public access token');
    return {
      principal: { kind: 'public', environmentId: claims.environmentId, scopes: claims.scopes },
      id: `token:${createHash('sha256').update(token).digest('base64url')}`,
    };
  }

  /** The request's caller: never throws, and answers at once when the credential is cached. */
  caller(authorization: string | null | undefined): Caller | Promise<Caller> {
    try {
      const found = this.authenticate(authorization);
      return found instanceof Promise
        ? found.then(
            (credential) => ({ credential }),
            (failure: unknown) => ({ failure }),
          )
        : { credential: found };
    } catch (failure) {
      return { failure };
    }
  }

  /** A public access token of the environment, signed with its current secret. */
  async signToken(environmentId: string, scopes: string[], expiresAt: Date): Promise<string> {
    const secret = await this.tokenSecrets.get(environmentId);
    if (!secret) throw new Error(`environment ${environmentId} has no token secret`);
    return signPublicToken(secret, { environmentId, scopes }, expiresAt);
  }
}

function secretKey(key: Credential | null, keyHash: string): Credential {
  if (!key || !sameHash(key.id.slice('key:'.length), keyHash)) throw new UnauthenticatedError('Invalid or revoked secret key');
  return key;
}
