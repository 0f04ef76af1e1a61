import { readFileSync } from 'node:fs';
import { build } from 'esbuild';
import { batchRequests } from 'graphql-request';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { NewEnvironment } from '../src/auth/environments.js';
import { NOT_ACCEPTABLE } from '../src/http/plugins/not-acceptable.js';
import { baseCreateInput, drivers, GET, RawConnection, rawRequest, startTestApp, type TestApp, UPDATE } from './support.js';

const root = new URL('..', import.meta.url).pathname;

const post = (t: TestApp, body: unknown, headers: Record<string, string> = {}) =>
  t.fetch('/graphql', {
    method: 'POST',
    headers: { 'content-type': 'application/json', accept: 'application/graphql-response+json', ...headers },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });

describe.each(drivers)('batching on %s', (driver) => {
  let t: TestApp;
  let env: NewEnvironment;
  beforeAll(async () => {
    t = await startTestApp(driver);
    env = await t.newEnvironment();
  });
  afterAll(() => t?.close());
  const auth = () => ({ authorization: `Bearer ${env.secretKey}` });

  it("answers graphql-request's batchRequests with each result in order", async () => {
    const s = await t.createSession(env.secretKey, baseCreateInput({ externalId: 'batch-1' }));
    const results = await batchRequests(
      `${t.url}/graphql`,
      [
        { document: GET, variables: { id: 'batch-1' } },
        { document: UPDATE, variables: { id: 'batch-1', input: { tags: ['batched'] } } },
        { document: GET, variables: { id: 'session_nope' } },
      ],
      auth(),
    );
    expect(results.map((r) => Object.keys(r.data as object))).toEqual([['session'], ['updateSession'], ['session']]);
    expect((results[0]!.data as any).session.id).toBe(s.id);
    expect((results[1]!.data as any).updateSession.session).toMatchObject({ tags: ['batched'], version: 2 });
    expect((results[2]!.data as any).session).toBeNull();
    expect((await t.row(env.environmentId, s.id))!.tags).toEqual(['batched']);
  });

  it('accepts 10 operations and refuses 11 with 400, running none of them', async () => {
    const s = await t.createSession(env.secretKey);
    const op = { query: UPDATE, variables: { id: s.id, input: { tags: ['ten'] } } };
    const ten = await post(t, Array(10).fill(op), auth());
    expect(ten.status).toBe(200);
    expect(((await ten.json()) as unknown[]).length).toBe(10);
    expect((await t.row(env.environmentId, s.id))!.version).toBe(11);
    const eleven = await post(t, Array(11).fill(op), auth());
    expect(eleven.status).toBe(400);
    expect(((await eleven.json()) as any).errors[0].extensions.code).toBe('BAD_REQUEST');
    expect((await t.row(env.environmentId, s.id))!.version).toBe(11);
  });

  it('bounds and authenticates each operation as if sent alone', async () => {
    const tooManyAliases = `{ session(id: "x") { ${Array.from({ length: 16 }, (_, i) => `a${i}: id`).join(' ')} } }`;
    const response = await post(
      t,
      [{ query: '{ __typename }' }, { query: tooManyAliases }, { query: GET, variables: { id: 'x' } }],
      auth(),
    );
    const [ok, bounded, read] = (await response.json()) as any[];
    expect(ok).toEqual({ data: { __typename: 'Query' } });
    expect(bounded.errors[0].extensions.code).toBe('GRAPHQL_VALIDATION_FAILED');
    expect(bounded).not.toHaveProperty('data');
    expect(read).toEqual({ data: { session: null } });

    const anonymous = await post(t, [{ query: '{ __typename }' }, { query: GET, variables: { id: 'x' } }]);
    const [open, refused] = (await anonymous.json()) as any[];
    expect(open).toEqual({ data: { __typename: 'Query' } });
    expect(refused).toEqual({ errors: [expect.objectContaining({ extensions: { code: 'UNAUTHENTICATED' } })] });
  });
});

