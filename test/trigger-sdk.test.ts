import { ApiError, configure, sessions } from '@trigger.dev/sdk';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { NewEnvironment } from '../src/auth/environments.js';
import { baseCreateInput, drivers, GET, startTestApp, type TestApp } from './support.js';

/**
 * Trigger.dev's own SDK against this service, pointed at it by baseURL alone. The SDK parses every
 * answer with its own zod schemas, so a field of the wrong shape fails here.
 */
describe.each(drivers)('@trigger.dev/sdk sessions.* on %s', (driver) => {
  let t: TestApp;
  let env: NewEnvironment;

  beforeAll(async () => {
    t = await startTestApp(driver);
    env = await t.newEnvironment();
    // One attempt: a refusal is the answer, not something to retry.
    configure({ baseURL: t.url, accessToken: env.secretKey, requestOptions: { retry: { maxAttempts: 1 } } });
  });
  afterAll(() => t.close());

  it('retrieves by friendly id and by externalId, dates as Dates', async () => {
    const row = await t.createSession(env.secretKey, baseCreateInput({ externalId: 'sdk-get', tags: ['a'], metadata: { n: 1 } }));
    for (const key of [row.id, 'sdk-get']) {
      const session = await sessions.retrieve(key);
      expect(session).toMatchObject({
        id: row.id,
        externalId: 'sdk-get',
        type: 'chat.agent',
        taskIdentifier: 'my-chat',
        tags: ['a'],
        metadata: { n: 1 },
        closedAt: null,
        currentRunId: null,
        triggerConfig: { basePayload: { model: 'small' } },
      });
      expect(session.createdAt).toEqual(row.createdAt);
    }
    // Every trigger option, and an expiry, as the SDK's schemas take them.
    const triggerConfig = {
      basePayload: { chatId: 'c1', nested: { deep: [1, 2] } },
      machine: 'small-2x',
      queue: 'chats',
      tags: ['run-tag'],
      maxAttempts: 3,
      maxDuration: 600,
      lockToVersion: '20260101.1',
      region: 'eu-central-1',
      idleTimeoutInSeconds: 120,
      ttl: '10m',
    };
    const expiresAt = new Date(Date.now() + 3_600_000);
    const full = await t.createSession(env.secretKey, baseCreateInput({ triggerConfig, expiresAt: expiresAt.toISOString() }));
    const retrieved = await sessions.retrieve(full.id);
    expect(retrieved.triggerConfig).toEqual(triggerConfig);
    expect(retrieved.expiresAt).toEqual(expiresAt);
  });

  it('updates by id and by externalId: tags and metadata replace, null clears, the same externalId is accepted', async () => {
    const row = await t.createSession(env.secretKey, baseCreateInput({ externalId: 'sdk-update', tags: ['old'], metadata: { a: 1 } }));
    const first = await sessions.update(row.id, { tags: ['x', 'y'], metadata: { b: 2 } });
    expect(first).toMatchObject({ tags: ['x', 'y'], metadata: { b: 2 } });
    const second = await sessions.update('sdk-update', { metadata: null, externalId: 'sdk-update' });
    expect(second).toMatchObject({ tags: ['x', 'y'], metadata: null, externalId: 'sdk-update' });
    expect(await t.row(env.environmentId, row.id)).toMatchObject({ tags: ['x', 'y'], metadata: null, version: 3 });
    // Read back through GraphQL: the same row.
    const read = await t.gql(GET, { id: row.id }, env.secretKey);
    expect(read.body.data.session).toMatchObject({ tags: ['x', 'y'], metadata: null, version: 3 });
  });

  it('carries our 404 and 422 in its ApiError, and writes nothing', async () => {
    const row = await t.createSession(env.secretKey, baseCreateInput({ externalId: 'sdk-fixed' }));
    const missing = await sessions.retrieve('session_nothing-here').catch((e: unknown) => e);
    expect(missing).toBeInstanceOf(ApiError);
    expect((missing as ApiError).status).toBe(404);
    expect((missing as ApiError).message).toMatch(/Session not found/);

    const change = await sessions.update('sdk-fixed', { externalId: 'another', tags: ['never'] }).catch((e: unknown) => e);
    expect(change).toBeInstanceOf(ApiError);
    expect((change as ApiError).status).toBe(422);
    expect((change as ApiError).message).toMatch(/externalId cannot be changed after creation/);
    const { publicAccessToken: _token, ...columns } = row;
    expect(await t.row(env.environmentId, row.id)).toEqual(columns);
  });

  it('answers sessions.start with an ApiError saying what to do instead (no runs here), creating nothing, not retried', async () => {
    // Its default retries would be spent on a 5xx: the answer tells it not to (x-should-retry: false).
    configure({ baseURL: t.url, accessToken: env.secretKey });
    try {
      const started = await sessions
        .start({
          type: 'chat.agent',
          taskIdentifier: 'my-chat',
          externalId: 'sdk-start',
          triggerConfig: { basePayload: { model: 'small' } },
        })
        .catch((e: unknown) => e);
      expect(started).toBeInstanceOf(ApiError);
      expect((started as ApiError).status).toBe(501);
      expect((started as ApiError).message).toMatch(
        /^sessions\.start is not served here: it triggers the session's first run and returns its runId, and this service triggers no runs\. Create the session with POST \/api\/v1\/sessions .* or with the GraphQL createSession mutation/,
      );
    } finally {
      configure({ baseURL: t.url, accessToken: env.secretKey, requestOptions: { retry: { maxAttempts: 1 } } });
    }
    expect(await t.row(env.environmentId, 'sdk-start')).toBeNull();
    // Without the SDK's header the route creates, as documented.
    const created = await t.fetch('/api/v1/sessions', {
      method: 'POST',
      headers: { authorization: `Bearer ${env.secretKey}`, 'content-type': 'application/json' },
      body: JSON.stringify({ type: 'chat.agent', taskIdentifier: 'my-chat', externalId: 'sdk-start', triggerConfig: { basePayload: {} } }),
    });
    expect(created.status).toBe(201);
  });

  it('closes (idempotent, first reason kept)', async () => {
    const row = await t.createSession(env.secretKey, baseCreateInput({ externalId: 'sdk-close' }));
    const closed = await sessions.close('sdk-close', { reason: 'done' });
    expect(closed).toMatchObject({ id: row.id, closedReason: 'done' });
    expect(closed.closedAt).toBeInstanceOf(Date);
    const again = await sessions.close(row.id, { reason: 'other' });
    expect(again.closedReason).toBe('done');
    expect(again.closedAt).toEqual(closed.closedAt);
  });

  it('lists with filters, and for await walks every page', async () => {
    const listEnv = await t.newEnvironment();
    configure({ baseURL: t.url, accessToken: listEnv.secretKey, requestOptions: { retry: { maxAttempts: 1 } } });
    try {
      const made: string[] = [];
      for (let i = 0; i < 11; i++) {
        const s = await t.createSession(
          listEnv.secretKey,
          baseCreateInput({ type: i % 2 ? 'odd' : 'even', tags: [`n${i}`], externalId: `sdk-list-${i}` }),
        );
        made.push(s.id);
      }
      await sessions.close('sdk-list-10');

      const seen: string[] = [];
      for await (const session of sessions.list({ limit: 4 })) seen.push(session.id);
      expect(seen).toEqual([...made].reverse());

      const page = await sessions.list({ limit: 3, type: 'odd' });
      expect(page.data.map((s) => s.externalId)).toEqual(['sdk-list-9', 'sdk-list-7', 'sdk-list-5']);
      expect(page.hasNextPage()).toBe(true);
      const next = await page.getNextPage();
      expect(next.data.map((s) => s.externalId)).toEqual(['sdk-list-3', 'sdk-list-1']);
      expect(next.hasNextPage()).toBe(false);
      // Not next.getPreviousPage(): the SDK sends that with the page[after] it came by as well, which
      // Trigger.dev's server and this one refuse (400); a new list with `before` is the way back.
      const back = await sessions.list({ limit: 3, type: 'odd', before: next.pagination.previous });
      expect(back.data.map((s) => s.externalId)).toEqual(['sdk-list-9', 'sdk-list-7', 'sdk-list-5']);

      const filtered: (string | null)[] = [];
      for await (const s of sessions.list({ tag: ['n2', 'n3', 'n10'], status: ['ACTIVE'], period: '1h', from: Date.now() - 3_600_000 })) {
        filtered.push(s.externalId);
      }
      expect(filtered).toEqual(['sdk-list-3', 'sdk-list-2']);
      const byExternalId = await sessions.list({ externalId: 'sdk-list-4' });
      expect(byExternalId.data.map((s) => s.id)).toEqual([made[4]]);
      const closed = await sessions.list({ status: 'CLOSED', to: new Date() });
      expect(closed.data.map((s) => s.externalId)).toEqual(['sdk-list-10']);
    } finally {
      configure({ baseURL: t.url, accessToken: env.secretKey, requestOptions: { retry: { maxAttempts: 1 } } });
    }
  });
});
