import { setTimeout as sleep } from 'node:timers/promises';
import { eq } from 'drizzle-orm';
import { SignJWT } from 'jose';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createToken, type NewEnvironment, rotateKey } from '../src/auth/environments.js';
import { signPublicToken } from '../src/auth/tokens.js';
import { environments, sessions } from '../src/db/schema.js';
import { baseCreateInput, CREATE, drivers, GET, type GqlResponse, startTestApp, type TestApp, UPDATE } from './support.js';

describe.each(drivers)('credentials and Query.session on %s', (driver) => {
  let t: TestApp;
  let env: NewEnvironment;
  beforeAll(async () => {
    t = await startTestApp(driver);
  });
  afterAll(() => t?.close());
  beforeEach(async () => {
    env = await t.newEnvironment();
  });

  const read = (id: string, credential?: string) => t.gql(GET, { id }, credential).then((r) => ({ ...r, session: r.body.data?.session }));

  /** A request with exactly the headers given, for Authorization values t.gql cannot send. */
  async function gqlWithHeaders(
    query: string,
    variables: Record<string, unknown>,
    headers: Record<string, string>,
  ): Promise<GqlResponse<any>> {
    const response = await t.fetch('/graphql', {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'application/graphql-response+json', ...headers },
      body: JSON.stringify({ query, variables }),
    });
    return { status: response.status, body: await response.json() };
  }

  const token = async (scopes: string[], environment = env, ttlSeconds = 3600) =>
    (await createToken(t.app.database.db, environment.slug, scopes, ttlSeconds)).token;

  const storedRows = (environmentId = env.environmentId) =>
    t.app.database.db.select().from(sessions).where(eq(sessions.environmentId, environmentId));

  async function tokenSecretOf(environmentId: string): Promise<string> {
    const [row] = await t.app.database.db.select().from(environments).where(eq(environments.id, environmentId));
    return row!.tokenSecret;
  }

  /** A public token's read outside its scopes: that field is null, `data` stays, status 200. */
  function expectForbiddenField({ status, body }: GqlResponse<any>) {
    expect(status).toBe(200);
    expect(body.data).toEqual({ session: null });
    expect(body.errors).toHaveLength(1);
    expect(body.errors![0]).toMatchObject({ path: ['session'], extensions: { code: 'FORBIDDEN' } });
  }

  /** Refused before execution: no `data` entry at all. */
  function expectTopLevel({ status, body }: GqlResponse<any>, code: string, httpStatus: number) {
    expect(status).toBe(httpStatus);
    expect(body.errors).toHaveLength(1);
    expect(body.errors![0]!.extensions!.code).toBe(code);
    expect(body).not.toHaveProperty('data');
  }

  describe('Query.session with a secret key', () => {
    it('returns the session by friendly id and by externalId', async () => {
      const s = await t.createSession(env.secretKey, baseCreateInput({ externalId: 'chat-read', tags: ['x'] }));
      for (const id of [s.id, 'chat-read']) {
        const { status, body, session } = await read(id, env.secretKey);
        expect(status).toBe(200);
        expect(body.errors).toBeUndefined();
        expect(session).toMatchObject({ id: s.id, externalId: 'chat-read', tags: ['x'], version: 1, status: 'ACTIVE' });
        expect(new Date(session.updatedAt)).toEqual(s.updatedAt);
      }
    });

    it('returns null for an unknown friendly id or externalId', async () => {
      for (const id of ['session_doesnotexist', 'no-such-external-id']) {
        const { status, body, session } = await read(id, env.secretKey);
        expect(status).toBe(200);
        expect(body.errors).toBeUndefined();
        expect(session).toBeNull();
      }
    });

    it('uses the id argument exactly as given: a padded externalId finds nothing', async () => {
      await t.createSession(env.secretKey, baseCreateInput({ externalId: 'chat-exact' }));
      const { status, session } = await read('  chat-exact  ', env.secretKey);
      expect(status).toBe(200);
      expect(session).toBeNull();
    });

    it("returns null for another environment's session, by either identifier", async () => {
      const other = await t.newEnvironment();
      const theirs = await t.createSession(other.secretKey, baseCreateInput({ externalId: 'theirs-only' }));
      for (const id of [theirs.id, 'theirs-only']) {
        const { status, body, session } = await read(id, env.secretKey);
        expect(status).toBe(200);
        expect(body.errors).toBeUndefined();
        expect(session).toBeNull();
      }
    });

    it('finds its own session when another environment uses the same externalId', async () => {
      const other = await t.newEnvironment();
      await t.createSession(other.secretKey, baseCreateInput({ externalId: 'shared-name' }));
      const ours = await t.createSession(env.secretKey, baseCreateInput({ externalId: 'shared-name' }));
      const { session } = await read('shared-name', env.secretKey);
      expect(session.id).toBe(ours.id);
    });

    it('accepts the secret key of every environment type', async () => {
      const prefixes = { DEVELOPMENT: 'tr_dev_', STAGING: 'tr_stg_', PRODUCTION: 'tr_prod_', PREVIEW: 'tr_prev_' };
      for (const [type, prefix] of Object.entries(prefixes)) {
        const typed = await t.newEnvironment(type as NewEnvironment['type']);
        expect(typed.secretKey.startsWith(prefix)).toBe(true);
        const s = await t.createSession(typed.secretKey);
        expect((await read(s.id, typed.secretKey)).session.id).toBe(s.id);
      }
    });
  });

  describe('missing or unknown credentials: UNAUTHENTICATED, HTTP 401, nothing written', () => {
    const badHeaders: [string, Record<string, string>][] = [
      ['no Authorization header', {}],
      ['an unknown tr_dev_ key', { authorization: 'Bearer tr_dev_thisKeyDoesNotExistAnywhere0000' }],
      ['an unknown tr_prod_ key', { authorization: 'Bearer tr_prod_thisKeyDoesNotExistAnywhere000' }],
      ['a Basic header', { authorization: 'Basic dXNlcjpwYXNz' }],
      ['Bearer with nothing after it', { authorization: 'Bearer' }],
      ['Bearer with two words', { authorization: 'Bearer tr_dev_a tr_dev_b' }],
      ['a key without Bearer', { authorization: 'tr_dev_abc' }],
      ['a Bearer value that is neither key nor JWT', { authorization: 'Bearer not-a-jwt' }],
    ];

    it.each(badHeaders)('refuses reading with %s', async (_name, headers) => {
      const s = await t.createSession(env.secretKey, baseCreateInput({ externalId: 'chat-guarded' }));
      for (const id of [s.id, 'chat-guarded']) {
        expectTopLevel(await gqlWithHeaders(GET, { id }, headers), 'UNAUTHENTICATED', 401);
      }
    });

    it.each(badHeaders)('refuses updateSession with %s, leaving the row unchanged', async (_name, headers) => {
      const s = await t.createSession(env.secretKey, baseCreateInput({ tags: ['keep'] }));
      const before = await t.row(env.environmentId, s.id);
      const response = await gqlWithHeaders(UPDATE, { id: s.id, input: { tags: ['hijack'] } }, headers);
      expectTopLevel(response, 'UNAUTHENTICATED', 401);
      expect(await t.row(env.environmentId, s.id)).toEqual(before);
    });

    it.each(badHeaders)('refuses createSession with %s, creating nothing', async (_name, headers) => {
      const before = (await t.app.database.db.select().from(sessions)).length;
      const response = await gqlWithHeaders(CREATE, { input: baseCreateInput({ externalId: 'chat-anon' }) }, headers);
      expectTopLevel(response, 'UNAUTHENTICATED', 401);
      expect(await t.app.database.db.select().from(sessions)).toHaveLength(before);
    });
  });

  describe('public access tokens', () => {
    it('with read:sessions:<externalId> reads the session by friendly id too', async () => {
      const s = await t.createSession(env.secretKey, baseCreateInput({ externalId: 'chat-scoped' }));
      const scoped = await token(['read:sessions:chat-scoped']);
      for (const id of [s.id, 'chat-scoped']) {
        const { status, body, session } = await read(id, scoped);
        expect(status).toBe(200);
        expect(body.errors).toBeUndefined();
        expect(session).toMatchObject({ id: s.id, externalId: 'chat-scoped' });
      }
    });

    it('with read:sessions:<friendly id> reads the session by externalId too', async () => {
      const s = await t.createSession(env.secretKey, baseCreateInput({ externalId: 'chat-by-friendly' }));
      const scoped = await token([`read:sessions:${s.id}`]);
      for (const id of ['chat-by-friendly', s.id]) {
        const { status, session } = await read(id, scoped);
        expect(status).toBe(200);
        expect(session).toMatchObject({ id: s.id, externalId: 'chat-by-friendly' });
      }
    });

    it.each(['read:sessions', 'read:all'])('with %s reads any session of its environment', async (scope) => {
      const a = await t.createSession(env.secretKey, baseCreateInput({ externalId: 'chat-any-a' }));
      const b = await t.createSession(env.secretKey);
      const wide = await token([scope]);
      for (const [id, expected] of [
        [a.id, a.id],
        ['chat-any-a', a.id],
        [b.id, b.id],
      ]) {
        const { status, session } = await read(id!, wide);
        expect(status).toBe(200);
        expect(session.id).toBe(expected);
      }
      const missing = await read('session_doesnotexist', wide);
      expect(missing.status).toBe(200);
      expect(missing.session).toBeNull();
    });

    it('is a FORBIDDEN field error (200, data kept) for a session its scopes do not cover, existing or not', async () => {
      const mine = await t.createSession(env.secretKey, baseCreateInput({ externalId: 'chat-mine' }));
      const notMine = await t.createSession(env.secretKey, baseCreateInput({ externalId: 'chat-not-mine' }));
      const scoped = await token(['read:sessions:chat-mine']);
      expect((await read(mine.id, scoped)).session.id).toBe(mine.id);
      for (const id of [notMine.id, 'chat-not-mine', 'session_doesnotexist', 'no-such-external-id']) {
        expectForbiddenField(await read(id, scoped));
      }
    });

    it('grants nothing with a write:sessions scope alone', async () => {
      const s = await t.createSession(env.secretKey, baseCreateInput({ externalId: 'chat-write-only' }));
      const writeOnly = await token(['write:sessions:chat-write-only', `write:sessions:${s.id}`]);
      for (const id of [s.id, 'chat-write-only']) {
        expectForbiddenField(await read(id, writeOnly));
      }
    });

    it("of environment A finds none of environment B's sessions", async () => {
      const other = await t.newEnvironment();
      const theirs = await t.createSession(other.secretKey, baseCreateInput({ externalId: 'chat-of-b' }));
      const ours = await t.createSession(env.secretKey, baseCreateInput({ externalId: 'chat-of-a' }));

      // Scopes covering the id: B's session does not exist for A, so it is not found.
      for (const scopes of [['read:all'], ['read:sessions'], [`read:sessions:${theirs.id}`, 'read:sessions:chat-of-b']]) {
        const covering = await token(scopes);
        for (const id of [theirs.id, 'chat-of-b']) {
          const { status, body, session } = await read(id, covering);
          expect(status).toBe(200);
          expect(body.errors).toBeUndefined();
          expect(session).toBeNull();
        }
      }

      // Scopes not covering the id: FORBIDDEN, as for any id the token does not name.
      const scopedToOurs = await token(['read:sessions:chat-of-a']);
      expect((await read(ours.id, scopedToOurs)).session.id).toBe(ours.id);
      for (const id of [theirs.id, 'chat-of-b']) {
        expectForbiddenField(await read(id, scopedToOurs));
      }
    });

    it('cannot update, even with read:all and write scopes: FORBIDDEN, 403, row unchanged', async () => {
      const s = await t.createSession(env.secretKey, baseCreateInput({ externalId: 'chat-no-write', tags: ['keep'] }));
      const before = await t.row(env.environmentId, s.id);
      const strong = await token(['read:all', 'write:sessions:chat-no-write', `write:sessions:${s.id}`]);
      for (const id of [s.id, 'chat-no-write']) {
        const response = await t.gql(UPDATE, { id, input: { tags: ['hijack'], metadata: { x: 1 } } }, strong);
        expectTopLevel(response, 'FORBIDDEN', 403);
      }
      expect(await t.row(env.environmentId, s.id)).toEqual(before);
    });

    it('cannot create: FORBIDDEN, 403, nothing created', async () => {
      const strong = await token(['read:all', 'write:sessions:chat-new']);
      const response = await t.gql(CREATE, { input: baseCreateInput({ externalId: 'chat-new' }) }, strong);
      expectTopLevel(response, 'FORBIDDEN', 403);
      expect(await storedRows()).toHaveLength(0);
    });

    it('is refused before the input is checked: an invalid or oversized create is still FORBIDDEN', async () => {
      const strong = await token(['read:all']);
      for (const input of [baseCreateInput({ type: '' }), baseCreateInput({ metadata: { p: 'a'.repeat(40_000) } })]) {
        expectTopLevel(await t.gql(CREATE, { input }, strong), 'FORBIDDEN', 403);
      }
      expect(await storedRows()).toHaveLength(0);
    });
  });

  describe('bad public access tokens: UNAUTHENTICATED, HTTP 401', () => {
    it('refuses a token whose payload was changed (signature no longer matches)', async () => {
      const s = await t.createSession(env.secretKey, baseCreateInput({ externalId: 'chat-tamper' }));
      const genuine = await token(['read:sessions:chat-tamper']);
      expect((await read(s.id, genuine)).session.id).toBe(s.id);
      const [header, payload, signature] = genuine.split('.') as [string, string, string];

      // One character of the payload flipped.
      const i = Math.floor(payload.length / 2);
      const flipped = payload.slice(0, i) + (payload[i] === 'A' ? 'B' : 'A') + payload.slice(i + 1);
      // The payload re-encoded with wider scopes, the old signature kept.
      const claims = JSON.parse(Buffer.from(payload, 'base64url').toString('utf8'));
      const widened = Buffer.from(JSON.stringify({ ...claims, scopes: ['read:all'] })).toString('base64url');

      for (const tampered of [`${header}.${flipped}.${signature}`, `${header}.${widened}.${signature}`]) {
        expectTopLevel(await read(s.id, tampered), 'UNAUTHENTICATED', 401);
      }
    });

    it('refuses a token signed with another secret, or with another environment’s secret', async () => {
      const s = await t.createSession(env.secretKey, baseCreateInput({ externalId: 'chat-forged' }));
      const other = await t.newEnvironment();
      const exp = new Date(Date.now() + 3600_000);
      const claims = { environmentId: env.environmentId, scopes: ['read:all'] };
      const forged = [
        await signPublicToken('not-the-environment-secret', claims, exp),
        await signPublicToken(await tokenSecretOf(other.environmentId), claims, exp),
      ];
      for (const credential of forged) {
        for (const id of [s.id, 'chat-forged']) {
          expectTopLevel(await read(id, credential), 'UNAUTHENTICATED', 401);
        }
      }
    });

    it('refuses a correctly signed token without pub: true or without exp', async () => {
      const s = await t.createSession(env.secretKey);
      const secret = new TextEncoder().encode(await tokenSecretOf(env.environmentId));
      const sign = (claims: Record<string, unknown>, withExp = true) => {
        const jwt = new SignJWT(claims).setProtectedHeader({ alg: 'HS256', typ: 'JWT' }).setSubject(env.environmentId);
        return (withExp ? jwt.setExpirationTime('1h') : jwt).sign(secret);
      };
      // The same construction with every claim present is accepted: the refusals below are about the claims.
      expect((await read(s.id, await sign({ pub: true, scopes: ['read:all'] }))).session.id).toBe(s.id);
      const bad = [
        await sign({ scopes: ['read:all'] }),
        await sign({ pub: false, scopes: ['read:all'] }),
        await sign({ pub: 'true', scopes: ['read:all'] }),
        await sign({ pub: true, scopes: ['read:all'] }, false),
      ];
      for (const credential of bad) {
        expectTopLevel(await read(s.id, credential), 'UNAUTHENTICATED', 401);
      }
    });

    it('refuses a token for an environment that does not exist', async () => {
      const s = await t.createSession(env.secretKey);
      const ghost = await signPublicToken(
        await tokenSecretOf(env.environmentId),
        { environmentId: 'env_doesnotexist', scopes: ['read:all'] },
        new Date(Date.now() + 3600_000),
      );
      expectTopLevel(await read(s.id, ghost), 'UNAUTHENTICATED', 401);
    });

    it('refuses an expired token', async () => {
      const s = await t.createSession(env.secretKey, baseCreateInput({ externalId: 'chat-expiring' }));
      const shortLived = await token(['read:sessions:chat-expiring'], env, 1);
      await sleep(2100);
      for (const id of [s.id, 'chat-expiring']) {
        expectTopLevel(await read(id, shortLived), 'UNAUTHENTICATED', 401);
      }
    });
  });

  describe('key rotation', () => {
    it('refuses the old key within a second of rotation, writing nothing, and accepts the new key', async () => {
      // The old key works, and is now in the credential cache.
      const s = await t.createSession(env.secretKey, baseCreateInput({ externalId: 'chat-rotate', tags: ['keep'] }));
      expect((await read(s.id, env.secretKey)).session.id).toBe(s.id);

      const rotated = await rotateKey(t.app.database.db, env.slug);
      expect(rotated.environmentId).toBe(env.environmentId);
      expect(rotated.secretKey).not.toBe(env.secretKey);
      expect(rotated.secretKey.startsWith('tr_dev_')).toBe(true);
      await sleep(1000);

      expectTopLevel(await read(s.id, env.secretKey), 'UNAUTHENTICATED', 401);
      const before = await t.row(env.environmentId, s.id);
      expectTopLevel(await t.gql(UPDATE, { id: s.id, input: { tags: ['hijack'] } }, env.secretKey), 'UNAUTHENTICATED', 401);
      expectTopLevel(await t.gql(CREATE, { input: baseCreateInput() }, env.secretKey), 'UNAUTHENTICATED', 401);
      expect(await t.row(env.environmentId, s.id)).toEqual(before);
      expect(await storedRows()).toHaveLength(1);

      const withNew = await read('chat-rotate', rotated.secretKey);
      expect(withNew.status).toBe(200);
      expect(withNew.session.id).toBe(s.id);
      const updated = await t.gql(UPDATE, { id: s.id, input: { tags: ['new-key'] } }, rotated.secretKey);
      expect(updated.body.data.updateSession.session).toMatchObject({ tags: ['new-key'], version: 2 });
    });
  });

  describe('key rotation and public tokens', () => {
    it('also ends the public tokens made before the rotation, and tokens made after it work', async () => {
      const s = await t.createSession(env.secretKey, baseCreateInput({ externalId: 'chat-rotate-token' }));
      const before = await token(['read:sessions:chat-rotate-token']);
      expect((await read(s.id, before)).session.id).toBe(s.id);
      await rotateKey(t.app.database.db, env.slug);
      await sleep(1000);
      expectTopLevel(await read(s.id, before), 'UNAUTHENTICATED', 401);
      const after = await token(['read:sessions:chat-rotate-token']);
      expect((await read(s.id, after)).session.id).toBe(s.id);
    });

    it('refuses, without a query, a token whose subject is no environment id (NUL included)', async () => {
      for (const sub of ['env\u0000x', 'x'.repeat(5000), `${env.environmentId}x`]) {
        const forged = await new SignJWT({ pub: true, scopes: ['read:all'] })
          .setProtectedHeader({ alg: 'HS256' })
          .setSubject(sub)
          .setExpirationTime('1h')
          .sign(new TextEncoder().encode('whatever'));
        t.queries.length = 0;
        expectTopLevel(await read('anything', forged), 'UNAUTHENTICATED', 401);
        expect(t.queries).toEqual([]);
      }
    });
  });

  describe('no credentials needed', () => {
    it('answers introspection', async () => {
      const { status, body } = await t.gql('{ __schema { queryType { name } mutationType { name } } }');
      expect(status).toBe(200);
      expect(body.errors).toBeUndefined();
      expect(body.data).toEqual({ __schema: { queryType: { name: 'Query' }, mutationType: { name: 'Mutation' } } });
    });

    it('answers _service { sdl } with the federation link', async () => {
      const { status, body } = await t.gql('{ _service { sdl } }');
      expect(status).toBe(200);
      expect(body.errors).toBeUndefined();
      expect(body.data._service.sdl).toContain('https://specs.apollo.dev/federation/v2');
      expect(body.data._service.sdl).toMatch(/type Session\s+@key\(fields: "id"\)/);
    });

    it('still needs them for a data field in the same request', async () => {
      const { status, body } = await t.gql('{ __typename session(id: "session_x") { id } }');
      expect(status).toBe(401);
      expect(body.errors![0]!.extensions!.code).toBe('UNAUTHENTICATED');
    });
  });
});
