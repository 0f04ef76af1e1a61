import { setTimeout as sleep } from 'node:timers/promises';
import { type Client, createClient } from 'graphql-ws';
import postgres from 'postgres';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { type App, createApp, type Listening, listen } from '../src/app.js';
import { createToken, type NewEnvironment, rotateKey } from '../src/auth/environments.js';
import { loadConfig } from '../src/config.js';
import { LISTEN_APPLICATION_NAME } from '../src/db/listen.js';
import { baseCreateInput, drivers, freshDatabase, startTestApp, type TestApp, UPDATE } from './support.js';

const SUBSCRIPTION = `subscription Changed($id: ID!) { sessionChanged(id: $id) { id externalId tags metadata version status closedReason } }`;

interface Event {
  data?: { sessionChanged: { id: string; version: number; tags: string[]; status: string; closedReason: string | null } };
  errors?: { message: string; extensions?: { code?: string } }[];
}

/** A GraphQL-over-SSE subscription read with fetch: its events as they come, and whether it ended. */
class SseSubscription {
  readonly events: Event[] = [];
  ended = false;
  private readonly abort = new AbortController();
  status = 0;

  /** `id` goes in as a variable; `literal` puts it in the document instead. */
  static async open(url: string, id: string, credential: string, literal = false): Promise<SseSubscription> {
    const sub = new SseSubscription();
    const response = await fetch(`${url}/graphql`, {
      method: 'POST',
      signal: sub.abort.signal,
      headers: { 'content-type': 'application/json', accept: 'text/event-stream', authorization: `Bearer ${credential}` },
      body: JSON.stringify(
        literal
          ? { query: SUBSCRIPTION.replace('($id: ID!)', '').replace('$id', JSON.stringify(id)) }
          : { query: SUBSCRIPTION, variables: { id } },
      ),
    });
    sub.status = response.status;
    if (!response.headers.get('content-type')?.startsWith('text/event-stream')) {
      sub.events.push((await response.json()) as Event);
      sub.ended = true;
      return sub;
    }
    void sub.read(response.body!);
    return sub;
  }

  private async read(body: ReadableStream<Uint8Array>): Promise<void> {
    const decoder = new TextDecoder();
    let buffer = '';
    try {
      const reader = body.getReader();
      for (;;) {
        const { value: chunk, done } = await reader.read();
        if (done) break;
        buffer += decoder.decode(chunk, { stream: true });
        let end: number;
        while ((end = buffer.indexOf('\n\n')) !== -1) {
          const block = buffer.slice(0, end);
          buffer = buffer.slice(end + 2);
          const event = /^event: (\w+)/m.exec(block)?.[1];
          const data = /^data: (.*)$/m.exec(block)?.[1];
          if (event === 'next' && data) this.events.push(JSON.parse(data) as Event);
          if (event === 'complete') this.ended = true;
        }
      }
    } catch {
      // aborted by the test
    }
    this.ended = true;
  }

  close(): void {
    this.abort.abort();
  }
}

/** A graphql-ws subscription: its results as they come, and how it ended. */
function wsSubscribe(client: Client, id: string) {
  const sub = { events: [] as Event[], ended: false, error: null as unknown, dispose: () => {} };
  sub.dispose = client.subscribe(
    { query: SUBSCRIPTION, variables: { id } },
    {
      next: (value) => void sub.events.push(value as Event),
      error: (error) => {
        sub.error = error;
        sub.ended = true;
      },
      complete: () => void (sub.ended = true),
    },
  );
  return sub;
}

const wsClient = (url: string, credential: string, options: { lazy?: boolean } = {}) =>
  createClient({
    url: `${url.replace('http', 'ws')}/graphql`,
    webSocketImpl: WebSocket,
    connectionParams: { Authorization: `Bearer ${credential}` },
    retryAttempts: 0,
    lazy: options.lazy ?? true,
  });

