import v8 from 'node:v8';
import vm from 'node:vm';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { NewEnvironment } from '../src/auth/environments.js';
import { DOCUMENT_CACHE } from '../src/http/plugins/parser-cache.js';
import { drivers, startTestApp, type TestApp, UPDATE } from './support.js';

/**
 * Request text is data, never code: documents written to break out of a code generator run
 * nothing, inline literals keep every key a variable would, and no stream of distinct documents
 * makes the process keep what it parsed beyond a fixed number of bytes. (The server runs in this
 * process, so anything a payload ran would show here.)
 */

declare global {
  // eslint-disable-next-line no-var
  var __pwned: unknown;
}

const SIDE_EFFECT = 'globalThis.__pwned=1,process.stdout.write(`PWNED`)';
/** Strings written to escape from generated JavaScript (graphql-jit's date marker first). */
const BREAKOUTS = [
  `__MAGIC_DATE__33a9e76d_02e0_4128_8e92_3530ad3da74d0)&&(${SIDE_EFFECT})&&(0`,
  `"+(${SIDE_EFFECT})+"`,
  `'+(${SIDE_EFFECT})+'`,
  `\${${SIDE_EFFECT}}`,
  `\`+(${SIDE_EFFECT})+\``,
  `*/(${SIDE_EFFECT})/*`,
  `\n}(${SIDE_EFFECT});function x(){\n`,
  `\u2028(${SIDE_EFFECT})\u2029`,
  `</script><script>${SIDE_EFFECT}</script>`,
];
/** A GraphQL string literal (its escapes are JSON's). */
const literal = (s: string) => JSON.stringify(s);

