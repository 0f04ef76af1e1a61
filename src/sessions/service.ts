import type { Database } from '../db/client.js';
import type { ChangeStream } from './change-stream.js';
import { SessionChanges } from './changes.js';
import {
  ExternalIdImmutableError,
  ForbiddenError,
  InvalidArgumentsError,
  SessionClosedError,
  SessionExpiredError,
  SessionNotFoundError,
  VersionConflictError,
} from './errors.js';
import { newSessionId } from './ids.js';
import { MAX_FILTER_VALUES, PAGE_SIZE, SESSION_TOKEN_TTL_SECONDS } from './limits.js';
import type { Principal } from './principal.js';
import {
  isStorableText,
  parseCloseArgs,
  parseCreateInput,
  parseUpdateInput,
  type TriggerConfig,
  type TriggerConfigInput,
} from './rules.js';
import type { Session } from './session.js';
import { type Position, type SessionFilter, SessionStore } from './store.js';

function requireSecretKey(principal: Principal, action: string): void {
  if (principal.kind !== 'secret') {
    throw new ForbiddenError(`A public access token cannot ${action}: use a secret key`);
  }
}

const READ_ALL_SCOPES = new Set(['read:sessions', 'read:all']);

function scopeCovers(scopes: readonly string[], identifier: string | null): boolean {
  return identifier !== null && scopes.includes(`read:sessions:${identifier}`);
}

/**
 * A secret key reads its environment. A public token reads what its scopes name, by either
 * identifier of the session; anything else is forbidden whether or not it exists, so a token
 * cannot probe for sessions.
 */
function mayRead(principal: Principal, id: string, session: Session | null): boolean {
  if (principal.kind === 'secret') return true;
  const { scopes } = principal;
  if (scopes.some((s) => READ_ALL_SCOPES.has(s)) || scopeCovers(scopes, id)) return true;
  return session !== null && (scopeCovers(scopes, session.id) || scopeCovers(scopes, session.externalId));
}

/** Drops unset options so that equal configs compare equal however they were sent. */
function storedTriggerConfig(input: TriggerConfigInput): TriggerConfig {
  return Object.fromEntries(Object.entries(input).filter(([, v]) => v !== null && v !== undefined)) as unknown as TriggerConfig;
}

/** Cursors are opaque to clients: base64url of [createdAt, id], the row's place in the order. */
export function encodeCursor(session: Pick<Session, 'createdAt' | 'id'>): string {
  return Buffer.from(JSON.stringify([session.createdAt.toISOString(), session.id])).toString('base64url');
}

function decodeCursor(cursor: string, name: string): Position {
  try {
    const decoded: unknown = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
    if (Array.isArray(decoded) && decoded.length === 2) {
      const [createdAt, id] = decoded as unknown[];
      const date = new Date(createdAt as string);
      const year = date.getUTCFullYear(); // NaN for an invalid date
      if (typeof createdAt === 'string' && typeof id === 'string' && year >= 1970 && year <= 9999 && isStorableText(id)) {
        return { createdAt: date, id };
      }
    }
  } catch {
    // falls through to the error below
  }
  throw new InvalidArgumentsError(`${name} is not a cursor this service gave out`);
}

export interface PageArgs {
  filter?: SessionFilter | null;
  first?: number | null;
  after?: string | null;
  last?: number | null;
  before?: string | null;
}

export interface SessionPage {
  edges: { cursor: string; node: Session }[];
  pageInfo: { hasNextPage: boolean; hasPreviousPage: boolean; startCursor: string | null; endCursor: string | null };
}

