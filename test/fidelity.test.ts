import { connect, type Socket } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { NewEnvironment } from '../src/auth/environments.js';
import { LATEST_TIME_MS, MAX_FILTER_VALUES } from '../src/sessions/limits.js';
import { baseCreateInput, drivers, startTestApp, type TestApp, UPDATE } from './support.js';

/**
 * A value the service cannot store exactly is refused, naming where it is, never stored changed;
 * REST's filters mean what GraphQL's mean, and the bounds the docs give are accepted.
 */
describe.each(drivers)('values kept exactly on %s', (driver) => {
  let t: TestApp;
  let env: NewEnvironment;
  beforeAll(async () => {
    t = await startTestApp(driver);
    env = await t.newEnvironment();
  });
  afterAll(() => t?.close());

  const auth = () => ({ authorization: `Bearer ${env.secretKey}` });
  const postRaw = (body: string | Buffer, headers: Record<string, string> = {}) =>
    t.fetch('/graphql', {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...auth(), ...headers },
      body: typeof body === 'string' ? body : new Uint8Array(body),
    });

  it.each([
    ['1e400', 'Infinity'],
    ['-1e999', '-Infinity'],
    ['9007199254740993', 'one past 2^53'],
    ['1e20', 'a large float'],
  ])('refuses the metadata number %s (%s) as InvalidInputError naming its path, leaving the row as it was', async (number) => {
    const s = await t.createSession(env.secretKey, baseCreateInput({ metadata: { keep: 1 } }));
    // Written by hand: JSON.stringify cannot write these numbers.
    const variables = `{"id":${JSON.stringify(s.id)},"input":{"metadata":{"ok":1.5,"deep":{"n":${number}}}}}`;
    const viaVariable = await (await postRaw(`{"query":${JSON.stringify(UPDATE)},"variables":${variables}}`)).json();
    expect(viaVariable.data.updateSession.__typename).toBe('InvalidInputError');
    expect(viaVariable.data.updateSession.issues).toEqual([
      { path: ['input', 'metadata', 'deep', 'n'], message: expect.stringContaining('9007199254740991') },
    ]);
    const literal = `mutation { updateSession(id: ${JSON.stringify(s.id)}, input: { metadata: { deep: { n: ${number} } } }) { __typename } }`;
    const viaLiteral = await (await postRaw(JSON.stringify({ query: literal }))).json();
    expect(viaLiteral.data.updateSession.__typename).toBe('InvalidInputError');
    const row = await t.row(env.environmentId, s.id);
    expect(row).toMatchObject({ version: 1, metadata: { keep: 1 } });
  });

  it('stores ±(2^53 − 1), fractions and small exponents exactly', async () => {
    const s = await t.createSession(env.secretKey);
    const metadata = { max: 9007199254740991, min: -9007199254740991, half: 0.5, tiny: 1e-7, neg: -1.25 };
    const answer = await (await postRaw(JSON.stringify({ query: UPDATE, variables: { id: s.id, input: { metadata } } }))).json();
    expect(answer.data.updateSession.session.metadata).toEqual(metadata);
    expect((await t.row(env.environmentId, s.id))!.metadata).toEqual(metadata);
  });

  it('refuses a body that is not UTF-8 (400) over GraphQL and REST, storing nothing', async () => {
    const s = await t.createSession(env.secretKey);
    const bad = Buffer.concat([
      Buffer.from(`{"query":${JSON.stringify(UPDATE)},"variables":{"id":"${s.id}","input":{"tags":["`),
      Buffer.from([0xff, 0xfe]),
      Buffer.from('"]}}}'),
    ]);
    const graphql = await postRaw(bad);
    expect(graphql.status).toBe(400);
    expect((await graphql.json()).errors[0].extensions.code).toBe('BAD_REQUEST');
    const rest = await t.fetch(`/api/v1/sessions/${s.id}`, {
      method: 'PATCH',
      headers: { 'content-type': 'application/json', ...auth() },
      body: new Uint8Array(Buffer.concat([Buffer.from('{"tags":["'), Buffer.from([0xc3, 0x28]), Buffer.from('"]}')])),
    });
    expect(rest.status).toBe(400);
    expect(await rest.json()).toEqual({ error: 'The request body is not valid UTF-8' });
    expect((await t.row(env.environmentId, s.id))!).toMatchObject({ version: 1, tags: [] });
  });

  it('finds through REST filters the values GraphQL finds: edge spaces and a BOM are part of a value', async () => {
    const own = await t.newEnvironment();
    // PGlite reads a text value back without a leading U+FEFF (its decoder drops BOMs; README,
    // "The embedded database"), so the BOM case runs on the real server.
    const bom = driver === 'postgres' ? '\ufeffbom' : 'bom';
    const tasks = [' spaced ', bom, 'plain'];
    for (const taskIdentifier of tasks)
      await t.createSession(own.secretKey, baseCreateInput({ taskIdentifier, tags: [` ${taskIdentifier}`] }));
    const rest = async (params: Record<string, string>) => {
      const response = await t.fetch(`/api/v1/sessions?${new URLSearchParams(params)}`, {
        headers: { authorization: `Bearer ${own.secretKey}` },
      });
      expect(response.status).toBe(200);
      return ((await response.json()) as { data: { taskIdentifier: string }[] }).data.map((s) => s.taskIdentifier).sort();
    };
    const graphql = async (filter: Record<string, unknown>) => {
      const { body } = await t.gql(
        'query($f: SessionFilter) { sessions(filter: $f) { edges { node { taskIdentifier } } } }',
        { f: filter },
        own.secretKey,
      );
      return body.data.sessions.edges.map((e: { node: { taskIdentifier: string } }) => e.node.taskIdentifier).sort();
    };
    expect(await rest({ 'filter[taskIdentifier]': ` spaced ,${bom}` })).toEqual([' spaced ', bom].sort());
    expect(await graphql({ taskIdentifier: [' spaced ', bom] })).toEqual([' spaced ', bom].sort());
    expect(await rest({ 'filter[taskIdentifier]': 'spaced' })).toEqual([]);
    expect(await graphql({ taskIdentifier: ['spaced'] })).toEqual([]);
    expect(await rest({ 'filter[tags]': ' plain' })).toEqual(['plain']);
    // An empty parameter is an empty list, as GraphQL's []: it matches nothing.
    expect(await rest({ 'filter[tags]': '' })).toEqual([]);
    expect(await graphql({ tags: [] })).toEqual([]);
  });

  it('accepts filter[createdAt][to] at its documented maximum, and a from/to pair around now', async () => {
    const own = await t.newEnvironment();
    await t.createSession(own.secretKey);
    const list = (params: Record<string, string>) =>
      t.fetch(`/api/v1/sessions?${new URLSearchParams(params)}`, { headers: { authorization: `Bearer ${own.secretKey}` } });
    const atMax = await list({ 'filter[createdAt][to]': String(LATEST_TIME_MS) });
    expect(atMax.status).toBe(200);
    expect(((await atMax.json()) as { data: unknown[] }).data).toHaveLength(1);
    expect((await list({ 'filter[createdAt][to]': String(LATEST_TIME_MS + 1) })).status).toBe(400);
  });

  it(`takes at most ${MAX_FILTER_VALUES} values per list filter: BAD_USER_INPUT over GraphQL, 400 over REST, before any query`, async () => {
    const many = Array.from({ length: MAX_FILTER_VALUES + 1 }, () => 'ACTIVE');
    t.queries.length = 0;
    const { status, body } = await t.gql(
      'query($s: [SessionStatus!]) { sessions(filter: { status: $s }) { edges { cursor } } }',
      { s: many },
      env.secretKey,
    );
    expect(status).toBe(400);
    expect(body.errors![0]).toMatchObject({
      message: `filter.status takes at most ${MAX_FILTER_VALUES} values`,
      extensions: { code: 'BAD_USER_INPUT' },
    });
    const rest = await t.fetch(
      `/api/v1/sessions?${new URLSearchParams({
        'filter[tags]': Array(MAX_FILTER_VALUES + 1)
          .fill('t')
          .join(','),
      })}`,
      { headers: auth() },
    );
    expect(rest.status).toBe(400);
    expect(t.sessionQueries()).toEqual([]);
    const enough = await t.gql(
      'query($s: [SessionStatus!]) { sessions(filter: { status: $s }) { edges { cursor } } }',
      { s: many.slice(1) },
      env.secretKey,
    );
    expect(enough.body.errors).toBeUndefined();
  });
});

