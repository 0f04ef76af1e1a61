import { and, arrayOverlaps, asc, desc, eq, getTableColumns, gt, inArray, isNull, lt, or, type SQL, sql } from 'drizzle-orm';
import type { Db } from '../db/client.js';
import { type SessionRow, sessions, type TriggerConfig } from '../db/schema.js';
import { isFriendlyId } from './ids.js';
import { isStorableText } from './rules.js';

/** The one place rows are read and written; callers have already checked input and credentials. */

function byId(environmentId: string, id: string): SQL {
  return and(
    eq(sessions.environmentId, environmentId),
    isFriendlyId(id) ? eq(sessions.id, id) : eq(sessions.externalId, id),
  )!;
}

/** Status is derived, so each one is a condition on closed_at and expires_at, evaluated in SQL. */
const STATUS_CONDITION: Record<StatusName, SQL> = {
  CLOSED: sql`${sessions.closedAt} is not null`,
  EXPIRED: sql`(${sessions.closedAt} is null and ${sessions.expiresAt} <= now())`,
  ACTIVE: sql`(${sessions.closedAt} is null and (${sessions.expiresAt} is null or ${sessions.expiresAt} > now()))`,
};

export async function findSession(db: Db, environmentId: string, id: string): Promise<SessionRow | null> {
  if (!isStorableText(id)) return null; // no row can hold this id, and PostgreSQL would refuse it
  const [row] = await db.select().from(sessions).where(byId(environmentId, id));
  return row ?? null;
}

/** Many sessions by friendly id or externalId in one statement; the caller matches them up. */
export async function findSessions(db: Db, environmentId: string, ids: readonly string[]): Promise<SessionRow[]> {
  const usable = ids.filter(isStorableText);
  const friendly = usable.filter(isFriendlyId);
  const external = usable.filter((id) => !isFriendlyId(id));
  if (usable.length === 0) return [];
  return db
    .select()
    .from(sessions)
    .where(
      and(
        eq(sessions.environmentId, environmentId),
        or(
          friendly.length ? inArray(sessions.id, friendly) : undefined,
          external.length ? inArray(sessions.externalId, external) : undefined,
        ),
      ),
    );
}

export interface SessionPatch {
  tags?: string[];
  metadata?: Record<string, unknown> | null;
  /** undefined: not sent; null: sent as null. */
  externalId?: string | null;
  expectedVersion?: number | null;
}

export type PatchOutcome =
  | { kind: 'not-found' }
  | { kind: 'external-id-immutable'; current: SessionRow }
  | { kind: 'version-conflict'; current: SessionRow }
  | { kind: 'ok'; session: SessionRow };

type SessionSet = Parameters<ReturnType<Db['update']>['set']>[0];

/** Preconditions of a write, evaluated on the locked row. */
interface Preconditions {
  externalIdOk: SQL;
  versionOk: SQL;
}

/**
 * One statement for every outcome of a write to one session: `target` locks the row (so what it
 * reads is the newest version) and evaluates the preconditions; `updated` writes only when both
 * hold and `write` does. Returns the locked row, the checks and, if written, the new row.
 */
async function writeWhere(
  db: Db,
  environmentId: string,
  id: string,
  checks: Preconditions,
  write: SQL,
  set: SessionSet,
): Promise<{ current: SessionRow; externalIdOk: boolean; versionOk: boolean; updated: SessionRow | null } | null> {
  if (!isStorableText(id)) return null; // no row can hold this id, and PostgreSQL would refuse it
  const target = db.$with('target').as(
    db
      .select({
        ...getTableColumns(sessions),
        externalIdOk: sql<boolean>`${checks.externalIdOk}`.as('external_id_ok'),
        versionOk: sql<boolean>`${checks.versionOk}`.as('version_ok'),
      })
      .from(sessions)
      .where(byId(environmentId, id))
      .for('update'),
  );
  const updated = db.$with('updated').as(
    db
      .update(sessions)
      .set({ ...set, version: sql`${sessions.version} + 1`, updatedAt: sql`now()` })
      .from(target)
      .where(
        and(
          write,
          eq(sessions.environmentId, environmentId),
          eq(sessions.id, target.id),
          // Qualified by hand: Drizzle prints an aliased column bare, and `updated` sees two tables.
          sql`"target"."external_id_ok" and "target"."version_ok"`,
        ),
      )
      .returning(getTableColumns(sessions)),
  );
  const [row] = await db.with(target, updated).select().from(target).leftJoin(updated, sql`true`);
  if (!row) return null;
  const { externalIdOk, versionOk, ...current } = row.target;
  return { current, externalIdOk, versionOk, updated: row.updated };
}

