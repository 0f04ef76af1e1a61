import { sql } from 'drizzle-orm';
import { index, integer, jsonb, pgEnum, pgTable, primaryKey, text, timestamp, uniqueIndex } from 'drizzle-orm/pg-core';
import { textArrayColumn } from './text-array.js';

export const environmentType = pgEnum('environment_type', ['DEVELOPMENT', 'STAGING', 'PRODUCTION', 'PREVIEW']);

export const environments = pgTable('environments', {
  id: text('id').primaryKey(),
  slug: text('slug').notNull().unique(),
  type: environmentType('type').notNull(),
  /** HS256 secret that signs this environment's public access tokens. */
  tokenSecret: text('token_secret').notNull(),
  createdAt: timestamp('created_at', { withTimezone: true }).notNull().defaultNow(),
});

export const apiKeys = pgTable(
  'api_keys',
  {
    environmentId: text('environment_id')
      .notNull()
      .references(() => environments.id, { onDelete: 'cascade' }),
    /** SHA-256 of the secret key, hex; the key itself is never stored. */
    keyHash: text('key_hash').primaryKey(),
    /** The first characters of the key, to tell keys apart in listings. */
    keyPrefix: text('key_prefix').notNull(),
    createdAt: timestamp('created_at', { withTimezone: true }).notNull().defaultNow(),
    revokedAt: timestamp('revoked_at', { withTimezone: true }),
  },
  (t) => [index('api_keys_environment_idx').on(t.environmentId)],
);

// Milliseconds, as JavaScript's Date holds them: a time read back and sent again (in a cursor, an
// ETag) is exactly the stored one.
const ms = { withTimezone: true, precision: 3 } as const;

// Every key and index leads with environment_id so the table can be distributed by it later.
export const sessions = pgTable(
  'sessions',
  {
    environmentId: text('environment_id')
      .notNull()
      .references(() => environments.id, { onDelete: 'cascade' }),
    id: text('id').notNull(),
    externalId: text('external_id'),
    type: text('type').notNull(),
    taskIdentifier: text('task_identifier').notNull(),
    // Its shape is the sessions core's (TRIGGER_CONFIG in src/sessions/rules.ts).
    triggerConfig: jsonb('trigger_config').$type<{ basePayload: Record<string, unknown> }>().notNull(),
    tags: textArrayColumn('tags').notNull().default(sql`'{}'::text[]`),
    metadata: jsonb('metadata').$type<Record<string, unknown>>(),
    currentRunId: text('current_run_id'),
    closedAt: timestamp('closed_at', ms),
    closedReason: text('closed_reason'),
    expiresAt: timestamp('expires_at', ms),
    version: integer('version').notNull().default(1),
    createdAt: timestamp('created_at', ms).notNull().defaultNow(),
    updatedAt: timestamp('updated_at', ms).notNull().defaultNow(),
  },
  (t) => [
    primaryKey({ columns: [t.environmentId, t.id] }),
    uniqueIndex('sessions_environment_external_id_idx').on(t.environmentId, t.externalId),
    index('sessions_environment_created_idx').on(t.environmentId, t.createdAt.desc().nullsFirst(), t.id.desc().nullsFirst()),
    // GIN over (environment, tags) needs btree_gin for the text column; it serves `tags && $1`.
    index('sessions_environment_tags_idx').using('gin', t.environmentId, t.tags),
  ],
);

export type SessionRow = typeof sessions.$inferSelect;
export type EnvironmentRow = typeof environments.$inferSelect;

/**
 * The sessions some instance has live subscribers for, so that only their writes notify (a
 * NOTIFY serialises commits across the whole database server). Each instance keeps its rows
 * fresh; rows of an instance that died expire.
 */
export const sessionWatches = pgTable(
  'session_watches',
  {
    environmentId: text('environment_id').notNull(),
    sessionId: text('session_id').notNull(),
    /** The instance watching, made up at its start. */
    instanceId: text('instance_id').notNull(),
    expiresAt: timestamp('expires_at', { withTimezone: true }).notNull(),
  },
  (t) => [primaryKey({ columns: [t.environmentId, t.sessionId, t.instanceId] }), index('session_watches_instance_idx').on(t.instanceId)],
);