describe.each(drivers)('the rate limit and batches on %s', (driver) => {
  let t: TestApp;
  beforeAll(async () => {
    t = await startTestApp(driver, { RATE_LIMIT_PER_SECOND: '1', RATE_LIMIT_BURST: '4' });
  });
  afterAll(() => t?.close());

  it('counts each operation of a batch: a batch of 5 is over a burst of 4, and runs nothing', async () => {
    const env = await t.newEnvironment();
    const s = await t.createSession(env.secretKey); // one token
    const op = { query: UPDATE, variables: { id: s.id, input: { tags: ['x'] } } };
    const response = await post(t, Array(5).fill(op), { authorization: `Bearer ${env.secretKey}` });
    expect(response.status).toBe(429);
    expect(response.headers.get('retry-after')).not.toBeNull();
    expect((await t.row(env.environmentId, s.id))!.version).toBe(1);
  });

  it('keys on the credential however it is spelled: scheme case and spaces share one bucket', async () => {
    const env = await t.newEnvironment();
    const spellings = [`Bearer ${env.secretKey}`, `bearer ${env.secretKey}`, `BEARER   ${env.secretKey}`, `  Bearer ${env.secretKey}  `];
    const statuses: number[] = [];
    for (const authorization of [...spellings, ...spellings]) {
      statuses.push((await post(t, { query: GET, variables: { id: 'x' } }, { authorization })).status);
    }
    expect(statuses.slice(0, 4)).toEqual([200, 200, 200, 200]);
    expect(statuses.slice(4)).toEqual([429, 429, 429, 429]);
  });

  it('sends x-ratelimit-limit, -remaining and -reset on every answer', async () => {
    const env = await t.newEnvironment();
    const first = await post(t, { query: GET, variables: { id: 'x' } }, { authorization: `Bearer ${env.secretKey}` });
    expect(first.headers.get('x-ratelimit-limit')).toBe('4');
    expect(first.headers.get('x-ratelimit-remaining')).toBe('3');
    expect(Number(first.headers.get('x-ratelimit-reset'))).toBeGreaterThanOrEqual(1);
    const get = await t.fetch(`/graphql?query=${encodeURIComponent('{ __typename }')}`, {
      headers: { authorization: `Bearer ${env.secretKey}` },
    });
    expect(get.headers.get('x-ratelimit-remaining')).toBe('2');
  });
});

describe.each(drivers)('failed authentications on %s', (driver) => {
  let t: TestApp;
  beforeAll(async () => {
    t = await startTestApp(driver, { RATE_LIMIT_PER_SECOND: '1', RATE_LIMIT_BURST: '5' });
  });
  afterAll(() => t?.close());

  it('are charged to the client address, never to a key of their own, while a valid new key from there is served', async () => {
    t.queries.length = 0;
    const statuses: number[] = [];
    for (let i = 0; i < 12; i++) {
      const madeUp = `tr_dev_madeup${i}${'x'.repeat(30)}`;
      statuses.push((await post(t, { query: GET, variables: { id: 'x' } }, { authorization: `Bearer ${madeUp}` })).status);
    }
    expect(statuses.slice(0, 5)).toEqual([401, 401, 401, 401, 401]);
    expect(statuses.slice(5).every((s) => s === 429)).toBe(true);
    // Each made-up key was looked up (a real one cannot be told from it without a lookup) ...
    expect(t.queries.filter((q) => q.includes('"api_keys"')).length).toBeLessThanOrEqual(12);
    // ... so a key never seen before, from the same address whose budget is spent, is answered.
    const env = await t.newEnvironment();
    const good = await post(t, { query: GET, variables: { id: 'x' } }, { authorization: `Bearer ${env.secretKey}` });
    expect(good.status).toBe(200);
    expect(await good.json()).toEqual({ data: { session: null } });
  });
});

