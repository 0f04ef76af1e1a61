import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type App, buildApp, type Listening, listen } from '../src/app.js';
import { createToken, type NewEnvironment } from '../src/auth/environments.js';
import { loadConfig } from '../src/config.js';
import { openDatabase } from '../src/db/client.js';
import { baseCreateInput, CREATE, drivers, GET, startTestApp, type TestApp, UPDATE } from './support.js';

const JSON_TYPE = 'application/json';
const GQL_TYPE = 'application/graphql-response+json';

interface Answer {
  status: number;
  headers: Headers;
  body: { data?: unknown; errors?: { message: string; path?: unknown[]; extensions?: { code?: string } }[] };
}

async function answer(response: Response): Promise<Answer> {
  return { status: response.status, headers: response.headers, body: (await response.json()) as Answer['body'] };
}

const post = (base: string, accept: string, body: string, headers: Record<string, string> = {}) =>
  fetch(`${base}/graphql`, { method: 'POST', headers: { 'content-type': 'application/json', accept, ...headers }, body }).then(answer);

const operation = (query: string, variables?: Record<string, unknown>) => JSON.stringify({ query, variables });

/** Refused before execution: no `data` entry, one error with the code. */
function expectRefused(a: Answer, code: string, status: number) {
  expect(a.status).toBe(status);
  expect(a.body).not.toHaveProperty('data');
  expect(a.body.errors).toHaveLength(1);
  expect(a.body.errors![0]!.extensions?.code).toBe(code);
  expect(Object.keys(a.body.errors![0]!.extensions!)).toEqual(['code']); // no http, stack or internals
}

/**
 * The contract's status table, every row, for both media types: the engine's own request errors
 * (parse, validation, variable coercion) are 200 for application/json and 400 for
 * application/graphql-response+json; every other refusal keeps its status for both.
 */
