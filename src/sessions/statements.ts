import { and, eq, getTableColumns, type SQL, sql } from 'drizzle-orm';
import type { Db } from '../db/client.js';
import { sessions } from '../db/schema.js';
import { prepared } from '../telemetry/statements.js';
import type { SessionStatus } from './session.js';

/**
 * The statements of the hot paths (read, update, close, create, the `_entities` batch), built once
 * and prepared: a request binds its values and sends them, with no SQL built per request.
 */

const p = (name: string) => sql.placeholder(name);

/** Status is derived, so each one is a condition on closed_at and expires_at, evaluated in SQL. */
export const STATUS_CONDITION: Record<SessionStatus, SQL> = {
  CLOSED: sql`${sessions.closedAt} is not null`,
  EXPIRED: sql`(${sessions.closedAt} is null and ${sessions.expiresAt} <= now())`,
  ACTIVE: sql`(${sessions.closedAt} is null and (${sessions.expiresAt} is null or ${sessions.expiresAt} > now()))`,
};

/** What a write may change; see `lockedWrite`. */
export type WriteValues = {
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

export function prepareStatements(db: Db) {
  const byId = and(eq(sessions.environmentId, p('environmentId')), eq(sessions.id, p('id')));
  const byExternalId = and(eq(sessions.environmentId, p('environmentId')), eq(sessions.externalId, p('id')));
  const refresh = sql`(${STATUS_CONDITION.ACTIVE} and ${sessions.triggerConfig} is distinct from excluded.trigger_config)`;
  return {
    findById: prepared(db.select().from(sessions).where(byId), 'find_session_by_id'),
    findByExternalId: prepared(db.select().from(sessions).where(byExternalId), 'find_session_by_external_id'),
    findMany: prepared(
      db
        .select()
        .from(sessions)
        .where(
          and(
            eq(sessions.environmentId, p('environmentId')),
            sql`(${sessions.id} = any(${p('ids')}::text[]) or ${sessions.externalId} = any(${p('externalIds')}::text[]))`,
          ),
        ),
      'find_sessions',
    ),
    plainWriteById: prepared(plainWrite(db, eq(sessions.id, p('id'))), 'plain_write_session_by_id'),
    plainWriteByExternalId: prepared(plainWrite(db, eq(sessions.externalId, p('id'))), 'plain_write_session_by_external_id'),
    writeById: prepared(lockedWrite(db, eq(sessions.id, p('id'))), 'write_session_by_id'),
    writeByExternalId: prepared(lockedWrite(db, eq(sessions.externalId, p('id'))), 'write_session_by_external_id'),
    insert: prepared(
      db
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
        }),
      'insert_session',
    ),
  };
}
