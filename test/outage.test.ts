import { type ChildProcess, spawn } from 'node:child_process';
import { setTimeout as sleep } from 'node:timers/promises';
import { eq } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createEnvironment } from '../src/auth/environments.js';
import { openDatabase } from '../src/db/client.js';
import { sessions } from '../src/db/schema.js';
import { FaultProxy } from './fault-proxy.js';
import { freshDatabase, UPDATE } from './support.js';

const root = new URL('..', import.meta.url).pathname;
const realServer = Boolean(process.env.DATABASE_URL);

/** The most any answer may take while the database is away: the 1 s deadline, and slack for CI. */
const ANSWER_BOUND_MS = 2500;

interface Served {
  child: ChildProcess;
  url: string;
  output: { text: string };
  exited: Promise<number | null>;
}

/** `npm start` against the database behind the proxy, as an operator runs it. */
async function serve(databaseUrl: string): Promise<Served> {
  const { DATABASE_URL: _ignored, ...inherited } = process.env;
  const child = spawn('npm', ['start'], {
    cwd: root,
    env: { ...inherited, DATABASE_URL: databaseUrl, PORT: '0', NODE_ENV: 'production', RATE_LIMIT_PER_SECOND: '0' },
  });
  const output = { text: '' };
  child.stdout!.on('data', (d) => (output.text += d));
  child.stderr!.on('data', (d) => (output.text += d));
  const exited = new Promise<number | null>((resolve) => child.on('close', resolve));
  for (let i = 0; i < 600 && !/listening on (http:\/\/[\d.:]+)/.test(output.text); i++) await sleep(50);
  const url = /listening on (http:\/\/[\d.:]+)/.exec(output.text)?.[1];
  if (!url) throw new Error(`the service did not start:\n${output.text}`);
  return { child, url, output, exited };
}

async function timed<T>(work: () => Promise<T>): Promise<{ value: T; ms: number }> {
  const t0 = performance.now();
  const value = await work();
  return { value, ms: performance.now() - t0 };
}

const ready = async (url: string) => await timed(async () => (await fetch(`${url}/ready`)).status);

