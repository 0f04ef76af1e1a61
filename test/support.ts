import { randomBytes } from 'node:crypto';
import postgres from 'postgres';
import { type App, createApp, type Listening, listen } from '../src/app.js';
import { createEnvironment, type NewEnvironment } from '../src/auth/environments.js';
import { loadConfig } from '../src/config.js';
import { openDatabase } from '../src/db/client.js';
import { type SessionRow, sessions } from '../src/db/schema.js';
import { findSession } from '../src/sessions/store.js';
import { and, eq } from 'drizzle-orm';

export type Driver = 'pglite' | 'postgres';

if (process.env.REQUIRE_REAL_POSTGRES && !process.env.DATABASE_URL) {
  throw new Error('REQUIRE_REAL_POSTGRES is set but DATABASE_URL is not: the real-server pass would be skipped');
}

/** PGlite always; the real server too when DATABASE_URL is set (CI sets it). */
export const drivers: Driver[] = process.env.DATABASE_URL ? ['pglite', 'postgres'] : ['pglite'];

export interface TestApp {
  app: App;
  driver: Driver;
  /** The app served on a real port of 127.0.0.1. */
  http: Listening;
  /** Its base URL, like http://127.0.0.1:34567. */
  url: string;
  /** fetch against the served app: `t.fetch('/graphql', init)`. */
  fetch(path: string, init?: RequestInit): Promise<Response>;
  /** Every SQL statement sent so far, in order (clear it with `queries.length = 0`). */
  queries: string[];
  /**
   * The statements among them that touch the sessions table: what a request costs beyond the
   * credential lookups, which the cache re-reads on its own schedule.
   */
  sessionQueries(): string[];
  /** A fresh environment with its secret key: tests that use their own never see each other's rows. */
  newEnvironment(type?: NewEnvironment['type']): Promise<NewEnvironment>;
  /** The stored row, read straight from the database. */
  row(environmentId: string, id: string): Promise<SessionRow | null>;
  /** Sets columns directly, for states no mutation reaches yet (closed, expired). */
  setRow(environmentId: string, id: string, values: Partial<SessionRow>): Promise<void>;
  /** A session created through GraphQL with a secret key; returns its stored row. */
  createSession(secretKey: string, input?: Record<string, unknown>): Promise<SessionRow & { publicAccessToken: string }>;
  gql<T = any>(query: string, variables?: Record<string, unknown>, credential?: string): Promise<GqlResponse<T>>;
  close(): Promise<void>;
}

export interface GqlResponse<T> {
  status: number;
  body: { data?: T; errors?: { message: string; extensions?: { code?: string } }[] };
}

/** A database of its own: in memory for PGlite, a new database on the real server. */
export async function freshDatabase(driver: Driver): Promise<{ url?: string; drop(): Promise<void> }> {
  if (driver === 'pglite') return { drop: async () => {} };
  const admin = postgres(process.env.DATABASE_URL!, { max: 1, onnotice: () => {} });
  const name = `sg_test_${randomBytes(6).toString('hex')}`;
  await admin.unsafe(`create database ${name}`);
  const url = new URL(process.env.DATABASE_URL!);
  url.pathname = `/${name}`;
  return {
    url: url.toString(),
    drop: async () => {
      await admin.unsafe(`drop database if exists ${name} with (force)`);
      await admin.end();
    },
  };
}

export async function startTestApp(driver: Driver, env: Record<string, string> = {}): Promise<TestApp> {
  const fresh = await freshDatabase(driver);
  // No rate limits unless a test asks for them: suites fire bursts, and bad credentials, on purpose.
  const config = loadConfig({
    PGLITE_DIR: 'memory://',
    RATE_LIMIT_PER_SECOND: '0',
    FAILED_AUTH_PER_SECOND: '0',
    ...env,
    ...(fresh.url ? { DATABASE_URL: fresh.url } : {}),
  });
  const queries: string[] = [];
  const app = await createApp(config, openDatabase({ ...config, poolSize: 20, onQuery: (q) => queries.push(q) }));
  const http = await listen(app, 0, '127.0.0.1');
  let envCount = 0;
  const t: TestApp = {
    app,
    http,
    url: http.url,
    fetch: (path, init) => fetch(`${http.url}${path}`, init),
    queries,
    sessionQueries: () => queries.filter((q) => q.includes('"sessions"')),
    driver,
    newEnvironment: (type = 'DEVELOPMENT') => createEnvironment(app.database.db, `env-${++envCount}`, type),
    row: (environmentId, id) => findSession(app.database.db, environmentId, id),
    async setRow(environmentId, id, values) {
      await app.database.db
        .update(sessions)
        .set(values)
        .where(and(eq(sessions.environmentId, environmentId), eq(sessions.id, id)));
    },
    async createSession(secretKey, input = baseCreateInput()) {
      const { body } = await t.gql(CREATE, { input }, secretKey);
      const result = body.data?.createSession;
      if (result?.__typename !== 'CreateSessionSuccess') throw new Error(`create failed: ${JSON.stringify(body)}`);
      const environmentId = (await app.auth.authenticate(`Bearer ${secretKey}`)).environmentId;
      const row = await findSession(app.database.db, environmentId, result.session.id);
      return { ...row!, publicAccessToken: result.publicAccessToken };
    },
    async gql(query, variables, credential) {
      const response = await t.fetch('/graphql', {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          accept: 'application/graphql-response+json',
          ...(credential ? { authorization: `Bearer ${credential}` } : {}),
        },
        body: JSON.stringify({ query, variables }),
      });
      return { status: response.status, body: await response.json() };
    },
    async close() {
      await http.shutdown(0);
      await app.close();
      await fresh.drop();
    },
  };
  return t;
}

export const SESSION_FIELDS = `id type taskIdentifier tags externalId metadata currentRunId status
  closedAt closedReason expiresAt createdAt updatedAt version
  triggerConfig { basePayload machine queue tags maxAttempts maxDuration lockToVersion region idleTimeoutInSeconds ttl }`;

export const UPDATE = `mutation Update($id: ID!, $input: UpdateSessionInput!) {
  updateSession(id: $id, input: $input) {
    __typename
    ... on UpdateSessionSuccess { session { ${SESSION_FIELDS} } }
    ... on Error { message code }
    ... on SessionNotFoundError { id }
    ... on ExternalIdImmutableError { currentExternalId requestedExternalId }
    ... on InvalidInputError { issues { path message } }
    ... on PayloadTooLargeError { limitBytes actualBytes }
    ... on VersionConflictError { expectedVersion currentVersion }
  }
}`;

export const CREATE = `mutation Create($input: CreateSessionInput!) {
  createSession(input: $input) {
    __typename
    ... on CreateSessionSuccess { isCached publicAccessToken session { ${SESSION_FIELDS} } }
    ... on Error { message code }
    ... on InvalidInputError { issues { path message } }
    ... on PayloadTooLargeError { limitBytes actualBytes }
    ... on SessionClosedError { id }
    ... on SessionExpiredError { id }
  }
}`;

export const GET = `query Get($id: ID!) { session(id: $id) { ${SESSION_FIELDS} } }`;

export const baseCreateInput = (extra: Record<string, unknown> = {}) => ({
  type: 'chat.agent',
  taskIdentifier: 'my-chat',
  triggerConfig: { basePayload: { model: 'small' } },
  ...extra,
});