const versions = (events: Event[]) => events.map((e) => e.data?.sessionChanged.version);

describe.each(drivers)('sessionChanged on %s', (driver) => {
  let t: TestApp;
  let env: NewEnvironment;
  const update = (id: string, tags: string[], key = env.secretKey) => t.gql(UPDATE, { id, input: { tags } }, key);

  beforeAll(async () => {
    t = await startTestApp(driver);
    env = await t.newEnvironment();
  });
  afterAll(() => t.close());

  it('emits the session after every write over SSE, by friendly id and by externalId, and ends on close of the client', async () => {
    const s = await t.createSession(env.secretKey, baseCreateInput({ externalId: 'live-sse' }));
    const byId = await SseSubscription.open(t.url, s.id, env.secretKey);
    const byExternalId = await SseSubscription.open(t.url, 'live-sse', env.secretKey);
    const literal = await SseSubscription.open(t.url, 'live-sse', env.secretKey, true);
    expect(byId.status).toBe(200);
    await expect.poll(() => t.app.sessions.changes.size.streams).toBe(3);
    await update(s.id, ['one']);
    // A subscriber that keeps up gets every version (one that falls behind gets the latest).
    for (const sub of [byId, byExternalId, literal]) await expect.poll(() => versions(sub.events)).toEqual([2]);
    await t.gql(`mutation { closeSession(id: "live-sse", reason: "bye") { __typename } }`, {}, env.secretKey);
    for (const sub of [byId, byExternalId, literal]) {
      await expect.poll(() => versions(sub.events)).toEqual([2, 3]);
      expect(sub.events[0]!.data!.sessionChanged).toMatchObject({ id: s.id, tags: ['one'], status: 'ACTIVE' });
      expect(sub.events[1]!.data!.sessionChanged).toMatchObject({ status: 'CLOSED', closedReason: 'bye' });
      sub.close();
    }
    await expect.poll(() => t.app.sessions.changes.size).toEqual({ streams: 0, sessions: 0 });
  });

  it('emits over WebSocket (graphql-ws), with the credential in connection_init', async () => {
    const s = await t.createSession(env.secretKey);
    const client = wsClient(t.url, env.secretKey);
    try {
      const sub = wsSubscribe(client, s.id);
      await expect.poll(() => t.app.sessions.changes.size.streams).toBeGreaterThan(0);
      await update(s.id, ['ws']);
      await expect.poll(() => versions(sub.events)).toEqual([2]);
      expect(sub.events[0]!.data!.sessionChanged.tags).toEqual(['ws']);
      sub.dispose();
      await expect.poll(() => t.app.sessions.changes.size.streams).toBe(0);
    } finally {
      await client.dispose();
    }
  });

  it('delivers a burst of 50 updates in increasing versions, the last one always', async () => {
    const s = await t.createSession(env.secretKey);
    const sse = await SseSubscription.open(t.url, s.id, env.secretKey);
    const client = wsClient(t.url, env.secretKey);
    try {
      const ws = wsSubscribe(client, s.id);
      await expect.poll(() => t.app.sessions.changes.size.streams).toBe(2);
      await Promise.all(Array.from({ length: 50 }, (_, i) => update(s.id, [`burst-${i}`])));
      for (const sub of [sse, ws]) {
        await expect.poll(() => versions(sub.events).at(-1), { timeout: 10_000 }).toBe(51);
        const seen = versions(sub.events) as number[];
        for (let i = 1; i < seen.length; i++) expect(seen[i]!).toBeGreaterThan(seen[i - 1]!);
      }
      const stored = await t.row(env.environmentId, s.id);
      expect(ws.events.at(-1)!.data!.sessionChanged.tags).toEqual(stored!.tags);
      ws.dispose();
    } finally {
      sse.close();
      await client.dispose();
    }
  });

  it('lets a public token watch the session its scopes cover, and no other; another environment’s is not found', async () => {
    const mine = await t.createSession(env.secretKey, baseCreateInput({ externalId: 'live-pat' }));
    const other = await t.createSession(env.secretKey);
    const own = await SseSubscription.open(t.url, 'live-pat', mine.publicAccessToken);
    await expect.poll(() => t.app.sessions.changes.size.streams).toBeGreaterThan(0);
    await update(mine.id, ['seen']);
    await expect.poll(() => versions(own.events)).toEqual([2]);
    own.close();

    const refused = await SseSubscription.open(t.url, other.id, mine.publicAccessToken);
    await expect.poll(() => refused.ended).toBe(true);
    expect(refused.events.at(-1)!.errors![0]!.extensions!.code).toBe('FORBIDDEN');

    const stranger = await t.newEnvironment();
    const elsewhere = await SseSubscription.open(t.url, mine.id, stranger.secretKey);
    await expect.poll(() => elsewhere.ended).toBe(true);
    expect(elsewhere.events.at(-1)!.errors![0]).toMatchObject({ extensions: { code: 'BAD_USER_INPUT' } });
    expect(elsewhere.events.at(-1)!.errors![0]!.message).toMatch(/No session/);

    const client = wsClient(t.url, mine.publicAccessToken);
    try {
      const ws = wsSubscribe(client, other.id);
      await expect.poll(() => ws.ended).toBe(true);
      expect(ws.events.at(-1)?.errors?.[0]?.extensions?.code ?? (ws.error as any)?.[0]?.extensions?.code).toBe('FORBIDDEN');
    } finally {
      await client.dispose();
    }
    await expect.poll(() => t.app.sessions.changes.size.streams).toBe(0);
  });

  it('refuses a missing or unknown credential before the stream starts: 401, no data', async () => {
    const s = await t.createSession(env.secretKey);
    const response = await fetch(`${t.url}/graphql`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'text/event-stream' },
      body: JSON.stringify({ query: SUBSCRIPTION, variables: { id: s.id } }),
    });
    expect(response.status).toBe(401);
    const unknown = await SseSubscription.open(t.url, s.id, 'tr_dev_notakey');
    expect(unknown.status).toBe(401);
    await expect.poll(() => unknown.ended).toBe(true);
    expect(unknown.events[0]!.errors![0]!.extensions!.code).toBe('UNAUTHENTICATED');
    expect(unknown.events[0]!.data).toBeUndefined();
  });

  it('takes subscriptions only over SSE or WebSocket: JSON POST, GET and batches (400, whole) are refused, leaving no stream', async () => {
    const s = await t.createSession(env.secretKey);
    const headers = { 'content-type': 'application/json', authorization: `Bearer ${env.secretKey}` };
    const body = { query: SUBSCRIPTION, variables: { id: s.id } };
    const post = await t.fetch('/graphql', { method: 'POST', headers, body: JSON.stringify(body) });
    const postBody = (await post.json()) as Event;
    expect(postBody.errors![0]!.extensions!.code).toBe('BAD_REQUEST');
    expect(postBody.data ?? null).toBeNull();
    const query = new URLSearchParams({ query: SUBSCRIPTION, variables: JSON.stringify({ id: s.id }) });
    const get = await t.fetch(`/graphql?${query}`, { headers: { ...headers, accept: 'application/json' } });
    expect(((await get.json()) as Event).errors![0]!.extensions!.code).toBe('BAD_REQUEST');
    // A batch holding a subscription is refused whole (400), over JSON and over SSE alike.
    for (const accept of ['application/json', 'text/event-stream']) {
      const batch = await t.fetch('/graphql', {
        method: 'POST',
        headers: { ...headers, accept },
        body: JSON.stringify([body, { query: '{ __typename }' }]),
      });
      expect(batch.status).toBe(400);
      expect(((await batch.json()) as Event).errors![0]!.extensions!.code).toBe('BAD_REQUEST');
    }
    await sleep(100);
    expect(t.app.sessions.changes.size).toEqual({ streams: 0, sessions: 0 });
  });

  it('closes a WebSocket whose connection_init carries no valid credential (4403)', async () => {
    for (const params of [{}, { Authorization: 'Bearer tr_dev_notakey' }]) {
      const socket = new WebSocket(`${t.url.replace('http', 'ws')}/graphql`, 'graphql-transport-ws');
      const closed = new Promise<number>((resolve) => socket.on('close', (code) => resolve(code)));
      await new Promise((resolve) => socket.once('open', resolve));
      socket.send(JSON.stringify({ type: 'connection_init', payload: params }));
      expect(await closed).toBe(4403);
    }
  });

  it('ends a subscription within two seconds once its key is rotated', async () => {
    const rotating = await t.newEnvironment();
    const s = await t.createSession(rotating.secretKey);
    const sse = await SseSubscription.open(t.url, s.id, rotating.secretKey);
    const client = wsClient(t.url, rotating.secretKey);
    try {
      const ws = wsSubscribe(client, s.id);
      await expect.poll(() => t.app.sessions.changes.size.streams).toBe(2);
      await rotateKey(t.app.database.db, rotating.slug);
      const rotatedAt = performance.now();
      await expect.poll(() => sse.ended && ws.ended, { timeout: 4000 }).toBe(true);
      expect(performance.now() - rotatedAt).toBeLessThan(3000);
      expect(sse.events.at(-1)!.errors![0]!.extensions!.code).toBe('UNAUTHENTICATED');
      await expect.poll(() => t.app.sessions.changes.size.streams).toBe(0);
    } finally {
      sse.close();
      await client.dispose();
    }
  });

  it('cleans up after 200 subscribers opened and closed: no stream, watch or connection left', async () => {
    const s = await t.createSession(env.secretKey);
    const subs = await Promise.all(Array.from({ length: 100 }, () => SseSubscription.open(t.url, s.id, env.secretKey)));
    // The secret key's 100 (the default cap) over SSE; over WebSocket, four tokens of 25 each.
    const tokens = await Promise.all(
      [1, 2, 3, 4].map(async () => (await createToken(t.app.database.db, env.slug, ['read:sessions'], 600)).token),
    );
    const clients = tokens.map((token) => wsClient(t.url, token));
    const ws = clients.flatMap((client) => Array.from({ length: 25 }, () => wsSubscribe(client, s.id)));
    await expect.poll(() => t.app.sessions.changes.size, { timeout: 10_000 }).toEqual({ streams: 200, sessions: 1 });
    await update(s.id, ['all']);
    await expect.poll(() => [...subs, ...ws].every((sub) => versions(sub.events).includes(2)), { timeout: 10_000 }).toBe(true);
    for (const sub of subs) sub.close();
    for (const sub of ws) sub.dispose();
    await Promise.all(clients.map((c) => c.dispose()));
    await expect.poll(() => t.app.sessions.changes.size, { timeout: 10_000 }).toEqual({ streams: 0, sessions: 0 });
  });
});

