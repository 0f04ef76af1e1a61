/**
 * What the instruments cost (issue 17), measured so that this machine's noise cancels out: one
 * service process (this one: the app served on a real HTTP server and PostgreSQL, with `npm
 * start`'s V8 flags), load from autocannon in a process of its own, and every phase the request
 * log and the metrics switched among four settings (everything off, the log line only, the
 * metrics only, both: the defaults). CPU per request is this process's over the phase (all its
 * threads) divided by the requests answered in it. Separate processes, as in `npm run bench`, differ by
 * more than the instruments cost (one build run twice measured 0.94 to 1.20 of its own CPU per request).
 * Node's process metrics (a GC observer, an event-loop delay monitor), once started, run in every
 * phase: their cost is in none of the differences.
 *
 *   DATABASE_URL=postgres://postgres@127.0.0.1:5432/test npm run bench:instruments
 *   BENCH_SECONDS=60 BENCH_PHASE_MS=500 BENCH_CONNECTIONS=32 BENCH_ONLY=read,update
 *   BENCH_PROFILE=1: also a CPU profile, its samples told apart by phase: where the defaults'
 *   extra CPU goes, by package, per request
 */
import { spawn, spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { Session } from 'node:inspector/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';

// The V8 flags `npm start` gives the service (package.json), or this script starts itself again with them.
const START = (JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { scripts: { start: string } }).scripts
  .start;
const FLAGS = START.split(' ').filter((part) => part.startsWith('--') && part !== '--enable-source-maps');
if (!FLAGS.every((flag) => process.execArgv.includes(flag))) {
  const script = fileURLToPath(import.meta.url);
  const { status } = spawnSync(process.execPath, [...FLAGS, '--import', 'tsx', script], { stdio: 'inherit' });
  process.exit(status ?? 1);
}

// As in production: graphql-js reads it once loaded (its development checks cost CPU).
process.env.NODE_ENV = 'production';
const { createApp, listen } = await import('../src/app.js');
const { loadConfig } = await import('../src/config.js');
const { configureLogging, setLogLevel } = await import('../src/log.js');
const { recording } = await import('../src/telemetry/metrics.js');
const { READ_QUERY, seededDatabase, UPDATE_QUERY } = await import('./database.js');

const SECONDS = Number(process.env.BENCH_SECONDS ?? 60);
const PHASE_MS = Number(process.env.BENCH_PHASE_MS ?? 500);
const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 32);
const OPS = (process.env.BENCH_ONLY ?? 'read,update').split(',') as ('read' | 'update')[];
const PROFILE = process.env.BENCH_PROFILE === '1';

const SETTINGS = {
  off: { log: 'warn', metrics: false },
  'log only': { log: 'info', metrics: false },
  'metrics only': { log: 'warn', metrics: true },
  defaults: { log: 'info', metrics: true },
};
type Setting = keyof typeof SETTINGS;
const NAMES = Object.keys(SETTINGS) as Setting[];

const { url, secretKey, ids } = await seededDatabase('sg_bench_instruments', 1000);
const config = loadConfig({ DATABASE_URL: url, NODE_ENV: 'production', RATE_LIMIT_PER_SECOND: '0', DATABASE_POOL_SIZE: '10' });
// The lines go where `npm start` writes them; the table goes to stderr.
configureLogging(config.logging);
const app = await createApp(config);
const listening = await listen(app, 0, '127.0.0.1');
let answered = 0;
listening.server.on('request', (_req, res) => res.once('finish', () => answered++));
const print = (line = '') => console.error(line);

interface Phase {
  setting: Setting;
  /** process.hrtime in µs: the timebase of the CPU profile's samples. */
  from: number;
  to: number;
  cpu: number;
  requests: number;
}
const micros = () => Number(process.hrtime.bigint() / 1000n);