function checkFilter(filter: SessionFilter): void {
  for (const name of ['type', 'tags', 'taskIdentifier', 'status'] as const) {
    if ((filter[name]?.length ?? 0) > MAX_FILTER_VALUES) {
      throw new InvalidArgumentsError(`filter.${name} takes at most ${MAX_FILTER_VALUES} values`);
    }
  }
  const texts = [...(filter.type ?? []), ...(filter.tags ?? []), ...(filter.taskIdentifier ?? []), filter.externalId ?? ''];
  if (!texts.every(isStorableText)) {
    throw new InvalidArgumentsError('filter values may not contain NUL characters or unpaired surrogates');
  }
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
  private readonly store: SessionStore;
  /** The live updates of this instance. */
  readonly changes: SessionChanges;

  constructor(
    database: Database,
    /** Signs a public access token of the environment (the auth layer's, handed in by the app). */
    private readonly signToken: (environmentId: string, scopes: string[], expiresAt: Date) => Promise<string>,
    options: { subscriptionsPerCredential: number; subscriptionsPerEnvironment: number },
  ) {
    this.store = new SessionStore(database.db);
    this.changes = new SessionChanges(database, (environmentId, id) => this.store.find(environmentId, id), {
      perCredential: options.subscriptionsPerCredential,
      perEnvironment: options.subscriptionsPerEnvironment,
    });
  }

  /**
   * The session's versions after the one it has now, as they are written (on any instance). Read
   * access as for `get`; an id the caller's environment does not have is InvalidArgumentsError.
   * `owner` names the caller's credential, for the per-credential cap.
   */
  async watch(principal: Principal, id: string, owner: string): Promise<ChangeStream> {
    const session = await this.get(principal, id);
    if (!session) throw new InvalidArgumentsError(`No session "${id.slice(0, 300)}" in your environment`);
    return this.changes.subscribe(session, owner);
  }

  /** A session by friendly id or externalId; null when the caller's environment has none. */
  async get(principal: Principal, id: string): Promise<Session | null> {
    const [session] = await this.getMany(principal, [id]);
    if (session instanceof Error) throw session;
    return session ?? null;
  }

  /**
   * Many sessions in one query (federation's `_entities`), in the order asked, null for those the
   * environment lacks; for a public token, a ForbiddenError in place of each one it may not read.
   */
  async getMany(principal: Principal, ids: readonly string[]): Promise<(Session | null | ForbiddenError)[]> {
    const rows = await this.store.findMany(principal.environmentId, ids);
    const byId = new Map<string, Session>();
    for (const row of rows) {
      byId.set(row.id, row);
      if (row.externalId !== null) byId.set(row.externalId, row);
    }
    return ids.map((id) => {
      // Friendly ids and externalIds never collide: an externalId may not start with session_.
      const session = byId.get(id) ?? null;
      return mayRead(principal, id, session) ? session : new ForbiddenError('This public access token does not grant reading this session');
    });
  }

  async update(principal: Principal, id: string, input: unknown): Promise<Session> {
    requireSecretKey(principal, 'update a session');
    const patch = parseUpdateInput(input);
    const outcome = await this.store.patch(principal.environmentId, id, patch);
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

  /**
   * Terminal and idempotent: a closed session comes back unchanged, first reason kept. With
   * expectedVersion, only if the session is still at that version.
   */
  async close(principal: Principal, id: string, reason: unknown, expectedVersion?: unknown): Promise<Session> {
    requireSecretKey(principal, 'close a session');
    const args = parseCloseArgs({ reason, expectedVersion });
    const outcome = await this.store.close(principal.environmentId, id, args.reason, args.expectedVersion);
    if (outcome.kind === 'not-found') throw new SessionNotFoundError(id);
    if (outcome.kind === 'version-conflict') throw new VersionConflictError(args.expectedVersion!, outcome.current.version);
    return outcome.session;
  }

  /** Newest first by (createdAt, id), keyset-paged; see the contract's sessions(...) section. */
  async list(principal: Principal, args: PageArgs): Promise<SessionPage> {
    requireSecretKey(principal, 'list sessions');
    if (args.first != null && args.last != null) throw new InvalidArgumentsError('Pass first or last, not both');
    if (args.after != null && args.before != null) throw new InvalidArgumentsError('Pass after or before, not both');
    const limit = args.first ?? args.last ?? PAGE_SIZE.default;
    if (!Number.isInteger(limit) || limit < PAGE_SIZE.min || limit > PAGE_SIZE.max) {
      throw new InvalidArgumentsError(`${args.last != null ? 'last' : 'first'} must be ${PAGE_SIZE.min} to ${PAGE_SIZE.max}`);
    }
    // externalId is trimmed before every comparison, here as on create and update.
    const filter = { ...args.filter, externalId: args.filter?.externalId?.trim() };
    checkFilter(filter);
    const forward = args.last == null;
    const { rows, hasMore, hasBeyondCursor } = await this.store.list(principal.environmentId, {
      filter,
      direction: forward ? 'forward' : 'backward',
      after: args.after != null ? decodeCursor(args.after, 'after') : null,
      before: args.before != null ? decodeCursor(args.before, 'before') : null,
      limit,
    });
    const edges = rows.map((node) => ({ cursor: encodeCursor(node), node }));
    return {
      edges,
      pageInfo: {
        hasNextPage: forward ? hasMore : hasBeyondCursor,
        hasPreviousPage: forward ? hasBeyondCursor : hasMore,
        startCursor: edges[0]?.cursor ?? null,
        endCursor: edges.at(-1)?.cursor ?? null,
      },
    };
  }

  async create(principal: Principal, input: unknown): Promise<CreatedSession> {
    requireSecretKey(principal, 'create a session');
    const parsed = parseCreateInput(input);
    const outcome = await this.store.insert(principal.environmentId, {
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
    const expiresAt = new Date(Date.now() + SESSION_TOKEN_TTL_SECONDS * 1000);
    const publicAccessToken = await this.signToken(principal.environmentId, [`read:sessions:${key}`, `write:sessions:${key}`], expiresAt);
    return { session, isCached: outcome.kind === 'cached', publicAccessToken };
  }
}
