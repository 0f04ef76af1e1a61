import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import postgres from 'postgres';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openDatabase } from '../src/db/client.js';
import { CONDITIONS, type ConditionName, isUnavailableCode } from '../src/db/conditions.js';
import { FakePostgres } from './fake-postgres.js';
import { freshDatabase, logMessages } from './support.js';

/**
 * Each way of failing to reach PostgreSQL, met for real: on the real server where it can show it
 * (a missing database or role, a connection limit, a missing permission), on a fake server that
 * answers exactly as a real one does where the shared test server cannot (password, pg_hba.conf,
 * TLS), and on sockets that refuse or never answer. The service names each in plain words, with
 * what to do, and never shows DATABASE_URL's password.
 */
const root = new URL('..', import.meta.url).pathname;
const realServer = Boolean(process.env.DATABASE_URL);
const PASSWORD = 'pw-never-shown-4711';

/** What the service's own start-up (or the CLI) would meet migrating this database. */
async function conditionOf(url: string) {
  const database = await openDatabase({ databaseUrl: url, timeouts: { statementMs: 1000, connectMs: 500, idleSeconds: 1 } });
  try {
    await database.migrate();
    throw new Error('migrated: no condition met');
  } catch (error) {
    return database.diagnose(error);
  } finally {
    await database.close();
  }
}

function expectCondition(condition: Awaited<ReturnType<typeof conditionOf>>, name: ConditionName, code: string, says: (string | RegExp)[]) {
  expect(condition, `expected ${name}`).not.toBeNull();
  expect(condition!).toMatchObject({ name, code, title: CONDITIONS[name].title, heals: CONDITIONS[name].heals });
  for (const words of says) expect(condition!.explanation).toMatch(words);
  expect(condition!.explanation).not.toContain(PASSWORD);
  // Requests meeting it while serving are 503 (the database is away), but a missing permission.
  expect(isUnavailableCode(code)).toBe(name !== 'permission-denied');
}

const local = (port: number, path = '/sessions', query = '') => `postgres://app:${PASSWORD}@127.0.0.1:${port}${path}${query}`;