/** Applies an update's tags and metadata if externalId and expectedVersion allow it. */
export async function patchSession(db: Db, environmentId: string, id: string, patch: SessionPatch): Promise<PatchOutcome> {
  const externalIdOk =
    patch.externalId === undefined
      ? sql`true`
      : patch.externalId === null
        ? isNull(sessions.externalId)
        : eq(sessions.externalId, patch.externalId);
  const versionOk = patch.expectedVersion == null ? sql`true` : eq(sessions.version, patch.expectedVersion);
  const write = patch.tags !== undefined || patch.metadata !== undefined;
  const result = await writeWhere(db, environmentId, id, { externalIdOk, versionOk }, sql`${write}`, {
    ...(patch.tags !== undefined && { tags: patch.tags }),
    ...(patch.metadata !== undefined && { metadata: patch.metadata }),
  });
  if (!result) return { kind: 'not-found' };
  if (!result.externalIdOk) return { kind: 'external-id-immutable', current: result.current };
  if (!result.versionOk) return { kind: 'version-conflict', current: result.current };
  return { kind: 'ok', session: result.updated ?? result.current };
}

/** Closes an open session once; a closed one comes back exactly as it is. Null: no such session. */
export async function closeSessionRow(
  db: Db,
  environmentId: string,
  id: string,
  reason: string | null,
): Promise<SessionRow | null> {
  const always = { externalIdOk: sql`true`, versionOk: sql`true` };
  const result = await writeWhere(db, environmentId, id, always, isNull(sessions.closedAt), {
    closedAt: sql`now()`,
    closedReason: reason,
  });
  return result && (result.updated ?? result.current);
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
  | { kind: 'created'; session: SessionRow }
  | { kind: 'cached'; session: SessionRow }
  | { kind: 'closed'; session: SessionRow }
  | { kind: 'expired'; session: SessionRow };

/**
 * Inserts a session, or with an externalId finds the one that exists, in one statement. The
 * unique (environment, externalId) key makes concurrent creates meet on one row; an open one gets
 * the new triggerConfig (and a version) only when the config differs, a closed or expired one is
 * left exactly as it is.
 */
export async function insertSession(db: Db, environmentId: string, session: NewSession): Promise<InsertOutcome> {
  const refresh = sql`(${STATUS_CONDITION.ACTIVE} and ${sessions.triggerConfig} is distinct from excluded.trigger_config)`;
  const [row] = await db
    .insert(sessions)
    .values({ environmentId, ...session })
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
    });
  const { inserted, expired, ...stored } = row!;
  if (inserted) return { kind: 'created', session: stored };
  if (stored.closedAt) return { kind: 'closed', session: stored };
  if (expired) return { kind: 'expired', session: stored };
  return { kind: 'cached', session: stored };
}

export type StatusName = 'ACTIVE' | 'CLOSED' | 'EXPIRED';

export interface SessionFilter {
  type?: string[] | null;
  tags?: string[] | null;
  taskIdentifier?: string[] | null;
  externalId?: string | null;
  status?: StatusName[] | null;
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

/**
 * One page by keyset (no OFFSET): `limit + 1` rows tell whether more follow in the paging
 * direction; an EXISTS on the far side of the cursor tells whether anything precedes it.
 */
export async function listSessions(
  db: Db,
  environmentId: string,
  q: ListQuery,
): Promise<{ rows: SessionRow[]; hasMore: boolean; hasBeyondCursor: boolean }> {
  const base = filterConditions(environmentId, q.filter);
  const bounds = [q.after && compare('<', q.after), q.before && compare('>', q.before)].filter(Boolean) as SQL[];
  const forward = q.direction === 'forward';
  const order = forward
    ? [desc(sessions.createdAt), desc(sessions.id)]
    : [asc(sessions.createdAt), asc(sessions.id)];
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
