import { and, arrayOverlaps, asc, desc, eq, getTableColumns, gt, inArray, lt, or, type SQL, sql } from 'drizzle-orm';
import type { Db } from '../db/client.js';
import { sessions } from '../db/schema.js';
import { textArray } from '../db/text-array.js';
import { isFriendlyId } from './ids.js';
import type { TriggerConfig } from './rules.js';
import { isStorableText } from './rules.js';
import type { Session, SessionStatus } from './session.js';

/**
 * The one place rows are read and written; callers have already checked input and credentials.
 * The statements of the hot paths (read, update, close, create, the `_entities` batch) are built
 * once and prepared: a request binds its values and sends them, with no SQL built per request.
 */

const p = (name: string) => sql.placeholder(name);

/** Status is derived, so each one is a condition on closed_at and expires_at, evaluated in SQL. */
const STATUS_CONDITION: Record<SessionStatus, SQL> = {
  CLOSED: sql`${sessions.closedAt} is not null`,
  EXPIRED: sql`(${sessions.closedAt} is null and ${sessions.expiresAt} <= now())`,
  ACTIVE: sql`(${sessions.closedAt} is null and (${sessions.expiresAt} is null or ${sessions.expiresAt} > now()))`,
};

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

/** What a write may change; see `lockedWrite`. */
type WriteValues = {
  environmentId: string;
  id: string;
  /** 0: no externalId check; 1: the row must have none; 2: it must equal `externalId`. */
  externalIdCheck: 0 | 1 | 2;
  externalId: string | null;
  expectedVersion: number | null;
  setTags: boolean;
  tags: string | null;
  setMetadata: boolean;
  metadata: string | null;
  close: boolean;
  closedReason: string | null;
};

/**
 * One statement for every outcome of a write to one session (update and close alike): `target`
 * locks the row (so what it reads is the newest version) and evaluates the preconditions;
 * `updated` writes only when both hold and there is something to write. It returns the locked row,
 * the checks and, if written, the new row.
 */
function lockedWrite(db: Db, match: SQL) {
  const target = db.$with('target').as(
    db
      .select({
        ...getTableColumns(sessions),
        externalIdOk: sql<boolean>`(case ${p('externalIdCheck')}::int when 0 then true when 1 then ${sessions.externalId} is null
          else ${sessions.externalId} is not distinct from ${p('externalId')}::text end)`.as('external_id_ok'),
        versionOk: sql<boolean>`(${p('expectedVersion')}::int is null or ${sessions.version} = ${p('expectedVersion')}::int)`.as(
          'version_ok',
        ),
      })
      .from(sessions)
      .where(and(eq(sessions.environmentId, p('environmentId')), match))
      .for('update'),
  );
  const closing = sql`(${p('close')}::boolean and ${sessions.closedAt} is null)`;
  const updated = db.$with('updated').as(
    db
      .update(sessions)
      .set({
        tags: sql`case when ${p('setTags')}::boolean then ${p('tags')}::text[] else ${sessions.tags} end`,
        metadata: sql`case when ${p('setMetadata')}::boolean then ${p('metadata')}::jsonb else ${sessions.metadata} end`,
        closedAt: sql`case when ${closing} then now() else ${sessions.closedAt} end`,
        closedReason: sql`case when ${closing} then ${p('closedReason')}::text else ${sessions.closedReason} end`,
        version: sql`${sessions.version} + 1`,
        updatedAt: sql`now()`,
      })
      .from(target)
      .where(
        and(
          sql`(${p('setTags')}::boolean or ${p('setMetadata')}::boolean or ${closing})`,
          eq(sessions.environmentId, p('environmentId')),
          eq(sessions.id, target.id),
          // Qualified by hand: Drizzle prints an aliased column bare, and `updated` sees two tables.
          sql`"target"."external_id_ok" and "target"."version_ok"`,
        ),
      )
      .returning(getTableColumns(sessions)),
  );
  return db.with(target, updated).select().from(target).leftJoin(updated, sql`true`);
}

