/**
 * The noisy-neighbour benchmark (issue 19): what each attack of test/attacks.ts costs a
 * well-behaved tenant of another environment. On one fresh database (`sg_bench_abuse`, seeded as
 * the test seeds it, with 100 public tokens), for the baseline (no attack) and then each attack in
 * turn: a fresh service as `npm start` runs it (NODE_ENV=production, the default limits), one second
 * of the neighbour alone as warm-up, then BENCH_SECONDS of the neighbour (session(id),
 * updateSession and REST GET in turn, at BENCH_NEIGHBOUR_RATE requests a second over one keep-alive
 * connection) and a /health probe every 100 ms while the attack runs in a process of its own.
 * Prints one Markdown table: the neighbour's throughput, p50, p99, slowest and errors, /health's p99, the
 * service's peak RSS and CPU; then what each attack saw.
 *
 *   DATABASE_URL=postgres://postgres@127.0.0.1:5432/test npm run bench:abuse
 *   BENCH_SECONDS=10 BENCH_NEIGHBOUR_RATE=50 BENCH_ONLY=baseline,chunkedBodies,…
 *   BENCH_SERVICE_DIR=/path/to/other/checkout  (built): measures that version with the same attacks
 *
 * Latency here is the neighbour's own, each request timed from its client; the attacker, the
 * neighbour, the service and PostgreSQL share the machine's cores.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import {
  type ATTACKS,
  type AttackName,
  runAttack,
  type Summary,
  sampleProcess,
  seedWorld,
  startHealthProbe,
  startNeighbour,
  startService,
  type Target,
} from '../test/attacks.js';
import { freshDatabase } from './database.js';

const SECONDS = Number(process.env.BENCH_SECONDS ?? 10);
const RATE = Number(process.env.BENCH_NEIGHBOUR_RATE ?? 50);
const SERVICE_DIR = process.env.BENCH_SERVICE_DIR;

const ATTACKER = '127.0.0.2';
const NEIGHBOUR = '127.0.0.3';
const PROBE = '127.0.0.4';
const ATTACKER_MORE = ['127.0.0.5', '127.0.0.6', '127.0.0.7'];

interface Scenario<N extends AttackName = AttackName> {
  name: N;
  title: string;
  options: (ms: number) => Parameters<(typeof ATTACKS)[N]>[1];
}

const scenario = <N extends AttackName>(s: Scenario<N>) => s as unknown as Scenario;

/** Each attack of the issue at about its scale, bounded to a few hundred sockets at once. */
const SCENARIOS: Scenario[] = [
  scenario({
    name: 'chunkedBodies',
    title: '1. one-byte chunks, bodies never ending (60 connections × 60,000 chunks at full speed)',
    options: (ms) => ({ durationMs: ms, connections: 60, chunks: 60_000 }),
  }),
  scenario({
    name: 'pingFlood',
    title: '2. 60 KB pings, never reading (4 sockets, 2 without connection_init)',
    options: (ms) => ({ durationMs: ms, connections: 4, init: 'both' }),
  }),
  scenario({
    name: 'idleSubscriptions',
    title: '3. idle subscriptions (100 tokens × 50)',
    options: (ms) => ({ durationMs: ms, tokens: 100, subscriptionsPerToken: 50, messagesPerSecond: 15 }),
  }),
  scenario({
    name: 'heavyReads',
    title: '4. 4 clients × batches of 10 × sessions(first: 100) of 30 KB; 7,000-value filters at 4.5/s',
    options: (ms) => ({ durationMs: ms, connections: 4, batch: 10, first: 100, filterValues: 7000, filterPerSecond: 4.5 }),
  }),
  scenario({
    name: 'garbageCredentials',
    title: '5. made-up Bearer values (2,000 HTTP, 1,000 upgrades)',
    options: (ms) => ({ durationMs: ms, count: 2000, connections: 16, upgrades: 1000, upgradeConcurrency: 20 }),
  }),
  scenario({
    name: 'connectionHog',
    title: '6. 400 idle TCP connections from one address, then 300 WebSockets of one key',
    options: (ms) => ({ durationMs: ms, connections: 400, wave: 50, websockets: 300, holdMs: Math.max(1000, (ms - 2000) / 2) }),
  }),
  scenario({
    name: 'messageFlood',
    title: '7. complete-message floods (4 sockets) and 100 over-size messages',
    options: (ms) => ({ durationMs: ms, connections: 4, oversize: 100 }),
  }),
];

const ONLY = new Set((process.env.BENCH_ONLY ?? ['baseline', ...SCENARIOS.map((s) => s.name)].join(',')).split(','));

interface Row {
  title: string;
  rps: number;
  p50: number;
  p99: number;
  max: number;
  errors: number;
  healthP99: number;
  healthFailures: number;
  rssMb: number;
  cpu: number;
  attack?: Summary;
  firstErrors: string[];
}