describe.each(drivers)('documents written to run code on %s', (driver) => {
  let t: TestApp;
  let env: NewEnvironment;
  let printed: string[];
  const write = process.stdout.write.bind(process.stdout);
  beforeAll(async () => {
    t = await startTestApp(driver);
    env = await t.newEnvironment();
  });
  afterAll(() => t?.close());
  beforeEach(() => {
    printed = [];
    process.stdout.write = ((chunk: string | Uint8Array, ...rest: never[]) => {
      printed.push(String(chunk));
      return write(chunk, ...rest);
    }) as typeof process.stdout.write;
  });
  afterEach(() => {
    process.stdout.write = write;
  });

  const ranNothing = () => {
    expect(globalThis.__pwned).toBeUndefined();
    expect(printed.join('')).not.toContain('PWNED');
  };

  const send = async (query: string, credential?: string, method: 'GET' | 'POST' = 'POST') => {
    const headers: Record<string, string> = { accept: 'application/graphql-response+json' };
    if (credential) headers['authorization'] = `Bearer ${credential}`;
    const response =
      method === 'GET'
        ? await t.fetch(`/graphql?query=${encodeURIComponent(query)}`, { headers })
        : await t.fetch('/graphql', {
            method,
            headers: { ...headers, 'content-type': 'application/json' },
            body: JSON.stringify({ query }),
          });
    return { status: response.status, body: (await response.json()) as { data?: any; errors?: unknown[] } };
  };

  it.each(BREAKOUTS.map((b, i) => [i, b]))(
    'runs nothing of breakout %i in __type(name:), without a credential, over GET and POST',
    async (_i, breakout) => {
      for (const method of ['GET', 'POST'] as const) {
        const { status, body } = await send(`{ __type(name: ${literal(breakout)}) { name } }`, undefined, method);
        expect(status).toBe(200);
        expect(body).toEqual({ data: { __type: null } });
      }
      ranNothing();
    },
  );

  it.each(BREAKOUTS.map((b, i) => [i, b]))(
    'runs nothing of breakout %i in session(id:), and looks the id up as given',
    async (_i, breakout) => {
      const { body } = await send(`{ session(id: ${literal(breakout)}) { id } }`, env.secretKey);
      expect(body).toEqual({ data: { session: null } });
      ranNothing();
    },
  );

  it('stores breakouts written in metadata, tags and trigger config literals exactly, running none of them', async () => {
    const tags = BREAKOUTS.slice(0, 10).map((b) => b.slice(0, 128));
    const metadata = Object.fromEntries(BREAKOUTS.map((b, i) => [`k${i}`, b]));
    const fields = Object.entries(metadata)
      .map(([k, v]) => `${k}: ${literal(v)}`)
      .join(', ');
    const create = await send(
      `mutation { createSession(input: { type: ${literal(BREAKOUTS[0]!.slice(0, 64))}, taskIdentifier: ${literal(BREAKOUTS[1]!)},
        triggerConfig: { basePayload: { ${fields} }, queue: ${literal(BREAKOUTS[2]!)} } }) {
        __typename ... on CreateSessionSuccess { session { id type taskIdentifier triggerConfig { basePayload queue } } } } }`,
      env.secretKey,
    );
    const created = create.body.data.createSession;
    expect(created.__typename).toBe('CreateSessionSuccess');
    expect(created.session.triggerConfig).toEqual({ basePayload: metadata, queue: BREAKOUTS[2] });
    const update = await send(
      `mutation { updateSession(id: ${literal(created.session.id)}, input: { tags: [${tags.map(literal).join(', ')}], metadata: { ${fields} } }) {
        __typename ... on UpdateSessionSuccess { session { tags metadata } } } }`,
      env.secretKey,
    );
    expect(update.body.data.updateSession).toEqual({ __typename: 'UpdateSessionSuccess', session: { tags, metadata } });
    const row = await t.row(env.environmentId, created.session.id);
    expect(row).toMatchObject({ tags, metadata, type: BREAKOUTS[0]!.slice(0, 64), taskIdentifier: BREAKOUTS[1] });
    ranNothing();
  });

  it('answers aliases, operation and variable names that name Object.prototype members as the names they are', async () => {
    const s = await t.createSession(env.secretKey);
    const response = await t.fetch('/graphql', {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${env.secretKey}` },
      body: `{"query":"query constructor($valueOf: ID!) { __proto__: session(id: $valueOf) { toString: id constructor: version } hasOwnProperty: __typename }","variables":{"valueOf":${JSON.stringify(s.id)}},"operationName":"constructor"}`,
    });
    const text = await response.text();
    expect(response.status).toBe(200);
    expect(text).toBe(`{"data":{"__proto__":{"toString":${JSON.stringify(s.id)},"constructor":1},"hasOwnProperty":"Query"}}`);
    expect(({} as Record<string, unknown>)['toString']).toBe(Object.prototype.toString);
    ranNothing();
  });
});

/** Object keys sorted, own keys only (`__proto__` included), as jsonb compares them. */
function canonical(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonical).join(',')}]`;
  if (value === null || typeof value !== 'object') return JSON.stringify(value);
  const keys = Object.keys(value).sort();
  return `{${keys.map((k) => `${JSON.stringify(k)}:${canonical((value as Record<string, unknown>)[k])}`).join(',')}}`;
}

describe.each(drivers)('inline literals and variables on %s', (driver) => {
  let t: TestApp;
  let env: NewEnvironment;
  beforeAll(async () => {
    t = await startTestApp(driver);
    env = await t.newEnvironment();
  });
  afterAll(() => t?.close());

  const HOSTILE = `{ a: { __proto__: { isAdmin: true } }, b: 1, constructor: { prototype: { polluted: true } }, toString: "s",
    hasOwnProperty: [1, { __proto__: null }], valueOf: { __defineGetter__: "x" } }`;
  const HOSTILE_JSON =
    '{"a":{"__proto__":{"isAdmin":true}},"b":1,"constructor":{"prototype":{"polluted":true}},"toString":"s",' +
    '"hasOwnProperty":[1,{"__proto__":null}],"valueOf":{"__defineGetter__":"x"}}';

  const updateWith = async (body: string) => {
    const response = await t.fetch('/graphql', {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${env.secretKey}` },
      body,
    });
    return ((await response.json()) as { data: { updateSession: { __typename: string; actualBytes?: number } } }).data.updateSession;
  };

  it('keeps every key of an inline metadata literal, __proto__ included, exactly as the same value sent as a variable', async () => {
    const inline = await t.createSession(env.secretKey);
    const variable = await t.createSession(env.secretKey);
    const literalQuery = `mutation { updateSession(id: ${JSON.stringify(inline.id)}, input: { metadata: ${HOSTILE} }) { __typename } }`;
    expect(await updateWith(JSON.stringify({ query: literalQuery }))).toEqual({ __typename: 'UpdateSessionSuccess' });
    expect(
      await updateWith(
        `{"query":${JSON.stringify(UPDATE)},"variables":{"id":${JSON.stringify(variable.id)},"input":{"metadata":${HOSTILE_JSON}}}}`,
      ),
    ).toMatchObject({ __typename: 'UpdateSessionSuccess' });
    const fromLiteral = (await t.row(env.environmentId, inline.id))!.metadata;
    const fromVariable = (await t.row(env.environmentId, variable.id))!.metadata;
    expect(canonical(fromLiteral)).toBe(canonical(JSON.parse(HOSTILE_JSON)));
    expect(canonical(fromVariable)).toBe(canonical(fromLiteral));
    expect(Object.keys(fromLiteral!['a'] as object)).toEqual(['__proto__']);
    // Nothing reached a prototype.
    expect(({} as Record<string, unknown>)['isAdmin']).toBeUndefined();
    expect(({} as Record<string, unknown>)['polluted']).toBeUndefined();
  });

  it('measures a literal and a variable alike for the 32 KB rule, __proto__ keys included', async () => {
    const s = await t.createSession(env.secretKey);
    const big = 'x'.repeat(16_400);
    const literalQuery = `mutation { updateSession(id: ${JSON.stringify(s.id)}, input: { metadata: { __proto__: { p: "${big}" }, q: "${big}" } }) {
      __typename ... on PayloadTooLargeError { actualBytes } } }`;
    const viaLiteral = await updateWith(JSON.stringify({ query: literalQuery }));
    const viaVariable = await updateWith(
      `{"query":"mutation($id: ID!, $input: UpdateSessionInput!) { updateSession(id: $id, input: $input) { __typename ... on PayloadTooLargeError { actualBytes } } }",` +
        `"variables":{"id":${JSON.stringify(s.id)},"input":{"metadata":{"__proto__":{"p":"${big}"},"q":"${big}"}}}}`,
    );
    const actualBytes = Buffer.byteLength(`{"metadata":{"__proto__":{"p":"${big}"},"q":"${big}"}}`);
    expect(actualBytes).toBeGreaterThan(32_768);
    expect(viaLiteral).toEqual({ __typename: 'PayloadTooLargeError', actualBytes });
    expect(viaVariable).toEqual(viaLiteral);
    expect((await t.row(env.environmentId, s.id))!.version).toBe(1);
  });

  it('keeps __proto__ keys of a REST body, and refuses __proto__ as a field of the body itself', async () => {
    const s = await t.createSession(env.secretKey);
    const patch = (body: string) =>
      t.fetch(`/api/v1/sessions/${s.id}`, {
        method: 'PATCH',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${env.secretKey}` },
        body,
      });
    expect((await patch(`{"metadata":${HOSTILE_JSON}}`)).status).toBe(200);
    expect(canonical((await t.row(env.environmentId, s.id))!.metadata)).toBe(canonical(JSON.parse(HOSTILE_JSON)));
    const refused = await patch('{"__proto__":{"tags":["x"]},"tags":["y"]}');
    expect(refused.status).toBe(400);
    expect((await t.row(env.environmentId, s.id))!.tags).toEqual([]);
  });
});

describe.each(drivers)('memory under distinct documents on %s', (driver) => {
  let t: TestApp;
  beforeAll(async () => {
    t = await startTestApp(driver);
  });
  afterAll(() => t?.close());

  v8.setFlagsFromString('--expose-gc');
  const gc = vm.runInNewContext('gc') as () => void;
  const heap = () => {
    gc();
    gc();
    return process.memoryUsage().heapUsed;
  };

  it('keeps at most the parse cache bound of 1,500 distinct 900-token documents, sent without a credential', async () => {
    const before = heap();
    for (let i = 0; i < 1500; i += 50) {
      await Promise.all(
        Array.from({ length: 50 }, (_, j) => {
          // ~900 tokens: the costly kind to keep (each token is several objects once parsed).
          const fields = Array.from({ length: 220 }, (_, k) => `a${k}: __typename`).join(' ');
          const query = `query Q${i + j} { ${fields} __type(name: "${String(i + j).padStart(6, '0')}") { name } }`;
          return t
            .fetch('/graphql', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ query }) })
            .then((r) => r.arrayBuffer());
        }),
      );
    }
    const grown = heap() - before;
    // yoga's default cache (1,024 documents by count alone) would hold about 250 MB of these.
    expect(grown).toBeLessThan(DOCUMENT_CACHE.bytes + 40 * 1024 * 1024);
  }, 120_000);
});

describe('the parse cache bound', () => {
  it('holds documents up to DOCUMENT_CACHE.bytes, whatever their number', async () => {
    const { boundedParserCache } = await import('../src/http/plugins/parser-cache.js');
    const { parse } = await import('graphql');
    const { documentCache } = boundedParserCache();
    for (let i = 0; i < 3000; i++) {
      const source = `{ ${Array.from({ length: 100 }, (_, k) => `a${k}: f${i}`).join(' ')} }`;
      documentCache.set(source, parse(source));
    }
    expect(documentCache.calculatedSize).toBeLessThanOrEqual(DOCUMENT_CACHE.bytes);
    expect(documentCache.size).toBeLessThan(3000);
  });
});
