import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { NewEnvironment } from '../src/auth/environments.js';
import { baseCreateInput, drivers, startTestApp, type TestApp, UPDATE } from './support.js';

describe.each(drivers)('updateSession on %s', (driver) => {
  let t: TestApp;
  let env: NewEnvironment;
  beforeAll(async () => {
    t = await startTestApp(driver);
  });
  afterAll(() => t?.close());
  beforeEach(async () => {
    env = await t.newEnvironment();
  });

  const update = (id: string, input: Record<string, unknown>, credential = env.secretKey) =>
    t.gql(UPDATE, { id, input }, credential).then((r) => ({ ...r, result: r.body.data?.updateSession }));

  async function expectUnchanged(id: string, before: object) {
    expect(await t.row(env.environmentId, id)).toEqual(before);
  }

  it('replaces the tags, bumps version by one and moves updatedAt', async () => {
    const s = await t.createSession(env.secretKey, baseCreateInput({ tags: ['old', 'other'] }));
    const { status, result } = await update(s.id, { tags: ['new'] });
    expect(status).toBe(200);
    expect(result.__typename).toBe('UpdateSessionSuccess');
    expect(result.session).toMatchObject({ id: s.id, tags: ['new'], version: 2 });
    const row = await t.row(env.environmentId, s.id);
    expect(row).toMatchObject({ tags: ['new'], version: 2, metadata: null });
    expect(row!.updatedAt.getTime()).toBeGreaterThan(s.updatedAt.getTime());
    expect(row!.createdAt).toEqual(s.createdAt);
    expect(new Date(result.session.updatedAt)).toEqual(row!.updatedAt);
  });

  it('replaces the metadata as a whole, and null clears it', async () => {
    const s = await t.createSession(env.secretKey, baseCreateInput({ metadata: { a: 1, keep: true } }));
    const replaced = await update(s.id, { metadata: { b: { nested: [1, 'two', null] } } });
    expect(replaced.result.session.metadata).toEqual({ b: { nested: [1, 'two', null] } });
    expect((await t.row(env.environmentId, s.id))!.metadata).toEqual({ b: { nested: [1, 'two', null] } });
    const cleared = await update(s.id, { metadata: null });
    expect(cleared.result.session).toMatchObject({ metadata: null, version: 3 });
    expect(await t.row(env.environmentId, s.id)).toMatchObject({ metadata: null, version: 3 });
  });

  it('keeps omitted fields: tags alone leave metadata, metadata alone leaves tags', async () => {
    const s = await t.createSession(env.secretKey, baseCreateInput({ tags: ['t'], metadata: { m: 1 } }));
    await update(s.id, { tags: ['t2'] });
    expect(await t.row(env.environmentId, s.id)).toMatchObject({ tags: ['t2'], metadata: { m: 1 } });
    await update(s.id, { metadata: { m: 2 } });
    expect(await t.row(env.environmentId, s.id)).toMatchObject({ tags: ['t2'], metadata: { m: 2 }, version: 3 });
  });

  it('writes nothing when neither tags nor metadata is sent, and returns the session unchanged', async () => {
    const s = await t.createSession(env.secretKey, baseCreateInput({ externalId: 'chat-noop' }));
    const before = await t.row(env.environmentId, s.id);
    const { result } = await update(s.id, { externalId: 'chat-noop', expectedVersion: 1 });
    expect(result.__typename).toBe('UpdateSessionSuccess');
    expect(result.session).toMatchObject({ version: 1, externalId: 'chat-noop' });
    expect(new Date(result.session.updatedAt)).toEqual(before!.updatedAt);
    await expectUnchanged(s.id, before!);
    const empty = await update(s.id, {});
    expect(empty.result.session.version).toBe(1);
    await expectUnchanged(s.id, before!);
  });

  it('finds the session by externalId when the id has no session_ prefix', async () => {
    const s = await t.createSession(env.secretKey, baseCreateInput({ externalId: 'chat_1234' }));
    const { result } = await update('chat_1234', { tags: ['by-external'] });
    expect(result.session).toMatchObject({ id: s.id, externalId: 'chat_1234', tags: ['by-external'] });
    expect((await t.row(env.environmentId, s.id))!.tags).toEqual(['by-external']);
  });

  it('answers SessionNotFoundError with the id looked up, by friendly id and by externalId', async () => {
    for (const id of ['session_doesnotexist', 'no-such-external-id']) {
      const { status, result } = await update(id, { tags: ['x'] });
      expect(status).toBe(200);
      expect(result).toMatchObject({ __typename: 'SessionNotFoundError', code: 'SESSION_NOT_FOUND', id });
    }
  });

  it("treats another environment's session as not found and leaves it untouched", async () => {
    const other = await t.newEnvironment();
    const theirs = await t.createSession(other.secretKey, baseCreateInput({ externalId: 'shared-name' }));
    const before = await t.row(other.environmentId, theirs.id);
    for (const id of [theirs.id, 'shared-name']) {
      const { result } = await update(id, { tags: ['hijack'], metadata: { x: 1 } });
      expect(result).toMatchObject({ __typename: 'SessionNotFoundError', id });
    }
    expect(await t.row(other.environmentId, theirs.id)).toEqual(before);
  });

  describe('externalId is read-only', () => {
    it('accepts the same value as a no-op, trimmed before comparing, and still applies tags', async () => {
      const s = await t.createSession(env.secretKey, baseCreateInput({ externalId: 'same-id' }));
      const { result } = await update(s.id, { externalId: '  same-id  ', tags: ['ok'] });
      expect(result.session).toMatchObject({ externalId: 'same-id', tags: ['ok'], version: 2 });
      expect(await t.row(env.environmentId, s.id)).toMatchObject({ externalId: 'same-id', tags: ['ok'] });
    });

    it('refuses a different value with ExternalIdImmutableError and writes nothing', async () => {
      const s = await t.createSession(env.secretKey, baseCreateInput({ externalId: 'first' }));
      const before = await t.row(env.environmentId, s.id);
      const { result } = await update(s.id, { externalId: ' second ', tags: ['nope'] });
      expect(result).toMatchObject({
        __typename: 'ExternalIdImmutableError',
        code: 'EXTERNAL_ID_IMMUTABLE',
        currentExternalId: 'first',
        requestedExternalId: 'second',
      });
      await expectUnchanged(s.id, before!);
    });

    it('refuses null when one is set', async () => {
      const s = await t.createSession(env.secretKey, baseCreateInput({ externalId: 'keep-me' }));
      const before = await t.row(env.environmentId, s.id);
      const { result } = await update('keep-me', { externalId: null, metadata: { a: 1 } });
      expect(result).toMatchObject({
        __typename: 'ExternalIdImmutableError',
        currentExternalId: 'keep-me',
        requestedExternalId: null,
      });
      await expectUnchanged(s.id, before!);
    });

    it('refuses a value when none is set, and accepts null when none is set', async () => {
      const s = await t.createSession(env.secretKey);
      const before = await t.row(env.environmentId, s.id);
      const set = await update(s.id, { externalId: 'late', tags: ['x'] });
      expect(set.result).toMatchObject({
        __typename: 'ExternalIdImmutableError',
        currentExternalId: null,
        requestedExternalId: 'late',
      });
      await expectUnchanged(s.id, before!);
      const nulled = await update(s.id, { externalId: null, tags: ['y'] });
      expect(nulled.result.session).toMatchObject({ externalId: null, tags: ['y'], version: 2 });
    });
  });

  describe('size comes first: UTF-8 bytes of JSON.stringify(input), at most 32768', () => {
    // {"metadata":{"p":"…"}} is 21 bytes around the padding.
    const inputOfBytes = (bytes: number, char = 'a') => {
      const charBytes = Buffer.byteLength(char);
      const n = (bytes - 21) / charBytes;
      if (!Number.isInteger(n)) throw new Error('padding does not fit');
      const input = { metadata: { p: char.repeat(n) } };
      expect(Buffer.byteLength(JSON.stringify(input))).toBe(bytes);
      return input;
    };

    it('accepts exactly 32768 bytes', async () => {
      const s = await t.createSession(env.secretKey);
      const input = inputOfBytes(32768);
      const { result } = await update(s.id, input);
      expect(result.__typename).toBe('UpdateSessionSuccess');
      expect((await t.row(env.environmentId, s.id))!.metadata).toEqual(input.metadata);
    });

    it('refuses 32769 bytes with PayloadTooLargeError and writes nothing', async () => {
      const s = await t.createSession(env.secretKey);
      const before = await t.row(env.environmentId, s.id);
      const { status, result } = await update(s.id, inputOfBytes(32769));
      expect(status).toBe(200);
      expect(result).toMatchObject({
        __typename: 'PayloadTooLargeError',
        code: 'PAYLOAD_TOO_LARGE',
        limitBytes: 32768,
        actualBytes: 32769,
      });
      await expectUnchanged(s.id, before!);
    });

    it('counts UTF-8 bytes, not characters', async () => {
      const s = await t.createSession(env.secretKey);
      // 'é' is two bytes: 16374 of them make 32769 bytes in only 16395 characters.
      const input = inputOfBytes(32769, 'é');
      expect(JSON.stringify(input).length).toBeLessThan(32768);
      const { result } = await update(s.id, input);
      expect(result).toMatchObject({ __typename: 'PayloadTooLargeError', actualBytes: 32769 });
    });

    it('is checked before the shape rules', async () => {
      const s = await t.createSession(env.secretKey);
      const { result } = await update(s.id, { tags: Array(11).fill('x'.repeat(200)), metadata: { p: 'a'.repeat(33_000) } });
      expect(result.__typename).toBe('PayloadTooLargeError');
    });
  });

  describe('shape', () => {
    it('accepts 10 tags of 128 characters', async () => {
      const s = await t.createSession(env.secretKey);
      const tags = Array.from({ length: 10 }, (_, i) => String(i).padEnd(128, 'x'));
      const { result } = await update(s.id, { tags });
      expect(result.session.tags).toEqual(tags);
      expect((await t.row(env.environmentId, s.id))!.tags).toEqual(tags);
    });

    it('refuses 11 tags, a 129-character tag and null tags, one issue each, writing nothing', async () => {
      const s = await t.createSession(env.secretKey, baseCreateInput({ tags: ['keep'] }));
      const before = await t.row(env.environmentId, s.id);
      const eleven = await update(s.id, { tags: Array(11).fill('t') });
      expect(eleven.result).toMatchObject({ __typename: 'InvalidInputError', code: 'INVALID_INPUT' });
      expect(eleven.result.issues).toEqual([{ path: ['input', 'tags'], message: 'at most 10 tags' }]);
      const long = await update(s.id, { tags: ['ok', 'fine', 'x', 'y'.repeat(129)] });
      expect(long.result.issues).toEqual([{ path: ['input', 'tags', '3'], message: 'a tag is at most 128 characters' }]);
      const nulled = await update(s.id, { tags: null });
      expect(nulled.result.issues).toEqual([{ path: ['input', 'tags'], message: 'tags may not be null: omit the field to keep the tags' }]);
      await expectUnchanged(s.id, before!);
    });

    it('refuses an externalId empty after trim, over 256 characters or starting with session_', async () => {
      const s = await t.createSession(env.secretKey, baseCreateInput({ externalId: 'x'.repeat(256) }));
      expect(s.externalId).toHaveLength(256);
      const before = await t.row(env.environmentId, s.id);
      const cases: [string, string][] = [
        ['   ', 'externalId may not be empty'],
        ['y'.repeat(257), 'externalId is at most 256 characters'],
        ['session_abc', 'externalId may not start with "session_"'],
      ];
      for (const [externalId, message] of cases) {
        const { result } = await update(s.id, { externalId });
        expect(result.__typename).toBe('InvalidInputError');
        expect(result.issues).toEqual([{ path: ['input', 'externalId'], message }]);
      }
      await expectUnchanged(s.id, before!);
    });

    it('refuses expectedVersion below 1', async () => {
      const s = await t.createSession(env.secretKey);
      const { result } = await update(s.id, { expectedVersion: 0, tags: ['a'] });
      expect(result.issues).toEqual([{ path: ['input', 'expectedVersion'], message: 'expectedVersion is at least 1' }]);
      expect((await t.row(env.environmentId, s.id))!.version).toBe(1);
    });

    it('refuses JSON nested deeper than 64 levels, even thousands deep, as InvalidInputError', async () => {
      const s = await t.createSession(env.secretKey);
      let deep: unknown = 'leaf';
      for (let i = 0; i < 3000; i++) deep = [deep];
      let ok: unknown = 'leaf';
      for (let i = 0; i < 60; i++) ok = { a: ok };
      for (const [metadata, typename] of [
        [{ deep }, 'InvalidInputError'],
        [{ ok }, 'UpdateSessionSuccess'],
      ] as const) {
        const { status, result } = await update(s.id, { metadata });
        expect(status).toBe(200);
        expect(result.__typename).toBe(typename);
      }
    });

    it('takes metadata nested exactly 64 levels and refuses 65, at its path, row unchanged', async () => {
      const s = await t.createSession(env.secretKey);
      const nested = (levels: number) => {
        let value: Record<string, unknown> = {};
        for (let i = 1; i < levels; i++) value = { a: value };
        return value; // {} is one level
      };
      expect((await update(s.id, { metadata: nested(64) })).result.__typename).toBe('UpdateSessionSuccess');
      const before = await t.row(env.environmentId, s.id);
      const { result } = await update(s.id, { metadata: nested(65) });
      expect(result.issues).toEqual([{ path: ['input', 'metadata'], message: 'nested deeper than 64 levels' }]);
      await expectUnchanged(s.id, before!);
    });

    it('counts characters as UTF-16 code units: 64 emoji (128 units) pass as a tag, 65 are refused', async () => {
      const s = await t.createSession(env.secretKey);
      expect((await update(s.id, { tags: ['😀'.repeat(64)] })).result.__typename).toBe('UpdateSessionSuccess');
      const { result } = await update(s.id, { tags: ['😀'.repeat(65)] });
      expect(result.issues).toEqual([{ path: ['input', 'tags', '0'], message: 'a tag is at most 128 characters' }]);
      expect((await t.row(env.environmentId, s.id))!.tags).toEqual(['😀'.repeat(64)]);
    });

    it('reports both a tag count and a tag length problem', async () => {
      const s = await t.createSession(env.secretKey);
      const { result } = await update(s.id, { tags: ['x'.repeat(150), ...Array(10).fill('t')] });
      expect(result.issues).toEqual([
        { path: ['input', 'tags', '0'], message: 'a tag is at most 128 characters' },
        { path: ['input', 'tags'], message: 'at most 10 tags' },
      ]);
    });

    it('reports every problem at once', async () => {
      const s = await t.createSession(env.secretKey);
      const { result } = await update(s.id, { tags: Array(11).fill('z'), externalId: '', expectedVersion: -1 });
      expect(result.issues.map((i: { path: string[] }) => i.path.join('.'))).toEqual([
        'input.tags',
        'input.externalId',
        'input.expectedVersion',
      ]);
    });

    it('checks shape before lookup: an unknown id with bad input is InvalidInputError', async () => {
      const { result } = await update('session_missing', { tags: Array(11).fill('z') });
      expect(result.__typename).toBe('InvalidInputError');
    });

    it('refuses a NUL character anywhere (tag, metadata value or key) as input, writing nothing', async () => {
      const s = await t.createSession(env.secretKey, baseCreateInput({ metadata: { a: 1 } }));
      const before = await t.row(env.environmentId, s.id);
      const cases = [
        [{ tags: ['ok', 'bad\u0000tag'] }, ['input', 'tags', '1']],
        [{ metadata: { deep: { list: ['x', 'y\u0000'] } } }, ['input', 'metadata', 'deep', 'list', '1']],
        [{ metadata: { 'k\u0000': 1 } }, ['input', 'metadata', 'k\u0000']],
        [{ metadata: { lone: '\ud800' } }, ['input', 'metadata', 'lone']],
      ] as const;
      for (const [input, path] of cases) {
        const { status, result } = await update(s.id, input);
        expect(status).toBe(200);
        expect(result.__typename).toBe('InvalidInputError');
        expect(result.issues).toHaveLength(1);
        expect(result.issues[0].path).toEqual(path);
      }
      await expectUnchanged(s.id, before!);
    });

    it('answers an id holding a NUL character as not found, not as an internal error', async () => {
      const { status, result } = await update('bad\u0000id', { tags: ['x'] });
      expect(status).toBe(200);
      expect(result).toMatchObject({ __typename: 'SessionNotFoundError', id: 'bad\u0000id' });
    });

    it('refuses metadata that is not an object at the variable, as top-level BAD_USER_INPUT', async () => {
      const s = await t.createSession(env.secretKey, baseCreateInput({ metadata: { a: 1 } }));
      const before = await t.row(env.environmentId, s.id);
      for (const metadata of [[1, 2], 'text', 42]) {
        const { status, body } = await t.gql(UPDATE, { id: s.id, input: { metadata } }, env.secretKey);
        expect(status).toBe(400);
        expect(body.data).toBeUndefined();
        expect(body.errors![0]!.extensions!.code).toBe('BAD_USER_INPUT');
      }
      await expectUnchanged(s.id, before!);
    });
  });

  describe('expectedVersion', () => {
    it('applies the update when it is the current version', async () => {
      const s = await t.createSession(env.secretKey);
      await update(s.id, { tags: ['v2'] });
      const { result } = await update(s.id, { tags: ['v3'], expectedVersion: 2 });
      expect(result.session).toMatchObject({ tags: ['v3'], version: 3 });
      expect((await t.row(env.environmentId, s.id))!.version).toBe(3);
    });

    it('answers VersionConflictError with both versions when stale, writing nothing', async () => {
      const s = await t.createSession(env.secretKey);
      await update(s.id, { tags: ['v2'] });
      const before = await t.row(env.environmentId, s.id);
      const { result } = await update(s.id, { tags: ['stale'], expectedVersion: 1 });
      expect(result).toMatchObject({
        __typename: 'VersionConflictError',
        code: 'VERSION_CONFLICT',
        expectedVersion: 1,
        currentVersion: 2,
      });
      await expectUnchanged(s.id, before!);
    });

    it('is checked after externalId: both wrong gives ExternalIdImmutableError', async () => {
      const s = await t.createSession(env.secretKey, baseCreateInput({ externalId: 'order-a' }));
      const { result } = await update(s.id, { externalId: 'order-b', expectedVersion: 9 });
      expect(result.__typename).toBe('ExternalIdImmutableError');
    });
  });

  it('sends one SQL statement per update, whatever the outcome, once the key is cached', async () => {
    const s = await t.createSession(env.secretKey, baseCreateInput({ externalId: 'one-trip' }));
    const cases = [{ tags: ['ok'] }, {}, { externalId: 'other', tags: ['x'] }, { expectedVersion: 99, tags: ['x'] }];
    for (const [i, input] of cases.entries()) {
      await update(s.id, {}); // warms the credential cache
      t.queries.length = 0;
      const { result } = await update(i % 2 ? 'one-trip' : s.id, input);
      expect(result.__typename).not.toBe('SessionNotFoundError');
      expect(t.sessionQueries()).toHaveLength(1);
    }
    t.queries.length = 0;
    await update('session_missing', { tags: ['x'] });
    expect(t.sessionQueries()).toHaveLength(1);
  });

  describe('concurrency', () => {
    it('loses no version across 25 concurrent updates', async () => {
      const s = await t.createSession(env.secretKey);
      const results = await Promise.all(Array.from({ length: 25 }, (_, i) => update(s.id, { tags: [`t${i}`], metadata: { i } })));
      const versions = results.map((r) => r.result.session.version).sort((a, b) => a - b);
      expect(versions).toEqual(Array.from({ length: 25 }, (_, i) => i + 2));
      expect((await t.row(env.environmentId, s.id))!.version).toBe(26);
    });

    it('lets exactly one of 20 concurrent updates with the same expectedVersion win', async () => {
      const s = await t.createSession(env.secretKey);
      const results = await Promise.all(Array.from({ length: 20 }, (_, i) => update(s.id, { tags: [`w${i}`], expectedVersion: 1 })));
      const winners = results.filter((r) => r.result.__typename === 'UpdateSessionSuccess');
      const losers = results.filter((r) => r.result.__typename === 'VersionConflictError');
      expect(winners).toHaveLength(1);
      expect(losers).toHaveLength(19);
      for (const l of losers) expect(l.result).toMatchObject({ expectedVersion: 1, currentVersion: 2 });
      const row = await t.row(env.environmentId, s.id);
      expect(row).toMatchObject({ version: 2, tags: winners[0]!.result.session.tags });
    });
  });

  it('allows updating a closed session: tags and metadata stay editable', async () => {
    const s = await t.createSession(env.secretKey);
    const closedAt = new Date('2026-01-01T00:00:00Z');
    await t.setRow(env.environmentId, s.id, { closedAt, closedReason: 'done' });
    const { result } = await update(s.id, { tags: ['after-close'] });
    expect(result.session).toMatchObject({ tags: ['after-close'], status: 'CLOSED', closedReason: 'done' });
    expect(await t.row(env.environmentId, s.id)).toMatchObject({ tags: ['after-close'], closedAt, version: 2 });
  });
});