const fmt = (x: number, digits = 0) => x.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits });

async function measure(
  databaseUrl: string,
  attacker: Target,
  neighbourKey: { key: string; sessionId: string },
  s: Scenario | null,
): Promise<Row> {
  const service = await startService(
    { NODE_ENV: 'production', DATABASE_URL: databaseUrl, SHUTDOWN_GRACE_MS: '1000' },
    SERVICE_DIR ? { cwd: SERVICE_DIR } : {},
  );
  try {
    const warm = startNeighbour({ url: service.url, ...neighbourKey, localAddress: NEIGHBOUR }, { ratePerSecond: RATE });
    await sleep(1000);
    await warm.stop();
    const sampler = sampleProcess(service.pid);
    const neighbour = startNeighbour({ url: service.url, ...neighbourKey, localAddress: NEIGHBOUR }, { ratePerSecond: RATE });
    const health = startHealthProbe(service.url, { localAddress: PROBE });
    let attack: Summary | undefined;
    let failure: unknown;
    if (s) {
      try {
        // The neighbour is measured for BENCH_SECONDS however soon the attack is over.
        [attack] = await Promise.all([
          runAttack(s.name, { ...attacker, url: service.url }, s.options(SECONDS * 1000), SECONDS * 1000 + 60_000),
          sleep(SECONDS * 1000),
        ]);
      } catch (error) {
        failure = error;
      }
    } else {
      await sleep(SECONDS * 1000);
    }
    const [n, h] = await Promise.all([neighbour.stop(), health.stop()]);
    const processReport = sampler.stop();
    if (failure) throw failure;
    return {
      title: s?.title ?? 'none (baseline)',
      rps: n.rps,
      p50: n.latency.p50,
      p99: n.latency.p99,
      max: n.latency.max,
      errors: n.errorCount,
      healthP99: h.latency.p99,
      healthFailures: h.failures.length,
      rssMb: processReport.peakRssMb,
      cpu: processReport.cpuPercent,
      attack,
      firstErrors: n.errors.slice(0, 3),
    };
  } finally {
    await service.stop();
  }
}

async function main(): Promise<void> {
  const url = await freshDatabase('sg_bench_abuse');
  const world = await seedWorld({ databaseUrl: url }, { tokens: 100, heavy: 100, light: 10 });
  const attacker: Target = { url: '', ...world.attacker, localAddresses: [ATTACKER, ...ATTACKER_MORE] };
  const rows: Row[] = [];
  if (ONLY.has('baseline')) rows.push(await measure(url, attacker, world.neighbour, null));
  for (const s of SCENARIOS) {
    if (!ONLY.has(s.name)) continue;
    process.stderr.write(`${s.title}…\n`);
    rows.push(await measure(url, attacker, world.neighbour, s));
  }

  const lines: string[] = [];
  lines.push(
    `Run of ${new Date().toISOString().slice(0, 10)}: ${SECONDS} s per row after 1 s of warm-up; the neighbour at ${RATE} requests/s (session(id), updateSession, REST GET in turn) over one keep-alive connection; /health every 100 ms; default limits; a fresh service per row${SERVICE_DIR ? ` (from ${SERVICE_DIR})` : ''}.`,
  );
  lines.push('');
  lines.push('| attack | neighbour req/s | p50 ms | p99 ms | max ms | errors | /health p99 ms | peak RSS MB | service CPU % |');
  lines.push('| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |');
  for (const r of rows) {
    const errors = r.errors + (r.healthFailures ? ` (+${r.healthFailures} /health)` : '');
    lines.push(
      `| ${r.title} | ${fmt(r.rps, 1)} | ${fmt(r.p50, 1)} | ${fmt(r.p99, 1)} | ${fmt(r.max)} | ${errors} | ${fmt(r.healthP99, 1)} | ${fmt(r.rssMb)} | ${fmt(r.cpu)} |`,
    );
  }
  lines.push('');
  lines.push('What each attack saw (outcomes counted; sockets opened, most at once):');
  lines.push('');
  for (const r of rows) {
    if (!r.attack) continue;
    const outcomes = Object.entries(r.attack.outcomes)
      .map(([label, n]) => `${label} × ${n}`)
      .join('; ');
    const figures = Object.entries(r.attack.figures)
      .map(([k, v]) => `${k} ${fmt(v, v % 1 ? 1 : 0)}`)
      .join(', ');
    lines.push(
      `- ${r.title.split(' ')[0]} ${outcomes}; ${figures}; ${r.attack.socketsOpened} sockets, ${r.attack.peakOpen} at once, ${r.attack.openAtEnd} still open at the end`,
    );
    for (const e of r.firstErrors) lines.push(`  - neighbour error: ${e.replace(/\s+/g, ' ').slice(0, 160)}`);
  }
  console.log(lines.join('\n'));
}

await main();
