import { and, eq, getTableColumns, isNull, type SQL, sql } from 'drizzle-orm';
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

export async function findSession(db: Db, environmentId: string, id: string): Promise<SessionRow | null> {
  if (!isStorableText(id)) return null; // no row can hold this id, and PostgreSQL would refuse it
  const [row] = await db.select().from(sessions).where(byId(environmentId, id));
  return row ?? null;
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

/**
 * One statement for every outcome: `target` locks the row (so its version is the newest), says
 * which precondition fails, and `updated` writes only when both hold and there is something to write.
 */
export async function patchSession(db: Db, environmentId: string, id: string, patch: SessionPatch): Promise<PatchOutcome> {
  if (!isStorableText(id)) return { kind: 'not-found' };
  const externalIdOk =
    patch.externalId === undefined
      ? sql`true`
      : patch.externalId === null
        ? isNull(sessions.externalId)
        : eq(sessions.externalId, patch.externalId);
  const versionOk = patch.expectedVersion == null ? sql`true` : eq(sessions.version, patch.expectedVersion);
  const write = patch.tags !== undefined || patch.metadata !== undefined;

  const target = db.$with('target').as(
    db
      .select({
        ...getTableColumns(sessions),
        externalIdOk: sql<boolean>`${externalIdOk}`.as('external_id_ok'),
        versionOk: sql<boolean>`${versionOk}`.as('version_ok'),
      })
      .from(sessions)
      .where(byId(environmentId, id))
      .for('update'),
  );
  const updated = db.$with('updated').as(
    db
      .update(sessions)
      .set({
        ...(patch.tags !== undefined && { tags: patch.tags }),
        ...(patch.metadata !== undefined && { metadata: patch.metadata }),
        version: sql`${sessions.version} + 1`,
        updatedAt: sql`now()`,
      })
      .from(target)
      .where(
        and(
          sql`${write}`,
          eq(sessions.environmentId, environmentId),
          eq(sessions.id, target.id),
          sql`"target"."external_id_ok" and "target"."version_ok"`,
        ),
      )
      .returning(getTableColumns(sessions)),
  );
  const [row] = await db.with(target, updated).select().from(target).leftJoin(updated, sql`true`);
  if (!row) return { kind: 'not-found' };
  const { externalIdOk: idOk, versionOk: vOk, ...current } = row.target;
  if (!idOk) return { kind: 'external-id-immutable', current };
  if (!vOk) return { kind: 'version-conflict', current };
  return { kind: 'ok', session: row.updated ?? current };
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
  const open = sql`(${sessions.closedAt} is null and (${sessions.expiresAt} is null or ${sessions.expiresAt} > now()))`;
  const refresh = sql`(${open} and ${sessions.triggerConfig} is distinct from excluded.trigger_config)`;
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
      expired: sql<boolean>`(${sessions.expiresAt} is not null and ${sessions.expiresAt} <= now())`,
    });
  const { inserted, expired, ...stored } = row!;
  if (inserted) return { kind: 'created', session: stored };
  if (stored.closedAt) return { kind: 'closed', session: stored };
  if (expired) return { kind: 'expired', session: stored };
  return { kind: 'cached', session: stored };
}
