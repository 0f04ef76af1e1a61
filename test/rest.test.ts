import { compileErrors, validate } from '@readme/openapi-parser';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { NewEnvironment } from '../src/auth/environments.js';
import type { SessionRow } from '../src/db/schema.js';
import { ROUTES } from '../src/http/rest/routes.js';
import { baseCreateInput, drivers, GET, RawConnection, rawRequest, startTestApp, type TestApp, UPDATE } from './support.js';

interface Reply {
  status: number;
  headers: Headers;
  body: any;
}

const SESSION_ITEM_KEYS = [
  'closedAt',
  'closedReason',
  'createdAt',
  'currentRunId',
  'expiresAt',
  'externalId',
  'id',
  'metadata',
  'status',
  'tags',
  'taskIdentifier',
  'triggerConfig',
  'type',
  'updatedAt',
  'version',
];

describe.each(drivers)('REST routes on %s', (driver) => {
  let t: TestApp;
  let env: NewEnvironment;
  let other: NewEnvironment;

  const rest = async (
    method: string,
    path: string,
    { body, key = env.secretKey, headers = {} }: { body?: unknown; key?: string | null; headers?: Record<string, string> } = {},
  ): Promise<Reply> => {
    const response = await t.fetch(path, {
      method,
      headers: {
        ...(key ? { authorization: `Bearer ${key}` } : {}),
        ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
        ...headers,
      },
      ...(body !== undefined ? { body: typeof body === 'string' ? body : JSON.stringify(body) } : {}),
    });
    const text = await response.text();
    return { status: response.status, headers: response.headers, body: text ? JSON.parse(text) : undefined };
  };
  const stored = (id: string, environment = env) => t.row(environment.environmentId, id);
  /** A refusal: the status, Trigger.dev's `{"error": …}` body and nothing else, and the row as it was. */
  async function expectRefused(reply: Reply, status: number, message: RegExp | string, row?: SessionRow | null) {
    expect(reply.status, JSON.stringify(reply.body)).toBe(status);
    expect(Object.keys(reply.body)).toEqual(['error']);
    if (typeof message === 'string') expect(reply.body.error).toBe(message);
    else expect(reply.body.error).toMatch(message);
    expect(reply.headers.get('etag')).toBeNull();
    if (row) {
      const { publicAccessToken: _token, ...columns } = row as SessionRow & { publicAccessToken?: string };
      expect(await stored(row.id)).toEqual(columns);
    }
  }

  beforeAll(async () => {
    t = await startTestApp(driver);
    env = await t.newEnvironment();
    other = await t.newEnvironment();
  });
  afterAll(() => t.close());

  describe('GET /api/v1/sessions/{session}', () => {
    it("answers Trigger.dev's SessionItem by friendly id and by externalId, with the version as ETag", async () => {
      const row = await t.createSession(env.secretKey, baseCreateInput({ externalId: 'rest-get', tags: ['a'], metadata: { n: 1 } }));
      for (const key of [row.id, 'rest-get']) {
        const reply = await rest('GET', `/api/v1/sessions/${encodeURIComponent(key)}`);
        expect(reply.status).toBe(200);
        expect(reply.headers.get('content-type')).toMatch(/^application\/json/);
        expect(reply.headers.get('etag')).toBe('"1"');
        expect(Object.keys(reply.body).sort()).toEqual(SESSION_ITEM_KEYS);
        expect(reply.body).toMatchObject({
          id: row.id,
          externalId: 'rest-get',
          type: 'chat.agent',
          taskIdentifier: 'my-chat',
          triggerConfig: { basePayload: { model: 'small' } },
          currentRunId: null,
          tags: ['a'],
          metadata: { n: 1 },
          closedAt: null,
          closedReason: null,
          expiresAt: null,
          createdAt: row.createdAt.toISOString(),
          updatedAt: row.updatedAt.toISOString(),
          version: 1,
          status: 'ACTIVE',
        });
      }
    });

    it("answers 404 Session not found for an unknown id and for another environment's session", async () => {
      const theirs = await t.createSession(other.secretKey, baseCreateInput({ externalId: 'theirs' }));
      for (const key of ['session_doesnotexist', 'no-such-external-id', theirs.id, 'theirs']) {
        await expectRefused(await rest('GET', `/api/v1/sessions/${key}`), 404, 'Session not found');
      }
    });

    it('answers 401 without a credential, and for an unknown or malformed one', async () => {
      const row = await t.createSession(env.secretKey);
      for (const key of [null, 'tr_dev_notakey', 'garbage']) {
        await expectRefused(await rest('GET', `/api/v1/sessions/${row.id}`, { key }), 401, /./);
      }
    });

    it('serves a public token the session its scopes cover, and 403 for another one', async () => {
      const mine = await t.createSession(env.secretKey, baseCreateInput({ externalId: 'pat-own' }));
      const another = await t.createSession(env.secretKey);
      const own = await rest('GET', `/api/v1/sessions/${mine.id}`, { key: mine.publicAccessToken });
      expect(own.status).toBe(200);
      expect(own.body.id).toBe(mine.id);
      await expectRefused(await rest('GET', `/api/v1/sessions/${another.id}`, { key: mine.publicAccessToken }), 403, /./);
    });
  });

  describe('PATCH /api/v1/sessions/{session}', () => {
    it('replaces tags and metadata, clears metadata with null, accepts the same externalId, and bumps the ETag', async () => {
      const row = await t.createSession(env.secretKey, baseCreateInput({ externalId: 'patch-me', tags: ['old'], metadata: { a: 1 } }));
      const first = await rest('PATCH', `/api/v1/sessions/${row.id}`, { body: { tags: ['x', 'y'], metadata: { b: 2 } } });
      expect(first.status).toBe(200);
      expect(first.body).toMatchObject({ tags: ['x', 'y'], metadata: { b: 2 }, version: 2, externalId: 'patch-me' });
      expect(first.headers.get('etag')).toBe('"2"');

      const byExternalId = await rest('PATCH', '/api/v1/sessions/patch-me', { body: { metadata: null, externalId: 'patch-me' } });
      expect(byExternalId.status).toBe(200);
      expect(byExternalId.body).toMatchObject({ tags: ['x', 'y'], metadata: null, version: 3 });
      const after = await stored(row.id);
      expect(after).toMatchObject({ tags: ['x', 'y'], metadata: null, version: 3 });
      expect(byExternalId.body.updatedAt).toBe(after!.updatedAt.toISOString());
    });

    it("answers 422 with Trigger.dev's message for another externalId (or null), writing nothing", async () => {
      const row = await t.createSession(env.secretKey, baseCreateInput({ externalId: 'fixed-id' }));
      for (const externalId of ['another-id', null]) {
        await expectRefused(
          await rest('PATCH', `/api/v1/sessions/${row.id}`, { body: { externalId, tags: ['never'] } }),
          422,
          'externalId cannot be changed after creation; close this session and create a new one with the desired externalId',
          row,
        );
      }
    });

    it('answers 400 naming the failing field, for invalid JSON and for a body that is no object, writing nothing', async () => {
      const row = await t.createSession(env.secretKey);
      const cases: [unknown, RegExp][] = [
        [{ tags: Array.from({ length: 11 }, (_, i) => `t${i}`) }, /^Invalid body: tags: /],
        [{ metadata: [1, 2] }, /^Invalid body: metadata: /],
        [{ tags: ['x'.repeat(129)] }, /^Invalid body: tags\.0: /],
        [{ tags: 'one' }, /^Invalid body: tags: /],
        [{ metdata: { typo: true } }, /^Invalid body: metdata: not a field of this body$/],
        ['{"constructor": 1}', /^Invalid body: constructor: not a field of this body$/],
        ['{"__proto__": {"tags": ["x"]}}', /^Invalid body: __proto__: not a field of this body$/],
        [{ expectedVersion: 3_000_000_000 }, /^Invalid body: expectedVersion: expectedVersion is at most 2147483647$/],
        ['{"tags": [', /^Invalid JSON$/],
        ['[1]', /JSON object/],
        ['"text"', /JSON object/],
      ];
      for (const [body, message] of cases) {
        await expectRefused(await rest('PATCH', `/api/v1/sessions/${row.id}`, { body }), 400, message, row);
      }
    });

    it('answers 404 for an unknown session and 403 for a public token, writing nothing', async () => {
      const row = await t.createSession(env.secretKey, baseCreateInput({ externalId: 'pat-write' }));
      await expectRefused(await rest('PATCH', '/api/v1/sessions/session_nope', { body: { tags: ['x'] } }), 404, 'Session not found');
      await expectRefused(
        await rest('PATCH', `/api/v1/sessions/${row.id}`, { body: { tags: ['x'] }, key: row.publicAccessToken }),
        403,
        /public access token/,
        row,
      );
      await expectRefused(
        await rest('PATCH', `/api/v1/sessions/${row.id}`, { body: { tags: ['x'] }, key: other.secretKey }),
        404,
        'Session not found',
        row,
      );
    });

    it('answers 413 Request body too large over 32768 bytes, from Content-Length and while reading, writing nothing', async () => {
      const row = await t.createSession(env.secretKey);
      const big = JSON.stringify({ metadata: { blob: 'x'.repeat(32_800) } });
      await expectRefused(await rest('PATCH', `/api/v1/sessions/${row.id}`, { body: big }), 413, 'Request body too large', row);

      const raw = await RawConnection.open(t.url);
      raw.write(
        rawRequest('PATCH', `/api/v1/sessions/${row.id}`, { authorization: `Bearer ${env.secretKey}`, 'transfer-encoding': 'chunked' }),
      );
      const chunk = `{"metadata":{"blob":"${'x'.repeat(9_000)}`;
      for (let i = 0; i < 4; i++) raw.write(`${chunk.length.toString(16)}\r\n${chunk}\r\n`);
      const response = await raw.response();
      expect(response.status).toBe(413);
      expect(JSON.parse(response.body)).toEqual({ error: 'Request body too large' });
      expect(response.headers['connection']).toBe('close');
      await expectRefused({ status: 413, headers: new Headers(), body: JSON.parse(response.body) }, 413, 'Request body too large', row);

      // Exactly at the limit is read, and judged by the core's rules.
      const exact = JSON.stringify({ metadata: { blob: 'x'.repeat(32_768 - 24) } });
      expect(Buffer.byteLength(exact)).toBe(32_768);
      const atLimit = await rest('PATCH', `/api/v1/sessions/${row.id}`, { body: exact });
      expect(atLimit.status).toBe(200);
    });

    it('makes a write conditional on If-Match: 412 when stale or unreadable, writing nothing; * and the current ETag apply', async () => {
      const row = await t.createSession(env.secretKey);
      for (const ifMatch of ['"2"', '"0"', 'W/"1"', '1', '"1", "2"']) {
        await expectRefused(
          await rest('PATCH', `/api/v1/sessions/${row.id}`, { body: { tags: ['never'] }, headers: { 'if-match': ifMatch } }),
          412,
          /^Precondition failed|If-Match/,
          row,
        );
      }
      const current = await rest('PATCH', `/api/v1/sessions/${row.id}`, { body: { tags: ['one'] }, headers: { 'if-match': '"1"' } });
      expect(current.status).toBe(200);
      expect(current.headers.get('etag')).toBe('"2"');
      const any = await rest('PATCH', `/api/v1/sessions/${row.id}`, { body: { tags: ['two'] }, headers: { 'if-match': '*' } });
      expect(any.headers.get('etag')).toBe('"3"');
      const before = await stored(row.id);
      await expectRefused(
        await rest('PATCH', `/api/v1/sessions/${row.id}`, {
          body: { tags: ['late'] },
          headers: { 'if-match': current.headers.get('etag')! },
        }),
        412,
        'Precondition failed: the session is at version 3, not 2',
        before,
      );
    });
  });

  describe('POST /api/v1/sessions/{session}/close', () => {
    it('closes once with a reason, is idempotent keeping the first reason, and honours If-Match', async () => {
      const row = await t.createSession(env.secretKey, baseCreateInput({ externalId: 'close-me' }));
      await expectRefused(
        await rest('POST', '/api/v1/sessions/close-me/close', { body: { reason: 'late' }, headers: { 'if-match': '"7"' } }),
        412,
        'Precondition failed: the session is at version 1, not 7',
        row,
      );
      const closed = await rest('POST', '/api/v1/sessions/close-me/close', { body: { reason: 'done' }, headers: { 'if-match': '"1"' } });
      expect(closed.status).toBe(200);
      expect(closed.body).toMatchObject({ id: row.id, status: 'CLOSED', closedReason: 'done', version: 2 });
      expect(closed.body.closedAt).toBe((await stored(row.id))!.closedAt!.toISOString());
      const again = await rest('POST', `/api/v1/sessions/${row.id}/close`, { body: { reason: 'other' } });
      expect(again.body).toMatchObject({ closedReason: 'done', version: 2 });
      expect(again.headers.get('etag')).toBe('"2"');
      // The SDK's bare close sends {}; nothing at all works too; a calling run's id means nothing here.
      const bare = await t.createSession(env.secretKey);
      expect((await rest('POST', `/api/v1/sessions/${bare.id}/close`)).body).toMatchObject({ status: 'CLOSED', closedReason: null });
      const fromRun = await t.createSession(env.secretKey);
      const closedByRun = await rest('POST', `/api/v1/sessions/${fromRun.id}/close`, { body: { reason: 'r', callingRunId: 'run_1' } });
      expect(closedByRun.body).toMatchObject({ status: 'CLOSED', closedReason: 'r' });
    });

    it('refuses a reason over 256 characters (400), a body over 4096 bytes (413), a public token (403), writing nothing', async () => {
      const row = await t.createSession(env.secretKey);
      await expectRefused(
        await rest('POST', `/api/v1/sessions/${row.id}/close`, { body: { reason: 'r'.repeat(257) } }),
        400,
        /reason/,
        row,
      );
      await expectRefused(
        await rest('POST', `/api/v1/sessions/${row.id}/close`, { body: { reason: 'r'.repeat(5000) } }),
        413,
        'Request body too large',
        row,
      );
      await expectRefused(await rest('POST', `/api/v1/sessions/${row.id}/close`, { key: row.publicAccessToken }), 403, /./, row);
      await expectRefused(await rest('POST', '/api/v1/sessions/session_nope/close'), 404, 'Session not found');
      // 256 characters, each \u-escaped as some JSON writers do (1,554 bytes): within the limit.
      const escaped = `{"reason":"${'\\u00e9'.repeat(256)}"}`;
      const closed = await rest('POST', `/api/v1/sessions/${row.id}/close`, { body: escaped });
      expect(closed.status).toBe(200);
      expect(closed.body.closedReason).toBe('é'.repeat(256));
    });
  });

  describe('POST /api/v1/sessions', () => {
    it('creates (201), answers an open one with the same externalId (200, isCached), and 409 once it is closed', async () => {
      const expiresAt = new Date(Date.now() + 86_400_000).toISOString();
      const input = baseCreateInput({ externalId: 'rest-create', tags: ['t'], expiresAt });
      const created = await rest('POST', '/api/v1/sessions', { body: input });
      expect(created.status).toBe(201);
      expect(created.body).toMatchObject({ externalId: 'rest-create', isCached: false, version: 1, expiresAt });
      expect(created.body.publicAccessToken).toMatch(/^ey/);
      expect(created.headers.get('etag')).toBe('"1"');
      expect(await stored(created.body.id)).toMatchObject({ externalId: 'rest-create', tags: ['t'] });

      const cached = await rest('POST', '/api/v1/sessions', { body: input });
      expect(cached.status).toBe(200);
      expect(cached.body).toMatchObject({ id: created.body.id, isCached: true });

      // The token it hands out reads the session.
      expect((await rest('GET', '/api/v1/sessions/rest-create', { key: created.body.publicAccessToken })).status).toBe(200);

      await rest('POST', '/api/v1/sessions/rest-create/close');
      const closed = await rest('POST', '/api/v1/sessions', { body: input });
      await expectRefused(closed, 409, /closed/);
      expect(closed.headers.get('x-should-retry')).toBe('false');
    });

    it('refuses an invalid body (400) and a public token (403), creating nothing', async () => {
      const fresh = await t.newEnvironment();
      const count = async () => (await rest('GET', '/api/v1/sessions', { key: fresh.secretKey })).body.data.length;
      await expectRefused(await rest('POST', '/api/v1/sessions', { body: { type: 'x' }, key: fresh.secretKey }), 400, /taskIdentifier/);
      for (const [expiresAt, message] of [
        ['tomorrow', /^Invalid body: expiresAt: must be a date/],
        ['+010000-01-01T00:00:00.000Z', /^Invalid body: expiresAt: expiresAt must be before the year 10000$/],
        ['2020-01-01T00:00:00.000Z', /^Invalid body: expiresAt: expiresAt must be in the future$/],
      ] as const) {
        await expectRefused(
          await rest('POST', '/api/v1/sessions', { body: baseCreateInput({ expiresAt }), key: fresh.secretKey }),
          400,
          message,
        );
      }
      const mine = await t.createSession(fresh.secretKey);
      await expectRefused(await rest('POST', '/api/v1/sessions', { body: baseCreateInput(), key: mine.publicAccessToken }), 403, /./);
      expect(await count()).toBe(1);
    });
  });

  describe('GET /api/v1/sessions', () => {
    let listEnv: NewEnvironment;
    const made: { id: string; type: string; tags: string[]; createdAt: string }[] = [];
    beforeAll(async () => {
      listEnv = await t.newEnvironment();
      for (let i = 0; i < 7; i++) {
        const reply = await rest('POST', '/api/v1/sessions', {
          key: listEnv.secretKey,
          body: baseCreateInput({
            type: i % 2 ? 'odd' : 'even',
            taskIdentifier: `task-${i % 3}`,
            tags: [`n${i}`, i < 3 ? 'low' : 'high'],
            externalId: `list-${i}`,
          }),
        });
        made.push(reply.body);
      }
      await rest('POST', '/api/v1/sessions/list-6/close', { key: listEnv.secretKey });
    });
    const list = (query: string) => rest('GET', `/api/v1/sessions${query}`, { key: listEnv.secretKey });
    const ids = (reply: Reply) => reply.body.data.map((s: { externalId: string }) => s.externalId);

    it('lists newest first in pages of page[size], with next and previous cursors', async () => {
      const first = await list('?page[size]=3');
      expect(first.status).toBe(200);
      expect(Object.keys(first.body)).toEqual(['data', 'pagination']);
      expect(ids(first)).toEqual(['list-6', 'list-5', 'list-4']);
      expect(Object.keys(first.body.data[0]).sort()).toEqual(SESSION_ITEM_KEYS);
      expect(first.body.pagination.previous).toBeUndefined();
      const second = await list(`?page[size]=3&page[after]=${first.body.pagination.next}`);
      expect(ids(second)).toEqual(['list-3', 'list-2', 'list-1']);
      const third = await list(`?page[size]=3&page[after]=${second.body.pagination.next}`);
      expect(ids(third)).toEqual(['list-0']);
      expect(third.body.pagination.next).toBeUndefined();
      const back = await list(`?page[size]=3&page[before]=${third.body.pagination.previous}`);
      expect(ids(back)).toEqual(['list-3', 'list-2', 'list-1']);
      expect(ids(await list(''))).toHaveLength(7);
    });

    it('filters by type, tags and taskIdentifier comma-joined or repeated, externalId, status and createdAt', async () => {
      expect(ids(await list('?filter[type]=odd'))).toEqual(['list-5', 'list-3', 'list-1']);
      expect(ids(await list('?filter[tags]=n1,n4'))).toEqual(['list-4', 'list-1']);
      expect(ids(await list('?filter[tags]=n1&filter[tags]=n4'))).toEqual(['list-4', 'list-1']);
      expect(ids(await list('?filter[taskIdentifier]=task-0&filter[type]=even'))).toEqual(['list-6', 'list-0']);
      expect(ids(await list('?filter[externalId]=list-2'))).toEqual(['list-2']);
      expect(ids(await list('?filter[status]=CLOSED'))).toEqual(['list-6']);
      expect(ids(await list('?filter[status]=ACTIVE,CLOSED'))).toHaveLength(7);
      const from = Date.parse(made[2]!.createdAt);
      const to = Date.parse(made[4]!.createdAt);
      expect(ids(await list(`?filter[createdAt][from]=${from}&filter[createdAt][to]=${to}`))).toEqual(['list-4', 'list-3', 'list-2']);
      expect(ids(await list('?filter[createdAt][period]=1h'))).toHaveLength(7);
      // A period longer than the epoch reaches back to 1970, not to an invalid date.
      expect(ids(await list('?filter[createdAt][period]=300000000d'))).toHaveLength(7);
      expect(ids(await list(`?filter[createdAt][from]=${Date.now() + 60_000}`))).toEqual([]);
    });

    it('answers 400 for bad parameters, and 403 for a public token', async () => {
      for (const [query, message] of [
        ['?page[size]=0', /page\[size\]/],
        ['?page[size]=101', /page\[size\]/],
        ['?page[size]=ten', /page\[size\]/],
        ['?page[after]=a&page[before]=b', /not both/],
        ['?filter[status]=OPEN', /filter\[status\]/],
        ['?filter[createdAt][from]=yesterday', /filter\[createdAt\]\[from\]/],
        ['?filter[createdAt][period]=soon', /period/],
        ['?filter[createdAt][from]=300000000000000', /before the year 10000/],
        ['?page[after]=not-a-cursor', /./],
      ] as const) {
        await expectRefused(await list(query), 400, message);
      }
      const token = (await t.createSession(listEnv.secretKey)).publicAccessToken;
      await expectRefused(await rest('GET', '/api/v1/sessions', { key: token }), 403, /./);
    });
  });

  it('answers 405 with Allow for a method a route does not take, and 404 for no route', async () => {
    const one = await rest('DELETE', '/api/v1/sessions/session_x');
    expect(one.status).toBe(405);
    expect(one.headers.get('allow')).toBe('GET, PATCH');
    expect(one.body).toEqual({ error: 'Method not allowed' });
    expect((await rest('PUT', '/api/v1/sessions')).headers.get('allow')).toBe('GET, POST');
    expect((await rest('GET', '/api/v1/sessions/session_x/close')).headers.get('allow')).toBe('POST');
    expect((await rest('GET', '/api/v1/runs')).status).toBe(404);
  });

  it('sees the same rows as GraphQL: a write through one is read back through the other, version and ETag agreeing', async () => {
    const row = await t.createSession(env.secretKey, baseCreateInput({ externalId: 'both-ways' }));
    const patched = await rest('PATCH', '/api/v1/sessions/both-ways', { body: { tags: ['rest'], metadata: { via: 'rest' } } });
    const read = await t.gql(GET, { id: row.id }, env.secretKey);
    expect(read.body.data.session).toMatchObject({ tags: ['rest'], metadata: { via: 'rest' }, version: 2 });
    expect(patched.headers.get('etag')).toBe(`"${read.body.data.session.version}"`);
    expect(read.body.data.session.updatedAt).toBe(patched.body.updatedAt);

    const updated = await t.gql(UPDATE, { id: 'both-ways', input: { tags: ['graphql'], metadata: null } }, env.secretKey);
    expect(updated.body.data.updateSession.session.version).toBe(3);
    const got = await rest('GET', `/api/v1/sessions/${row.id}`);
    expect(got.headers.get('etag')).toBe('"3"');
    expect(got.body).toMatchObject({ tags: ['graphql'], metadata: null, version: 3 });
  });

  it('publishes an OpenAPI 3.1 document generated from the routes, valid by @readme/openapi-parser', async () => {
    const reply = await rest('GET', '/api/v1/openapi.json', { key: null });
    expect(reply.status).toBe(200);
    expect(reply.body.openapi).toBe('3.1.0');
    const result = await validate(structuredClone(reply.body));
    expect(result.valid, result.valid ? '' : compileErrors(result)).toBe(true);
    for (const route of ROUTES) {
      const operation = reply.body.paths[route.path][route.method.toLowerCase()];
      expect(operation.summary).toBe(route.summary);
      expect(Object.keys(operation.responses).map(Number).sort()).toEqual(Object.keys(route.responses).map(Number).sort());
    }
    // The update body's schema is the core's own: its limits are there.
    const update = reply.body.paths['/api/v1/sessions/{session}'].patch.requestBody.content['application/json'].schema;
    expect(update.properties.tags).toMatchObject({ maxItems: 10, items: { maxLength: 128 } });
    expect(update.properties.externalId.anyOf[0]).toMatchObject({ maxLength: 256 });
  });
});

describe.each(drivers)('REST rate limit on %s', (driver) => {
  let t: TestApp;
  beforeAll(async () => {
    t = await startTestApp(driver, { RATE_LIMIT_PER_SECOND: '1', RATE_LIMIT_BURST: '2' });
  });
  afterAll(() => t.close());

  it('answers 429 with Retry-After past the credential’s burst, in the REST shape', async () => {
    const env = await t.newEnvironment();
    const statuses: number[] = [];
    let last: Response | undefined;
    for (let i = 0; i < 4; i++) {
      last = await t.fetch('/api/v1/sessions/session_x', { headers: { authorization: `Bearer ${env.secretKey}` } });
      statuses.push(last.status);
      if (last.status === 429) break;
    }
    expect(statuses).toContain(429);
    expect(Number(last!.headers.get('retry-after'))).toBeGreaterThan(0);
    expect(await last!.json()).toEqual({ error: expect.stringMatching(/^Too many requests/) });
  });
});
