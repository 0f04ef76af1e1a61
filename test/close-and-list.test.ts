import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { and, eq } from 'drizzle-orm';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createToken, type NewEnvironment } from '../src/auth/environments.js';
import { type SessionRow, sessions } from '../src/db/schema.js';
import { baseCreateInput, CREATE, drivers, GET, type GqlResponse, SESSION_FIELDS, startTestApp, type TestApp, UPDATE } from './support.js';

const CLOSE = `mutation Close($id: ID!, $reason: String) {
  closeSession(id: $id, reason: $reason) {
    __typename
    ... on CloseSessionSuccess { session { ${SESSION_FIELDS} } }
    ... on Error { message code }
    ... on SessionNotFoundError { id }
    ... on InvalidInputError { issues { path message } }
  }
}`;

const LIST = `query List($filter: SessionFilter, $first: Int, $after: String, $last: Int, $before: String) {
  sessions(filter: $filter, first: $first, after: $after, last: $last, before: $before) {
    edges { cursor node { ${SESSION_FIELDS} } }
    pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
  }
}`;

interface PageInfo {
  hasNextPage: boolean;
  hasPreviousPage: boolean;
  startCursor: string | null;
  endCursor: string | null;
}
interface Connection {
  edges: { cursor: string; node: { id: string; [field: string]: unknown } }[];
  pageInfo: PageInfo;
}

/** (createdAt desc, id desc): the order the contract promises, computed here from stored rows. */
function newestFirst<T extends Pick<SessionRow, 'createdAt' | 'id'>>(rows: T[]): T[] {
  return [...rows].sort((a, b) => b.createdAt.getTime() - a.createdAt.getTime() || (a.id < b.id ? 1 : a.id > b.id ? -1 : 0));
}

const b64 = (text: string) => Buffer.from(text).toString('base64url');

function expectTopLevel({ status, body }: GqlResponse<any>, code: string, httpStatus: number) {
  expect(status).toBe(httpStatus);
  expect(body.errors).toHaveLength(1);
  expect(body.errors![0]!.extensions!.code).toBe(code);
  // Nothing leaks next to the error.
  expect(body.data?.sessions ?? body.data?.closeSession ?? null).toBeNull();
}

/** The shared pieces of every describe block below: one app per driver, a fresh environment per test. */
function setup(driver: (typeof drivers)[number]) {
  const ctx = {} as { t: TestApp; env: NewEnvironment };
  beforeAll(async () => {
    ctx.t = await startTestApp(driver);
  });
  afterAll(() => ctx.t?.close());
  beforeEach(async () => {
    ctx.env = await ctx.t.newEnvironment();
  });
  return ctx;
}

