import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { decodeJwt } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { VERSION } from '../src/version.js';
import { type Driver, drivers, freshDatabase, RawConnection, rawRequest } from './support.js';

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

/**
 * A failed CLI command: a non-zero exit, nothing on stdout (never a partial result, nor npm's
 * own JSON), and one plain line on stderr saying what is wrong and what to do.
 */
function expectFailed(result: { code: number | null; stdout: string; stderr: string }) {
  expect(result.code).not.toBe(0);
  expect(result.stdout).toBe('');
  expect(result.stderr.trim().split('\n')).toEqual([expect.stringMatching(/^error: \S/)]);
}

/** `npm run -s cli -- …`, exactly as the README says. */
const cli = (args: string[], env: NodeJS.ProcessEnv) => run('npm', ['run', '-s', 'cli', '--', ...args], env);

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
    expect(output.text).toContain(`sessions-gateway ${VERSION} listening on ${url}/graphql (database: `);
    expect(output.text).toContain(`; Node.js ${process.versions.node})`);
    const [, key] = await waitFor(child, /^\s+(tr_dev_[\w-]+)$/m, output);
    expect(output.text).toContain(`Open GraphiQL at ${url}/graphql`);
    // npm start runs with code generation from strings off: nothing a request sends can become code.
    expect(output.text).not.toMatch(/build code from strings/);

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

  it('refuses a second process on the same embedded database, and the CLI refuses while the server runs', async () => {
    const { child, output } = start();
    await waitFor(child, /listening on (http:\/\/[\d.:]+)\/graphql/, output);
    try {
      if (driver === 'pglite') {
        const second = await run('npm', ['start'], { ...setup.env, PORT: '0' });
        expect(second.code).not.toBe(0);
        expect(second.stderr).toMatch(/is in use by process \d+ .*PGlite serves one process at a time/);
        const rotate = await cli(['key', 'rotate', '--env', 'dev', '--json'], setup.env);
        expectFailed(rotate);
        expect(rotate.stderr).toMatch(/^error: The embedded database in .* is in use by process \d+ .*stop that process/m);
        expect(rotate.stderr).not.toMatch(/tr_dev_|at .*\.ts/);
      } else {
        // A real server is shared: the CLI works beside a running instance.
        const rotate = await cli(['env', 'create', '--slug', 'beside', '--type', 'STAGING', '--json'], setup.env);
        expect(rotate.code).toBe(0);
      }
    } finally {
      const exited = new Promise((resolve) => child.on('close', resolve));
      child.kill('SIGTERM');
      await exited;
    }
  }, 120_000);

  it('prints one line naming PORT when the port is taken', async () => {
    const blocker = createServer();
    await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve));
    const port = String((blocker.address() as AddressInfo).port);
    try {
      const taken = await run('npm', ['start'], { ...setup.env, PORT: port });
      expect(taken.code).not.toBe(0);
      expect(taken.stderr).toContain(`Port ${port} on 127.0.0.1 is already in use: stop what holds it, or set PORT to another port.`);
      expect(taken.stderr).not.toMatch(/\n\s+at /); // no stack trace
    } finally {
      blocker.close();
    }
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

describe.each(drivers)('graceful shutdown on %s', (driver) => {
  let setup: Awaited<ReturnType<typeof processEnv>>;
  beforeAll(async () => {
    setup = await processEnv(driver);
  });
  afterAll(() => setup?.cleanup());

  async function serving(env: Record<string, string> = {}) {
    const child = spawn('npm', ['start'], { cwd: root, env: { ...setup.env, PORT: '0', ...env } });
    const output = { text: '' };
    child.stdout.on('data', (d) => (output.text += d));
    child.stderr.on('data', (d) => (output.text += d));
    const exited = new Promise<number | null>((resolve) => child.on('close', resolve));
    const [, url] = await waitFor(child, /listening on (http:\/\/[\d.:]+)\/graphql/, output);
    await expect.poll(async () => (await fetch(`${url}/ready`)).status, { timeout: 30_000 }).toBe(200);
    return { child, output, url: url!, exited };
  }

  const body = JSON.stringify({ query: '{ __typename }' });
  const headers = { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) };

  it('answers in-flight requests with Connection: close, closes idle sockets at once, exits right after the last answer', async () => {
    const { child, url, exited } = await serving();
    // An idle keep-alive socket, one request done.
    const idle = await RawConnection.open(url);
    idle.write(rawRequest('POST', '/graphql', headers, body));
    expect((await idle.response()).headers['connection']).toBe('keep-alive');
    // In flight on a fresh connection, and on a kept-alive one: the body is half sent.
    const fresh = await RawConnection.open(url);
    fresh.write(rawRequest('POST', '/graphql', headers, body.slice(0, 10)));
    const reused = await RawConnection.open(url);
    reused.write(rawRequest('POST', '/graphql', headers, body));
    await reused.response();
    reused.write(rawRequest('POST', '/graphql', headers, body.slice(0, 10)));
    await new Promise((resolve) => setTimeout(resolve, 200));

    child.kill('SIGTERM');
    const idleClosed = await Promise.race([idle.closed, new Promise((resolve) => setTimeout(() => resolve('still open'), 1000))]);
    expect(idleClosed).not.toBe('still open');

    fresh.write(body.slice(10));
    reused.write(body.slice(10));
    for (const connection of [fresh, reused]) {
      const response = await connection.response();
      expect(response.status).toBe(200);
      expect(response.headers['connection']).toBe('close');
      expect(JSON.parse(response.body)).toEqual({ data: { __typename: 'Query' } });
    }
    const lastAnswer = Date.now();
    expect(await exited).toBe(0);
    expect(Date.now() - lastAnswer).toBeLessThan(1000);
  }, 120_000);

  it('answers 503 with Connection: close to a request still unfinished when the grace period ends', async () => {
    const { child, url, exited } = await serving({ SHUTDOWN_GRACE_MS: '1000' });
    const stuck = await RawConnection.open(url);
    stuck.write(rawRequest('POST', '/graphql', headers, body.slice(0, 10)));
    await new Promise((resolve) => setTimeout(resolve, 200));
    const sent = Date.now();
    child.kill('SIGTERM');
    const response = await stuck.response();
    expect(response.status).toBe(503);
    expect(response.headers['connection']).toBe('close');
    expect(response.headers['retry-after']).toBe('1');
    expect(JSON.parse(response.body).errors[0].extensions.code).toBe('SERVICE_UNAVAILABLE');
    expect(Date.now() - sent).toBeGreaterThanOrEqual(900);
    expect(await exited).toBe(0);
  }, 120_000);
});

