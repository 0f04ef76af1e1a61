import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { decodeJwt } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Driver, drivers, freshDatabase } from './support.js';

const root = new URL('..', import.meta.url).pathname;

/** The environment a process gets: its own PGlite directory, or its own database on the server. */
async function processEnv(driver: Driver) {
  const dir = mkdtempSync(join(tmpdir(), 'sg-'));
  const fresh = await freshDatabase(driver);
  const { DATABASE_URL: _ignored, ...inherited } = process.env;
  return {
    env: { ...inherited, PGLITE_DIR: join(dir, 'pglite'), ...(fresh.url ? { DATABASE_URL: fresh.url } : {}) },
    async cleanup() {
      await fresh.drop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

function run(command: string, args: string[], env: NodeJS.ProcessEnv) {
  return new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => {
    const child = spawn(command, args, { cwd: root, env });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

/** `npm run cli -- …`, exactly as the README says. */
const cli = (args: string[], env: NodeJS.ProcessEnv) => run('npm', ['run', 'cli', '--', ...args], env);

function waitFor(child: ChildProcess, pattern: RegExp, output: { text: string }): Promise<RegExpMatchArray> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`timed out waiting for ${pattern}; got:\n${output.text}`)), 60_000);
    const check = () => {
      const match = output.text.match(pattern);
      if (match) {
        clearTimeout(timer);
        child.stdout!.off('data', check);
        resolve(match);
      }
    };
    child.stdout!.on('data', check);
    check();
  });
}

/** The README's first mutation and its variables, as a new user would paste them. */
function readmeFirstMutation() {
  const readme = readFileSync(join(root, 'README.md'), 'utf8');
  const after = readme.slice(readme.indexOf('<!-- first-mutation -->'));
  const query = /```graphql\n([\s\S]*?)```/.exec(after)![1]!;
  const variables = JSON.parse(/with these variables:\s*```json\n([\s\S]*?)```/.exec(after)![1]!);
  return { query, variables };
}

describe.each(drivers)('npm start on %s', (driver) => {
  let setup: Awaited<ReturnType<typeof processEnv>>;
  beforeAll(async () => {
    setup = await processEnv(driver);
  });
  afterAll(() => setup?.cleanup());

  function start() {
    const child = spawn('npm', ['start'], { cwd: root, env: { ...setup.env, PORT: '0' } });
    const output = { text: '' };
    child.stdout.on('data', (d) => (output.text += d));
    child.stderr.on('data', (d) => (output.text += d));
    return { child, output };
  }

  it('prints a dev key on first start, serves GraphiQL, runs the README mutation, stops on SIGTERM', async () => {
    const { child, output } = start();
    const [, url] = await waitFor(child, /listening on (http:\/\/[\d.:]+)\/graphql/, output);
    const [, key] = await waitFor(child, /^\s+(tr_dev_[\w-]+)$/m, output);
    expect(output.text).toContain(`Open GraphiQL at ${url}/graphql`);

    const page = await fetch(`${url}/graphql`, { headers: { accept: 'text/html' } });
    expect(page.status).toBe(200);
    expect(await page.text()).toMatch(/graphiql/i);

    const { query, variables } = readmeFirstMutation();
    const response = await fetch(`${url}/graphql`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${key}` },
      body: JSON.stringify({ query, variables }),
    });
    const body = (await response.json()) as any;
    expect(body.errors).toBeUndefined();
    expect(body.data.createSession).toMatchObject({ __typename: 'CreateSessionSuccess', isCached: false });
    expect(body.data.updateSession).toMatchObject({
      __typename: 'UpdateSessionSuccess',
      session: { externalId: 'chat_1234', tags: ['chat:1234'], metadata: { topic: 'billing' }, version: 2 },
    });

    const exited = new Promise<number | null>((resolve) => child.on('close', resolve));
    child.kill('SIGTERM');
    expect(await exited).toBe(0);
    expect(output.text).toContain('SIGTERM: finishing in-flight requests');
  }, 120_000);

  it('creates no second environment on the next start, and the key still works', async () => {
    const { child, output } = start();
    const [, url] = await waitFor(child, /listening on (http:\/\/[\d.:]+)\/graphql/, output);
    await waitFor(child, /GraphiQL: /, output);
    expect(output.text).not.toContain('First start');
    const response = await fetch(`${url}/ready`);
    expect(response.status).toBe(200);
    const exited = new Promise<number | null>((resolve) => child.on('close', resolve));
    child.kill('SIGINT');
    expect(await exited).toBe(0);
  }, 120_000);
});

describe.each(drivers)('CLI on %s', (driver) => {
  let setup: Awaited<ReturnType<typeof processEnv>>;
  beforeAll(async () => {
    setup = await processEnv(driver);
  });
  afterAll(() => setup?.cleanup());

  it('env create, key rotate and token create each print exactly one JSON object with --json', async () => {
    const created = await cli(['env', 'create', '--slug', 'stg', '--type', 'STAGING', '--json'], setup.env);
    expect(created.code).toBe(0);
    const env = JSON.parse(created.stdout);
    expect(Object.keys(env).sort()).toEqual(['environmentId', 'secretKey', 'slug', 'type']);
    expect(env).toMatchObject({ slug: 'stg', type: 'STAGING' });
    expect(env.secretKey).toMatch(/^tr_stg_[\w-]{32,}$/);

    const rotated = await cli(['key', 'rotate', '--env', 'stg', '--json'], setup.env);
    expect(rotated.code).toBe(0);
    const key = JSON.parse(rotated.stdout);
    expect(Object.keys(key).sort()).toEqual(['environmentId', 'secretKey', 'slug']);
    expect(key.environmentId).toBe(env.environmentId);
    expect(key.secretKey).not.toBe(env.secretKey);

    const token = await cli(
      ['token', 'create', '--env', 'stg', '--scopes', 'read:sessions:chat_1,read:sessions:session_x', '--ttl', '15m', '--json'],
      setup.env,
    );
    expect(token.code).toBe(0);
    const issued = JSON.parse(token.stdout);
    expect(Object.keys(issued).sort()).toEqual(['expiresAt', 'token']);
    const claims = decodeJwt(issued.token);
    expect(claims).toMatchObject({ sub: env.environmentId, pub: true, scopes: ['read:sessions:chat_1', 'read:sessions:session_x'] });
    expect(claims.exp! * 1000).toBe(Math.floor(Date.parse(issued.expiresAt) / 1000) * 1000);
    expect(Date.parse(issued.expiresAt) - Date.now()).toBeGreaterThan(14 * 60_000);
  }, 120_000);

  it('migrate succeeds on an up-to-date database, and errors go to stderr with a non-zero exit', async () => {
    expect((await cli(['migrate'], setup.env)).code).toBe(0);
    const missing = await cli(['key', 'rotate', '--env', 'nope', '--json'], setup.env);
    expect(missing.code).not.toBe(0);
    expect(missing.stdout).toBe('');
    expect(missing.stderr).toContain('No environment with slug "nope"');
    const badType = await cli(['env', 'create', '--slug', 'x', '--type', 'LOCAL'], setup.env);
    expect(badType.code).not.toBe(0);
    expect(badType.stderr).toContain('--type must be one of');
  }, 120_000);
});
