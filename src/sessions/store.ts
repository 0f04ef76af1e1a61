import { and, arrayOverlaps, asc, desc, eq, gt, inArray, lt, or, type SQL, sql } from 'drizzle-orm';
import type { Db } from '../db/client.js';
import { sessions } from '../db/schema.js';
import { textArray } from '../db/text-array.js';
import { observeStatement } from '../telemetry/statements.js';
import { isFriendlyId } from './ids.js';
import type { TriggerConfig } from './rules.js';
import { isStorableText } from './rules.js';
import type { Session, SessionStatus } from './session.js';
import { prepareStatements, STATUS_CONDITION, type WriteValues } from './statements.js';

/**
 * The one place rows are read and written; callers have already checked input and credentials.
 * The statements are in ./statements.ts.
 */

export interface SessionPatch {
  tags?: string[];
  metadata?: Record<string, unknown> | null;
  /** undefined: not sent; null: sent as null. */
  externalId?: string | null;
  expectedVersion?: number | null;
}

export type PatchOutcome =
  | { kind: 'not-found' }
  | { kind: 'external-id-immutable'; current: Session }
  | { kind: 'version-conflict'; current: Session }
  | { kind: 'ok'; session: Session };

export type CloseOutcome = { kind: 'not-found' } | { kind: 'version-conflict'; current: Session } | { kind: 'ok'; session: Session };

export interface NewSession {
  id: string;
  externalId: string | null;
  type: string;
  taskIdentifier: string;
  triggerConfig: TriggerConfig;
  tags: string[];
  metadata: Record<string, unknown> | null;
  expiresAt: Date | null;
}

export type InsertOutcome =
  | { kind: 'created'; session: Session }
  | { kind: 'cached'; session: Session }
  | { kind: 'closed'; session: Session }
  | { kind: 'expired'; session: Session };

export class SessionStore {
  private readonly statements: ReturnType<typeof prepareStatements>;

  constructor(private readonly db: Db) {
    this.statements = prepareStatements(db);
  }

  async find(environmentId: string, id: string): Promise<Session | null> {
    if (!isStorableText(id)) return null; // no row can hold this id, and PostgreSQL would refuse it
    const statement = isFriendlyId(id) ? this.statements.findById : this.statements.findByExternalId;
    const [row] = await statement.execute({ environmentId, id });
    return row ?? null;
  }

  /** Many sessions by friendly id or externalId in one statement; the caller matches them up. */
  async findMany(environmentId: string, ids: readonly string[]): Promise<Session[]> {
    if (ids.length === 1) {
      const row = await this.find(environmentId, ids[0]!);
      return row ? [row] : [];
    }
    const usable = ids.filter(isStorableText);
    if (usable.length === 0) return [];
    return this.statements.findMany.execute({
      environmentId,
      ids: textArray(usable.filter(isFriendlyId)),
      externalIds: textArray(usable.filter((id) => !isFriendlyId(id))),
    });
  }

  private async write(values: WriteValues) {
    if (!isStorableText(values.id)) return null; // no row can hold this id, and PostgreSQL would refuse it
    const statement = isFriendlyId(values.id) ? this.statements.writeById : this.statements.writeByExternalId;
    const [row] = await statement.execute(values);
    if (!row) return null;
    const { externalIdOk, versionOk, ...current } = row.target;
    return { current, externalIdOk, versionOk, updated: row.updated };
  }

  /** Applies an update's tags and metadata if externalId and expectedVersion allow it. */
  async patch(environmentId: string, id: string, patch: SessionPatch): Promise<PatchOutcome> {
    const values = {
      environmentId,
      id,
      setTags: patch.tags !== undefined,
      tags: patch.tags === undefined ? null : textArray(patch.tags),
      setMetadata: patch.metadata !== undefined,
      metadata: patch.metadata == null ? null : JSON.stringify(patch.metadata),
    };
    if (patch.externalId === undefined && patch.expectedVersion == null) {
      // No precondition: a plain read when there is nothing to write, else a plain write.
      if (!values.setTags && !values.setMetadata) {
        const current = await this.find(environmentId, id);
        return current ? { kind: 'ok', session: current } : { kind: 'not-found' };
      }
      if (!isStorableText(id)) return { kind: 'not-found' };
      const statement = isFriendlyId(id) ? this.statements.plainWriteById : this.statements.plainWriteByExternalId;
      const [row] = await statement.execute(values);
      return row ? { kind: 'ok', session: row } : { kind: 'not-found' };
    }
    const result = await this.write({
      ...values,
      environmentId,
      id,
      externalIdCheck: patch.externalId === undefined ? 0 : patch.externalId === null ? 1 : 2,
      externalId: patch.externalId ?? null,
      expectedVersion: patch.expectedVersion ?? null,
      close: false,
      closedReason: null,
    });
    if (!result) return { kind: 'not-found' };
    if (!result.externalIdOk) return { kind: 'external-id-immutable', current: result.current };
    if (!result.versionOk) return { kind: 'version-conflict', current: result.current };
    return { kind: 'ok', session: result.updated ?? result.current };
  }