describe.each(drivers)('npm start with NODE_ENV=production on an empty %s database', (driver) => {
  let setup: Awaited<ReturnType<typeof processEnv>>;
  beforeAll(async () => {
    setup = await processEnv(driver);
  });
  afterAll(() => setup?.cleanup());

  it('creates no environment and prints the CLI command that makes one', async () => {
    const child = spawn('npm', ['start'], { cwd: root, env: { ...setup.env, PORT: '0', NODE_ENV: 'production' } });
    const output = { text: '' };
    child.stdout.on('data', (d) => (output.text += d));
    child.stderr.on('data', (d) => (output.text += d));
    await waitFor(child, /npm run -s cli -- env create --slug production --type PRODUCTION/, output);
    const exited = new Promise<number | null>((resolve) => child.on('close', resolve));
    child.kill('SIGTERM');
    expect(await exited).toBe(0);
    expect(output.text).not.toMatch(/tr_(dev|prod)_/);
    expect(output.text).not.toContain('First start: created');
    const created = await cli(['env', 'create', '--slug', 'production', '--type', 'PRODUCTION', '--json'], setup.env);
    expect(created.code).toBe(0); // the slug was free: nothing had been created
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

  it('refuses an existing slug in one line, with no SQL and no secret', async () => {
    expect((await cli(['env', 'create', '--slug', 'twice', '--type', 'STAGING', '--json'], setup.env)).code).toBe(0);
    const again = await cli(['env', 'create', '--slug', 'twice', '--type', 'STAGING', '--json'], setup.env);
    expectFailed(again);
    expect(again.stderr.trim().split('\n').at(-1)).toBe(
      'error: An environment with slug "twice" already exists: pick another slug, or rotate its key with `key rotate --env twice`',
    );
  }, 120_000);

  it("leaves npm's output npm's (no json mode); the CLI's stdout holds only its result", async () => {
    expect((await run('npm', ['config', 'get', 'json'], setup.env)).stdout.trim()).toBe('false');
    const unknown = await run('npm', ['run', 'no-such-script'], setup.env);
    expect(unknown.code).not.toBe(0);
    expect(unknown.stdout).toBe('');
    expect(unknown.stderr).toContain('Missing script: "no-such-script"');
    // Without -s npm announces the script on stdout first: why every CLI command in the README says -s.
    const announced = await run('npm', ['run', 'cli', '--', '--version'], setup.env);
    expect(announced.stdout).toBe(`\n> sessions-gateway@${VERSION} cli\n> exec node --import tsx src/cli.ts --version\n\n${VERSION}\n`);
    expect((await cli(['--version', '--json'], setup.env)).stdout).toBe(`{"version":"${VERSION}"}\n`);
  }, 60_000);

  it('refuses a missing command or an unknown option on stderr alone, with the usage', async () => {
    for (const args of [[], ['env', 'create', '--slugg', 'x', '--json']]) {
      const refused = await cli(args, setup.env);
      expect(refused.code).toBe(2);
      expect(refused.stdout).toBe('');
      expect(refused.stderr).toMatch(/^error: (no command given|Unknown option '--slugg')/);
      expect(refused.stderr).toContain('usage: npm run -s cli -- <command> [options]');
    }
  }, 60_000);

  it('migrate succeeds on an up-to-date database, and errors go to stderr with a non-zero exit', async () => {
    expect((await cli(['migrate'], setup.env)).code).toBe(0);
    const missing = await cli(['key', 'rotate', '--env', 'nope', '--json'], setup.env);
    expectFailed(missing);
    expect(missing.stderr).toContain('No environment with slug "nope"');
    const badType = await cli(['env', 'create', '--slug', 'x', '--type', 'LOCAL'], setup.env);
    expect(badType.code).not.toBe(0);
    expect(badType.stderr).toContain('--type must be one of');
  }, 120_000);
});