describe.each(drivers)('subscription cap on %s', (driver) => {
  let t: TestApp;
  beforeAll(async () => {
    t = await startTestApp(driver, { SUBSCRIPTIONS_PER_CREDENTIAL: '2' });
  });
  afterAll(() => t.close());

  it('refuses a credential’s subscription past SUBSCRIPTIONS_PER_CREDENTIAL, and takes one again after one ends', async () => {
    const env = await t.newEnvironment();
    const s = await t.createSession(env.secretKey);
    const first = await SseSubscription.open(t.url, s.id, env.secretKey);
    const second = await SseSubscription.open(t.url, s.id, env.secretKey);
    await expect.poll(() => t.app.sessions.changes.size.streams).toBe(2);
    const third = await SseSubscription.open(t.url, s.id, env.secretKey);
    await expect.poll(() => third.ended).toBe(true);
    expect(third.events.at(-1)!.errors![0]!).toMatchObject({ extensions: { code: 'RATE_LIMITED' } });
    // Another credential has its own allowance.
    const token = (await createToken(t.app.database.db, env.slug, [`read:sessions:${s.id}`], 60)).token;
    const other = await SseSubscription.open(t.url, s.id, token);
    await expect.poll(() => t.app.sessions.changes.size.streams).toBe(3);
    first.close();
    await expect.poll(() => t.app.sessions.changes.size.streams).toBe(2);
    const again = await SseSubscription.open(t.url, s.id, env.secretKey);
    await expect.poll(() => t.app.sessions.changes.size.streams).toBe(3);
    // Over WebSocket the same count holds.
    const client = wsClient(t.url, env.secretKey);
    try {
      const ws = wsSubscribe(client, s.id);
      await expect.poll(() => ws.ended).toBe(true);
      expect(ws.events.at(-1)!.errors![0]).toEqual(expect.objectContaining({ extensions: { code: 'RATE_LIMITED' } }));
    } finally {
      await client.dispose();
    }
    for (const sub of [second, other, again]) sub.close();
  });
});

