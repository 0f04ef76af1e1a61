/**
 * The HTTP benchmark (issue 9): updateSession and session(id) through the whole service, against
 * a bare node:http + postgres.js baseline doing the same key check and the same single statement,
 * in the same run, rounds alternating. The load generator runs in its own process (autocannon).
 * Also: the database's own ceiling (postgres.js issuing the UPDATE in-process), and the service
 * on the embedded PGlite. Prints Markdown tables (medians of the rounds) for BENCHMARKS.md.
 *
 *   DATABASE_URL=postgres://postgres@127.0.0.1:5432/test npm run bench
 *   BENCH_SECONDS=8 BENCH_ROUNDS=3 BENCH_CONNECTIONS=1,8,32 BENCH_ONLY=update,read,rest,entities,ceiling,pglite
 *   BENCH_NOTIFY=off: the live-updates trigger disabled, to see what NOTIFY costs every write
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import postgres from 'postgres';

const adminUrl = process.env.DATABASE_URL;
if (!adminUrl) throw new Error('DATABASE_URL must point at a real PostgreSQL server');
const SECONDS = Number(process.env.BENCH_SECONDS ?? 8);
const WARMUP_SECONDS = Number(process.env.BENCH_WARMUP_SECONDS ?? 2);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const CONNECTIONS = (process.env.BENCH_CONNECTIONS ?? '1,8,32').split(',').map(Number);
const ONLY = new Set((process.env.BENCH_ONLY ?? 'update,read,rest,entities,ceiling,pglite').split(','));
const SESSIONS = 1000;
const root = new URL('..', import.meta.url).pathname;
/** How `npm start` runs the service: its script in package.json (built by `npm run bench` first). */
const START = (JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { scripts: { start: string } }).scripts
  .start;
const SERVICE_COMMAND = (process.env.BENCH_SERVICE_COMMAND ?? START.replace(/^exec /, '')).split(' ').filter(Boolean);
/** Where the service runs from: another checkout measures an earlier version in the same run. */
const SERVICE_DIR = process.env.BENCH_SERVICE_DIR ?? root;

export const UPDATE_QUERY = `mutation Update($id: ID!, $input: UpdateSessionInput!) {
  updateSession(id: $id, input: $input) {
    __typename
    ... on UpdateSessionSuccess { session { id externalId tags metadata version updatedAt } }
    ... on Error { code message }
  }
}`;
export const READ_QUERY = `query Read($id: ID!) { session(id: $id) { id externalId tags metadata version updatedAt } }`;
export const ENTITIES_QUERY = `query Entities($r: [_Any!]!) { _entities(representations: $r) { ... on Session { id externalId tags version } } }`;

function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const server = createServer();
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

async function freshDatabase(name: string): Promise<string> {
  const admin = postgres(adminUrl!, { max: 1, onnotice: () => {} });
  await admin.unsafe(`drop database if exists ${name} with (force)`);
  await admin.unsafe(`create database ${name}`);
  await admin.end();
  const url = new URL(adminUrl!);
  url.pathname = `/${name}`;
  return url.toString();
}

interface Server {
  name: string;
  child: ChildProcess;
  url: string;
  output: { text: string };
}

async function start(name: string, command: string[], env: Record<string, string>, ready: RegExp, cwd = root): Promise<Server> {
  const port = await freePort();
  const child = spawn(command[0]!, command.slice(1), { cwd, env: { ...process.env, ...env, PORT: String(port) } });
  const output = { text: '' };
  child.stdout!.on('data', (d) => (output.text += d));
  child.stderr!.on('data', (d) => (output.text += d));
  for (let i = 0; i < 600 && !ready.test(output.text); i++) await sleep(50);
  if (!ready.test(output.text)) throw new Error(`${name} did not start:\n${output.text}`);
  const url = `http://127.0.0.1:${port}/graphql`;
  for (let i = 0; i < 100; i++) {
    const r = await fetch(url.replace('/graphql', '/ready')).catch(() => null);
    if (!r || r.status === 200 || r.status === 404) break;
    await sleep(100);
  }
  return { name, child, url, output };
}