describe.each(drivers)('HTTP statuses of the contract table on %s', (driver) => {
  let t: TestApp;
  let env: NewEnvironment;
  let publicToken: string;
  let sessionId: string;
  beforeAll(async () => {
    t = await startTestApp(driver, { MAX_REQUEST_BYTES: '4000' });
    env = await t.newEnvironment();
    const s = await t.createSession(env.secretKey, baseCreateInput({ externalId: 'status-row', tags: ['keep'] }));
    sessionId = s.id;
    publicToken = s.publicAccessToken;
  });
  afterAll(() => t?.close());

  const both = [
    [JSON_TYPE, 200],
    [GQL_TYPE, 400],
  ] as const;
  const auth = () => ({ authorization: `Bearer ${env.secretKey}` });

  it.each([JSON_TYPE, GQL_TYPE])(
    'BAD_REQUEST 400 (%s): malformed JSON, no query, another media type, a mutation over GET',
    async (accept) => {
      expectRefused(await post(t.url, accept, '{"query": "{ __typename }"', auth()), 'BAD_REQUEST', 400);
      expectRefused(await post(t.url, accept, '{"variables": {}}', auth()), 'BAD_REQUEST', 400);
      const form = await fetch(`${t.url}/graphql`, {
        method: 'POST',
        headers: { accept, ...auth() },
        body: new URLSearchParams({ query: '{ __typename }' }),
      }).then(answer);
      expectRefused(form, 'BAD_REQUEST', 400);
      expect(form.body.errors![0]!.message).toMatch(/Send the operation as JSON/);
      const get = await fetch(
        `${t.url}/graphql?query=${encodeURIComponent(`mutation { closeSession(id: "${sessionId}") { __typename } }`)}`,
        { headers: { accept, ...auth() } },
      ).then(answer);
      expectRefused(get, 'BAD_REQUEST', 400);
      expect((await t.row(env.environmentId, sessionId))!.closedAt).toBeNull();
    },
  );

  it.each(both)('GRAPHQL_PARSE_FAILED (%s → %i): a document that does not parse, or over 1000 tokens', async (accept, status) => {
    expectRefused(await post(t.url, accept, operation('{ session(id: '), auth()), 'GRAPHQL_PARSE_FAILED', status);
    const long = `{ session(id: "x") { ${'id '.repeat(1000)} } }`;
    expectRefused(await post(t.url, accept, operation(long), auth()), 'GRAPHQL_PARSE_FAILED', status);
  });

  it.each(both)('GRAPHQL_VALIDATION_FAILED (%s → %i): invalid against the schema, or over an operation limit', async (accept, status) => {
    expectRefused(await post(t.url, accept, operation('{ session(id: "x") { nope } }'), auth()), 'GRAPHQL_VALIDATION_FAILED', status);
    const aliases = `{ session(id: "x") { ${Array.from({ length: 16 }, (_, i) => `a${i}: id`).join(' ')} } }`;
    expectRefused(await post(t.url, accept, operation(aliases), auth()), 'GRAPHQL_VALIDATION_FAILED', status);
  });

  it.each(both)('BAD_USER_INPUT (%s → %i): a variable that fails its type, writing nothing', async (accept, status) => {
    const before = await t.row(env.environmentId, sessionId);
    const a = await post(t.url, accept, operation(UPDATE, { id: sessionId, input: { metadata: 'not an object' } }), auth());
    expectRefused(a, 'BAD_USER_INPUT', status);
    expect(await t.row(env.environmentId, sessionId)).toEqual(before);
  });

  it.each([JSON_TYPE, GQL_TYPE])('BAD_USER_INPUT 400 (%s): bad paging arguments, `data` null', async (accept) => {
    const a = await post(t.url, accept, operation('{ sessions(first: 0) { edges { cursor } } }'), auth());
    expect(a.status).toBe(400);
    expect(a.body.data).toBeNull();
    expect(a.body.errors![0]!.extensions).toEqual({ code: 'BAD_USER_INPUT' });
  });

  it.each([JSON_TYPE, GQL_TYPE])('UNAUTHENTICATED 401 (%s): no data entry, nothing written', async (accept) => {
    const before = await t.row(env.environmentId, sessionId);
    expectRefused(await post(t.url, accept, operation(GET, { id: sessionId })), 'UNAUTHENTICATED', 401);
    const update = operation(UPDATE, { id: sessionId, input: { tags: ['x'] } });
    expectRefused(
      await post(t.url, accept, update, { authorization: 'Bearer tr_dev_unknownunknownunknownunknown' }),
      'UNAUTHENTICATED',
      401,
    );
    expect(await t.row(env.environmentId, sessionId)).toEqual(before);
  });

  it.each([JSON_TYPE, GQL_TYPE])('FORBIDDEN 403 (%s): a public token sending a mutation or listing, no data entry', async (accept) => {
    const before = await t.row(env.environmentId, sessionId);
    const token = { authorization: `Bearer ${publicToken}` };
    expectRefused(await post(t.url, accept, operation(UPDATE, { id: sessionId, input: { tags: ['x'] } }), token), 'FORBIDDEN', 403);
    expectRefused(await post(t.url, accept, operation(CREATE, { input: baseCreateInput() }), token), 'FORBIDDEN', 403);
    // Even beside a read it may do: the listing refuses the whole operation.
    const mixed = `{ session(id: "${sessionId}") { id } sessions { edges { cursor } } }`;
    expectRefused(await post(t.url, accept, operation(mixed), token), 'FORBIDDEN', 403);
    expect(await t.row(env.environmentId, sessionId)).toEqual(before);
  });

  it.each([JSON_TYPE, GQL_TYPE])('200 (%s): a public token reading what it may and what it may not keeps `data`', async (accept) => {
    const other = await t.createSession(env.secretKey);
    const query = `{ mine: session(id: "${sessionId}") { id } theirs: session(id: "${other.id}") { id } }`;
    const a = await post(t.url, accept, operation(query), { authorization: `Bearer ${publicToken}` });
    expect(a.status).toBe(200);
    expect(a.body.data).toEqual({ mine: { id: sessionId }, theirs: null });
    expect(a.body.errors).toEqual([expect.objectContaining({ path: ['theirs'], extensions: { code: 'FORBIDDEN' } })]);

    const entities = 'query($r: [_Any!]!) { _entities(representations: $r) { ... on Session { id } } }';
    const r = [sessionId, other.id].map((id) => ({ __typename: 'Session', id }));
    const e = await post(t.url, accept, operation(entities, { r }), { authorization: `Bearer ${publicToken}` });
    expect(e.status).toBe(200);
    expect(e.body.data).toEqual({ _entities: [{ id: sessionId }, null] });
    expect(e.body.errors).toEqual([expect.objectContaining({ path: ['_entities', 1], extensions: { code: 'FORBIDDEN' } })]);
  });

  it.each([JSON_TYPE, GQL_TYPE])('PAYLOAD_TOO_LARGE 413 (%s): a body over MAX_REQUEST_BYTES', async (accept) => {
    const big = operation(UPDATE, { id: sessionId, input: { metadata: { p: 'x'.repeat(5000) } } });
    expectRefused(await post(t.url, accept, big, auth()), 'PAYLOAD_TOO_LARGE', 413);
  });

  it('INTERNAL_SERVER_ERROR 500 (both): anything else, masked, with no SQL', async () => {
    const broken = await startTestApp(driver);
    try {
      const owner = await broken.newEnvironment();
      await broken.app.database.db.execute(sql`drop table sessions`);
      for (const accept of [JSON_TYPE, GQL_TYPE]) {
        const a = await post(broken.url, accept, operation(UPDATE, { id: 'x', input: { tags: ['t'] } }), {
          authorization: `Bearer ${owner.secretKey}`,
        });
        expect(a.status).toBe(500);
        expect(a.body.data).toBeNull();
        expect(a.body.errors).toHaveLength(1);
        expect(a.body.errors![0]).toMatchObject({
          message: 'Unexpected error.',
          path: ['updateSession'],
          extensions: { code: 'INTERNAL_SERVER_ERROR' },
        });
        expect(Object.keys(a.body.errors![0]!).sort()).toEqual(expect.arrayContaining(['extensions', 'message', 'path']));
        expect(Object.keys(a.body.errors![0]!).every((k) => ['extensions', 'message', 'path', 'locations'].includes(k))).toBe(true);
        expect(JSON.stringify(a.body)).not.toMatch(/sessions|select|relation|42P01/i);
      }
    } finally {
      await broken.close();
    }
  });
});