describe.each(drivers)('closeSession on %s', (driver) => {
  const ctx = setup(driver);

  const close = (id: string, reason?: string | null, credential = ctx.env.secretKey) =>
    ctx.t.gql(CLOSE, reason === undefined ? { id } : { id, reason }, credential).then((r) => ({ ...r, result: r.body.data?.closeSession }));

  const row = (id: string, environmentId = ctx.env.environmentId) => ctx.t.row(environmentId, id);

  /** A new session whose updatedAt lies a minute back, so that a write is visible in it. */
  async function openSession(input = baseCreateInput()) {
    const { t, env } = ctx;
    const s = await t.createSession(env.secretKey, input);
    const past = new Date(Date.now() - 60_000);
    await t.setRow(env.environmentId, s.id, { createdAt: past, updatedAt: past });
    return { ...s, before: (await row(s.id))! };
  }

  const storedCount = async (environmentId = ctx.env.environmentId) =>
    (await ctx.t.app.database.db.select().from(sessions).where(eq(sessions.environmentId, environmentId))).length;

  it('closes by friendly id: closedAt and closedReason set, status CLOSED, version + 1, updatedAt moves', async () => {
    const s = await openSession(baseCreateInput({ tags: ['keep'], metadata: { m: 1 } }));
    const { status, body, result } = await close(s.id, 'user left');
    expect(status).toBe(200);
    expect(body.errors).toBeUndefined();
    expect(result.__typename).toBe('CloseSessionSuccess');
    expect(result.session).toMatchObject({
      id: s.id,
      status: 'CLOSED',
      closedReason: 'user left',
      version: 2,
      tags: ['keep'],
      metadata: { m: 1 },
    });
    const stored = (await row(s.id))!;
    expect(stored.closedAt).toBeInstanceOf(Date);
    expect(stored.closedAt!.getTime()).toBeGreaterThan(s.before.updatedAt.getTime());
    expect(stored.updatedAt.getTime()).toBeGreaterThan(s.before.updatedAt.getTime());
    expect(new Date(result.session.closedAt)).toEqual(stored.closedAt);
    expect(new Date(result.session.updatedAt)).toEqual(stored.updatedAt);
    // Everything else stays as it was.
    expect(stored).toEqual({
      ...s.before,
      closedAt: stored.closedAt,
      closedReason: 'user left',
      version: 2,
      updatedAt: stored.updatedAt,
    });
  });

  it('closes by externalId when the id has no session_ prefix', async () => {
    const s = await openSession(baseCreateInput({ externalId: 'chat-to-close' }));
    const { result } = await close('chat-to-close', 'done');
    expect(result.__typename).toBe('CloseSessionSuccess');
    expect(result.session).toMatchObject({
      id: s.id,
      externalId: 'chat-to-close',
      status: 'CLOSED',
      closedReason: 'done',
      version: 2,
    });
    const stored = (await row(s.id))!;
    expect(stored).toMatchObject({ closedReason: 'done', version: 2 });
    expect(stored.closedAt).toBeInstanceOf(Date);
    expect(stored.updatedAt.getTime()).toBeGreaterThan(s.before.updatedAt.getTime());
    expect(new Date(result.session.closedAt)).toEqual(stored.closedAt);
  });

  it('returns a closed session unchanged when closed again: first closedAt and reason kept, version not bumped', async () => {
    const s = await openSession(baseCreateInput({ externalId: 'chat-twice' }));
    const first = await close(s.id, 'first reason');
    const afterFirst = (await row(s.id))!;
    expect(afterFirst).toMatchObject({ closedReason: 'first reason', version: 2 });
    for (const [id, reason] of [
      [s.id, 'second reason'],
      ['chat-twice', 'third reason'],
      [s.id, undefined],
      [s.id, null],
    ] as const) {
      const again = await close(id, reason);
      expect(again.status).toBe(200);
      expect(again.result.__typename).toBe('CloseSessionSuccess');
      expect(again.result.session).toEqual(first.result.session);
      expect(again.result.session).toMatchObject({ closedReason: 'first reason', version: 2, status: 'CLOSED' });
      expect(await row(s.id)).toEqual(afterFirst);
    }
  });

  it('stores a null closedReason when reason is omitted or null', async () => {
    const omitted = await openSession();
    const nulled = await openSession();
    const a = await close(omitted.id);
    const b = await close(nulled.id, null);
    for (const [{ result }, s] of [
      [a, omitted],
      [b, nulled],
    ] as const) {
      expect(result.__typename).toBe('CloseSessionSuccess');
      expect(result.session).toMatchObject({ status: 'CLOSED', closedReason: null, version: 2 });
      const stored = (await row(s.id))!;
      expect(stored.closedReason).toBeNull();
      expect(stored.closedAt).toBeInstanceOf(Date);
    }
  });

  it('accepts a reason of exactly 256 characters and stores it as given', async () => {
    const s = await openSession();
    const reason = `${'r'.repeat(255)}é`;
    expect(reason).toHaveLength(256);
    const { result } = await close(s.id, reason);
    expect(result.__typename).toBe('CloseSessionSuccess');
    expect(result.session.closedReason).toBe(reason);
    expect((await row(s.id))!.closedReason).toBe(reason);
  });

  it('refuses a reason of 257 characters with InvalidInputError on ["reason"], leaving the session open', async () => {
    const s = await openSession();
    const { status, result } = await close(s.id, 'r'.repeat(257));
    expect(status).toBe(200);
    expect(result).toMatchObject({ __typename: 'InvalidInputError', code: 'INVALID_INPUT' });
    expect(result.issues).toHaveLength(1);
    expect(result.issues[0].path).toEqual(['reason']);
    expect(result.issues[0].message).toMatch(/256/);
    expect(await row(s.id)).toEqual(s.before);
    expect(s.before.closedAt).toBeNull();
  });

  it('refuses a NUL character or a lone surrogate in reason as InvalidInputError, never an internal error', async () => {
    const s = await openSession();
    for (const reason of ['bad\u0000reason', 'lone \ud800 surrogate']) {
      const { status, body, result } = await close(s.id, reason);
      expect(status).toBe(200);
      expect(body.errors).toBeUndefined();
      expect(result.__typename).toBe('InvalidInputError');
      expect(result.issues).toHaveLength(1);
      expect(result.issues[0].path).toEqual(['reason']);
    }
    expect(await row(s.id)).toEqual(s.before);
  });

  it('checks the reason before the lookup: an unknown id with a bad reason is InvalidInputError', async () => {
    const { result } = await close('session_missing', 'x'.repeat(300));
    expect(result.__typename).toBe('InvalidInputError');
  });

  it('answers SessionNotFoundError with the id looked up, by friendly id, externalId or an id holding NUL', async () => {
    for (const id of ['session_doesnotexist', 'no-such-external-id', 'bad\u0000id']) {
      const { status, body, result } = await close(id, 'why');
      expect(status).toBe(200);
      expect(body.errors).toBeUndefined();
      expect(result).toMatchObject({ __typename: 'SessionNotFoundError', code: 'SESSION_NOT_FOUND', id });
    }
  });

  it("treats another environment's session as not found and leaves it untouched", async () => {
    const { t } = ctx;
    const other = await t.newEnvironment();
    const theirs = await t.createSession(other.secretKey, baseCreateInput({ externalId: 'shared-name' }));
    const before = await row(theirs.id, other.environmentId);
    for (const id of [theirs.id, 'shared-name']) {
      const { result } = await close(id, 'hijack');
      expect(result).toMatchObject({ __typename: 'SessionNotFoundError', id });
    }
    expect(await row(theirs.id, other.environmentId)).toEqual(before);
    expect(before!.closedAt).toBeNull();
  });

  it('refuses a public access token (even one with read:all): FORBIDDEN, HTTP 403, row unchanged', async () => {
    const { t, env } = ctx;
    const s = await openSession(baseCreateInput({ externalId: 'chat-public' }));
    const readAll = (await createToken(t.app.database.db, env.slug, ['read:all', `write:sessions:${s.id}`], 3600)).token;
    for (const credential of [s.publicAccessToken, readAll]) {
      for (const id of [s.id, 'chat-public']) {
        expectTopLevel(await close(id, 'sneaky', credential), 'FORBIDDEN', 403);
      }
    }
    expect(await row(s.id)).toEqual(s.before);
  });

  it('refuses a request without credentials or with an unknown key: UNAUTHENTICATED, HTTP 401, row unchanged', async () => {
    const { t } = ctx;
    const s = await openSession();
    const noCredentials = await t.gql(CLOSE, { id: s.id, reason: 'x' });
    expectTopLevel(noCredentials, 'UNAUTHENTICATED', 401);
    expectTopLevel(await close(s.id, 'x', `tr_dev_${randomBytes(20).toString('hex')}`), 'UNAUTHENTICATED', 401);
    expect(await row(s.id)).toEqual(s.before);
  });

  it('leaves tags and metadata editable after closing, keeping closedAt and closedReason', async () => {
    const { t, env } = ctx;
    const s = await openSession(baseCreateInput({ tags: ['before'] }));
    await close(s.id, 'finished');
    const closed = (await row(s.id))!;
    const { result } = await t
      .gql(UPDATE, { id: s.id, input: { tags: ['after'], metadata: { note: 'post-close' } } }, env.secretKey)
      .then((r) => ({ result: r.body.data?.updateSession }));
    expect(result.__typename).toBe('UpdateSessionSuccess');
    expect(result.session).toMatchObject({
      tags: ['after'],
      metadata: { note: 'post-close' },
      status: 'CLOSED',
      closedReason: 'finished',
      version: 3,
    });
    const stored = (await row(s.id))!;
    expect(stored).toMatchObject({ tags: ['after'], metadata: { note: 'post-close' }, version: 3 });
    expect(stored.closedAt).toEqual(closed.closedAt);
    expect(stored.closedReason).toBe('finished');
  });

  it('refuses createSession with the externalId of a closed session: SessionClosedError, nothing written', async () => {
    const { t, env } = ctx;
    const s = await openSession(baseCreateInput({ externalId: 'chat-closed' }));
    await close('chat-closed', 'bye');
    const before = await row(s.id);
    const count = await storedCount();
    for (const externalId of ['chat-closed', '  chat-closed  ']) {
      const input = baseCreateInput({ externalId, triggerConfig: { basePayload: { model: 'other' }, machine: 'micro' } });
      const { status, body } = await t.gql(CREATE, { input }, env.secretKey);
      expect(status).toBe(200);
      expect(body.data.createSession).toMatchObject({
        __typename: 'SessionClosedError',
        code: 'SESSION_CLOSED',
        id: 'chat-closed',
      });
    }
    expect(await row(s.id)).toEqual(before);
    expect(await storedCount()).toBe(count);
  });

  it('closes exactly once under 10 concurrent closes: all succeed, version 2, one closedAt and reason', async () => {
    const s = await openSession();
    const reasons = Array.from({ length: 10 }, (_, i) => `reason-${i}`);
    const results = await Promise.all(reasons.map((reason) => close(s.id, reason)));
    for (const { status, result } of results) {
      expect(status).toBe(200);
      expect(result.__typename).toBe('CloseSessionSuccess');
      expect(result.session).toMatchObject({ status: 'CLOSED', version: 2 });
    }
    const stored = (await row(s.id))!;
    expect(stored.version).toBe(2);
    expect(reasons).toContain(stored.closedReason);
    expect(new Set(results.map((r) => r.result.session.closedAt))).toEqual(new Set([stored.closedAt!.toISOString()]));
    expect(new Set(results.map((r) => r.result.session.closedReason))).toEqual(new Set([stored.closedReason]));
  });

  it('closes only at expectedVersion: another version is VersionConflictError in one statement, row unchanged', async () => {
    const { t, env } = ctx;
    const s = await openSession();
    const CONDITIONAL = `mutation($id: ID!, $v: Int) { closeSession(id: $id, reason: "r", expectedVersion: $v) {
      __typename ... on VersionConflictError { code expectedVersion currentVersion }
      ... on InvalidInputError { issues { path } } ... on CloseSessionSuccess { session { version status } } } }`;
    t.queries.length = 0;
    const stale = (await t.gql(CONDITIONAL, { id: s.id, v: 2 }, env.secretKey)).body.data.closeSession;
    expect(stale).toEqual({ __typename: 'VersionConflictError', code: 'VERSION_CONFLICT', expectedVersion: 2, currentVersion: 1 });
    expect(t.sessionQueries()).toHaveLength(1);
    expect(await row(s.id)).toEqual(s.before);
    const zero = (await t.gql(CONDITIONAL, { id: s.id, v: 0 }, env.secretKey)).body.data.closeSession;
    expect(zero).toEqual({ __typename: 'InvalidInputError', issues: [{ path: ['expectedVersion'] }] });
    expect(await row(s.id)).toEqual(s.before);
    const closed = (await t.gql(CONDITIONAL, { id: s.id, v: 1 }, env.secretKey)).body.data.closeSession;
    expect(closed).toEqual({ __typename: 'CloseSessionSuccess', session: { version: 2, status: 'CLOSED' } });
  });

  it('sends one SQL statement per close, whatever the outcome, once the key is cached', async () => {
    const { t } = ctx;
    const s = await openSession(baseCreateInput({ externalId: 'chat-one-trip' }));
    await close('session_warm-up', null); // warms the credential cache
    const cases: [string, string][] = [
      [s.id, 'first'], // closes
      ['chat-one-trip', 'again'], // already closed
      ['session_missing', 'nothing'], // not found
    ];
    for (const [id, reason] of cases) {
      t.queries.length = 0;
      const { result } = await close(id, reason);
      expect(result.__typename).not.toBe('InvalidInputError');
      expect(t.sessionQueries()).toHaveLength(1);
    }
  });
});