describe('database conditions met on a fake server, a refusing port and a silent one', () => {
  const fakes: FakePostgres[] = [];
  const fake = async (...args: Parameters<typeof FakePostgres.start>) => {
    const started = await FakePostgres.start(...args);
    fakes.push(started);
    return started;
  };
  afterAll(async () => {
    await Promise.all(fakes.map((f) => f.close()));
  });

  it('a wrong password: authentication failed, which waiting will not fix', async () => {
    const server = await fake({ kind: 'fatal', code: '28P01', message: 'password authentication failed for user "app"' });
    expectCondition(await conditionOf(local(server.port)), 'authentication-failed', '28P01', [
      'role "app"',
      `127.0.0.1:${server.port}`,
      /correct the password in DATABASE_URL/,
    ]);
  });

  it('no pg_hba.conf entry without TLS: says to add sslmode=require', async () => {
    const server = await fake({
      kind: 'fatal',
      code: '28000',
      message: 'no pg_hba.conf entry for host "127.0.0.1", user "app", database "sessions", no encryption',
    });
    expectCondition(await conditionOf(local(server.port)), 'tls-required', '28000', [
      /add \?sslmode=require to DATABASE_URL/,
      'database "sessions"',
    ]);
  });

  it('a pg_hba.conf reject line, or a role that may not log in: connection not allowed', async () => {
    // "no encryption" says how the client came: a reject line refuses whatever TLS would change.
    const rejected = await fake({
      kind: 'fatal',
      code: '28000',
      message: 'pg_hba.conf rejects connection for host "127.0.0.1", user "app", database "sessions", no encryption',
    });
    expectCondition(await conditionOf(local(rejected.port)), 'not-allowed', '28000', [/pg_hba\.conf entry/, 'role "app"']);
    const nologin = await fake({ kind: 'fatal', code: '28000', message: 'role "app" is not permitted to log in' });
    expectCondition(await conditionOf(local(nologin.port)), 'not-allowed', '28000', [/ALTER ROLE app LOGIN/]);
  });

  it('sslmode=require against a server without TLS: TLS not offered', async () => {
    const server = await fake({ kind: 'fatal', code: '28000', message: 'unused' });
    expectCondition(await conditionOf(local(server.port, '/sessions', '?sslmode=require')), 'tls-unavailable', 'ECONNRESET', [
      /remove sslmode from DATABASE_URL/,
    ]);
  });

  it('sslmode=verify-full against a self-signed certificate: TLS certificate not trusted', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'sg-tls-'));
    try {
      execFileSync(
        'openssl',
        [
          'req',
          '-x509',
          '-newkey',
          'rsa:2048',
          '-nodes',
          '-keyout',
          join(dir, 'key.pem'),
          '-out',
          join(dir, 'cert.pem'),
          '-days',
          '1',
          '-subj',
          '/CN=localhost',
        ],
        { stdio: 'ignore' },
      );
      const tls = { key: readFileSync(join(dir, 'key.pem'), 'utf8'), cert: readFileSync(join(dir, 'cert.pem'), 'utf8') };
      const server = await fake({ kind: 'fatal', code: '28P01', message: 'unused', tls });
      expectCondition(
        await conditionOf(local(server.port, '/sessions', '?sslmode=verify-full')),
        'tls-certificate',
        'DEPTH_ZERO_SELF_SIGNED_CERT',
        [/NODE_EXTRA_CA_CERTS/],
      );
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('a server starting up: waiting fixes it', async () => {
    const server = await fake({ kind: 'fatal', code: '57P03', message: 'the database system is starting up' });
    expectCondition(await conditionOf(local(server.port)), 'server-starting', '57P03', [/wait for it/]);
  });

  it('a port nobody listens on: server unreachable, which can pass by itself', async () => {
    const closed = createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const port = (closed.address() as { port: number }).port;
    await new Promise<void>((resolve) => closed.close(() => resolve()));
    expectCondition(await conditionOf(local(port)), 'server-unreachable', 'ECONNREFUSED', [`127.0.0.1:${port}`, /start PostgreSQL there/]);
  });

  it('a host name that does not resolve: host not found', async () => {
    const condition = await conditionOf(`postgres://app:${PASSWORD}@no-such-host.invalid:5432/sessions`);
    expect(['ENOTFOUND', 'EAI_AGAIN']).toContain(condition?.code);
    expectCondition(condition, 'host-unknown', condition!.code, ['"no-such-host.invalid"']);
  });

  it('a server that accepts and never answers: no answer in time', async () => {
    const server = await fake({ kind: 'silent' });
    expectCondition(await conditionOf(local(server.port)), 'not-answering', 'CONNECT_TIMEOUT', [/DATABASE_CONNECT_TIMEOUT_MS/]);
  });

  it('is null for a statement that fails for its own reasons', async () => {
    const database = await openDatabase({ pgliteDir: 'memory://' });
    try {
      const error = await database.db.execute('select 1/0' as never).then(
        () => null,
        (e: unknown) => e,
      );
      expect(error).not.toBeNull();
      expect(database.diagnose(error)).toBeNull();
    } finally {
      await database.close();
    }
  });
});

describe.runIf(realServer)('database conditions met on the real server', () => {
  const admin = realServer ? postgres(process.env.DATABASE_URL!, { max: 1, onnotice: () => {} }) : (null as never);
  const suffix = randomBytes(4).toString('hex');
  const limited = `sg_limited_${suffix}`;
  const plain = `sg_plain_${suffix}`;
  let fresh: Awaited<ReturnType<typeof freshDatabase>>;
  const at = (user: string, database: string) => {
    const url = new URL(process.env.DATABASE_URL!);
    url.username = user;
    url.password = PASSWORD;
    url.pathname = `/${database}`;
    return url.toString();
  };

  beforeAll(async () => {
    fresh = await freshDatabase('postgres');
    // Roles are the cluster's: each run makes its own and drops them.
    await admin.unsafe(`create role ${limited} login connection limit 0`);
    await admin.unsafe(`create role ${plain} login`);
  });
  afterAll(async () => {
    await fresh?.drop();
    await admin.unsafe(`drop role if exists ${limited}`);
    await admin.unsafe(`drop role if exists ${plain}`);
    await admin.end();
  });

  it('a database that does not exist: database missing, with the createdb to run', async () => {
    const name = `sg_missing_${suffix}`;
    const condition = await conditionOf(at('postgres', name));
    expectCondition(condition, 'database-missing', '3D000', [`no database "${name}"`, `createdb -h `, ` ${name})`]);
    expect(condition!.heals).toBe(false);
  });

  it('a role that does not exist: role missing', async () => {
    const name = `sg_nobody_${suffix}`;
    expectCondition(await conditionOf(at(name, 'postgres')), 'role-missing', '28000', [`no role "${name}"`, /createuser/]);
  });

  it('a role at its connection limit: too many connections, which can pass by itself', async () => {
    expectCondition(await conditionOf(at(limited, new URL(fresh.url!).pathname.slice(1))), 'too-many-connections', '53300', [
      /DATABASE_POOL_SIZE/,
    ]);
  });

  it('a role that may not create the tables: permission denied', async () => {
    const name = new URL(fresh.url!).pathname.slice(1);
    expectCondition(await conditionOf(at(plain, name)), 'permission-denied', '42501', [
      `role "${plain}"`,
      `GRANT CREATE ON SCHEMA public TO ${plain}`,
    ]);
  });
});