describe.each(drivers)('subscriptions at shutdown on %s', (driver) => {
  it('completes every stream and closes every socket (1001) at once, without waiting for the grace period', async () => {
    const t = await startTestApp(driver);
    const env = await t.newEnvironment();
    const s = await t.createSession(env.secretKey);
    const sse = await SseSubscription.open(t.url, s.id, env.secretKey);
    const socket = new WebSocket(`${t.url.replace('http', 'ws')}/graphql`, 'graphql-transport-ws');
    const closed = new Promise<number>((resolve) => socket.on('close', (code) => resolve(code)));
    await new Promise((resolve) => socket.once('open', resolve));
    const acked = new Promise((resolve) => socket.once('message', resolve));
    socket.send(JSON.stringify({ type: 'connection_init', payload: { Authorization: `Bearer ${env.secretKey}` } }));
    await acked;
    socket.send(JSON.stringify({ id: '1', type: 'subscribe', payload: { query: SUBSCRIPTION, variables: { id: s.id } } }));
    await expect.poll(() => t.app.sessions.changes.size.streams).toBe(2);
    const started = performance.now();
    await t.http.shutdown(10_000);
    expect(performance.now() - started).toBeLessThan(3000);
    expect(await closed).toBe(1001);
    await expect.poll(() => sse.ended).toBe(true);
    expect(t.app.sessions.changes.size.streams).toBe(0);
    await t.close();
  });
});