async function measure(op: 'read' | 'update'): Promise<Phase[]> {
  const spec = {
    url: `${listening.url}/graphql`,
    connections: CONNECTIONS,
    seconds: SECONDS + 4,
    key: secretKey,
    query: op === 'update' ? UPDATE_QUERY : READ_QUERY,
    ids,
    mode: op,
  };
  const load = spawn(process.execPath, ['--import', 'tsx', 'bench/load.ts', JSON.stringify(spec)], {
    cwd: new URL('..', import.meta.url).pathname,
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  await sleep(3000);
  const phases: Phase[] = [];
  const end = Date.now() + SECONDS * 1000;
  for (let i = 0; Date.now() < end; i++) {
    const setting = NAMES[i % NAMES.length]!;
    setLogLevel(SETTINGS[setting].log);
    recording.set(SETTINGS[setting].metrics);
    // Requests begun under the previous setting finish first.
    await sleep(50);
    const [from, cpu0, n0] = [micros(), process.cpuUsage(), answered];
    await sleep(PHASE_MS);
    const cpu = process.cpuUsage(cpu0);
    phases.push({ setting, from, to: micros(), cpu: cpu.user + cpu.system, requests: answered - n0 });
  }
  load.kill();
  await new Promise((resolve) => load.once('close', resolve));
  return phases;
}

/** CPU µs per request of each package (or Node's own functions), by setting, from a profile's samples in the phases. */
function attribute(profile: { nodes: ProfileNode[]; samples: number[]; timeDeltas: number[]; startTime: number }, phases: Phase[]) {
  const byId = new Map(profile.nodes.map((node) => [node.id, node]));
  const spent = new Map<Setting, Map<string, number>>(NAMES.map((name) => [name, new Map()]));
  let t = profile.startTime;
  let p = 0;
  for (let i = 0; i < profile.samples.length; i++) {
    t += profile.timeDeltas[i]!;
    while (p < phases.length && phases[p]!.to < t) p++;
    const phase = phases[p];
    if (!phase) break;
    const frame = byId.get(profile.samples[i]!)!.callFrame;
    if (t < phase.from || frame.functionName === '(idle)') continue;
    const where =
      /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(frame.url)?.[1] ??
      (/\/(src\/[^/]+)\//.exec(frame.url)?.[1] || (frame.url.startsWith('node:') ? 'node' : frame.url || frame.functionName || '(native)'));
    const into = spent.get(phase.setting)!;
    into.set(where, (into.get(where) ?? 0) + (profile.timeDeltas[i + 1] ?? 0));
  }
  const requests = (setting: Setting) => phases.filter((ph) => ph.setting === setting).reduce((sum, ph) => sum + ph.requests, 0);
  const per = (setting: Setting, where: string) => (spent.get(setting)!.get(where) ?? 0) / requests(setting);
  const places = new Set([...spent.get('off')!.keys(), ...spent.get('defaults')!.keys()]);
  return [...places].map((where) => ({ where, extra: per('defaults', where) - per('off', where) })).sort((a, b) => b.extra - a.extra);
}
interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string };
}

const fmt = (n: number, digits = 0) => n.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits });
const median = (values: number[]) => [...values].sort((a, b) => a - b)[values.length >> 1]!;

print(
  `Run of ${new Date().toISOString().slice(0, 10)}: ${CONNECTIONS} connections, ${SECONDS} s per operation in phases of ${PHASE_MS} ms, settings in turn (${NAMES.join(', ')}).`,
);
const inspector = new Session();
inspector.connect();
try {
  for (const op of OPS) {
    if (PROFILE) {
      await inspector.post('Profiler.enable');
      await inspector.post('Profiler.start');
    }
    const phases = await measure(op);
    const profile = PROFILE ? (await inspector.post('Profiler.stop')).profile : undefined;
    print();
    print(`### ${op === 'update' ? '`updateSession`' : '`session(id)` read'}`);
    print();
    print('| setting | req/s | CPU µs/req | median of phases | CPU vs everything off | extra µs/req |');
    print('| --- | ---: | ---: | ---: | ---: | ---: |');
    const cost = (setting: Setting) => {
      const mine = phases.filter((phase) => phase.setting === setting);
      const requests = mine.reduce((sum, phase) => sum + phase.requests, 0);
      return {
        rps: requests / ((mine.length * PHASE_MS) / 1000),
        cpu: mine.reduce((sum, phase) => sum + phase.cpu, 0) / requests,
        median: median(mine.map((phase) => phase.cpu / phase.requests)),
      };
    };
    const off = cost('off');
    for (const setting of NAMES) {
      const c = cost(setting);
      print(
        `| ${setting} | ${fmt(c.rps)} | ${fmt(c.cpu, 1)} | ${fmt(c.median, 1)} | ${fmt(c.cpu / off.cpu, 3)} | ${fmt(c.cpu - off.cpu, 1)} |`,
      );
    }
    if (profile) {
      print();
      print('Where the defaults spend more than everything off (CPU profile of the main thread, µs per request):');
      print();
      print('| package | extra µs/req |');
      print('| --- | ---: |');
      for (const { where, extra } of attribute(profile as never, phases).filter((row) => row.extra >= 0.3))
        print(`| ${where} | ${fmt(extra, 1)} |`);
    }
  }
} finally {
  inspector.disconnect();
  await listening.shutdown(1000);
  await app.close();
}
process.exit(0);
