import { readFileSync } from 'node:fs';
import type { Server } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type App, buildApp, type Listening, listen } from '../src/app.js';
import type { NewEnvironment } from '../src/auth/environments.js';
import { loadConfig } from '../src/config.js';
import { openDatabase } from '../src/db/client.js';
import { maskError } from '../src/http/errors.js';
import { drivers, RawConnection, rawRequest, SESSION_FIELDS, startTestApp, type TestApp } from './support.js';

const GQL_RESPONSE = 'application/graphql-response+json';

describe.each(drivers)('HTTP server on %s', (driver) => {
  let t: TestApp;
  let env: NewEnvironment;
  let server: Server;
  let url: string;
  beforeAll(async () => {
    t = await startTestApp(driver, { MAX_REQUEST_BYTES: '40000' });
    env = await t.newEnvironment();
    ({ server, url } = await listen(t.app, 0, '127.0.0.1'));
  });
  afterAll(async () => {
    await new Promise((resolve) => server?.close(resolve));
    await t?.close();
  });

  const post = (body: string, headers: Record<string, string> = {}) =>
    fetch(`${url}/graphql`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: GQL_RESPONSE, authorization: `Bearer ${env.secretKey}`, ...headers },
      body,
    });
  const codeOf = async (response: Response) => ((await response.json()) as any).errors?.[0]?.extensions?.code;

  it("answers /health with 200 and package.json's version, and /ready with 200 while the database is reachable", async () => {
    const health = await fetch(`${url}/health`);
    expect(health.status).toBe(200);
    const { version } = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string };
    expect(await health.json()).toEqual({ status: 'ok', version });
    expect(version).toMatch(/^\d+\.\d+\.\d+/);
    expect((await fetch(`${url}/ready`)).status).toBe(200);
  });

  it('serves a mutation over a real port', async () => {
    const response = await post(
      JSON.stringify({
        query: `mutation { createSession(input: {type: "chat", taskIdentifier: "t", triggerConfig: {basePayload: {}}}) { __typename } }`,
      }),
    );
    expect(response.status).toBe(200);
    expect(await response.json()).toEqual({ data: { createSession: { __typename: 'CreateSessionSuccess' } } });
  });

  it('refuses a body over MAX_REQUEST_BYTES with 413 PAYLOAD_TOO_LARGE before parsing it', async () => {
    const response = await post(`{"query": "${'x'.repeat(40_001)}"}`);
    expect(response.status).toBe(413);
    expect(await codeOf(response)).toBe('PAYLOAD_TOO_LARGE');
  });

  it('answers a chunked body over the limit 413 with Connection: close, closes cleanly, and the next connection works', async () => {
    const raw = await RawConnection.open(url);
    raw.write(rawRequest('POST', '/graphql', { 'content-type': 'application/json', 'transfer-encoding': 'chunked' }));
    const chunk = 'x'.repeat(10_000);
    for (let i = 0; i < 5; i++) raw.write(`${chunk.length.toString(16)}\r\n${chunk}\r\n`);
    const response = await raw.response();
    expect(response.status).toBe(413);
    expect(response.headers['connection']).toBe('close');
    expect(JSON.parse(response.body).errors[0].extensions.code).toBe('PAYLOAD_TOO_LARGE');
    expect(await raw.closed).toBe('end');
    expect((await post(JSON.stringify({ query: '{ __typename }' }))).status).toBe(200);
  });

  it('takes a body in a few dozen chunks, and refuses one in more pieces than its size allows (400, connection closed)', async () => {
    const body = JSON.stringify({ query: `{ __typename ${' '.repeat(4000)}}` });
    const send = async (pieces: number) => {
      const raw = await RawConnection.open(url);
      raw.write(rawRequest('POST', '/graphql', { 'content-type': 'application/json', 'transfer-encoding': 'chunked' }));
      const size = Math.ceil(body.length / pieces);
      for (let at = 0; at < body.length; at += size) {
        const part = body.slice(at, at + size);
        raw.write(`${Buffer.byteLength(part).toString(16)}\r\n${part}\r\n`);
        // One TCP segment each, as a client trickling its body would send them.
        await new Promise((resolve) => setImmediate(resolve));
      }
      raw.write('0\r\n\r\n');
      return raw;
    };
    const few = await send(40);
    expect((await few.response()).status).toBe(200);
    few.socket.destroy();
    // The limit here is 40,000 bytes: at most 625 pieces.
    const many = await send(body.length);
    const refused = await many.response();
    expect(refused.status).toBe(400);
    expect(JSON.parse(refused.body).errors[0]).toMatchObject({
      message: expect.stringContaining('more than 625 pieces'),
      extensions: { code: 'BAD_REQUEST' },
    });
    expect(refused.headers['connection']).toBe('close');
  });

  it('keeps a connection alive after a whole request, and closes it after a refusal with an unread body', async () => {
    const raw = await RawConnection.open(url);
    const body = JSON.stringify({ query: '{ __typename }' });
    const headers = { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) };
    raw.write(rawRequest('POST', '/graphql', headers, body));
    const first = await raw.response();
    expect(first.status).toBe(200);
    expect(first.headers['connection']).toBe('keep-alive');
    // Declared too large: refused from Content-Length, before a byte of the body is read.
    raw.write(rawRequest('POST', '/graphql', { 'content-type': 'application/json', 'content-length': 50_000 }, '{"query":'));
    const refused = await raw.response();
    expect(refused.status).toBe(413);
    expect(refused.headers['connection']).toBe('close');
    expect(await raw.closed).toBe('end');
  });

  it('sends every JSON answer whole, with Content-Length, never chunked, keeping the connection alive', async () => {
    const raw = await RawConnection.open(url);
    const json = { 'content-type': 'application/json' };
    const post = (body: string, headers: Record<string, string> = {}) =>
      rawRequest('POST', '/graphql', { ...json, ...headers, 'content-length': Buffer.byteLength(body) }, body);
    const requests = [
      post(JSON.stringify({ query: '{ __typename }' })), // the lean path
      post(JSON.stringify({ query: '{ __typename }' }), { accept: 'application/graphql-response+json' }),
      post(JSON.stringify({ query: '{ session(id: "session_x") { id } }' })), // unauthenticated: an error in data
      post('{not json'), // refused by the server before yoga
      rawRequest('GET', '/health', {}),
      rawRequest('GET', '/api/v1/sessions/session_x', {}), // REST, refused
      rawRequest('GET', '/metrics', {}),
    ];
    for (const request of requests) {
      raw.write(request);
      const response = await raw.response();
      expect(response.headers['transfer-encoding'], request).toBeUndefined();
      expect(Number(response.headers['content-length']), request).toBe(Buffer.byteLength(response.body));
      expect(response.body.length).toBeGreaterThan(0);
      // A request without a body is read whole as soon as its head is: answering it early closes nothing.
      expect(response.headers['connection'], request).toBe('keep-alive');
    }
  });

  it('answers malformed JSON and a request without a query with 400 BAD_REQUEST', async () => {
    for (const body of ['{not json', '{"variables": {}}']) {
      const response = await post(body);
      expect(response.status).toBe(400);
      expect(await codeOf(response)).toBe('BAD_REQUEST');
    }
  });

  it('refuses a mutation over GET with 400 BAD_REQUEST, as the contract table says', async () => {
    const query = encodeURIComponent('mutation { updateSession(id: "x", input: {}) { __typename } }');
    const response = await fetch(`${url}/graphql?query=${query}`, { headers: { accept: GQL_RESPONSE } });
    expect(response.status).toBe(400);
    expect(await codeOf(response)).toBe('BAD_REQUEST');
  });

  it('answers malformed JSON in GET variables, a body of another media type and an ambiguous operation with 400 BAD_REQUEST', async () => {
    const get = await fetch(`${url}/graphql?query=${encodeURIComponent('{ __typename }')}&variables=%7Bbad`, {
      headers: { accept: GQL_RESPONSE },
    });
    const text = await post('{ "query": "{ __typename }" }', { 'content-type': 'text/plain' });
    const ambiguous = await post(JSON.stringify({ query: 'query A { __typename } query B { __typename }' }));
    for (const response of [get, text, ambiguous]) {
      expect(response.status).toBe(400);
      expect(await codeOf(response)).toBe('BAD_REQUEST');
    }
  });

  it('does not echo the JSON parser’s message for a malformed body', async () => {
    const response = await post('{"query": "{ __typ');
    const body = (await response.json()) as any;
    expect(body.errors[0].extensions).toEqual({ code: 'BAD_REQUEST' });
  });

  it('answers malformed _entities representations as BAD_USER_INPUT, not as internal errors', async () => {
    const query = 'query($r: [_Any!]!) { _entities(representations: $r) { ... on Session { id } } }';
    for (const r of [[{ __typename: 'Session', id: 5 }], [{ __typename: 'Session' }], [{ __typename: 'Nope', id: 'x' }]]) {
      const response = await post(JSON.stringify({ query, variables: { r } }));
      expect(await codeOf(response)).toBe('BAD_USER_INPUT');
    }
  });

  it('answers a document that does not parse with 400 GRAPHQL_PARSE_FAILED', async () => {
    const response = await post(JSON.stringify({ query: '{ session(id: ' }));
    expect(response.status).toBe(400);
    expect(await codeOf(response)).toBe('GRAPHQL_PARSE_FAILED');
  });

  it('answers a document invalid against the schema with 400 GRAPHQL_VALIDATION_FAILED', async () => {
    const response = await post(JSON.stringify({ query: '{ session(id: "x") { nope } }' }));
    expect(response.status).toBe(400);
    expect(await codeOf(response)).toBe('GRAPHQL_VALIDATION_FAILED');
  });

  describe('operation limits, refused before anything runs', () => {
    const aliases = (n: number, field = 'id') =>
      `{ session(id: "x") { ${Array.from({ length: n }, (_, i) => `a${i}: ${field}`).join(' ')} } }`;

    it('allows 15 aliases and refuses 16', async () => {
      expect((await post(JSON.stringify({ query: aliases(15) }))).status).toBe(200);
      const response = await post(JSON.stringify({ query: aliases(16) }));
      expect(response.status).toBe(400);
      expect(await codeOf(response)).toBe('GRAPHQL_VALIDATION_FAILED');
    });

    it('does not count __typename aliases', async () => {
      const response = await post(JSON.stringify({ query: aliases(30, '__typename') }));
      expect(response.status).toBe(200);
    });

    it('refuses depth over 10', async () => {
      const nested = (depth: number) => {
        // Our own types are shallow; __type's ofType chain reaches any depth: __type + ofTypes + name.
        let selection = 'name';
        for (let i = 0; i < depth - 2; i++) selection = `ofType { ${selection} }`;
        return `{ __type(name: "Session") { ${selection} } }`;
      };
      expect((await post(JSON.stringify({ query: nested(10) }))).status).toBe(200);
      const response = await post(JSON.stringify({ query: nested(11) }));
      expect(response.status).toBe(400);
      expect(await codeOf(response)).toBe('GRAPHQL_VALIDATION_FAILED');
    });

    it('refuses more than 1000 tokens with GRAPHQL_PARSE_FAILED', async () => {
      const query = `{ session(id: "x") { ${'id '.repeat(1000)} } }`;
      const response = await post(JSON.stringify({ query }));
      expect(response.status).toBe(400);
      expect(await codeOf(response)).toBe('GRAPHQL_PARSE_FAILED');
    });

    it('fits a full page of 100 sessions with every field in the cost limit, and refuses two of them', async () => {
      const page = (alias: string) =>
        `${alias}: sessions(first: 100) { edges { cursor node { ${SESSION_FIELDS} } } pageInfo { hasNextPage endCursor } }`;
      expect((await post(JSON.stringify({ query: `{ ${page('a')} }` }))).status).toBe(200);
      const response = await post(JSON.stringify({ query: `{ ${page('a')} ${page('b')} }` }));
      expect(response.status).toBe(400);
      expect(await codeOf(response)).toBe('GRAPHQL_VALIDATION_FAILED');
    });

    it('refuses more than 50 directives', async () => {
      const query = `{ session(id: "x") { id ${'@include(if: true) '.repeat(51)} } }`;
      const response = await post(JSON.stringify({ query }));
      expect(response.status).toBe(400);
      expect(await codeOf(response)).toBe('GRAPHQL_VALIDATION_FAILED');
    });
  });
});