describe.runIf(drivers.includes('postgres'))('sessionChanged across instances on one PostgreSQL', () => {
  let database: Awaited<ReturnType<typeof freshDatabase>>;
  const apps: { app: App; http: Listening }[] = [];
  let env: NewEnvironment;
  let admin: postgres.Sql;

  beforeAll(async () => {
    database = await freshDatabase('postgres');
    for (let i = 0; i < 2; i++) {
      const app = await createApp(loadConfig({ DATABASE_URL: database.url!, RATE_LIMIT_PER_SECOND: '0' }));
      apps.push({ app, http: await listen(app, 0, '127.0.0.1') });
    }
    const { createEnvironment } = await import('../src/auth/environments.js');
    env = await createEnvironment(apps[0]!.app.database.db, 'two-instances', 'PRODUCTION');
    admin = postgres(database.url!, { max: 1, onnotice: () => {} });
  });
  afterAll(async () => {
    await admin?.end();
    for (const { app, http } of apps) {
      await http.shutdown(0);
      await app.close();
    }
    await database?.drop();
  });

  const [a, b] = [0, 1].map((i) => ({
    url: () => apps[i]!.http.url,
    gql: async (query: string, variables: Record<string, unknown>) => {
      const response = await fetch(`${apps[i]!.http.url}/graphql`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${env.secretKey}` },
        body: JSON.stringify({ query, variables }),
      });
      return (await response.json()) as any;
    },
  })) as [any, any];

  async function createOnA(): Promise<string> {
    const created = await a.gql(
      'mutation($input: CreateSessionInput!) { createSession(input: $input) { ... on CreateSessionSuccess { session { id } } } }',
      { input: baseCreateInput() },
    );
    return created.data.createSession.session.id;
  }

  it('shows a subscriber on instance B an update made through instance A, over SSE and WebSocket', async () => {
    const id = await createOnA();
    const sse = await SseSubscription.open(b.url(), id, env.secretKey);
    const client = wsClient(b.url(), env.secretKey);
    try {
      const ws = wsSubscribe(client, id);
      await expect.poll(() => apps[1]!.app.sessions.changes.size.streams).toBe(2);
      expect(apps[0]!.app.sessions.changes.size.streams).toBe(0);
      await a.gql(UPDATE, { id, input: { tags: ['from-a'] } });
      for (const sub of [sse, ws]) {
        await expect.poll(() => versions(sub.events)).toEqual([2]);
        expect(sub.events[0]!.data!.sessionChanged.tags).toEqual(['from-a']);
      }
      ws.dispose();
    } finally {
      sse.close();
      await client.dispose();
    }
  });

  it('notifies only for sessions someone watches, and forgets a watch when its last subscriber leaves', async () => {
    const watched = await createOnA();
    const unwatched = await createOnA();
    const heard: string[] = [];
    const listening = await admin.listen('session_changed', (payload) => heard.push(payload));
    const sse = await SseSubscription.open(b.url(), watched, env.secretKey);
    try {
      await expect.poll(() => apps[1]!.app.sessions.changes.size.streams).toBe(1);
      await a.gql(UPDATE, { id: unwatched, input: { tags: ['nobody-looks'] } });
      await a.gql(UPDATE, { id: watched, input: { tags: ['seen'] } });
      await expect.poll(() => versions(sse.events)).toEqual([2]);
      await sleep(200);
      expect(heard.map((p) => JSON.parse(p)[1])).toEqual([watched]);
      expect(JSON.parse(heard[0]!)).toEqual([env.environmentId, watched, 2]);
    } finally {
      sse.close();
    }
    await expect.poll(async () => (await admin`select count(*)::int as n from session_watches`)[0]!.n).toBe(0);
    await a.gql(UPDATE, { id: watched, input: { tags: ['after'] } });
    await sleep(200);
    expect(heard).toHaveLength(1);
    await listening.unlisten();
  });

  it('keeps a subscription going when its LISTEN connection is killed (pg_terminate_backend)', async () => {
    const id = await createOnA();
    const sse = await SseSubscription.open(b.url(), id, env.secretKey);
    try {
      await expect.poll(() => apps[1]!.app.sessions.changes.size.streams).toBe(1);
      const killed = await admin`select pg_terminate_backend(pid) as done from pg_stat_activity
        where application_name = ${LISTEN_APPLICATION_NAME} and datname = current_database()`;
      expect(killed.length).toBe(1); // B's: an instance listens once it has a subscriber, and A has none
      // At once, before B listens again: the change still reaches B's subscriber.
      await a.gql(UPDATE, { id, input: { tags: ['after-kill'] } });
      await expect.poll(() => versions(sse.events), { timeout: 10_000 }).toEqual([2]);
      // And later ones arrive through the new LISTEN.
      await sleep(200);
      await a.gql(UPDATE, { id, input: { tags: ['later'] } });
      await expect.poll(() => versions(sse.events), { timeout: 10_000 }).toEqual([2, 3]);
      expect(sse.events[1]!.data!.sessionChanged.tags).toEqual(['later']);
      const listening = await admin`select count(*)::int as n from pg_stat_activity
        where application_name = ${LISTEN_APPLICATION_NAME} and datname = current_database()`;
      expect(listening[0]!.n).toBe(1);
    } finally {
      sse.close();
    }
  });
});