describe('a client that leaves while its request waits for its environment’s turn', () => {
  it('frees the room it waited for: the environment is served afterwards', async () => {
    // One operation of the environment at a time; a body that never ends holds it until the
    // request timeout answers 408.
    const t = await startTestApp('pglite', { ENVIRONMENT_CONCURRENCY: '1', REQUEST_TIMEOUT_MS: '1500' });
    const sockets: Socket[] = [];
    try {
      const env = await t.newEnvironment();
      const s = await t.createSession(env.secretKey);
      const { hostname, port } = new URL(t.url);
      const open = () => {
        const socket = connect(Number(port), hostname);
        socket.on('error', () => {});
        sockets.push(socket);
        return new Promise<Socket>((resolve) => socket.once('connect', () => resolve(socket)));
      };
      const patch = (body: string, length = body.length) =>
        `PATCH /api/v1/sessions/${s.id} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${env.secretKey}\r\nContent-Type: application/json\r\nContent-Length: ${length}\r\n\r\n${body}`;
      // The first holds the room with a body it never finishes.
      const holder = await open();
      holder.write(patch('{"tags":', 100));
      await sleep(200);
      // The second waits in line with a whole request, then leaves.
      const leaver = await open();
      leaver.write(patch('{"tags":["left"]}'));
      await sleep(200);
      leaver.destroy();
      // Once the first times out, the room must come back: the leaver is no one's to wait for.
      const answered = await t.fetch(`/api/v1/sessions/${s.id}`, {
        headers: { authorization: `Bearer ${env.secretKey}` },
        signal: AbortSignal.timeout(10_000),
      });
      expect(answered.status).toBe(200);
      expect(((await answered.json()) as { tags: string[] }).tags).toEqual([]);
    } finally {
      for (const socket of sockets) socket.destroy();
      await t.close();
    }
  }, 30_000);
});