describe.runIf(realServer)('the database going away, behind a TCP proxy of the test’s own', () => {
  let proxy: FaultProxy;
  let fresh: Awaited<ReturnType<typeof freshDatabase>>;
  let proxiedUrl: string;
  let served: Served | undefined;
  let secretKey: string;

  beforeAll(async () => {
    fresh = await freshDatabase('postgres');
    const direct = new URL(fresh.url!);
    proxy = await FaultProxy.start({ host: direct.hostname, port: Number(direct.port || 5432) });
    const viaProxy = new URL(fresh.url!);
    viaProxy.port = String(proxy.port);
    proxiedUrl = viaProxy.toString();
  });
  afterAll(async () => {
    if (served && served.child.exitCode === null) {
      served.child.kill('SIGTERM');
      await served.exited;
    }
    await proxy?.close();
    await fresh?.drop();
  });

  it('waits for a database that is down at start: /ready 503 and the API 503, then it serves', async () => {
    await proxy.cut();
    served = await serve(proxiedUrl);
    for (let i = 0; i < 3; i++) {
      const { value, ms } = await ready(served.url);
      expect(value).toBe(503);
      expect(ms).toBeLessThan(ANSWER_BOUND_MS);
      await sleep(300);
    }
    const early = await fetch(`${served.url}/graphql`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ query: '{ session(id: "x") { id } }' }),
    });
    expect(early.status).toBe(503);
    expect(early.headers.get('retry-after')).toBe('1');
    expect(served.child.exitCode).toBeNull();

    await proxy.restore();
    await expect.poll(async () => (await ready(served!.url)).value, { timeout: 15_000, interval: 200 }).toBe(200);
    // Migrated through the proxy: an environment made now is served at once.
    const database = await openDatabase({ databaseUrl: fresh.url });
    try {
      ({ secretKey } = await createEnvironment(database.db, 'outage', 'PRODUCTION'));
    } finally {
      await database.close();
    }
    const response = await fetch(`${served.url}/graphql`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${secretKey}` },
      body: JSON.stringify({ query: '{ session(id: "x") { id } }' }),
    });
    expect(response.status).toBe(200);
  }, 60_000);

  it('answers 503 within a bound through cuts and a partition, never 500, loses and half-applies nothing, and heals', async () => {
    const { url } = served!;
    const gql = (query: string, variables: Record<string, unknown>) =>
      fetch(`${url}/graphql`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${secretKey}` },
        body: JSON.stringify({ query, variables }),
      });

    const SESSIONS = 8;
    const ids: string[] = [];
    for (let i = 0; i < SESSIONS; i++) {
      const response = await gql(
        'mutation($input: CreateSessionInput!) { createSession(input: $input) { ... on CreateSessionSuccess { session { id } } } }',
        { input: { type: 'chat', taskIdentifier: 't', triggerConfig: { basePayload: {} } } },
      );
      ids.push(((await response.json()) as any).data.createSession.session.id);
    }

    interface Attempt {
      session: string;
      seq: number;
      status: number;
      ms: number;
      code?: string;
      retryAfter: string | null;
      version?: number;
    }
    const attempts: Attempt[] = [];
    const readiness: { at: number; status: number; ms: number }[] = [];
    let running = true;
    let seq = 0;
    const started = performance.now();

    // Two workers, each owning its sessions, so each session's updates are sequential.
    const worker = async (owned: string[]) => {
      for (let i = 0; running; i++) {
        const session = owned[i % owned.length]!;
        const n = ++seq;
        const { value: response, ms } = await timed(() =>
          gql(UPDATE, { id: session, input: { tags: [`seq-${n}`], metadata: { seq: n } } }),
        );
        const body = (await response.json()) as any;
        attempts.push({
          session,
          seq: n,
          status: response.status,
          ms,
          code: body.errors?.[0]?.extensions?.code,
          retryAfter: response.headers.get('retry-after'),
          version: body.data?.updateSession?.session?.version,
        });
        if (response.status !== 200) await sleep(50);
      }
    };
    const watcher = async () => {
      while (running) {
        const { value, ms } = await ready(url);
        readiness.push({ at: performance.now() - started, status: value, ms });
        await sleep(100);
      }
    };
    const workers = [worker(ids.slice(0, SESSIONS / 2)), worker(ids.slice(SESSIONS / 2)), watcher()];

    const faults: { kind: string; from: number; to: number }[] = [];
    const fault = async (kind: 'cut' | 'partition', ms: number) => {
      const from = performance.now() - started;
      if (kind === 'cut') await proxy.cut();
      else proxy.partition();
      await sleep(ms);
      await proxy.restore();
      faults.push({ kind, from, to: performance.now() - started });
      // Healed within a few seconds: an update succeeds again.
      const healedBy = performance.now() + 5000;
      const count = attempts.filter((a) => a.status === 200).length;
      while (attempts.filter((a) => a.status === 200).length === count && performance.now() < healedBy) await sleep(50);
      expect(attempts.filter((a) => a.status === 200).length).toBeGreaterThan(count);
      await sleep(500);
    };

    await sleep(1000);
    await fault('cut', 2000);
    await fault('partition', 2500);
    await fault('cut', 1000);
    await fault('partition', 1500);
    await fault('cut', 1500);
    await sleep(1000);
    running = false;
    await Promise.all(workers);

    // Never a 500, never a hang; a refusal is a 503 with Retry-After.
    expect(new Set(attempts.map((a) => a.status))).toEqual(new Set([200, 503]));
    for (const a of attempts) expect(a.ms).toBeLessThan(ANSWER_BOUND_MS);
    for (const a of attempts.filter((x) => x.status === 503)) {
      expect(a.code).toBe('SERVICE_UNAVAILABLE');
      expect(a.retryAfter).toBe('1');
    }
    expect(attempts.filter((a) => a.status === 503).length).toBeGreaterThan(0);

    // /ready answered within its bound, 503 during every fault, 200 again after each.
    for (const r of readiness) expect(r.ms).toBeLessThan(ANSWER_BOUND_MS);
    for (const f of faults) {
      expect(readiness.some((r) => r.at >= f.from && r.at <= f.to && r.status === 503)).toBe(true);
      expect(readiness.some((r) => r.at > f.to && r.status === 200)).toBe(true);
    }

    // Integrity, session by session: every acknowledged update is in, a 503 may or may not be
    // (its commit can outlive the connection), and the row is whole: tags and metadata of one update.
    const database = await openDatabase({ databaseUrl: fresh.url });
    try {
      for (const id of ids) {
        const mine = attempts.filter((a) => a.session === id);
        const acknowledged = mine.filter((a) => a.status === 200);
        const unknown = mine.filter((a) => a.status === 503);
        const versions = acknowledged.map((a) => a.version!);
        expect(versions).toEqual([...versions].sort((a, b) => a - b));
        expect(new Set(versions).size).toBe(versions.length);
        const rows = await database.db
          .select({ version: sessions.version, tags: sessions.tags, metadata: sessions.metadata })
          .from(sessions)
          .where(eq(sessions.id, id));
        const row = rows[0]! as { version: number; tags: string[]; metadata: { seq: number } };
        const writes = row.version - 1;
        expect(writes).toBeGreaterThanOrEqual(acknowledged.length);
        expect(writes).toBeLessThanOrEqual(acknowledged.length + unknown.length);
        expect(row.tags).toEqual([`seq-${row.metadata.seq}`]);
        const last = acknowledged.at(-1);
        if (last) {
          const later = unknown.filter((a) => a.seq > last.seq).map((a) => a.seq);
          expect([last.seq, ...later]).toContain(row.metadata.seq);
        }
      }
    } finally {
      await database.close();
    }

    expect(served!.child.exitCode).toBeNull();
    expect(served!.output.text).not.toMatch(/unhandled rejection|uncaught exception|INTERNAL_SERVER_ERROR/i);
  }, 120_000);

  it('answers the REST routes 503 {"error"} with Retry-After within the bound while the database is cut, writing nothing', async () => {
    const { url } = served!;
    const call = (method: string, path: string, body?: unknown) =>
      timed(() =>
        fetch(`${url}${path}`, {
          method,
          headers: { authorization: `Bearer ${secretKey}`, 'content-type': 'application/json' },
          ...(body !== undefined && { body: JSON.stringify(body) }),
        }),
      );
    const created = await (
      await call('POST', '/api/v1/sessions', { type: 'chat', taskIdentifier: 't', triggerConfig: { basePayload: {} } })
    ).value.json();
    await proxy.cut();
    try {
      for (const [method, path, body] of [
        ['GET', `/api/v1/sessions/${created.id}`],
        ['PATCH', `/api/v1/sessions/${created.id}`, { tags: ['during-cut'] }],
        ['POST', `/api/v1/sessions/${created.id}/close`, {}],
        ['GET', '/api/v1/sessions'],
      ] as const) {
        const { value: response, ms } = await call(method, path, body);
        expect(response.status).toBe(503);
        expect(Number(response.headers.get('retry-after'))).toBeGreaterThan(0);
        expect(await response.json()).toEqual({ error: expect.stringMatching(/database is unavailable/) });
        expect(ms).toBeLessThan(ANSWER_BOUND_MS);
      }
    } finally {
      await proxy.restore();
    }
    await expect
      .poll(async () => (await call('GET', `/api/v1/sessions/${created.id}`)).value.status, { timeout: 10_000, interval: 200 })
      .toBe(200);
    const after = await (await call('GET', `/api/v1/sessions/${created.id}`)).value.json();
    expect(after).toMatchObject({ tags: [], version: 1, closedAt: null });
  }, 60_000);

  it('replaces connections that stop answering for good, and heals within seconds', async () => {
    const { url } = served!;
    const read = () =>
      timed(() =>
        fetch(`${url}/graphql`, {
          method: 'POST',
          headers: { 'content-type': 'application/json', authorization: `Bearer ${secretKey}` },
          body: JSON.stringify({ query: '{ sessions(first: 1) { edges { cursor } } }' }),
        }).then((r) => r.status),
      );
    // Warm the pool: all ten connections open, then cut off from the database for good.
    await Promise.all(Array.from({ length: 12 }, read));
    proxy.strand();
    const results: { status: number; ms: number; at: number }[] = [];
    const t0 = performance.now();
    // More requests at once than the pool has connections, so every connection is used.
    while (performance.now() - t0 < 10_000) {
      const batch = await Promise.all(Array.from({ length: 12 }, read));
      for (const { value, ms } of batch) results.push({ status: value, ms, at: performance.now() - t0 });
      if (batch.every((b) => b.value === 200) && performance.now() - t0 > 1000) break;
    }
    for (const r of results) expect(r.ms).toBeLessThan(ANSWER_BOUND_MS);
    expect(new Set(results.map((r) => r.status)).has(500)).toBe(false);
    const last = results.slice(-12);
    expect(last.every((r) => r.status === 200)).toBe(true);
    expect(last[0]!.at).toBeLessThan(6000);
    expect(served!.child.exitCode).toBeNull();
    served!.child.kill('SIGTERM');
    expect(await served!.exited).toBe(0);
    expect(served!.output.text).not.toMatch(/unhandled rejection|uncaught exception/i);
  }, 60_000);
});