describe.each(drivers)('a flood of made-up keys on %s', (driver) => {
  it('never refuses a valid key that is not cached yet, and looks the made-up ones up in batches', async () => {
    const t = await startTestApp(driver, { RATE_LIMIT_PER_SECOND: '1', RATE_LIMIT_BURST: '100' });
    try {
      const envs = await Promise.all(Array.from({ length: 6 }, () => t.newEnvironment()));
      t.queries.length = 0;
      const madeUp: Promise<number>[] = [];
      const valid: Promise<number>[] = [];
      for (let wave = 0; wave < 6; wave++) {
        for (let i = 0; i < 50; i++) {
          const key = `tr_dev_flood${wave}_${i}${'y'.repeat(30)}`;
          madeUp.push(post(t, { query: GET, variables: { id: 'x' } }, { authorization: `Bearer ${key}` }).then((r) => r.status));
        }
        // A key no request has used yet, sent in the middle of the wave.
        valid.push(
          post(t, { query: GET, variables: { id: 'x' } }, { authorization: `Bearer ${envs[wave]!.secretKey}` }).then((r) => r.status),
        );
        await Promise.all(madeUp.slice(-50));
      }
      expect(await Promise.all(valid)).toEqual([200, 200, 200, 200, 200, 200]);
      const refused = await Promise.all(madeUp);
      expect(refused.every((s) => s === 401 || s === 429)).toBe(true);
      expect(refused.filter((s) => s === 429).length).toBeGreaterThan(0); // the address's budget, spent by failures
      // Batched on a real server: fewer statements than keys. (PGlite answers each lookup within the
      // turn that asked, so nothing waits to join a batch; it has no pool to protect either.)
      const lookups = t.queries.filter((q) => q.includes('"api_keys"')).length;
      if (driver === 'postgres') expect(lookups).toBeLessThan(300);
    } finally {
      await t.close();
    }
  });
});

describe.each(drivers)('client addresses behind a proxy on %s', (driver) => {
  let made = 0;
  const madeUp = (i: number) => ({ authorization: `Bearer tr_dev_proxied${i}${'x'.repeat(30)}` });
  const failFrom = async (t: TestApp, forwarded: string, n: number) => {
    const statuses: number[] = [];
    for (let i = made; i < made + n; i++) {
      statuses.push((await post(t, { query: GET, variables: { id: 'x' } }, { ...madeUp(i), 'x-forwarded-for': forwarded })).status);
    }
    made += n;
    return statuses;
  };

  it('with TRUST_PROXY=1, charges failed authentications to the forwarded address (the one the proxy saw)', async () => {
    const t = await startTestApp(driver, { RATE_LIMIT_PER_SECOND: '1', RATE_LIMIT_BURST: '2', TRUST_PROXY: '1' });
    try {
      expect(await failFrom(t, '203.0.113.7', 3)).toEqual([401, 401, 429]);
      // Another client behind the same proxy keeps its own budget, whatever it claims further left.
      expect(await failFrom(t, '203.0.113.7, 198.51.100.9', 2)).toEqual([401, 401]);
    } finally {
      await t.close();
    }
  });

  it('without TRUST_PROXY, ignores X-Forwarded-For (a client cannot pick its own address)', async () => {
    const t = await startTestApp(driver, { RATE_LIMIT_PER_SECOND: '1', RATE_LIMIT_BURST: '2' });
    try {
      expect(await failFrom(t, '203.0.113.1', 2)).toEqual([401, 401]);
      expect(await failFrom(t, '203.0.113.2', 1)).toEqual([429]);
    } finally {
      await t.close();
    }
  });
});

