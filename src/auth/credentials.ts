import { and, eq, isNull } from 'drizzle-orm';
import type { Db } from '../db/client.js';
import { apiKeys, environments } from '../db/schema.js';
import { UnauthenticatedError } from '../sessions/errors.js';
import { TtlCache } from './cache.js';
import { hashSecretKey, looksLikeSecretKey, sameHash } from './keys.js';
import type { Principal } from './principal.js';
import { claimedEnvironment, verifyPublicToken } from './tokens.js';

/**
 * How long a looked-up key or token secret is trusted before it is read again. A rotated key
 * therefore stops working within this time on every instance, with no query per request.
 */
export const CREDENTIAL_TTL_MS = 500;
const MAX_CACHED = 10_000;

/** Turns an Authorization header into a principal, or throws UnauthenticatedError. */
export class Authenticator {
  private readonly keys: TtlCache<{ environmentId: string; keyHash: string } | null>;
  private readonly tokenSecrets: TtlCache<string | null>;

  constructor(db: Db, ttlMs = CREDENTIAL_TTL_MS) {
    this.keys = new TtlCache(ttlMs, MAX_CACHED, async (keyHash) => {
      const [row] = await db
        .select({ environmentId: apiKeys.environmentId, keyHash: apiKeys.keyHash })
        .from(apiKeys)
        .where(and(eq(apiKeys.keyHash, keyHash), isNull(apiKeys.revokedAt)));
      return row ?? null;
    });
    this.tokenSecrets = new TtlCache(ttlMs, MAX_CACHED, async (environmentId) => {
      const [row] = await db
        .select({ tokenSecret: environments.tokenSecret })
        .from(environments)
        .where(eq(environments.id, environmentId));
      return row?.tokenSecret ?? null;
    });
  }

  async authenticate(authorization: string | null | undefined): Promise<Principal> {
    const match = /^Bearer\s+(\S+)\s*$/i.exec(authorization ?? '');
    if (!match) {
      throw new UnauthenticatedError(
        'Missing credentials: send "Authorization: Bearer <secret key or public access token>"',
      );
    }
    const credential = match[1]!;
    if (looksLikeSecretKey(credential)) {
      // Only the SHA-256 digest is looked up, never the key, so lookup timing says nothing about
      // a key; the stored digest is then compared in constant time rather than with ===.
      const keyHash = hashSecretKey(credential);
      const key = await this.keys.get(keyHash);
      if (!key || !sameHash(key.keyHash, keyHash)) throw new UnauthenticatedError('Invalid or revoked secret key');
      return { kind: 'secret', environmentId: key.environmentId };
    }
    const environmentId = claimedEnvironment(credential);
    const secret = environmentId ? await this.tokenSecrets.get(environmentId) : null;
    const claims = secret ? await verifyPublicToken(credential, secret) : null;
    if (!claims) throw new UnauthenticatedError('Invalid or expired public access token');
    return { kind: 'public', environmentId: claims.environmentId, scopes: claims.scopes };
  }

  /** The secret that signs the environment's public access tokens; null for an unknown one. */
  tokenSecret(environmentId: string): Promise<string | null> {
    return this.tokenSecrets.get(environmentId);
  }
}