  /**
   * Closes an open session once; a closed one comes back exactly as it is. With expectedVersion,
   * only if the session is still at that version.
   */
  async close(environmentId: string, id: string, reason: string | null, expectedVersion: number | null = null): Promise<CloseOutcome> {
    const result = await this.write({
      environmentId,
      id,
      externalIdCheck: 0,
      externalId: null,
      expectedVersion,
      setTags: false,
      tags: null,
      setMetadata: false,
      metadata: null,
      close: true,
      closedReason: reason,
    });
    if (!result) return { kind: 'not-found' };
    if (!result.versionOk) return { kind: 'version-conflict', current: result.current };
    return { kind: 'ok', session: result.updated ?? result.current };
  }

  /**
   * Inserts a session, or with an externalId finds the one that exists, in one statement. The
   * unique (environment, externalId) key makes concurrent creates meet on one row; an open one
   * gets the new triggerConfig (and a version) only when the config differs, a closed or expired
   * one is left exactly as it is.
   */
  async insert(environmentId: string, session: NewSession): Promise<InsertOutcome> {
    const [row] = await this.statements.insert.execute({
      environmentId,
      ...session,
      triggerConfig: JSON.stringify(session.triggerConfig),
      tags: textArray(session.tags),
      metadata: session.metadata === null ? null : JSON.stringify(session.metadata),
      expiresAt: session.expiresAt?.toISOString() ?? null,
    });
    const { inserted, expired, ...stored } = row!;
    if (inserted) return { kind: 'created', session: stored };
    if (stored.closedAt) return { kind: 'closed', session: stored };
    if (expired) return { kind: 'expired', session: stored };
    return { kind: 'cached', session: stored };
  }

  /**
   * One page by keyset (no OFFSET): `limit + 1` rows tell whether more follow in the paging
   * direction; an EXISTS on the far side of the cursor tells whether anything precedes it.
   */
  async list(environmentId: string, q: ListQuery): Promise<{ rows: Session[]; hasMore: boolean; hasBeyondCursor: boolean }> {
    const { db } = this;
    const base = filterConditions(environmentId, q.filter);
    const bounds = [q.after && compare('<', q.after), q.before && compare('>', q.before)].filter(Boolean) as SQL[];
    const forward = q.direction === 'forward';
    const order = forward ? [desc(sessions.createdAt), desc(sessions.id)] : [asc(sessions.createdAt), asc(sessions.id)];
    const cursor = forward ? q.after : q.before;
    const [rows, beyond] = await Promise.all([
      observeStatement('list_sessions', async () =>
        db
          .select()
          .from(sessions)
          .where(and(...base, ...bounds))
          .orderBy(...order)
          .limit(q.limit + 1),
      ),
      cursor
        ? observeStatement('list_sessions_beyond_cursor', async () =>
            db
              .select({ one: sql<number>`1` })
              .from(sessions)
              .where(and(...base, compare(forward ? '>=' : '<=', cursor)))
              .limit(1),
          )
        : Promise.resolve([]),
    ]);
    const page = rows.slice(0, q.limit);
    return { rows: forward ? page : page.reverse(), hasMore: rows.length > q.limit, hasBeyondCursor: beyond.length > 0 };
  }
}

export interface SessionFilter {
  type?: string[] | null;
  tags?: string[] | null;
  taskIdentifier?: string[] | null;
  externalId?: string | null;
  status?: SessionStatus[] | null;
  createdAfter?: Date | null;
  createdBefore?: Date | null;
}

export interface Position {
  createdAt: Date;
  id: string;
}

export interface ListQuery {
  filter: SessionFilter;
  /** forward: newest first from `after`; backward: the `limit` rows just newer than `before`. */
  direction: 'forward' | 'backward';
  after: Position | null;
  before: Position | null;
  limit: number;
}

/** A list filter matches any of its values; an empty list matches nothing. */
function anyOf<T>(values: T[] | null | undefined, condition: (values: T[]) => SQL | undefined): SQL | undefined {
  if (!values) return undefined;
  return values.length ? condition(values) : sql`false`;
}

function filterConditions(environmentId: string, f: SessionFilter): SQL[] {
  const conditions: (SQL | undefined)[] = [
    eq(sessions.environmentId, environmentId),
    anyOf(f.type, (v) => inArray(sessions.type, v)),
    anyOf(f.tags, (v) => arrayOverlaps(sessions.tags, v)),
    anyOf(f.taskIdentifier, (v) => inArray(sessions.taskIdentifier, v)),
    f.externalId != null ? eq(sessions.externalId, f.externalId) : undefined,
    anyOf(f.status, (v) => or(...v.map((s) => STATUS_CONDITION[s]))),
    f.createdAfter ? gt(sessions.createdAt, f.createdAfter) : undefined,
    f.createdBefore ? lt(sessions.createdAt, f.createdBefore) : undefined,
  ];
  return conditions.filter((c): c is SQL => c !== undefined);
}

/** Keyset comparison on (createdAt, id), the order of the (environment, createdAt, id) index. */
function compare(op: '<' | '<=' | '>' | '>=', p: Position): SQL {
  return sql`(${sessions.createdAt}, ${sessions.id}) ${sql.raw(op)} (${p.createdAt.toISOString()}::timestamptz, ${p.id})`;
}