describe.each(drivers)('first contact on %s', (driver) => {
  let t: TestApp;
  let env: NewEnvironment;
  beforeAll(async () => {
    t = await startTestApp(driver);
    env = await t.newEnvironment();
  });
  afterAll(() => t?.close());

  it('says the Bearer scheme is missing when the header holds a bare key', async () => {
    const response = await post(t, { query: GET, variables: { id: 'x' } }, { authorization: env.secretKey });
    expect(response.status).toBe(401);
    const { errors } = (await response.json()) as any;
    expect(errors[0].message).toBe(
      'The Authorization header has a credential but no scheme: send "Authorization: Bearer <secret key or public access token>"',
    );
  });

  it('answers a form-encoded POST (curl -d) like any other media type: 400 BAD_REQUEST saying to send JSON', async () => {
    const response = await t.fetch('/graphql', {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: `Bearer ${env.secretKey}` },
      body: 'query={ __typename }',
    });
    expect(response.status).toBe(400);
    const { errors } = (await response.json()) as any;
    expect(errors[0]).toMatchObject({
      message: expect.stringContaining('Send the operation as JSON'),
      extensions: { code: 'BAD_REQUEST' },
    });
  });

  it('refuses a multipart body (no field takes a file), storing nothing', async () => {
    const s = await t.createSession(env.secretKey);
    const before = await t.row(env.environmentId, s.id);
    const form = new FormData();
    form.set('operations', JSON.stringify({ query: UPDATE, variables: { id: s.id, input: { metadata: null } } }));
    form.set('map', JSON.stringify({ 0: ['variables.input.metadata'] }));
    form.set('0', new Blob(['file contents'], { type: 'text/plain' }), 'a.txt');
    const response = await t.fetch('/graphql', { method: 'POST', headers: { authorization: `Bearer ${env.secretKey}` }, body: form });
    expect(response.status).toBe(400);
    expect(((await response.json()) as any).errors[0].extensions.code).toBe('BAD_REQUEST');
    expect(await t.row(env.environmentId, s.id)).toEqual(before);
  });

  it('gives no cross-origin access by default', async () => {
    const response = await post(t, { query: '{ __typename }' }, { origin: 'https://evil.example' });
    expect(response.status).toBe(200);
    expect(response.headers.get('access-control-allow-origin')).toBeNull();
    expect(response.headers.get('access-control-allow-credentials')).toBeNull();
    const preflight = await t.fetch('/graphql', {
      method: 'OPTIONS',
      headers: { origin: 'https://evil.example', 'access-control-request-method': 'POST' },
    });
    expect(preflight.headers.get('access-control-allow-origin')).toBeNull();
  });
});

describe('CORS_ORIGINS', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await startTestApp('pglite', { CORS_ORIGINS: 'https://app.example, https://admin.example' });
  });
  afterAll(() => t?.close());

  it('lets the listed origins call, with the Authorization header, never with cookies', async () => {
    const preflight = await t.fetch('/graphql', {
      method: 'OPTIONS',
      headers: {
        origin: 'https://app.example',
        'access-control-request-method': 'POST',
        'access-control-request-headers': 'authorization, content-type',
      },
    });
    expect(preflight.status).toBe(204);
    expect(preflight.headers.get('access-control-allow-origin')).toBe('https://app.example');
    expect(preflight.headers.get('access-control-allow-headers')).toMatch(/Authorization/);
    expect(preflight.headers.get('access-control-allow-credentials')).toBeNull();
    const response = await post(t, { query: '{ __typename }' }, { origin: 'https://admin.example' });
    expect(response.headers.get('access-control-allow-origin')).toBe('https://admin.example');
    expect(response.headers.get('vary')).toMatch(/Origin/);
    const other = await post(t, { query: '{ __typename }' }, { origin: 'https://other.example' });
    expect(other.headers.get('access-control-allow-origin')).toBeNull();
  });
});

