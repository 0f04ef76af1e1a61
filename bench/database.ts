import postgres from 'postgres';

/** The real server the benchmarks run against (DATABASE_URL): each makes a database of its own there. */
export const adminUrl = (() => {
  const url = process.env.DATABASE_URL;
  if (!url) throw new Error('DATABASE_URL must point at a real PostgreSQL server');
  return url;
})();

/** An empty database `name` on that server (dropped first if it exists); its URL. */
export async function freshDatabase(name: string): Promise<string> {
  const admin = postgres(adminUrl, { max: 1, onnotice: () => {} });
  await admin.unsafe(`drop database if exists ${name} with (force)`);
  await admin.unsafe(`create database ${name}`);
  await admin.end();
  const url = new URL(adminUrl);
  url.pathname = `/${name}`;
  return url.toString();
}

/** The operations the HTTP benchmarks send: an update with new tags and metadata, a read. */
export const UPDATE_QUERY = `mutation Update($id: ID!, $input: UpdateSessionInput!) {
  updateSession(id: $id, input: $input) {
    __typename
    ... on UpdateSessionSuccess { session { id externalId tags metadata version updatedAt } }
    ... on Error { code message }
  }
}`;
export const READ_QUERY = `query Read($id: ID!) { session(id: $id) { id externalId tags metadata version updatedAt } }`;

export interface Seeded {
  url: string;
  secretKey: string;
  environmentId: string;
  /** The sessions' ids, `session_bench00001` on. */
  ids: string[];
}

/**
 * A fresh database `name`, migrated and seeded through the service's own code: one PRODUCTION
 * environment and `sessions` sessions (BENCH_NOTIFY=off: without the live-updates trigger).
 */
export async function seededDatabase(name: string, sessions: number): Promise<Seeded> {
  const url = await freshDatabase(name);
  const { createApp } = await import('../src/app.js');
  const { loadConfig } = await import('../src/config.js');
  const { createEnvironment } = await import('../src/auth/environments.js');
  const app = await createApp(loadConfig({ DATABASE_URL: url }));
  const { secretKey, environmentId } = await createEnvironment(app.database.db, 'bench', 'PRODUCTION');
  await app.close();
  const seed = postgres(url, { max: 1, onnotice: () => {} });
  await seed.unsafe(
    `insert into sessions (environment_id, id, external_id, type, task_identifier, trigger_config)
     select $1, 'session_bench' || lpad(n::text, 5, '0'), 'bench-' || n, 'chat.agent', 'my-chat', '{"basePayload": {}}'
     from generate_series(1, ${sessions}) n`,
    [environmentId],
  );
  if (process.env.BENCH_NOTIFY === 'off') await seed.unsafe('alter table sessions disable trigger sessions_changed');
  await seed.end();
  const ids = Array.from({ length: sessions }, (_, i) => `session_bench${String(i + 1).padStart(5, '0')}`);
  return { url, secretKey, environmentId, ids };
}