describe.each(drivers)('rate limit on %s', (driver) => {
  let t: TestApp;
  beforeAll(async () => {
    t = await startTestApp(driver, { RATE_LIMIT_PER_SECOND: '1', RATE_LIMIT_BURST: '3' });
  });
  afterAll(() => t?.close());

  const ask = (credential?: string) =>
    t.fetch('/graphql', {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        accept: GQL_RESPONSE,
        ...(credential ? { authorization: `Bearer ${credential}` } : {}),
      },
      body: JSON.stringify({ query: '{ session(id: "x") { id } }' }),
    });

  it('answers 429 RATE_LIMITED with Retry-After past the burst, per credential, and refills', async () => {
    const a = await t.newEnvironment();
    const b = await t.newEnvironment();
    for (let i = 0; i < 3; i++) expect((await ask(a.secretKey)).status).toBe(200);
    const limited = await ask(a.secretKey);
    expect(limited.status).toBe(429);
    expect(limited.headers.get('retry-after')).toBe('1');
    expect(((await limited.json()) as any).errors[0].extensions.code).toBe('RATE_LIMITED');
    expect((await ask(b.secretKey)).status).toBe(200);
    expect((await t.fetch('/health')).status).toBe(200);
    await new Promise((resolve) => setTimeout(resolve, 1100));
    expect((await ask(a.secretKey)).status).toBe(200);
  });

  it('refuses before anything runs: a limited update writes nothing', async () => {
    const env = await t.newEnvironment();
    for (let i = 0; i < 3; i++) await ask(env.secretKey);
    const { status, body } = await t.gql(
      `mutation { createSession(input: {type: "t", taskIdentifier: "t", triggerConfig: {basePayload: {}}}) { __typename } }`,
      {},
      env.secretKey,
    );
    expect(status).toBe(429);
    expect(body.errors![0]!.extensions!.code).toBe('RATE_LIMITED');
    const rows = await t.app.sessions.list({ kind: 'secret', environmentId: env.environmentId }, {});
    expect(rows.edges).toHaveLength(0);
  });
});

