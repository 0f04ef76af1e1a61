import type { Principal } from '../auth/principal.js';
import { signPublicToken } from '../auth/tokens.js';
import type { Db } from '../db/client.js';
import type { SessionRow, TriggerConfig } from '../db/schema.js';
import {
  ExternalIdImmutableError,
  ForbiddenError,
  SessionClosedError,
  SessionExpiredError,
  SessionNotFoundError,
  VersionConflictError,
} from './errors.js';
import { newSessionId } from './ids.js';
import { SESSION_TOKEN_TTL_SECONDS } from './limits.js';
import { parseCreateInput, parseUpdateInput, type TriggerConfigInput } from './rules.js';
import { findSession, insertSession, patchSession } from './store.js';

export type Session = SessionRow;
export type SessionStatus = 'ACTIVE' | 'CLOSED' | 'EXPIRED';

/** CLOSED if closed, else EXPIRED once expiresAt has passed, else ACTIVE; computed when read. */
export function sessionStatus(session: Session, now = new Date()): SessionStatus {
  if (session.closedAt) return 'CLOSED';
  if (session.expiresAt && session.expiresAt.getTime() <= now.getTime()) return 'EXPIRED';
  return 'ACTIVE';
}

function requireSecretKey(principal: Principal, action: string): void {
  if (principal.kind !== 'secret') {
    throw new ForbiddenError(`A public access token cannot ${action}: use a secret key`);
  }
}

const READ_ALL_SCOPES = new Set(['read:sessions', 'read:all']);

function scopeCovers(scopes: readonly string[], identifier: string | null): boolean {
  return identifier !== null && scopes.includes(`read:sessions:${identifier}`);
}

/** Drops unset options so that equal configs compare equal however they were sent. */
function storedTriggerConfig(input: TriggerConfigInput): TriggerConfig {
  return Object.fromEntries(Object.entries(input).filter(([, v]) => v !== null && v !== undefined)) as unknown as TriggerConfig;
}

export interface CreatedSession {
  session: Session;
  isCached: boolean;
  publicAccessToken: string;
}

/**
 * The sessions core: every rule of the contract, for any transport. It takes a principal and plain
 * inputs and returns sessions or throws the errors of ./errors.ts.
 */
export class SessionsService {
  constructor(
    private readonly db: Db,
    /** The environment's token-signing secret, from the credential cache. */
    private readonly tokenSecret: (environmentId: string) => Promise<string | null>,
  ) {}

  /** A session by friendly id or externalId; null when the caller's environment has none. */
  async get(principal: Principal, id: string): Promise<Session | null> {
    if (principal.kind === 'secret') return findSession(this.db, principal.environmentId, id);
    const { scopes } = principal;
    const all = scopes.some((s) => READ_ALL_SCOPES.has(s));
    const named = all || scopeCovers(scopes, id);
    const session = await findSession(this.db, principal.environmentId, id);
    // A scope may name the other identifier of the same session; anything not covered is
    // forbidden whether or not it exists, so a token cannot probe for sessions.
    if (named || (session && (scopeCovers(scopes, session.id) || scopeCovers(scopes, session.externalId)))) {
      return session;
    }
    throw new ForbiddenError('This public access token does not grant reading this session');
  }

  async update(principal: Principal, id: string, input: unknown): Promise<Session> {
    requireSecretKey(principal, 'update a session');
    const patch = parseUpdateInput(input);
    const outcome = await patchSession(this.db, principal.environmentId, id, patch);
    switch (outcome.kind) {
      case 'not-found':
        throw new SessionNotFoundError(id);
      case 'external-id-immutable':
        throw new ExternalIdImmutableError(outcome.current.externalId, patch.externalId ?? null);
      case 'version-conflict':
        throw new VersionConflictError(patch.expectedVersion!, outcome.current.version);
      case 'ok':
        return outcome.session;
    }
  }

  async create(principal: Principal, input: unknown): Promise<CreatedSession> {
    requireSecretKey(principal, 'create a session');
    const parsed = parseCreateInput(input);
    const outcome = await insertSession(this.db, principal.environmentId, {
      id: newSessionId(),
      externalId: parsed.externalId ?? null,
      type: parsed.type,
      taskIdentifier: parsed.taskIdentifier,
      triggerConfig: storedTriggerConfig(parsed.triggerConfig),
      tags: parsed.tags ?? [],
      metadata: parsed.metadata ?? null,
      expiresAt: parsed.expiresAt ?? null,
    });
    const { session } = outcome;
    if (outcome.kind === 'closed') throw new SessionClosedError(session.externalId ?? session.id);
    if (outcome.kind === 'expired') throw new SessionExpiredError(session.externalId ?? session.id);
    const key = session.externalId ?? session.id;
    const publicAccessToken = await this.signToken(principal.environmentId, [`read:sessions:${key}`, `write:sessions:${key}`]);
    return { session, isCached: outcome.kind === 'cached', publicAccessToken };
  }

  private async signToken(environmentId: string, scopes: string[]): Promise<string> {
    const secret = await this.tokenSecret(environmentId);
    if (!secret) throw new Error(`environment ${environmentId} has no token secret`);
    const expiresAt = new Date(Date.now() + SESSION_TOKEN_TTL_SECONDS * 1000);
    return signPublicToken(secret, { environmentId, scopes }, expiresAt);
  }
}