describe.each(drivers)('Session.status on %s', (driver) => {
  const ctx = setup(driver);

  const read = async (id: string) => (await ctx.t.gql(GET, { id }, ctx.env.secretKey)).body.data?.session;
  const listIds = async (filter: Record<string, unknown>) => {
    const { body } = await ctx.t.gql(LIST, { filter, first: 100 }, ctx.env.secretKey);
    return (body.data.sessions as Connection).edges.map((e) => e.node.id);
  };

  it('is ACTIVE for an open session with no expiresAt or an expiresAt in the future', async () => {
    const { t, env } = ctx;
    const plain = await t.createSession(env.secretKey);
    const later = await t.createSession(env.secretKey, baseCreateInput({ expiresAt: new Date(Date.now() + 3600_000).toISOString() }));
    for (const s of [plain, later]) expect((await read(s.id)).status).toBe('ACTIVE');
    expect((await listIds({ status: ['ACTIVE'] })).sort()).toEqual([plain.id, later.id].sort());
  });

  it('turns EXPIRED once expiresAt has passed, without any write to the row', async () => {
    const { t, env } = ctx;
    const expiresAt = new Date(Date.now() + 1500);
    const s = await t.createSession(env.secretKey, baseCreateInput({ expiresAt: expiresAt.toISOString() }));
    expect((await read(s.id)).status).toBe('ACTIVE');
    expect(await listIds({ status: ['ACTIVE'] })).toEqual([s.id]);
    const before = await t.row(env.environmentId, s.id);
    await sleep(Math.max(0, expiresAt.getTime() - Date.now()) + 500);
    expect(await read(s.id)).toMatchObject({ status: 'EXPIRED', closedAt: null, version: 1 });
    expect(await listIds({ status: ['EXPIRED'] })).toEqual([s.id]);
    expect(await listIds({ status: ['ACTIVE'] })).toEqual([]);
    expect(await t.row(env.environmentId, s.id)).toEqual(before);
  });

  it('is EXPIRED when expiresAt is set in the past', async () => {
    const { t, env } = ctx;
    const s = await t.createSession(env.secretKey);
    await t.setRow(env.environmentId, s.id, { expiresAt: new Date(Date.now() - 1000) });
    expect((await read(s.id)).status).toBe('EXPIRED');
  });

  it('is CLOSED when closed, even once expiresAt has passed', async () => {
    const { t, env } = ctx;
    const past = new Date(Date.now() - 1000);
    // Closed through the API, then expired.
    const a = await t.createSession(env.secretKey);
    await t.gql(CLOSE, { id: a.id, reason: 'done' }, env.secretKey);
    await t.setRow(env.environmentId, a.id, { expiresAt: past });
    // Expired first, then closed through the API.
    const b = await t.createSession(env.secretKey);
    await t.setRow(env.environmentId, b.id, { expiresAt: past });
    const closed = await t.gql(CLOSE, { id: b.id, reason: 'late' }, env.secretKey);
    expect(closed.body.data.closeSession).toMatchObject({ __typename: 'CloseSessionSuccess' });
    expect(closed.body.data.closeSession.session).toMatchObject({ status: 'CLOSED', closedReason: 'late', version: 2 });
    for (const s of [a, b]) expect((await read(s.id)).status).toBe('CLOSED');
    expect((await listIds({ status: ['CLOSED'] })).sort()).toEqual([a.id, b.id].sort());
    expect(await listIds({ status: ['EXPIRED'] })).toEqual([]);
  });

  it('refuses createSession with the externalId of an expired session: SessionExpiredError, nothing written', async () => {
    const { t, env } = ctx;
    const s = await t.createSession(env.secretKey, baseCreateInput({ externalId: 'chat-expired' }));
    await t.setRow(env.environmentId, s.id, { expiresAt: new Date(Date.now() - 1000) });
    const before = await t.row(env.environmentId, s.id);
    const input = baseCreateInput({ externalId: 'chat-expired', triggerConfig: { basePayload: { changed: true } } });
    const { status, body } = await t.gql(CREATE, { input }, env.secretKey);
    expect(status).toBe(200);
    expect(body.data.createSession).toMatchObject({
      __typename: 'SessionExpiredError',
      code: 'SESSION_EXPIRED',
      id: 'chat-expired',
    });
    expect(await t.row(env.environmentId, s.id)).toEqual(before);
    const all = await t.app.database.db.select().from(sessions).where(eq(sessions.environmentId, env.environmentId));
    expect(all).toHaveLength(1);
  });
});