/**
 * The write of an update with no precondition (no externalId, no expectedVersion): a plain
 * UPDATE, atomic on its row, no row back meaning no such session. Cheaper for the database than
 * the locked write, and the common case.
 */
function plainWrite(db: Db, match: SQL) {
  return db
    .update(sessions)
    .set({
      tags: sql`case when ${p('setTags')}::boolean then ${p('tags')}::text[] else ${sessions.tags} end`,
      metadata: sql`case when ${p('setMetadata')}::boolean then ${p('metadata')}::jsonb else ${sessions.metadata} end`,
      version: sql`${sessions.version} + 1`,
      updatedAt: sql`now()`,
    })
    .where(and(eq(sessions.environmentId, p('environmentId')), match))
    .returning();
}

function prepareStatements(db: Db) {
  const byId = and(eq(sessions.environmentId, p('environmentId')), eq(sessions.id, p('id')));
  const byExternalId = and(eq(sessions.environmentId, p('environmentId')), eq(sessions.externalId, p('id')));
  const refresh = sql`(${STATUS_CONDITION.ACTIVE} and ${sessions.triggerConfig} is distinct from excluded.trigger_config)`;
  return {
    findById: db.select().from(sessions).where(byId).prepare('find_session_by_id'),
    findByExternalId: db.select().from(sessions).where(byExternalId).prepare('find_session_by_external_id'),
    findMany: db
      .select()
      .from(sessions)
      .where(
        and(
          eq(sessions.environmentId, p('environmentId')),
          sql`(${sessions.id} = any(${p('ids')}::text[]) or ${sessions.externalId} = any(${p('externalIds')}::text[]))`,
        ),
      )
      .prepare('find_sessions'),
    plainWriteById: plainWrite(db, eq(sessions.id, p('id'))).prepare('plain_write_session_by_id'),
    plainWriteByExternalId: plainWrite(db, eq(sessions.externalId, p('id'))).prepare('plain_write_session_by_external_id'),
    writeById: lockedWrite(db, eq(sessions.id, p('id'))).prepare('write_session_by_id'),
    writeByExternalId: lockedWrite(db, eq(sessions.externalId, p('id'))).prepare('write_session_by_external_id'),
    insert: db
      .insert(sessions)
      .values({
        environmentId: p('environmentId'),
        id: p('id'),
        externalId: p('externalId'),
        type: p('type'),
        taskIdentifier: p('taskIdentifier'),
        // Raw placeholders with casts: a column's own encoder would not let null through.
        triggerConfig: sql`${p('triggerConfig')}::jsonb`,
        tags: sql`${p('tags')}::text[]`,
        metadata: sql`${p('metadata')}::jsonb`,
        expiresAt: sql`${p('expiresAt')}::timestamptz`,
      })
      .onConflictDoUpdate({
        target: [sessions.environmentId, sessions.externalId],
        set: {
          triggerConfig: sql`case when ${refresh} then excluded.trigger_config else ${sessions.triggerConfig} end`,
          version: sql`case when ${refresh} then ${sessions.version} + 1 else ${sessions.version} end`,
          updatedAt: sql`case when ${refresh} then now() else ${sessions.updatedAt} end`,
        },
      })
      .returning({
        ...getTableColumns(sessions),
        // xmax is 0 only on a tuple this statement inserted, not on one it updated.
        inserted: sql<boolean>`(xmax = 0)`,
        expired: sql<boolean>`${STATUS_CONDITION.EXPIRED}`,
      })
      .prepare('insert_session'),
  };
}

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
      db
        .select()
        .from(sessions)
        .where(and(...base, ...bounds))
        .orderBy(...order)
        .limit(q.limit + 1),
      cursor
        ? db
            .select({ one: sql<number>`1` })
            .from(sessions)
            .where(and(...base, compare(forward ? '>=' : '<=', cursor)))
            .limit(1)
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