describe('when the database is unreachable', () => {
  // Nothing listens on port 1: every query fails to connect.
  let app: App;
  let served: Listening;
  beforeAll(async () => {
    const config = loadConfig({ DATABASE_URL: 'postgres://postgres@127.0.0.1:1/none', RATE_LIMIT_PER_SECOND: '0' });
    app = buildApp(config, await openDatabase(config));
    app.ready = true; // as if migrated before the database went away
    served = await listen(app, 0, '127.0.0.1');
  });
  afterAll(async () => {
    await served?.shutdown(0);
    await app?.close();
  });

  it('answers /ready with 503 and /health with 200', async () => {
    expect((await fetch(`${served.url}/ready`)).status).toBe(503);
    expect((await fetch(`${served.url}/health`)).status).toBe(200);
  });

  it('answers a data field with 503 SERVICE_UNAVAILABLE and Retry-After, masking the driver error', async () => {
    const response = await fetch(`${served.url}/graphql`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: GQL_RESPONSE, authorization: 'Bearer tr_dev_whatever' },
      body: JSON.stringify({ query: '{ session(id: "x") { id } }' }),
    });
    expect(response.status).toBe(503);
    expect(response.headers.get('retry-after')).toBe('1');
    const body = (await response.json()) as any;
    expect(body.errors[0].extensions.code).toBe('SERVICE_UNAVAILABLE');
    expect(JSON.stringify(body)).not.toMatch(/ECONNREFUSED|127\.0\.0\.1|stack/);
  });
});

describe('maskError', () => {
  it('hides the message, SQL and stack of an unexpected error behind INTERNAL_SERVER_ERROR', () => {
    const cause = Object.assign(new Error('duplicate key value violates "secret_table"'), { code: '23505' });
    const error = Object.assign(new Error('Failed query: select * from secret_table'), { cause });
    const masked = maskError(error) as any;
    expect(masked.message).toBe('Unexpected error.');
    expect(masked.extensions).toEqual({ code: 'INTERNAL_SERVER_ERROR', http: { status: 500 } });
    expect(JSON.stringify(masked.toJSON())).not.toMatch(/secret_table|at /);
  });

  it('answers a PostgreSQL data exception as bad input, not as an internal error', () => {
    const masked = maskError(Object.assign(new Error('invalid byte sequence'), { code: '22021' })) as any;
    expect(masked.extensions.code).toBe('BAD_USER_INPUT');
  });
});