describe.each(drivers)('RATE_LIMITED 429 on %s', (driver) => {
  let t: TestApp;
  beforeAll(async () => {
    t = await startTestApp(driver, { RATE_LIMIT_PER_SECOND: '1', RATE_LIMIT_BURST: '2' });
  });
  afterAll(() => t?.close());

  it.each([JSON_TYPE, GQL_TYPE])('answers 429 (%s) with Retry-After and no data entry', async (accept) => {
    const env = await t.newEnvironment();
    const ask = () => post(t.url, accept, operation(GET, { id: 'x' }), { authorization: `Bearer ${env.secretKey}` });
    expect((await ask()).status).toBe(200);
    expect((await ask()).status).toBe(200);
    const limited = await ask();
    expectRefused(limited, 'RATE_LIMITED', 429);
    expect(limited.headers.get('retry-after')).toBe('1');
  });
});

describe('SERVICE_UNAVAILABLE 503', () => {
  let app: App;
  let served: Listening;
  beforeAll(async () => {
    const config = loadConfig({ DATABASE_URL: 'postgres://postgres@127.0.0.1:1/none', RATE_LIMIT_PER_SECOND: '0' });
    app = buildApp(config, await openDatabase(config));
    app.ready = true;
    served = await listen(app, 0, '127.0.0.1');
  });
  afterAll(async () => {
    await served?.shutdown(0);
    await app?.close();
  });

  it.each([JSON_TYPE, GQL_TYPE])('answers 503 (%s) with Retry-After while the database is unreachable', async (accept) => {
    const a = await post(served.url, accept, operation(GET, { id: 'x' }), { authorization: 'Bearer tr_dev_somekeysomekeysomekeysomekey' });
    expectRefused(a, 'SERVICE_UNAVAILABLE', 503);
    expect(a.headers.get('retry-after')).toBe('1');
  });
});

describe.each(drivers)('public tokens from createSession, through createToken too, on %s', (driver) => {
  let t: TestApp;
  beforeAll(async () => {
    t = await startTestApp(driver);
  });
  afterAll(() => t?.close());

  it('a read-all token may not list: FORBIDDEN 403 before execution', async () => {
    const env = await t.newEnvironment();
    const { token } = await createToken(t.app.database.db, env.slug, ['read:all'], 60);
    expectRefused(
      await post(t.url, GQL_TYPE, operation('{ sessions { edges { cursor } } }'), { authorization: `Bearer ${token}` }),
      'FORBIDDEN',
      403,
    );
  });
});