/** A process's stdout and stderr as they come. */
function watch(child: ChildProcess) {
  const output = { text: '', stdout: '', stderr: '' };
  child.stdout!.on('data', (d) => {
    output.text += d;
    output.stdout += d;
  });
  child.stderr!.on('data', (d) => {
    output.text += d;
    output.stderr += d;
  });
  return output;
}

async function until<T>(what: string, probe: () => Promise<T | undefined> | T | undefined, timeoutMs = 30_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

describe.runIf(realServer)('npm start and the CLI with DATABASE_URL naming a database that does not exist', () => {
  const admin = realServer ? postgres(process.env.DATABASE_URL!, { max: 1, onnotice: () => {} }) : (null as never);
  const name = `sg_later_${randomBytes(4).toString('hex')}`;
  const url = (() => {
    if (!realServer) return '';
    const u = new URL(process.env.DATABASE_URL!);
    u.password = PASSWORD;
    u.pathname = `/${name}`;
    return u.toString();
  })();
  const { DATABASE_URL: _ignored, ...inherited } = process.env;
  const env = { ...inherited, DATABASE_URL: url };
  afterAll(async () => {
    await admin.unsafe(`drop database if exists ${name} with (force)`);
    await admin.end();
  });

  it('the CLI prints one line naming the condition on stderr, nothing on stdout', async () => {
    const child = spawn('npm', ['run', '-s', 'cli', '--', 'env', 'create', '--slug', 'x', '--type', 'STAGING', '--json'], {
      cwd: root,
      env,
    });
    const output = watch(child);
    const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
    expect(code).toBe(1);
    expect(output.stdout).toBe('');
    expect(output.stderr.trim().split('\n')).toEqual([
      expect.stringMatching(
        new RegExp(
          `^error: database missing \\(3D000\\): the server at .* has no database "${name}" .*createdb .*${name}\\) or correct DATABASE_URL$`,
        ),
      ),
    ]);
    expect(output.text).not.toContain(PASSWORD);
  }, 60_000);

  it('the server keeps running, says why in its log and /ready, and serves once the database is created', async () => {
    const child = spawn('npm', ['start'], { cwd: root, env: { ...env, PORT: '0' } });
    const output = watch(child);
    const exited = new Promise<number | null>((resolve) => child.on('close', resolve));
    try {
      const base = await until('the listening line', () => /listening on (http:\/\/[\d.:]+)\/graphql/.exec(output.text)?.[1], 60_000);
      await until('the log line', () => (output.text.includes('database not ready') ? true : undefined));
      expect(logMessages(output.text)).toMatch(
        new RegExp(
          `database not ready: database missing \\(3D000\\): .*no database "${name}".*Waiting will not fix this: retrying every 5 s until it is fixed`,
        ),
      );

      const ready = await fetch(`${base}/ready`);
      expect(ready.status).toBe(503);
      expect(ready.headers.get('retry-after')).toBe('1');
      expect(await ready.json()).toEqual({
        status: 'unavailable',
        condition: 'database-missing',
        reason: expect.stringMatching(new RegExp(`^database missing: the server at .* has no database "${name}"`)),
        healsByItself: false,
      });
      const api = await fetch(`${base}/graphql`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: '{"query":"{ __typename }"}',
      });
      expect(api.status).toBe(503);
      expect(((await api.json()) as any).errors[0].message).toMatch(/GET \/ready says why/);

      // The operator creates it: the service serves within one retry, with no restart.
      await admin.unsafe(`create database ${name}`);
      await until('ready', async () => ((await fetch(`${base}/ready`)).status === 200 ? true : undefined), 15_000);
      // Log lines reach stdout in batches, within a quarter of a second.
      await until('the log says so', () => (/database ready after \d+ s/.test(logMessages(output.text)) ? true : undefined), 5_000);
      expect(output.text.match(/database not ready/g)).toHaveLength(1); // not logged at every retry
      expect(output.text).not.toContain(PASSWORD);
    } finally {
      child.kill('SIGTERM');
      await exited;
    }
  }, 90_000);
});
