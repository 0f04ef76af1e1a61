import { randomBytes } from 'node:crypto';
import { connect, type Socket } from 'node:net';
import { and, eq } from 'drizzle-orm';
import postgres from 'postgres';
import { type App, createApp, type Listening, listen } from '../src/app.js';
import { createEnvironment, type NewEnvironment } from '../src/auth/environments.js';
import { loadConfig } from '../src/config.js';
import { openDatabase } from '../src/db/client.js';
import { sessions } from '../src/db/schema.js';
import type { Session } from '../src/sessions/session.js';
import { SessionStore } from '../src/sessions/store.js';

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
  row(environmentId: string, id: string): Promise<Session | null>;
  /** Sets columns directly, for states no mutation reaches yet (closed, expired). */
  setRow(environmentId: string, id: string, values: Partial<Session>): Promise<void>;
  /** A session created through GraphQL with a secret key; returns its stored row. */
  createSession(secretKey: string, input?: Record<string, unknown>): Promise<Session & { publicAccessToken: string }>;
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
    ...env,
    ...(fresh.url ? { DATABASE_URL: fresh.url } : {}),
  });
  const queries: string[] = [];
  const app = await createApp(config, await openDatabase({ ...config, poolSize: 20, onQuery: (q) => queries.push(q) }));
  const http = await listen(app, 0, '127.0.0.1');
  const store = new SessionStore(app.database.db);
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
    row: (environmentId, id) => store.find(environmentId, id),
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
      const environmentId = (await app.auth.authenticate(`Bearer ${secretKey}`)).principal.environmentId;
      const row = await store.find(environmentId, result.session.id);
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

export interface RawResponse {
  status: number;
  headers: Record<string, string>;
  body: string;
}

/**
 * An HTTP/1.1 connection driven by hand, for what fetch hides: a body sent in parts, a socket
 * kept alive between requests, how and when the server closes it.
 */
export class RawConnection {
  private buffer = Buffer.alloc(0);
  private waiting: (() => void) | null = null;
  /** Resolves when the server ends the connection: 'end' for a clean close, else the error code. */
  readonly closed: Promise<string>;

  private constructor(readonly socket: Socket) {
    socket.on('data', (chunk: Buffer) => {
      this.buffer = Buffer.concat([this.buffer, chunk]);
      this.waiting?.();
    });
    this.closed = new Promise((resolve) => {
      socket.once('end', () => resolve('end'));
      socket.once('error', (error: NodeJS.ErrnoException) => resolve(error.code ?? 'error'));
      socket.once('close', () => resolve('close'));
    });
    this.closed.then(() => this.waiting?.());
  }

  static open(url: string): Promise<RawConnection> {
    const { hostname, port } = new URL(url);
    return new Promise((resolve, reject) => {
      const socket = connect(Number(port), hostname, () => resolve(new RawConnection(socket)));
      socket.once('error', reject);
    });
  }

  write(text: string | Buffer): void {
    this.socket.write(text);
  }

  /** Reads one whole response (Content-Length or chunked body). */
  async response(timeoutMs = 10_000): Promise<RawResponse> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const parsed = this.parse();
      if (parsed) return parsed;
      if (Date.now() > deadline) throw new Error(`no whole response within ${timeoutMs} ms: ${this.buffer.toString()}`);
      await new Promise<void>((resolve) => {
        this.waiting = resolve;
        setTimeout(resolve, 50);
      });
    }
  }

  private parse(): RawResponse | null {
    const end = this.buffer.indexOf('\r\n\r\n');
    if (end === -1) return null;
    const [statusLine, ...lines] = this.buffer.subarray(0, end).toString('latin1').split('\r\n');
    const headers: Record<string, string> = {};
    for (const line of lines) {
      const colon = line.indexOf(':');
      headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
    }
    let rest = this.buffer.subarray(end + 4);
    let body: Buffer;
    if (headers['transfer-encoding'] === 'chunked') {
      const parts: Buffer[] = [];
      for (;;) {
        const lineEnd = rest.indexOf('\r\n');
        if (lineEnd === -1) return null;
        const size = parseInt(rest.subarray(0, lineEnd).toString(), 16);
        if (rest.length < lineEnd + 2 + size + 2) return null;
        if (size === 0) {
          rest = rest.subarray(lineEnd + 4);
          break;
        }
        parts.push(rest.subarray(lineEnd + 2, lineEnd + 2 + size));
        rest = rest.subarray(lineEnd + 2 + size + 2);
      }
      body = Buffer.concat(parts);
    } else {
      const length = Number(headers['content-length'] ?? 0);
      if (rest.length < length) return null;
      body = rest.subarray(0, length);
      rest = rest.subarray(length);
    }
    this.buffer = rest;
    return { status: Number(statusLine!.split(' ')[1]), headers, body: body.toString('utf8') };
  }
}

/** The text of an HTTP/1.1 request; `body` may be cut short by sending only part of it. */
export function rawRequest(method: string, path: string, headers: Record<string, string | number>, body = ''): string {
  const lines = Object.entries({ host: '127.0.0.1', ...headers }).map(([k, v]) => `${k}: ${v}`);
  return `${method} ${path} HTTP/1.1\r\n${lines.join('\r\n')}\r\n\r\n${body}`;
}

/** What a process's log says, a line each: a JSON line's message, any other line as it is. */
export function logMessages(output: string): string {
  return output
    .split('\n')
    .map((line) => {
      try {
        const parsed = JSON.parse(line) as { msg?: unknown };
        return typeof parsed.msg === 'string' ? parsed.msg : line;
      } catch {
        return line;
      }
    })
    .join('\n');
}
