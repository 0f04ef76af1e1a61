import { existsSync, mkdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { sql } from 'drizzle-orm';
import type { PgDatabase, PgQueryResultHKT } from 'drizzle-orm/pg-core';
import { drizzle as drizzlePostgres } from 'drizzle-orm/postgres-js';
import { migrate as migratePostgres } from 'drizzle-orm/postgres-js/migrator';
import postgres from 'postgres';
import { metrics } from '../telemetry/metrics.js';
import { type DatabaseCondition, diagnose } from './conditions.js';
import { type Listener, type ListenHandlers, PostgresListener } from './listen.js';
import { lockDataDir } from './lock.js';
import { boundedPostgres, type DatabaseTimeouts, DEFAULT_TIMEOUTS } from './postgres.js';
import * as schema from './schema.js';

export type Db = PgDatabase<PgQueryResultHKT, typeof schema>;

export interface Database {
  db: Db;
  /** "postgres" for a real server through postgres.js, "pglite" for the embedded one. */
  driver: 'postgres' | 'pglite';
  migrate(): Promise<void>;
  /** Resolves when the database answers a trivial query. */
  ping(): Promise<void>;
  /** What a failure to reach this database means and what to do, or null for another error. */
  diagnose(error: unknown): DatabaseCondition | null;
  /** LISTEN on a channel, on a connection of its own, for as long as the listener is open. */
  listen(channel: string, handlers: ListenHandlers): Promise<Listener>;
  close(): Promise<void>;
}

/** drizzle/ of the project, from src/db/ (sources) or from dist/ (the build `npm start` runs). */
const migrationsFolder = ['../../drizzle', '../drizzle']
  .map((relative) => fileURLToPath(new URL(relative, import.meta.url)))
  .find((dir) => existsSync(`${dir}/meta/_journal.json`))!;
// Any constant shared by every instance: only one of them migrates at a time.
const MIGRATION_LOCK = 724_311_052;

export interface DatabaseOptions {
  databaseUrl?: string | undefined;
  pgliteDir?: string;
  /** postgres.js pool size. */
  poolSize?: number;
  /** Bounds on every wait for a real server. */
  timeouts?: DatabaseTimeouts;
  /** Called with every SQL statement Drizzle sends (tests count round trips with it). */
  onQuery?: (query: string, params: unknown[]) => void;
}

/**
 * One Drizzle schema and one set of queries; the driver is chosen by whether DATABASE_URL is set.
 * PGlite is loaded only when it is the one (it holds memory a real server's process need not).
 */
export function openDatabase(options: DatabaseOptions): Promise<Database> {
  const logger = options.onQuery ? { logQuery: options.onQuery } : false;
  return options.databaseUrl
    ? Promise.resolve(openPostgres(options.databaseUrl, options.poolSize ?? 10, options.timeouts ?? DEFAULT_TIMEOUTS, logger))
    : openPglite(options.pgliteDir ?? '.data/pglite', logger);
}

type Logger = false | { logQuery: (query: string, params: unknown[]) => void };

function openPostgres(url: string, poolSize: number, timeouts: DatabaseTimeouts, logger: Logger): Database {
  const { sql: client, stop } = boundedPostgres(url, poolSize, timeouts);
  const db = drizzlePostgres(client, { schema, logger }) as unknown as Db;
  return {
    db,
    driver: 'postgres',
    async migrate() {
      // A dedicated connection holds the advisory lock for the whole migration; its statements
      // may take as long as they need, but connecting may not.
      const one = postgres(url, {
        max: 1,
        onnotice: () => {},
        fetch_types: false,
        connect_timeout: Math.max(1, timeouts.connectMs / 1000),
      });
      try {
        await one`select pg_advisory_lock(${MIGRATION_LOCK})`;
        await migratePostgres(drizzlePostgres(one), { migrationsFolder });
        await one`select pg_advisory_unlock(${MIGRATION_LOCK})`;
      } finally {
        await one.end({ timeout: 1 });
      }
    },
    async ping() {
      await db.execute(sql`select 1`);
    },
    diagnose: (error) => diagnose(error, url),
    async listen(channel, handlers) {
      const listener = new PostgresListener(url, channel, handlers, {
        heartbeatMs: 2000,
        timeoutMs: timeouts.statementMs,
        connectTimeoutMs: timeouts.connectMs,
      });
      try {
        await listener.ready;
      } catch (error) {
        await listener.close();
        throw error;
      }
      return listener;
    },
    close: async () => {
      stop();
      await client.end({ timeout: 5 });
    },
  };
}

async function openPglite(dir: string, logger: Logger): Promise<Database> {
  const [{ PGlite }, { btree_gin }, { drizzle: drizzlePglite }, { migrate: migratePglite }] = await Promise.all([
    import('@electric-sql/pglite'),
    import('@electric-sql/pglite/contrib/btree_gin'),
    import('drizzle-orm/pglite'),
    import('drizzle-orm/pglite/migrator'),
  ]);
  let release = () => {};
  if (!dir.startsWith('memory://')) {
    mkdirSync(dir, { recursive: true });
    release = lockDataDir(dir);
  }
  const client = new PGlite(dir, { extensions: { btree_gin } });
  // In this process: it answers whenever the process does.
  metrics.databaseReachable.set(1);
  const pglite = drizzlePglite(client, { schema, logger });
  const db = pglite as unknown as Db;
  return {
    db,
    driver: 'pglite',
    migrate: () => migratePglite(pglite, { migrationsFolder }),
    async ping() {
      await db.execute(sql`select 1`);
    },
    diagnose: (error) => diagnose(error),
    // In-process: nothing to lose, nothing to resume.
    async listen(channel, handlers) {
      const unlisten = await client.listen(channel, handlers.message);
      return { close: unlisten };
    },
    close: async () => {
      await client.close();
      release();
    },
  };
}