async function stop(server: Server): Promise<void> {
  const exited = new Promise((resolve) => server.child.on('close', resolve));
  server.child.kill('SIGTERM');
  await exited;
}

/** utime + stime of a process, in microseconds (/proc/<pid>/stat, clock ticks of 10 ms). */
function cpuMicros(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return (Number(fields[11]) + Number(fields[12])) * 10_000;
}

/** CPU of every PostgreSQL process on the machine (the server and its backends), microseconds. */
function postgresCpuMicros(): number {
  let total = 0;
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      if (!stat.includes('(postgres)')) continue;
      const fields = stat.split(') ')[1]!.split(' ');
      total += (Number(fields[11]) + Number(fields[12])) * 10_000;
    } catch {
      // the process ended meanwhile
    }
  }
  return total;
}

function rssMb(pid: number): number {
  const line = readFileSync(`/proc/${pid}/status`, 'utf8')
    .split('\n')
    .find((l) => l.startsWith('VmRSS:'))!;
  return Number(line.split(/\s+/)[1]) / 1024;
}

interface LoadResult {
  requests: number;
  ok: number;
  non2xx: number;
  errors: number;
  rps: number;
  p50: number;
  p99: number;
}

function runLoad(spec: Record<string, unknown>): Promise<LoadResult> {
  return new Promise((resolve, reject) => {
    const child = spawn('node', ['--import', 'tsx', 'bench/load.ts', JSON.stringify(spec)], { cwd: root });
    let out = '';
    let err = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (err += d));
    child.on('close', (code) => (code === 0 ? resolve(JSON.parse(out.trim().split('\n').at(-1)!)) : reject(new Error(err))));
  });
}

interface Measured extends LoadResult {
  cpuPerRequest: number;
  postgresCpuPerRequest: number;
  rss: number;
}

async function measure(server: Server, spec: Record<string, unknown>): Promise<Measured> {
  await runLoad({ ...spec, seconds: WARMUP_SECONDS });
  const pid = server.child.pid!;
  const cpu0 = cpuMicros(pid);
  const pg0 = postgresCpuMicros();
  let rss = rssMb(pid);
  const sampler = setInterval(() => (rss = Math.max(rss, rssMb(pid))), 200);
  const result = await runLoad(spec);
  clearInterval(sampler);
  const cpu = cpuMicros(pid) - cpu0;
  const pg = postgresCpuMicros() - pg0;
  if (result.non2xx > 0 || result.errors > 0) {
    throw new Error(`${server.name}: ${result.non2xx} non-2xx answers and ${result.errors} errors\n${server.output.text.slice(-2000)}`);
  }
  return { ...result, cpuPerRequest: cpu / result.requests, postgresCpuPerRequest: pg / result.requests, rss };
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

function summarize(rounds: Measured[]) {
  return {
    rps: median(rounds.map((r) => r.rps)),
    p50: median(rounds.map((r) => r.p50)),
    p99: median(rounds.map((r) => r.p99)),
    cpu: median(rounds.map((r) => r.cpuPerRequest)),
    pg: median(rounds.map((r) => r.postgresCpuPerRequest)),
    rss: Math.max(...rounds.map((r) => r.rss)),
  };
}

/** The database's own ceiling: postgres.js in this process issuing the UPDATE at `connections` at once. */
async function ceiling(url: string, environmentId: string, ids: string[], connections: number): Promise<number> {
  const sql = postgres(url, { max: 10, onnotice: () => {} });
  let n = 0;
  let done = 0;
  const until = performance.now() + SECONDS * 1000;
  await Promise.all(
    Array.from({ length: connections }, async () => {
      while (performance.now() < until) {
        const i = n++;
        await sql`update sessions set tags = ${[`t${i % 97}`, 'bench']}, metadata = ${sql.json({ n: i, topic: 'load' })},
          version = version + 1, updated_at = now() where environment_id = ${environmentId} and id = ${ids[i % ids.length]!}`;
        done++;
      }
    }),
  );
  await sql.end();
  return done / SECONDS;
}

const fmt = (x: number, digits = 0) => x.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits });

async function main(): Promise<void> {
  const url = await freshDatabase('sg_bench_http');
  // Migrate and seed through the service's own code: one environment, 1,000 sessions.
  const { createApp } = await import('../src/app.js');
  const { loadConfig } = await import('../src/config.js');
  const { createEnvironment } = await import('../src/auth/environments.js');
  const app = await createApp(loadConfig({ DATABASE_URL: url }));
  const { secretKey, environmentId } = await createEnvironment(app.database.db, 'bench', 'PRODUCTION');
  await app.close();
  const seed = postgres(url, { max: 1, onnotice: () => {} });
  await seed.unsafe(
    `insert into sessions (environment_id, id, external_id, type, task_identifier, trigger_config)
     select $1, 'session_bench' || lpad(n::text, 5, '0'), 'bench-' || n, 'chat.agent', 'my-chat', '{"basePayload": {}}'
     from generate_series(1, ${SESSIONS}) n`,
    [environmentId],
  );
  if (process.env.BENCH_NOTIFY === 'off') await seed.unsafe('alter table sessions disable trigger sessions_changed');
  await seed.end();
  const ids = Array.from({ length: SESSIONS }, (_, i) => `session_bench${String(i + 1).padStart(5, '0')}`);

  const env = { DATABASE_URL: url, NODE_ENV: 'production', RATE_LIMIT_PER_SECOND: '0', DATABASE_POOL_SIZE: '10' };
  const bare = await start('bare', ['node', '--import', 'tsx', 'bench/bare.ts'], env, /listening/);
  const service = await start('service', SERVICE_COMMAND, env, /listening on/, SERVICE_DIR);
  const lines: string[] = [];
  const print = (line = '') => {
    lines.push(line);
    console.log(line);
  };
  print(
    `Run of ${new Date().toISOString().slice(0, 10)}: ${ROUNDS} rounds of ${SECONDS} s (after ${WARMUP_SECONDS} s of warm-up), medians; ${SESSIONS} sessions; NOTIFY trigger ${process.env.BENCH_NOTIFY === 'off' ? 'off' : 'on'}.`,
  );
  try {
    const TITLES = {
      update: '`updateSession` (new tags and metadata each time)',
      read: '`session(id)` read',
      rest: '`PATCH /api/v1/sessions/{id}` (the same update through the REST route; bare: the same PATCH)',
    };
    for (const op of ['update', 'read', 'rest'] as const) {
      if (!ONLY.has(op)) continue;
      print();
      print(`### ${TITLES[op]}`);
      print();
      // autocannon counts latency in whole milliseconds; the mean is exact from the closed loop
      // (Little's law: connections / throughput).
      print(
        '| connections | server | req/s | mean ms | p50 ms | p99 ms | server CPU µs/req | PostgreSQL CPU µs/req | RSS MB | req/s vs bare | mean vs bare | p99 vs bare |',
      );
      print('| ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |');
      for (const connections of CONNECTIONS) {
        const spec = { connections, seconds: SECONDS, key: secretKey, query: op === 'update' ? UPDATE_QUERY : READ_QUERY, ids, mode: op };
        const rounds: Record<string, Measured[]> = { bare: [], service: [] };
        for (let round = 0; round < ROUNDS; round++) {
          const order = round % 2 === 0 ? [bare, service] : [service, bare];
          const target = (server: Server) => (op === 'rest' ? server.url.replace('/graphql', '') : server.url);
          for (const server of order) rounds[server.name]!.push(await measure(server, { ...spec, url: target(server) }));
        }
        const b = summarize(rounds['bare']!);
        const s = summarize(rounds['service']!);
        const mean = (rps: number) => (connections * 1000) / rps;
        print(
          `| ${connections} | bare | ${fmt(b.rps)} | ${fmt(mean(b.rps), 2)} | ${fmt(b.p50, 1)} | ${fmt(b.p99, 1)} | ${fmt(b.cpu)} | ${fmt(b.pg)} | ${fmt(b.rss)} | 1.00 | 1.00 | 1.00 |`,
        );
        print(
          `| ${connections} | service | ${fmt(s.rps)} | ${fmt(mean(s.rps), 2)} | ${fmt(s.p50, 1)} | ${fmt(s.p99, 1)} | ${fmt(s.cpu)} | ${fmt(s.pg)} | ${fmt(s.rss)} | ${fmt(s.rps / b.rps, 2)} | ${fmt(mean(s.rps) / mean(b.rps), 2)} | ${fmt(s.p99 / Math.max(b.p99, 1), 2)} |`,
        );
      }
    }
    if (ONLY.has('entities')) {
      print();
      print('### `_entities` with 100 representations per request (one SQL statement each; no baseline)');
      print();
      print('| connections | req/s | p50 ms | p99 ms | CPU µs/req | RSS MB |');
      print('| ---: | ---: | ---: | ---: | ---: | ---: |');
      for (const connections of [1, 8]) {
        const m = await measure(service, {
          url: service.url,
          connections,
          seconds: SECONDS,
          key: secretKey,
          query: ENTITIES_QUERY,
          ids,
          mode: 'entities',
        });
        print(`| ${connections} | ${fmt(m.rps)} | ${fmt(m.p50, 1)} | ${fmt(m.p99, 1)} | ${fmt(m.cpuPerRequest)} | ${fmt(m.rss)} |`);
      }
    }
    if (ONLY.has('ceiling')) {
      print();
      print('### The database’s own ceiling (postgres.js issuing the UPDATE in-process, pool of 10)');
      print();
      print('| concurrent statements | updates/s |');
      print('| ---: | ---: |');
      for (const connections of CONNECTIONS) print(`| ${connections} | ${fmt(await ceiling(url, environmentId, ids, connections))} |`);
    }
  } finally {
    await stop(service);
    await stop(bare);
  }

  if (ONLY.has('pglite')) {
    const dir = mkdtempSync(join(tmpdir(), 'sg-bench-'));
    try {
      const embedded = await start(
        'pglite',
        SERVICE_COMMAND,
        { DATABASE_URL: '', PGLITE_DIR: join(dir, 'pglite'), NODE_ENV: 'development', GRAPHIQL: '0', RATE_LIMIT_PER_SECOND: '0' },
        /tr_dev_\S+/,
      );
      const key = /(tr_dev_\S+)/.exec(embedded.output.text)![1]!;
      const pgliteIds: string[] = [];
      for (let i = 0; i < SESSIONS; i++) {
        const response = await fetch(embedded.url, {
          method: 'POST',
          headers: { 'content-type': 'application/json', authorization: `Bearer ${key}` },
          body: JSON.stringify({
            query:
              'mutation($input: CreateSessionInput!) { createSession(input: $input) { ... on CreateSessionSuccess { session { id } } } }',
            variables: { input: { type: 'chat.agent', taskIdentifier: 'my-chat', triggerConfig: { basePayload: {} } } },
          }),
        });
        pgliteIds.push(((await response.json()) as { data: { createSession: { session: { id: string } } } }).data.createSession.session.id);
      }
      print();
      print('### The embedded default (PGlite), what `npm install && npm start` gives (one round, no ratio goal)');
      print();
      print('| operation | connections | req/s | p50 ms | p99 ms | CPU µs/req | RSS MB |');
      print('| --- | ---: | ---: | ---: | ---: | ---: | ---: |');
      for (const op of ['update', 'read'] as const) {
        for (const connections of CONNECTIONS) {
          const m = await measure(embedded, {
            url: embedded.url,
            connections,
            seconds: SECONDS,
            key,
            query: op === 'update' ? UPDATE_QUERY : READ_QUERY,
            ids: pgliteIds,
            mode: op,
          });
          print(
            `| ${op} | ${connections} | ${fmt(m.rps)} | ${fmt(m.p50, 1)} | ${fmt(m.p99, 1)} | ${fmt(m.cpuPerRequest)} | ${fmt(m.rss)} |`,
          );
        }
      }
      await stop(embedded);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }
}

await main();