describe.each(drivers)('what a first hour meets on %s', (driver) => {
  let t: TestApp;
  beforeAll(async () => {
    t = await startTestApp(driver);
  });
  afterAll(() => t?.close());

  it("names GraphiQL's placeholder key as the placeholder, and where the real key is, without a lookup", async () => {
    t.queries.length = 0;
    const body = JSON.stringify({ query: GET, variables: { id: 'x' } });
    for (const placeholder of ['tr_dev_...', 'tr_dev_…']) {
      // As curl sends it: the README's ellipsis goes out as UTF-8 bytes (fetch refuses to send it).
      const connection = await RawConnection.open(t.url);
      connection.write(
        Buffer.concat([
          Buffer.from(
            rawRequest('POST', '/graphql', {
              'content-type': 'application/json',
              'content-length': Buffer.byteLength(body),
              authorization: 'Bearer ',
            }).replace(/\r\n\r\n$/, ''),
          ),
          Buffer.from(`${placeholder}\r\n\r\n${body}`, 'utf8'),
        ]),
      );
      const response = await connection.response();
      connection.socket.destroy();
      expect(response.status).toBe(401);
      const { errors } = JSON.parse(response.body);
      expect(errors[0]).toEqual({
        message: `${placeholder} is the placeholder GraphiQL and the README show, not a key: put in its place the secret key npm start printed on its first start (lost it? \`npm run -s cli -- key rotate --env dev\` makes a new one)`,
        extensions: { code: 'UNAUTHENTICATED' },
      });
    }
    const rest = await t.fetch('/api/v1/sessions/chat_1234', { headers: { authorization: 'Bearer tr_dev_...' } });
    expect(rest.status).toBe(401);
    expect(((await rest.json()) as any).error).toMatch(/^tr_dev_\.\.\. is the placeholder/);
    expect(t.queries.filter((q) => q.includes('"api_keys"'))).toEqual([]);
    // A made-up key of the same shape is still just an invalid one.
    const wrong = await post(t, { query: GET, variables: { id: 'x' } }, { authorization: `Bearer tr_dev_${'x'.repeat(32)}` });
    expect(((await wrong.json()) as any).errors[0].message).toBe('Invalid or revoked secret key');
  });
});

describe('GraphiQL asked for while it is off (NODE_ENV=production)', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await startTestApp('pglite', { NODE_ENV: 'production' });
  });
  afterAll(() => t?.close());

  it('answers the page a browser asks for with 406 and one line saying why and how to turn it on', async () => {
    for (const accept of ['text/html', 'text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8']) {
      const response = await t.fetch('/graphql', { headers: { accept } });
      expect(response.status).toBe(406);
      expect(response.headers.get('content-type')).toBe('text/plain; charset=utf-8');
      expect(await response.text()).toBe(`${NOT_ACCEPTABLE.graphiqlOff}\n`);
    }
    expect(NOT_ACCEPTABLE.graphiqlOff).toMatch(/NODE_ENV=production .* GRAPHIQL=1/);
    // An operation over GET from the same browser still runs.
    const get = await t.fetch(`/graphql?query=${encodeURIComponent('{ __typename }')}`, {
      headers: { accept: 'text/html, application/json' },
    });
    expect(await get.json()).toEqual({ data: { __typename: 'Query' } });
  });

  it('answers an Accept that allows nothing served with 406 and a line naming what is', async () => {
    const response = await post(t, { query: '{ __typename }' }, { accept: 'text/plain' });
    expect(response.status).toBe(406);
    expect(await response.text()).toBe(`${NOT_ACCEPTABLE.nothingFits}\n`);
  });
});

describe('a production install (npm ci with NODE_ENV=production: no devDependencies)', () => {
  it('has every package npm start and the CLI import, build step included', async () => {
    const pkg = JSON.parse(readFileSync(`${root}package.json`, 'utf8')) as {
      dependencies: Record<string, string>;
      scripts: Record<string, string>;
    };
    const imported = new Set<string>();
    for (const entry of ['src/main.ts', 'src/cli.ts']) {
      const { metafile } = await build({
        entryPoints: [`${root}${entry}`],
        bundle: true,
        platform: 'node',
        format: 'esm',
        packages: 'external',
        write: false,
        metafile: true,
        logLevel: 'silent',
      });
      for (const input of Object.values(metafile.inputs)) {
        for (const { path, external } of input.imports) if (external && !path.startsWith('node:')) imported.add(packageName(path));
      }
    }
    // What the scripts themselves run: the build (esbuild) before npm start, tsx for the CLI.
    imported.add('esbuild');
    expect(pkg.scripts['prestart']).toBe('node scripts/build.mjs');
    imported.add('tsx');
    expect(pkg.scripts['cli']).toContain('--import tsx');
    expect(imported.size).toBeGreaterThan(10);
    expect([...imported].filter((name) => !(name in pkg.dependencies)).sort()).toEqual([]);
  });
});

/** `@scope/name/sub` → `@scope/name`; `name/sub` → `name`. */
function packageName(specifier: string): string {
  const parts = specifier.split('/');
  return specifier.startsWith('@') ? parts.slice(0, 2).join('/') : parts[0]!;
}
