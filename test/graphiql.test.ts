import { existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type Browser, chromium, type Locator } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { NewEnvironment } from '../src/auth/environments.js';
import { startTestApp, type TestApp } from './support.js';

const CHROMIUM = '/usr/bin/chromium';
// .ci/run installs Chromium and sets REQUIRE_BROWSER, so CI never skips this; a machine
// without Chromium skips it, saying so.
const skip = !existsSync(CHROMIUM);
if (skip && process.env.REQUIRE_BROWSER) throw new Error(`${CHROMIUM} is missing but REQUIRE_BROWSER is set`);
if (skip) console.warn(`skipping the GraphiQL browser test: ${CHROMIUM} is missing (apt-get install chromium)`);

/** What an editor shows; Monaco renders spaces as non-breaking ones. */
// biome-ignore lint/performance/useDomNodeTextContent: a locator's rendered text, as a person reads it, not the DOM's
const shown = async (locator: Locator) => (await locator.innerText()).replace(/\u00a0/g, ' ');

describe.skipIf(skip)('GraphiQL in a real browser', () => {
  let t: TestApp;
  let env: NewEnvironment;
  let url: string;
  let browser: Browser;

  beforeAll(async () => {
    t = await startTestApp('pglite');
    // A new environment with no session: the example must succeed the first time.
    env = await t.newEnvironment();
    url = t.url;
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--no-first-run'],
    });
  });
  afterAll(async () => {
    await browser?.close();
    await t?.close();
  });

  it('loads with no request leaving localhost, and its example succeeds on an empty environment with only the header typed in', async () => {
    const page = await browser.newPage();
    const outside: string[] = [];
    page.on('request', (request) => {
      const { protocol, hostname } = new URL(request.url());
      if (!['blob:', 'data:'].includes(protocol) && hostname !== '127.0.0.1') outside.push(request.url());
    });
    await page.goto(`${url}/graphql`);
    const operation = page.locator('.graphiql-query-editor');
    await expect.poll(() => shown(operation), { timeout: 20_000 }).toContain('mutation FirstSteps');

    // The prefilled variables name the session; the header is what a user types in.
    const tools = page.locator('section.graphiql-editor-tool:visible');
    await page.getByRole('button', { name: 'Variables', exact: true }).click();
    await expect.poll(() => shown(tools)).toContain('chat_1234');
    await page.getByRole('button', { name: 'Headers', exact: true }).click();
    await expect.poll(() => shown(tools)).toContain('Bearer tr_dev_');
    const headers = tools.locator('.monaco-editor:visible');
    await headers.click();
    await page.keyboard.press('Control+A');
    await page.keyboard.press('Delete');
    await page.keyboard.type(JSON.stringify({ Authorization: `Bearer ${env.secretKey}` }));
    expect(await shown(tools)).toContain(`"Bearer ${env.secretKey}"`);

    await page.getByRole('button', { name: /Execute query/ }).click();
    const result = page.locator('section.result-window');
    await expect.poll(() => shown(result), { timeout: 20_000 }).toContain('UpdateSessionSuccess');
    expect(await shown(result)).toContain('CreateSessionSuccess');
    expect(await shown(result)).toContain('chat:1234');
    expect(outside).toEqual([]);

    const row = await t.row(env.environmentId, 'chat_1234');
    expect(row).toMatchObject({ tags: ['chat:1234'], metadata: { topic: 'billing' }, version: 2 });
    // docs/graphiql.png in the README is one of these.
    await page.screenshot({ path: join(tmpdir(), 'sessions-gateway-graphiql.png') });
  });

  it('runs a subscription: the result pane shows each new version as it is written', async () => {
    const s = await t.createSession(env.secretKey, {
      type: 'chat.agent',
      taskIdentifier: 'my-chat',
      externalId: 'live-demo',
      triggerConfig: { basePayload: {} },
    });
    const page = await browser.newPage();
    // GraphiQL opens with the operation the URL carries (a link to share it does the same).
    const subscription = 'subscription {\n  sessionChanged(id: "live-demo") {\n    id version tags status\n  }\n}\n';
    await page.goto(`${url}/graphql?query=${encodeURIComponent(subscription)}`);
    const operation = page.locator('.graphiql-query-editor');
    await expect.poll(() => shown(operation), { timeout: 20_000 }).toContain('sessionChanged(id: "live-demo")');
    await page.getByRole('button', { name: 'Headers', exact: true }).click();
    const headers = page.locator('section.graphiql-editor-tool:visible .monaco-editor:visible');
    await headers.click();
    await page.keyboard.press('Control+A');
    await page.keyboard.press('Delete');
    await page.keyboard.type(JSON.stringify({ Authorization: `Bearer ${env.secretKey}` }));
    await page.keyboard.press('Home');
    await page.getByRole('button', { name: /Execute query/ }).click();
    await expect.poll(() => t.app.sessions.changes.size.streams, { timeout: 20_000 }).toBe(1);

    const result = page.locator('section.result-window');
    for (const [version, tag] of [
      [2, 'first-change'],
      [3, 'second-change'],
    ] as const) {
      await t.gql(
        'mutation($id: ID!, $tags: [String!]) { updateSession(id: $id, input: { tags: $tags }) { __typename } }',
        { id: s.id, tags: [tag] },
        env.secretKey,
      );
      await expect.poll(() => shown(result), { timeout: 10_000 }).toContain(tag);
      expect(await shown(result)).toContain(`"version": ${version}`);
    }
    // docs/graphiql-subscription.png in the README is one of these (the key is a test one, gone with its in-memory database).
    await page.screenshot({ path: join(tmpdir(), 'sessions-gateway-graphiql-subscription.png') });
    await page.close();
    await expect.poll(() => t.app.sessions.changes.size.streams).toBe(0);
  });
});

describe('GraphiQL switch', () => {
  const page = async (env: Record<string, string>) => {
    const t = await startTestApp('pglite', env);
    try {
      const response = await t.fetch('/graphql', { headers: { accept: 'text/html' } });
      return { status: response.status, html: await response.text() };
    } finally {
      await t.close();
    }
  };

  it('is on in development, with the example operation and the header hint, and no CDN', async () => {
    const { status, html } = await page({});
    expect(status).toBe(200);
    expect(html).toContain('mutation FirstSteps');
    expect(html).toContain('Bearer tr_dev_...');
    expect(html).not.toMatch(/<script[^>]+src=["']https?:|<link[^>]+href=["']https?:/);
  });

  it('is off by default when NODE_ENV=production, and GRAPHIQL=1 turns it back on', async () => {
    const off = await page({ NODE_ENV: 'production' });
    expect(off.html).not.toContain('mutation FirstSteps');
    const on = await page({ NODE_ENV: 'production', GRAPHIQL: '1' });
    expect(on.status).toBe(200);
    expect(on.html).toContain('mutation FirstSteps');
  });
});