describe.each(drivers)('Query.sessions on %s', (driver) => {
  const ctx = setup(driver);

  interface ListArgs {
    filter?: Record<string, unknown> | null;
    first?: number | null;
    after?: string | null;
    last?: number | null;
    before?: string | null;
  }

  const list = (args: ListArgs = {}, credential = ctx.env.secretKey) =>
    ctx.t.gql(LIST, { ...args }, credential).then((r) => ({ ...r, conn: r.body.data?.sessions as Connection }));

  const ids = (conn: Connection) => conn.edges.map((e) => e.node.id);

  const storedRows = (environmentId = ctx.env.environmentId) =>
    ctx.t.app.database.db.select().from(sessions).where(eq(sessions.environmentId, environmentId));

  type Seed = Partial<typeof sessions.$inferInsert> & { createdAt: Date };

  /** Inserts rows straight into the table (far faster than createSession), in batches. */
  async function insertRows(seeds: Seed[], environmentId = ctx.env.environmentId) {
    const values = seeds.map((seed) => ({
      environmentId,
      id: `session_${randomBytes(9).toString('base64url')}`,
      type: 'chat.agent',
      taskIdentifier: 'my-chat',
      triggerConfig: { basePayload: {} },
      ...seed,
    }));
    for (let i = 0; i < values.length; i += 100) {
      await ctx.t.app.database.db.insert(sessions).values(values.slice(i, i + 100));
    }
    return values;
  }

  /** n rows spread over time, three at a time sharing one createdAt so the id tiebreak matters. */
  const spread = (n: number, start = Date.parse('2026-03-01T00:00:00.000Z')) =>
    Array.from({ length: n }, (_, i) => ({ createdAt: new Date(start + Math.floor(i / 3) * 1000 + (i % 7 === 0 ? 1 : 0)) }));

  function expectPageInfo(conn: Connection, expected: Pick<PageInfo, 'hasNextPage' | 'hasPreviousPage'>) {
    expect(conn.pageInfo).toEqual({
      ...expected,
      startCursor: conn.edges[0]?.cursor ?? null,
      endCursor: conn.edges.at(-1)?.cursor ?? null,
    });
  }

  /** Pages forward with `first: size` to the end, checking every page against `expected`. */
  async function pageForward(expected: string[], size: number, filter?: Record<string, unknown>) {
    const seen: string[] = [];
    let after: string | null = null;
    for (let page = 0; ; page++) {
      const { status, body, conn } = await list({ filter, first: size, after });
      expect(status).toBe(200);
      expect(body.errors).toBeUndefined();
      const last = seen.length + conn.edges.length >= expected.length;
      expect(ids(conn)).toEqual(expected.slice(seen.length, seen.length + size));
      expectPageInfo(conn, { hasNextPage: !last, hasPreviousPage: page > 0 });
      seen.push(...ids(conn));
      if (last) break;
      after = conn.pageInfo.endCursor;
      expect(page).toBeLessThan(expected.length); // no endless loop on a bug
    }
    expect(seen).toEqual(expected);
  }

  /** Pages backward with `last: size` from the oldest end, checking every page against `expected`. */
  async function pageBackward(expected: string[], size: number, filter?: Record<string, unknown>) {
    let seen: string[] = [];
    let before: string | null = null;
    for (let page = 0; ; page++) {
      const { status, body, conn } = await list({ filter, last: size, before });
      expect(status).toBe(200);
      expect(body.errors).toBeUndefined();
      const end = expected.length - seen.length;
      const first = conn.edges.length >= end;
      expect(ids(conn)).toEqual(expected.slice(Math.max(0, end - size), end));
      // With `before` given, the rows from the cursor on follow this page.
      expectPageInfo(conn, { hasNextPage: page > 0, hasPreviousPage: !first });
      seen = [...ids(conn), ...seen];
      if (first) break;
      before = conn.pageInfo.startCursor;
      expect(page).toBeLessThan(expected.length);
    }
    expect(seen).toEqual(expected);
  }

  describe('order', () => {
    it('is newest first by createdAt, then id, descending, ties broken by id', async () => {
      const { t, env } = ctx;
      const created = [];
      for (let i = 0; i < 8; i++) created.push(await t.createSession(env.secretKey, baseCreateInput({ tags: [`n${i}`] })));
      const tie = new Date('2026-02-01T12:00:00.123Z');
      // Five share one createdAt; one is older, two are newer, so ties sit in the middle of the list.
      for (const s of created.slice(0, 5)) await t.setRow(env.environmentId, s.id, { createdAt: tie });
      await t.setRow(env.environmentId, created[5]!.id, { createdAt: new Date(tie.getTime() - 1) });
      await t.setRow(env.environmentId, created[6]!.id, { createdAt: new Date(tie.getTime() + 1) });
      await t.setRow(env.environmentId, created[7]!.id, { createdAt: new Date(tie.getTime() + 1) });
      const expected = newestFirst(await storedRows()).map((r) => r.id);
      expect(expected).toHaveLength(8);
      const { status, body, conn } = await list();
      expect(status).toBe(200);
      expect(body.errors).toBeUndefined();
      expect(ids(conn)).toEqual(expected);
      const tiedIds = created.slice(0, 5).map((s) => s.id);
      expect(ids(conn).filter((id) => tiedIds.includes(id))).toEqual([...tiedIds].sort().reverse());
      expectPageInfo(conn, { hasNextPage: false, hasPreviousPage: false });
    });

    it('returns every field of a node exactly as Query.session does, with a cursor per edge', async () => {
      const { t, env } = ctx;
      const s = await t.createSession(env.secretKey, baseCreateInput({ externalId: 'chat-node', tags: ['a'], metadata: { k: [1] } }));
      const { conn } = await list();
      const single = (await t.gql(GET, { id: s.id }, env.secretKey)).body.data.session;
      expect(conn.edges).toHaveLength(1);
      expect(conn.edges[0]!.node).toEqual(single);
      expect(typeof conn.edges[0]!.cursor).toBe('string');
      expect(conn.edges[0]!.cursor.length).toBeGreaterThan(0);
    });

    it('gives an environment without sessions an empty page with null cursors', async () => {
      for (const args of [{}, { first: 5 }, { last: 5 }]) {
        const { status, conn } = await list(args);
        expect(status).toBe(200);
        expect(conn).toEqual({
          edges: [],
          pageInfo: { hasNextPage: false, hasPreviousPage: false, startCursor: null, endCursor: null },
        });
      }
    });
  });

  describe('page size', () => {
    it('is 20 by default; first and last accept 1 and 100', async () => {
      const expected = newestFirst(await insertRows(spread(120))).map((r) => r.id);
      const byDefault = await list();
      expect(ids(byDefault.conn)).toEqual(expected.slice(0, 20));
      expectPageInfo(byDefault.conn, { hasNextPage: true, hasPreviousPage: false });
      for (const first of [1, 100]) {
        const { status, conn } = await list({ first });
        expect(status).toBe(200);
        expect(ids(conn)).toEqual(expected.slice(0, first));
        expectPageInfo(conn, { hasNextPage: true, hasPreviousPage: false });
      }
      for (const last of [1, 100]) {
        const { status, conn } = await list({ last });
        expect(status).toBe(200);
        expect(ids(conn)).toEqual(expected.slice(120 - last));
        expectPageInfo(conn, { hasNextPage: false, hasPreviousPage: true });
      }
    });

    it('refuses first or last of 0, 101 or -1 as top-level BAD_USER_INPUT, HTTP 400', async () => {
      await insertRows(spread(3));
      for (const n of [0, 101, -1]) {
        expectTopLevel(await list({ first: n }), 'BAD_USER_INPUT', 400);
        expectTopLevel(await list({ last: n }), 'BAD_USER_INPUT', 400);
      }
    });

    it('refuses first with last, and after with before, as top-level BAD_USER_INPUT, HTTP 400', async () => {
      await insertRows(spread(5));
      const { conn } = await list({ first: 2 });
      const { startCursor, endCursor } = conn.pageInfo;
      expectTopLevel(await list({ first: 1, last: 1 }), 'BAD_USER_INPUT', 400);
      expectTopLevel(await list({ after: endCursor, before: startCursor }), 'BAD_USER_INPUT', 400);
      expectTopLevel(await list({ first: 1, after: endCursor, before: startCursor }), 'BAD_USER_INPUT', 400);
    });
  });

  describe('cursors', () => {
    it('refuses a cursor the service did not give out as top-level BAD_USER_INPUT, HTTP 400', async () => {
      await insertRows(spread(3));
      const bad = [
        'garbage',
        '',
        '!!!',
        b64('{"createdAt":"2026-01-01T00:00:00.000Z","id":"session_x"}'),
        b64('[1,2]'),
        b64('["not a date","session_x"]'),
        b64('["2026-01-01T00:00:00.000Z"]'),
        b64('["2026-01-01T00:00:00.000Z",42]'),
        b64('[]'),
        b64('null'),
        b64('"garbage"'),
        b64('["2026-01-01T00:00:00.000Z","session_\\u0000"]'),
      ];
      for (const cursor of bad) {
        expectTopLevel(await list({ after: cursor }), 'BAD_USER_INPUT', 400);
        expectTopLevel(await list({ last: 2, before: cursor }), 'BAD_USER_INPUT', 400);
      }
    });

    it('refuses a cursor whose JSON is a string starting with digits, not a [createdAt, id] pair', async () => {
      await insertRows(spread(3));
      // JSON strings destructure character by character: "20" must not pass as ["2", "0"].
      for (const cursor of [b64('"20"'), b64('"2026-01-01"')]) {
        expectTopLevel(await list({ after: cursor }), 'BAD_USER_INPUT', 400);
        expectTopLevel(await list({ last: 2, before: cursor }), 'BAD_USER_INPUT', 400);
      }
    });

    it('pages forward through 250 sessions, each exactly once in order, with first: 100 and first: 37', async () => {
      const expected = newestFirst(await insertRows(spread(250))).map((r) => r.id);
      await pageForward(expected, 100);
      await pageForward(expected, 37);
    });

    it('pages backward through 250 sessions with last/before, each exactly once in order', async () => {
      const expected = newestFirst(await insertRows(spread(250))).map((r) => r.id);
      await pageBackward(expected, 100);
      await pageBackward(expected, 37);
    });

    it('gives an empty page past the end, still knowing what lies before it', async () => {
      const expected = newestFirst(await insertRows(spread(5))).map((r) => r.id);
      const all = await list({ first: 5 });
      expect(ids(all.conn)).toEqual(expected);
      expectPageInfo(all.conn, { hasNextPage: false, hasPreviousPage: false });
      const past = await list({ first: 5, after: all.conn.pageInfo.endCursor });
      expect(past.conn.edges).toEqual([]);
      expectPageInfo(past.conn, { hasNextPage: false, hasPreviousPage: true });
      const pastBack = await list({ last: 5, before: all.conn.pageInfo.startCursor });
      expect(pastBack.conn.edges).toEqual([]);
      expectPageInfo(pastBack.conn, { hasNextPage: true, hasPreviousPage: false });
    });

    it('continues forward exactly after its cursor when newer sessions are created meanwhile', async () => {
      const { t, env } = ctx;
      const old = newestFirst(await insertRows(spread(30))).map((r) => r.id);
      const page1 = await list({ first: 10 });
      expect(ids(page1.conn)).toEqual(old.slice(0, 10));
      const fresh = [];
      for (let i = 0; i < 5; i++) fresh.push((await t.createSession(env.secretKey)).id);
      const page2 = await list({ first: 10, after: page1.conn.pageInfo.endCursor });
      expect(ids(page2.conn)).toEqual(old.slice(10, 20));
      expectPageInfo(page2.conn, { hasNextPage: true, hasPreviousPage: true });
      const page3 = await list({ first: 10, after: page2.conn.pageInfo.endCursor });
      expect(ids(page3.conn)).toEqual(old.slice(20, 30));
      expectPageInfo(page3.conn, { hasNextPage: false, hasPreviousPage: true });
      // From the top, the new ones come first.
      const top = await list({ first: 5 });
      expect(ids(top.conn).sort()).toEqual([...fresh].sort());
    });

    it('continues forward after its cursor even when the row it points at is gone', async () => {
      const { t, env } = ctx;
      const old = newestFirst(await insertRows(spread(30))).map((r) => r.id);
      const page1 = await list({ first: 10 });
      await t.app.database.db.delete(sessions).where(and(eq(sessions.environmentId, env.environmentId), eq(sessions.id, old[9]!)));
      const page2 = await list({ first: 10, after: page1.conn.pageInfo.endCursor });
      expect(ids(page2.conn)).toEqual(old.slice(10, 20));
    });

    it('continues backward exactly before its cursor when sessions are created meanwhile', async () => {
      const { t, env } = ctx;
      const old = newestFirst(await insertRows(spread(30))).map((r) => r.id);
      const page1 = await list({ last: 10 });
      expect(ids(page1.conn)).toEqual(old.slice(20, 30));
      expectPageInfo(page1.conn, { hasNextPage: false, hasPreviousPage: true });
      const fresh = [];
      for (let i = 0; i < 5; i++) fresh.push((await t.createSession(env.secretKey)).id);
      // One older than everything: it sits behind the cursor, in what has been read already.
      await insertRows([{ createdAt: new Date('2020-01-01T00:00:00.000Z') }]);
      const page2 = await list({ last: 10, before: page1.conn.pageInfo.startCursor });
      expect(ids(page2.conn)).toEqual(old.slice(10, 20));
      expectPageInfo(page2.conn, { hasNextPage: true, hasPreviousPage: true });
      const page3 = await list({ last: 10, before: page2.conn.pageInfo.startCursor });
      expect(ids(page3.conn)).toEqual(old.slice(0, 10));
      expectPageInfo(page3.conn, { hasNextPage: true, hasPreviousPage: true }); // the new ones precede
      const page4 = await list({ last: 10, before: page3.conn.pageInfo.startCursor });
      expect(ids(page4.conn).sort()).toEqual([...fresh].sort());
      expectPageInfo(page4.conn, { hasNextPage: true, hasPreviousPage: false });
    });
  });

  describe('filters', () => {
    const base = Date.parse('2026-01-10T00:00:00.000Z');
    const at = (ms: number) => new Date(base + ms);
    const PAST = new Date('2026-01-01T00:00:00.000Z');
    const FUTURE = new Date('2099-01-01T00:00:00.000Z');
    // Status: a, d, f ACTIVE; b, e CLOSED (e also past expiresAt); c EXPIRED.
    const fixture = {
      a: { type: 'chat', taskIdentifier: 't1', tags: ['red', 'blue'], externalId: 'ext-a', createdAt: at(1) },
      b: { type: 'chat', taskIdentifier: 't2', tags: ['green'], closedAt: PAST, closedReason: 'done', createdAt: at(2) },
      c: { type: 'agent', taskIdentifier: 't1', tags: [], expiresAt: PAST, createdAt: at(3) },
      d: { type: 'agent', taskIdentifier: 't3', tags: ['red'], expiresAt: FUTURE, createdAt: at(4) },
      e: { type: 'batch', taskIdentifier: 't2', tags: ['blue', 'green'], closedAt: PAST, expiresAt: PAST, createdAt: at(5) },
      f: { type: 'chat', taskIdentifier: 't3', tags: ['yellow'], externalId: 'ext-f', createdAt: at(5) },
    } satisfies Record<string, Seed>;
    type Key = keyof typeof fixture;
    const ALL = Object.keys(fixture) as Key[];
    const idOf = (key: Key) => `session_filter_${key}`;

    async function seedFixture(environmentId = ctx.env.environmentId) {
      await insertRows(
        ALL.map((key) => ({ ...fixture[key], id: idOf(key) })),
        environmentId,
      );
    }

    /** The listed ids are exactly `keys`, in (createdAt desc, id desc) order. */
    async function expectKeys(filter: Record<string, unknown>, keys: Key[]) {
      const { status, body, conn } = await list({ filter, first: 100 });
      expect(status).toBe(200);
      expect(body.errors).toBeUndefined();
      const expected = newestFirst(keys.map((key) => ({ id: idOf(key), createdAt: fixture[key].createdAt }))).map((r) => r.id);
      expect(ids(conn), JSON.stringify(filter)).toEqual(expected);
      expectPageInfo(conn, { hasNextPage: false, hasPreviousPage: false });
    }

    beforeEach(() => seedFixture());

    it('lists everything with no filter, an empty filter or null filter fields', async () => {
      await expectKeys({}, ALL);
      const { conn } = await list({ filter: null });
      expect(ids(conn)).toHaveLength(ALL.length);
      await expectKeys({ type: null, tags: null, taskIdentifier: null, externalId: null, status: null }, ALL);
    });

    it('filters by type, matching any of the listed types', async () => {
      await expectKeys({ type: ['chat'] }, ['a', 'b', 'f']);
      await expectKeys({ type: ['chat', 'agent'] }, ['a', 'b', 'c', 'd', 'f']);
      await expectKeys({ type: ['nothing'] }, []);
    });

    it('filters by tags, matching sessions holding any of the given tags', async () => {
      await expectKeys({ tags: ['red'] }, ['a', 'd']);
      await expectKeys({ tags: ['red', 'green'] }, ['a', 'b', 'd', 'e']);
      await expectKeys({ tags: ['blue'] }, ['a', 'e']);
      await expectKeys({ tags: ['purple'] }, []);
    });

    it('filters by taskIdentifier, matching any of the listed ones', async () => {
      await expectKeys({ taskIdentifier: ['t1'] }, ['a', 'c']);
      await expectKeys({ taskIdentifier: ['t2', 't3'] }, ['b', 'd', 'e', 'f']);
    });

    it('filters by externalId, exactly', async () => {
      await expectKeys({ externalId: 'ext-a' }, ['a']);
      await expectKeys({ externalId: 'ext' }, []);
      await expectKeys({ externalId: 'EXT-A' }, []);
    });

    it('trims the externalId filter, as every externalId input is trimmed before comparing', async () => {
      await expectKeys({ externalId: '  ext-a  ' }, ['a']);
    });

    it('filters by derived status, matching any of the listed statuses', async () => {
      await expectKeys({ status: ['ACTIVE'] }, ['a', 'd', 'f']);
      await expectKeys({ status: ['CLOSED'] }, ['b', 'e']);
      await expectKeys({ status: ['EXPIRED'] }, ['c']);
      await expectKeys({ status: ['ACTIVE', 'EXPIRED'] }, ['a', 'c', 'd', 'f']);
      await expectKeys({ status: ['ACTIVE', 'CLOSED', 'EXPIRED'] }, ALL);
    });

    it('filters by createdAfter and createdBefore, both exclusive', async () => {
      await expectKeys({ createdAfter: at(2).toISOString() }, ['c', 'd', 'e', 'f']);
      await expectKeys({ createdBefore: at(5).toISOString() }, ['a', 'b', 'c', 'd']);
      await expectKeys({ createdAfter: at(1).toISOString(), createdBefore: at(5).toISOString() }, ['b', 'c', 'd']);
      await expectKeys({ createdAfter: at(3).toISOString(), createdBefore: at(3).toISOString() }, []);
      await expectKeys({ createdAfter: at(5).toISOString() }, []);
    });

    it('combines filters with AND', async () => {
      await expectKeys({ type: ['chat'], status: ['ACTIVE'] }, ['a', 'f']);
      await expectKeys({ tags: ['blue'], status: ['CLOSED'] }, ['e']);
      await expectKeys({ type: ['agent'], taskIdentifier: ['t3'], tags: ['red'] }, ['d']);
      await expectKeys({ type: ['chat'], createdAfter: at(1).toISOString() }, ['b', 'f']);
      await expectKeys({ externalId: 'ext-f', type: ['agent'] }, []);
      await expectKeys({ tags: ['red', 'green'], status: ['ACTIVE', 'EXPIRED'], createdBefore: at(4).toISOString() }, ['a']);
    });

    // A list filter matches any of its values: an empty list matches nothing (status: [] does so).
    it.each(['status', 'type', 'tags', 'taskIdentifier'])('matches nothing for an empty %s list', async (field) => {
      await expectKeys({ [field]: [] }, []);
    });

    it('refuses a NUL character in a filter value as top-level BAD_USER_INPUT, HTTP 400', async () => {
      for (const filter of [{ type: ['a\u0000'] }, { tags: ['\u0000'] }, { taskIdentifier: ['x\u0000'] }, { externalId: 'e\u0000' }]) {
        expectTopLevel(await list({ filter }), 'BAD_USER_INPUT', 400);
      }
    });

    it("never shows another environment's sessions, even with the same ids and filters", async () => {
      const { t } = ctx;
      const other = await t.newEnvironment();
      await seedFixture(other.environmentId);
      await insertRows(spread(10), other.environmentId);
      await expectKeys({}, ALL);
      await expectKeys({ externalId: 'ext-a' }, ['a']);
      const theirs = await list({ first: 100 }, other.secretKey);
      expect(theirs.conn.edges).toHaveLength(ALL.length + 10);
      // A cursor of theirs only positions within our own rows.
      const theirFirst = theirs.conn.edges[0]!.cursor;
      const ours = await list({ first: 100, after: theirFirst });
      for (const id of ids(ours.conn)) expect(id).toMatch(/^session_filter_/);
    });
  });

  describe('filters and paging together', () => {
    it('pages forward and backward through only the matching sessions', async () => {
      const rows = await insertRows(
        spread(90).map((seed, i) => ({
          ...seed,
          type: i % 2 ? 'odd' : 'even',
          tags: i % 3 === 0 ? ['third'] : [],
          ...(i % 5 === 0 && { closedAt: new Date('2026-01-01T00:00:00.000Z') }),
        })),
      );
      const evens = newestFirst(rows.filter((r) => r.type === 'even')).map((r) => r.id);
      await pageForward(evens, 7, { type: ['even'] });
      await pageBackward(evens, 7, { type: ['even'] });
      const openThirds = newestFirst(rows.filter((r) => r.tags?.includes('third') && !r.closedAt)).map((r) => r.id);
      expect(openThirds.length).toBeGreaterThan(10);
      await pageForward(openThirds, 4, { tags: ['third'], status: ['ACTIVE'] });
      await pageBackward(openThirds, 4, { tags: ['third'], status: ['ACTIVE'] });
    });
  });

  describe('credentials', () => {
    it('refuses a public access token, even with read:all: FORBIDDEN, HTTP 403', async () => {
      const { t, env } = ctx;
      const s = await t.createSession(env.secretKey);
      const readAll = (await createToken(t.app.database.db, env.slug, ['read:all', 'read:sessions'], 3600)).token;
      for (const credential of [s.publicAccessToken, readAll]) {
        expectTopLevel(await list({}, credential), 'FORBIDDEN', 403);
        expectTopLevel(await list({ first: 500 }, credential), 'FORBIDDEN', 403);
      }
    });

    it('refuses a request without credentials: UNAUTHENTICATED, HTTP 401', async () => {
      await ctx.t.createSession(ctx.env.secretKey);
      expectTopLevel(await ctx.t.gql(LIST, {}), 'UNAUTHENTICATED', 401);
    });
  });
});
