import { and, eq, isNull } from 'drizzle-orm';
import type { Db } from '../db/client.js';
import { apiKeys, environments, environmentType } from '../db/schema.js';
import { type EnvironmentType, generateSecretKey, generateTokenSecret, hashSecretKey, keyPreview, newEnvironmentId } from './keys.js';
import { signPublicToken } from './tokens.js';

export const ENVIRONMENT_TYPES = environmentType.enumValues;

export interface NewEnvironment {
  environmentId: string;
  slug: string;
  type: EnvironmentType;
  secretKey: string;
}

export class EnvironmentNotFoundError extends Error {
  constructor(slug: string) {
    super(`No environment with slug "${slug}"`);
  }
}

export class EnvironmentExistsError extends Error {
  constructor(slug: string) {
    super(`An environment with slug "${slug}" already exists: pick another slug, or rotate its key with \`key rotate --env ${slug}\``);
  }
}

export class InvalidSlugError extends Error {
  constructor() {
    super('slug: 1 to 64 lowercase letters, digits or dashes, starting with a letter or digit');
  }
}

/** PostgreSQL's unique_violation, however the driver wrapped it. */
function isUniqueViolation(error: unknown): boolean {
  for (let e = error; e; e = (e as { cause?: unknown }).cause) {
    if ((e as { code?: unknown }).code === '23505') return true;
  }
  return false;
}

/** Creates an environment with one secret key; the key is returned here and never again. */
export async function createEnvironment(db: Db, slug: string, type: EnvironmentType): Promise<NewEnvironment> {
  if (!/^[a-z0-9][a-z0-9-]{0,63}$/.test(slug)) throw new InvalidSlugError();
  const environmentId = newEnvironmentId();
  const secretKey = generateSecretKey(type);
  try {
    await db.transaction(async (tx) => {
      await tx.insert(environments).values({ id: environmentId, slug, type, tokenSecret: generateTokenSecret() });
      await tx.insert(apiKeys).values({ environmentId, keyHash: hashSecretKey(secretKey), keyPrefix: keyPreview(secretKey) });
    });
  } catch (error) {
    if (isUniqueViolation(error)) throw new EnvironmentExistsError(slug);
    throw error;
  }
  return { environmentId, slug, type, secretKey };
}

async function findEnvironment(db: Db, slug: string) {
  const [env] = await db.select().from(environments).where(eq(environments.slug, slug));
  if (!env) throw new EnvironmentNotFoundError(slug);
  return env;
}

/**
 * Revokes every key of the environment and issues a new one, and renews the token-signing secret
 * so the public tokens made under the old key die with it (as Trigger.dev's do). One transaction.
 */
export async function rotateKey(db: Db, slug: string): Promise<{ environmentId: string; slug: string; secretKey: string }> {
  const env = await findEnvironment(db, slug);
  const secretKey = generateSecretKey(env.type);
  await db.transaction(async (tx) => {
    await tx
      .update(apiKeys)
      .set({ revokedAt: new Date() })
      .where(and(eq(apiKeys.environmentId, env.id), isNull(apiKeys.revokedAt)));
    await tx.insert(apiKeys).values({ environmentId: env.id, keyHash: hashSecretKey(secretKey), keyPrefix: keyPreview(secretKey) });
    await tx.update(environments).set({ tokenSecret: generateTokenSecret() }).where(eq(environments.id, env.id));
  });
  return { environmentId: env.id, slug: env.slug, secretKey };
}

export async function createToken(
  db: Db,
  slug: string,
  scopes: string[],
  ttlSeconds: number,
): Promise<{ token: string; expiresAt: string }> {
  const env = await findEnvironment(db, slug);
  const expiresAt = new Date(Date.now() + ttlSeconds * 1000);
  const token = await signPublicToken(env.tokenSecret, { environmentId: env.id, scopes }, expiresAt);
  return { token, expiresAt: expiresAt.toISOString() };
}

/** Whether the database holds no environment yet. */
export async function isEmpty(db: Db): Promise<boolean> {
  const [any] = await db.select({ id: environments.id }).from(environments).limit(1);
  return !any;
}

/**
 * On an empty database, creates the DEVELOPMENT environment a first start prints the key of. When
 * two instances start at once, the one that loses the race on the slug prints nothing.
 */
export async function createFirstEnvironment(db: Db): Promise<NewEnvironment | null> {
  if (!(await isEmpty(db))) return null;
  try {
    return await createEnvironment(db, 'dev', 'DEVELOPMENT');
  } catch (error) {
    if (error instanceof EnvironmentExistsError) return null; // another instance was first
    throw error;
  }
}
