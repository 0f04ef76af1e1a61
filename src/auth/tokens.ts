import { decodeJwt, jwtVerify, SignJWT } from 'jose';
import { isEnvironmentId } from './keys.js';

export interface PublicTokenClaims {
  environmentId: string;
  scopes: string[];
}

const encoder = new TextEncoder();

/** Signs a public access token: HS256, `sub` the environment, `pub: true`, `scopes`, `exp`. */
export async function signPublicToken(secret: string, claims: PublicTokenClaims, expiresAt: Date): Promise<string> {
  return new SignJWT({ pub: true, scopes: claims.scopes })
    .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
    .setSubject(claims.environmentId)
    .setIssuedAt()
    .setExpirationTime(Math.floor(expiresAt.getTime() / 1000))
    .sign(encoder.encode(secret));
}

/**
 * The environment a token claims, read before its signature is checked; null if it is no JWT or
 * the claim is no environment id (so a forged token costs no query and no cache entry).
 */
export function claimedEnvironment(token: string): string | null {
  try {
    const { sub } = decodeJwt(token);
    return typeof sub === 'string' && isEnvironmentId(sub) ? sub : null;
  } catch {
    return null;
  }
}

/** The claims of a token whose signature, expiry and shape hold; null otherwise. */
export async function verifyPublicToken(token: string, secret: string): Promise<PublicTokenClaims | null> {
  try {
    const { payload } = await jwtVerify(token, encoder.encode(secret), {
      algorithms: ['HS256'],
      requiredClaims: ['sub', 'exp'],
    });
    const scopes = payload['scopes'];
    if (payload['pub'] !== true || !Array.isArray(scopes) || !scopes.every((s) => typeof s === 'string')) return null;
    return { environmentId: payload.sub!, scopes };
  } catch {
    return null;
  }
}

/** The longest a public access token may live: 30 days. */
export const MAX_TOKEN_TTL_SECONDS = 30 * 86_400;

/** Parses a TTL like `30s`, `15m`, `1h` or `2d` into seconds, 1 s to 30 days. */
export function parseTtl(ttl: string): number {
  const match = /^(\d{1,9})([smhd])$/.exec(ttl.trim());
  if (!match) throw new Error(`invalid ttl "${ttl}": use a number and s, m, h or d, like 30s or 1h`);
  const unit = { s: 1, m: 60, h: 3600, d: 86_400 }[match[2] as 's' | 'm' | 'h' | 'd'];
  const seconds = Number(match[1]) * unit;
  if (seconds < 1 || seconds > MAX_TOKEN_TTL_SECONDS) throw new Error('ttl must be from 1s to 30d');
  return seconds;
}
