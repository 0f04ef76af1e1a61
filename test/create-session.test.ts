import { eq } from 'drizzle-orm';
import { decodeJwt, decodeProtectedHeader } from 'jose';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { NewEnvironment } from '../src/auth/environments.js';
import { sessions } from '../src/db/schema.js';
import { baseCreateInput, CREATE, drivers, GET, startTestApp, type TestApp, UPDATE } from './support.js';

const MACHINES = ['micro', 'small-1x', 'small-2x', 'medium-1x', 'medium-2x', 'large-1x', 'large-2x'];

describe.each(drivers)('createSession on %s', (driver) => {
  let t: TestApp;
  let env: NewEnvironment;
  beforeAll(async () => {
    t = await startTestApp(driver);
  });
  afterAll(() => t?.close());
  beforeEach(async () => {
    env = await t.newEnvironment();
  });

  const create = (input: Record<string, unknown>, credential = env.secretKey) =>
    t.gql(CREATE, { input }, credential).then((r) => ({ ...r, result: r.body.data?.createSession }));

  const read = (id: string, credential: string) => t.gql(GET, { id }, credential).then((r) => ({ ...r, session: r.body.data?.session }));

  /** Every stored session of the environment, straight from the database. */
  const storedRows = (environmentId = env.environmentId) =>
    t.app.database.db.select().from(sessions).where(eq(sessions.environmentId, environmentId));

  /** triggerConfig of the base input with some options set. */
  const config = (extra: Record<string, unknown> = {}) => ({
    triggerConfig: { basePayload: { model: 'small' }, ...extra },
  });

  describe('a new session', () => {
    it('is created at version 1, ACTIVE, with every given field returned and stored', async () => {
      const expiresAt = new Date(Date.now() + 24 * 3600 * 1000);
      const triggerConfig = {
        basePayload: { model: 'large', history: [1, 'two', null], nested: { deep: true } },
        machine: 'medium-2x',
        queue: 'chat-queue',
        tags: ['run-tag'],
        maxAttempts: 3,
        maxDuration: 600,
        lockToVersion: '20250101.1',
        region: 'eu-central-1',
        idleTimeoutInSeconds: 120,
        ttl: '10m',
      };
      const input = {
        type: 'chat.agent',
        taskIdentifier: 'my-chat',
        externalId: 'chat-full',
        tags: ['a', 'b'],
        metadata: { user: { id: 7 }, list: [1, 'two', null] },
        expiresAt: expiresAt.toISOString(),
        triggerConfig,
      };
      const { status, result } = await create(input);
      expect(status).toBe(200);
      expect(result.__typename).toBe('CreateSessionSuccess');
      expect(result.isCached).toBe(false);
      expect(result.session.id).toMatch(/^session_[A-Za-z0-9_-]+$/);
      expect(result.session).toMatchObject({
        type: 'chat.agent',
        taskIdentifier: 'my-chat',
        externalId: 'chat-full',
        tags: ['a', 'b'],
        metadata: { user: { id: 7 }, list: [1, 'two', null] },
        triggerConfig,
        currentRunId: null,
        status: 'ACTIVE',
        closedAt: null,
        closedReason: null,
        version: 1,
      });
      expect(new Date(result.session.expiresAt)).toEqual(expiresAt);

      const row = await t.row(env.environmentId, result.session.id);
      expect(row).toMatchObject({
        environmentId: env.environmentId,
        id: result.session.id,
        type: 'chat.agent',
        taskIdentifier: 'my-chat',
        externalId: 'chat-full',
        tags: ['a', 'b'],
        metadata: { user: { id: 7 }, list: [1, 'two', null] },
        triggerConfig,
        currentRunId: null,
        closedAt: null,
        closedReason: null,
        expiresAt,
        version: 1,
      });
      expect(new Date(result.session.createdAt)).toEqual(row!.createdAt);
      expect(new Date(result.session.updatedAt)).toEqual(row!.updatedAt);
    });

    it('without optional fields has no externalId, no tags, no metadata and unset trigger options', async () => {
      const { result } = await create(baseCreateInput());
      expect(result).toMatchObject({ __typename: 'CreateSessionSuccess', isCached: false });
      expect(result.session).toMatchObject({
        externalId: null,
        tags: [],
        metadata: null,
        expiresAt: null,
        status: 'ACTIVE',
        version: 1,
        triggerConfig: {
          basePayload: { model: 'small' },
          machine: null,
          queue: null,
          tags: null,
          maxAttempts: null,
          maxDuration: null,
          lockToVersion: null,
          region: null,
          idleTimeoutInSeconds: null,
          ttl: null,
        },
      });
      const row = await t.row(env.environmentId, result.session.id);
      expect(row).toMatchObject({ externalId: null, tags: [], metadata: null, expiresAt: null, version: 1 });
      expect(row!.triggerConfig.basePayload).toEqual({ model: 'small' });
    });

    it('gets a new friendly id each time when no externalId is given', async () => {
      const first = await create(baseCreateInput());
      const second = await create(baseCreateInput());
      expect(first.result.session.id).not.toBe(second.result.session.id);
      expect(second.result.isCached).toBe(false);
      expect(await storedRows()).toHaveLength(2);
    });

    it('accepts every listed machine', async () => {
      for (const machine of MACHINES) {
        const { result } = await create(baseCreateInput(config({ machine })));
        expect(result.__typename).toBe('CreateSessionSuccess');
        expect((await t.row(env.environmentId, result.session.id))!.triggerConfig.machine).toBe(machine);
      }
    });

    it('accepts every value at its limit', async () => {
      const tags = Array.from({ length: 10 }, (_, i) => String(i).padEnd(128, 'x'));
      const atUpper = await create({
        type: 't'.repeat(64),
        taskIdentifier: 'k'.repeat(128),
        externalId: 'e'.repeat(256),
        tags,
        ...config({ queue: 'q'.repeat(128), tags, maxAttempts: 10, maxDuration: 1, idleTimeoutInSeconds: 3600 }),
      });
      expect(atUpper.result.__typename).toBe('CreateSessionSuccess');
      expect(await t.row(env.environmentId, atUpper.result.session.id)).toMatchObject({
        type: 't'.repeat(64),
        taskIdentifier: 'k'.repeat(128),
        externalId: 'e'.repeat(256),
        tags,
      });
      const atLower = await create(baseCreateInput(config({ maxAttempts: 1, idleTimeoutInSeconds: 1 })));
      expect(atLower.result.__typename).toBe('CreateSessionSuccess');
      expect((await t.row(env.environmentId, atLower.result.session.id))!.triggerConfig).toMatchObject({
        maxAttempts: 1,
        idleTimeoutInSeconds: 1,
      });
    });
  });

  describe('the publicAccessToken', () => {
    it('is an HS256 JWT for the environment, scoped to the externalId, living one hour', async () => {
      const { result } = await create(baseCreateInput({ externalId: 'chat-token' }));
      expect(decodeProtectedHeader(result.publicAccessToken).alg).toBe('HS256');
      const claims = decodeJwt(result.publicAccessToken);
      expect(claims.sub).toBe(env.environmentId);
      expect(claims.pub).toBe(true);
      expect(claims.scopes).toEqual(['read:sessions:chat-token', 'write:sessions:chat-token']);
      const secondsLeft = claims.exp! - Date.now() / 1000;
      expect(secondsLeft).toBeGreaterThan(3600 - 60);
      expect(secondsLeft).toBeLessThanOrEqual(3600 + 1);
    });

    it('is scoped to the friendly id when there is no externalId', async () => {
      const { result } = await create(baseCreateInput());
      const claims = decodeJwt(result.publicAccessToken);
      expect(claims.scopes).toEqual([`read:sessions:${result.session.id}`, `write:sessions:${result.session.id}`]);
    });

    it('reads its session by friendly id and by externalId', async () => {
      const { result } = await create(baseCreateInput({ externalId: 'chat-readable' }));
      for (const id of [result.session.id, 'chat-readable']) {
        const { status, session } = await read(id, result.publicAccessToken);
        expect(status).toBe(200);
        expect(session).toMatchObject({ id: result.session.id, externalId: 'chat-readable', version: 1 });
      }
    });

    it('reads its session by friendly id when there is no externalId', async () => {
      const { result } = await create(baseCreateInput());
      const { status, session } = await read(result.session.id, result.publicAccessToken);
      expect(status).toBe(200);
      expect(session).toMatchObject({ id: result.session.id, externalId: null });
    });

    it('cannot update its session: FORBIDDEN, HTTP 403, row unchanged', async () => {
      const { result } = await create(baseCreateInput({ externalId: 'chat-readonly', tags: ['keep'] }));
      const before = await t.row(env.environmentId, result.session.id);
      for (const id of [result.session.id, 'chat-readonly']) {
        const { status, body } = await t.gql(UPDATE, { id, input: { tags: ['hijack'] } }, result.publicAccessToken);
        expect(status).toBe(403);
        expect(body).not.toHaveProperty('data');
        expect(body.errors![0]!.extensions!.code).toBe('FORBIDDEN');
      }
      expect(await t.row(env.environmentId, result.session.id)).toEqual(before);
    });

    it('cannot create a session: FORBIDDEN, HTTP 403, nothing created or refreshed', async () => {
      const { result } = await create(baseCreateInput({ externalId: 'chat-owner' }));
      const before = await t.row(env.environmentId, result.session.id);
      const inputs = [baseCreateInput(), baseCreateInput({ externalId: 'chat-owner', ...config({ machine: 'micro' }) })];
      for (const input of inputs) {
        const { status, body } = await t.gql(CREATE, { input }, result.publicAccessToken);
        expect(status).toBe(403);
        expect(body).not.toHaveProperty('data');
        expect(body.errors![0]!.extensions!.code).toBe('FORBIDDEN');
      }
      expect(await storedRows()).toHaveLength(1);
      expect(await t.row(env.environmentId, result.session.id)).toEqual(before);
    });
  });

  describe('idempotency by externalId', () => {
    it('returns the open session again with isCached true, writing nothing when the config is the same', async () => {
      const first = await create(baseCreateInput({ externalId: 'chat-again' }));
      const before = await t.row(env.environmentId, first.result.session.id);
      const { status, result } = await create(baseCreateInput({ externalId: 'chat-again' }));
      expect(status).toBe(200);
      expect(result.__typename).toBe('CreateSessionSuccess');
      expect(result.isCached).toBe(true);
      expect(result.session).toMatchObject({ id: first.result.session.id, externalId: 'chat-again', version: 1 });
      expect(new Date(result.session.updatedAt)).toEqual(before!.updatedAt);
      expect(decodeJwt(result.publicAccessToken).scopes).toEqual(['read:sessions:chat-again', 'write:sessions:chat-again']);
      expect(await t.row(env.environmentId, first.result.session.id)).toEqual(before);
      expect(await storedRows()).toHaveLength(1);
    });

    it('refreshes the triggerConfig when it differs: version 2, updatedAt moves, new config stored', async () => {
      const first = await create(baseCreateInput({ externalId: 'chat-refresh', ...config({ machine: 'micro' }) }));
      const before = await t.row(env.environmentId, first.result.session.id);
      const newConfig = { basePayload: { model: 'large' }, machine: 'large-2x', maxAttempts: 5 };
      const { result } = await create(baseCreateInput({ externalId: 'chat-refresh', triggerConfig: newConfig }));
      expect(result).toMatchObject({ __typename: 'CreateSessionSuccess', isCached: true });
      expect(result.session).toMatchObject({ id: first.result.session.id, version: 2, triggerConfig: newConfig });
      const row = await t.row(env.environmentId, first.result.session.id);
      expect(row).toMatchObject({ version: 2, triggerConfig: newConfig });
      expect(row!.updatedAt.getTime()).toBeGreaterThan(before!.updatedAt.getTime());
      expect(row!.createdAt).toEqual(before!.createdAt);
      expect(new Date(result.session.updatedAt)).toEqual(row!.updatedAt);
    });

    it('treats options sent as null and a reordered basePayload as the same config', async () => {
      const first = await create(
        baseCreateInput({ externalId: 'chat-same', triggerConfig: { basePayload: { a: 1, b: 2 }, machine: 'micro' } }),
      );
      const before = await t.row(env.environmentId, first.result.session.id);
      const { result } = await create(
        baseCreateInput({
          externalId: 'chat-same',
          triggerConfig: { basePayload: { b: 2, a: 1 }, machine: 'micro', queue: null, maxAttempts: null },
        }),
      );
      expect(result).toMatchObject({ __typename: 'CreateSessionSuccess', isCached: true });
      expect(result.session.version).toBe(1);
      expect(await t.row(env.environmentId, first.result.session.id)).toEqual(before);
    });

    it('ignores the other fields of the second input: tags and metadata stay as first created', async () => {
      const first = await create(baseCreateInput({ externalId: 'chat-fields', tags: ['first'], metadata: { n: 1 } }));
      const before = await t.row(env.environmentId, first.result.session.id);
      const same = await create(baseCreateInput({ externalId: 'chat-fields', tags: ['second'], metadata: { n: 2 } }));
      expect(same.result).toMatchObject({ isCached: true, session: { tags: ['first'], metadata: { n: 1 } } });
      expect(await t.row(env.environmentId, first.result.session.id)).toEqual(before);

      const refreshed = await create(
        baseCreateInput({ externalId: 'chat-fields', tags: ['third'], metadata: { n: 3 }, ...config({ queue: 'q' }) }),
      );
      expect(refreshed.result.session).toMatchObject({ version: 2, tags: ['first'], metadata: { n: 1 } });
      expect(await t.row(env.environmentId, first.result.session.id)).toMatchObject({
        tags: ['first'],
        metadata: { n: 1 },
        triggerConfig: { queue: 'q' },
        version: 2,
      });
    });

    it('makes exactly one row from 20 concurrent creates with one externalId', async () => {
      const results = await Promise.all(Array.from({ length: 20 }, () => create(baseCreateInput({ externalId: 'chat-race' }))));
      for (const r of results) expect(r.result.__typename).toBe('CreateSessionSuccess');
      const ids = new Set(results.map((r) => r.result.session.id));
      expect(ids.size).toBe(1);
      expect(results.filter((r) => r.result.isCached === false)).toHaveLength(1);
      expect(results.filter((r) => r.result.isCached === true)).toHaveLength(19);
      const rows = await storedRows();
      expect(rows).toHaveLength(1);
      expect(rows[0]).toMatchObject({ id: [...ids][0], externalId: 'chat-race', version: 1 });
    });

    it('is per environment: the same externalId elsewhere is a different session', async () => {
      const other = await t.newEnvironment();
      const theirs = await create(baseCreateInput({ externalId: 'chat-shared' }), other.secretKey);
      const ours = await create(baseCreateInput({ externalId: 'chat-shared' }));
      expect(ours.result.isCached).toBe(false);
      expect(ours.result.session.id).not.toBe(theirs.result.session.id);
      expect(await storedRows()).toHaveLength(1);
      expect(await storedRows(other.environmentId)).toHaveLength(1);
    });

    it('answers SessionClosedError for a closed session, leaving the row as it was', async () => {
      const first = await create(baseCreateInput({ externalId: 'chat-closed' }));
      await t.setRow(env.environmentId, first.result.session.id, {
        closedAt: new Date('2026-01-01T00:00:00Z'),
        closedReason: 'done',
      });
      const before = await t.row(env.environmentId, first.result.session.id);
      const { status, result } = await create(baseCreateInput({ externalId: 'chat-closed', ...config({ machine: 'micro' }) }));
      expect(status).toBe(200);
      expect(result).toMatchObject({ __typename: 'SessionClosedError', code: 'SESSION_CLOSED', id: 'chat-closed' });
      expect(result.message).toEqual(expect.any(String));
      expect(await t.row(env.environmentId, first.result.session.id)).toEqual(before);
      expect(await storedRows()).toHaveLength(1);
    });

    it('answers SessionExpiredError for an expired session, leaving the row as it was', async () => {
      const first = await create(baseCreateInput({ externalId: 'chat-expired' }));
      await t.setRow(env.environmentId, first.result.session.id, { expiresAt: new Date(Date.now() - 60_000) });
      const before = await t.row(env.environmentId, first.result.session.id);
      const { status, result } = await create(baseCreateInput({ externalId: 'chat-expired', ...config({ machine: 'micro' }) }));
      expect(status).toBe(200);
      expect(result).toMatchObject({ __typename: 'SessionExpiredError', code: 'SESSION_EXPIRED', id: 'chat-expired' });
      expect(await t.row(env.environmentId, first.result.session.id)).toEqual(before);
      expect(await storedRows()).toHaveLength(1);
    });
  });

  describe('externalId is trimmed', () => {
    it('stores "  abc  " as "abc", and a later create with "abc" is the cached session', async () => {
      const first = await create(baseCreateInput({ externalId: '  abc  ' }));
      expect(first.result.session.externalId).toBe('abc');
      expect(decodeJwt(first.result.publicAccessToken).scopes).toEqual(['read:sessions:abc', 'write:sessions:abc']);
      expect((await t.row(env.environmentId, first.result.session.id))!.externalId).toBe('abc');
      const second = await create(baseCreateInput({ externalId: 'abc' }));
      expect(second.result).toMatchObject({ isCached: true, session: { id: first.result.session.id } });
      expect(await storedRows()).toHaveLength(1);
    });
  });

  describe('JSON depth: 64 levels for basePayload and metadata alike', () => {
    const nested = (levels: number) => {
      let value: Record<string, unknown> = {};
      for (let i = 1; i < levels; i++) value = { a: value };
      return value;
    };

    it('takes 64 levels in both, and refuses 65 in either at its path, creating nothing', async () => {
      const ok = await create(baseCreateInput({ metadata: nested(64), ...config({ basePayload: nested(64) }) }));
      expect(ok.result.__typename).toBe('CreateSessionSuccess');
      const count = (await storedRows()).length;
      const deepPayload = await create(baseCreateInput(config({ basePayload: nested(65) })));
      expect(deepPayload.result.issues).toEqual([
        { path: ['input', 'triggerConfig', 'basePayload'], message: 'nested deeper than 64 levels' },
      ]);
      const deepMetadata = await create(baseCreateInput({ metadata: nested(65) }));
      expect(deepMetadata.result.issues).toEqual([{ path: ['input', 'metadata'], message: 'nested deeper than 64 levels' }]);
      expect(await storedRows()).toHaveLength(count);
    });
  });

  describe('shape', () => {
    const pastDate = new Date(Date.now() - 60_000).toISOString();
    const cases: [string, Record<string, unknown>, string[]][] = [
      ['an empty type', { type: '' }, ['input', 'type']],
      ['a type of 65 characters', { type: 't'.repeat(65) }, ['input', 'type']],
      ['an empty taskIdentifier', { taskIdentifier: '' }, ['input', 'taskIdentifier']],
      ['a taskIdentifier of 129 characters', { taskIdentifier: 'k'.repeat(129) }, ['input', 'taskIdentifier']],
      ['11 tags', { tags: Array(11).fill('t') }, ['input', 'tags']],
      ['a tag of 129 characters', { tags: ['ok', 'x'.repeat(129)] }, ['input', 'tags', '1']],
      ['an externalId starting with session_', { externalId: 'session_abc' }, ['input', 'externalId']],
      ['an externalId starting with session_ after trim', { externalId: '  session_abc' }, ['input', 'externalId']],
      ['an externalId empty after trim', { externalId: '   ' }, ['input', 'externalId']],
      ['an externalId of 257 characters', { externalId: 'e'.repeat(257) }, ['input', 'externalId']],
      ['a machine not in the list', config({ machine: 'huge-9x' }), ['input', 'triggerConfig', 'machine']],
      ['a queue of 129 characters', config({ queue: 'q'.repeat(129) }), ['input', 'triggerConfig', 'queue']],
      ['11 run tags', config({ tags: Array(11).fill('t') }), ['input', 'triggerConfig', 'tags']],
      ['a run tag of 129 characters', config({ tags: ['x'.repeat(129)] }), ['input', 'triggerConfig', 'tags', '0']],
      ['maxAttempts 0', config({ maxAttempts: 0 }), ['input', 'triggerConfig', 'maxAttempts']],
      ['maxAttempts 11', config({ maxAttempts: 11 }), ['input', 'triggerConfig', 'maxAttempts']],
      ['maxDuration 0', config({ maxDuration: 0 }), ['input', 'triggerConfig', 'maxDuration']],
      ['idleTimeoutInSeconds 0', config({ idleTimeoutInSeconds: 0 }), ['input', 'triggerConfig', 'idleTimeoutInSeconds']],
      ['idleTimeoutInSeconds 3601', config({ idleTimeoutInSeconds: 3601 }), ['input', 'triggerConfig', 'idleTimeoutInSeconds']],
      ['expiresAt in the past', { expiresAt: pastDate }, ['input', 'expiresAt']],
      ['a NUL character in a tag', { tags: ['ok', 'bad\u0000tag'] }, ['input', 'tags', '1']],
      ['a NUL character in the externalId', { externalId: 'bad\u0000id' }, ['input', 'externalId']],
      ['a NUL character in metadata', { metadata: { deep: ['x', 'y\u0000'] } }, ['input', 'metadata', 'deep', '1']],
      [
        'a NUL character in basePayload',
        config({ basePayload: { prompt: 'a\u0000b' } }),
        ['input', 'triggerConfig', 'basePayload', 'prompt'],
      ],
    ];

    it.each(cases)('refuses %s with InvalidInputError and creates nothing', async (_name, extra, path) => {
      const { status, result } = await create(baseCreateInput(extra));
      expect(status).toBe(200);
      expect(result).toMatchObject({ __typename: 'InvalidInputError', code: 'INVALID_INPUT' });
      expect(result.issues).toHaveLength(1);
      expect(result.issues[0]).toEqual({ path, message: expect.any(String) });
      expect(await storedRows()).toHaveLength(0);
    });

    it('reports every problem at once', async () => {
      const { result } = await create(
        baseCreateInput({ type: '', externalId: 'session_x', ...config({ maxAttempts: 0, machine: 'nope' }) }),
      );
      expect(result.__typename).toBe('InvalidInputError');
      expect(result.issues.map((i: { path: string[] }) => i.path.join('.')).sort()).toEqual([
        'input.externalId',
        'input.triggerConfig.machine',
        'input.triggerConfig.maxAttempts',
        'input.type',
      ]);
      expect(await storedRows()).toHaveLength(0);
    });

    it('refuses a bad input for an existing externalId without touching that session', async () => {
      const first = await create(baseCreateInput({ externalId: 'chat-bad-second' }));
      const before = await t.row(env.environmentId, first.result.session.id);
      const { result } = await create(baseCreateInput({ externalId: 'chat-bad-second', ...config({ maxAttempts: 11 }) }));
      expect(result.__typename).toBe('InvalidInputError');
      expect(await t.row(env.environmentId, first.result.session.id)).toEqual(before);
    });

    it('refuses metadata that is not an object at the variable, as top-level BAD_USER_INPUT', async () => {
      for (const metadata of [[1, 2], 'text', 42]) {
        const { status, body } = await t.gql(CREATE, { input: baseCreateInput({ metadata }) }, env.secretKey);
        expect(status).toBe(400);
        expect(body.data).toBeUndefined();
        expect(body.errors![0]!.extensions!.code).toBe('BAD_USER_INPUT');
      }
      expect(await storedRows()).toHaveLength(0);
    });
  });

  describe('size: UTF-8 bytes of JSON.stringify(input), at most 32768', () => {
    /** The base input padded through metadata to exactly `bytes` bytes. */
    const inputOfBytes = (bytes: number, extra: Record<string, unknown> = {}) => {
      const padded = (p: string) => ({ ...baseCreateInput(extra), metadata: { p } });
      const input = padded('a'.repeat(bytes - Buffer.byteLength(JSON.stringify(padded('')))));
      expect(Buffer.byteLength(JSON.stringify(input))).toBe(bytes);
      return input;
    };

    it('accepts exactly 32768 bytes', async () => {
      const input = inputOfBytes(32768);
      const { result } = await create(input);
      expect(result.__typename).toBe('CreateSessionSuccess');
      expect((await t.row(env.environmentId, result.session.id))!.metadata).toEqual(input.metadata);
    });

    it('refuses 32769 bytes with PayloadTooLargeError and creates nothing', async () => {
      const { status, result } = await create(inputOfBytes(32769));
      expect(status).toBe(200);
      expect(result).toMatchObject({
        __typename: 'PayloadTooLargeError',
        code: 'PAYLOAD_TOO_LARGE',
        limitBytes: 32768,
        actualBytes: 32769,
      });
      expect(await storedRows()).toHaveLength(0);
    });

    it('is checked before the shape rules', async () => {
      const { result } = await create(inputOfBytes(40_000, { type: '', tags: Array(11).fill('t') }));
      expect(result).toMatchObject({ __typename: 'PayloadTooLargeError', actualBytes: 40_000 });
      expect(await storedRows()).toHaveLength(0);
    });
  });
});
