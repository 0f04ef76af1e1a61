/**
 * The noisy neighbour (issue 19): the built service, started as `npm start` starts it
 * (NODE_ENV=production), under each attack of the issue in turn, through real sockets, while a
 * well-behaved client of another environment reads and writes and /health is timed every 100 ms.
 *
 * What is asserted cannot flake on a loaded machine: the neighbour gets no error and no non-2xx,
 * every /health answers within 3 s, the process's RSS stays under 400 MB, the log holds no stack
 * and no more lines than the attack opened sockets, and the service does what the issue asks of it
 * (bodies that never end are answered 408 or closed, flooders are closed, caps hold, made-up
 * credentials run out of budget). Latency is measured, not asserted: `npm run bench:abuse`.
 *
 * Each attack gets a fresh process on the same seeded database (so one attack's harm is not the
 * next one's), and runs in a process of its own (so its CPU does not slow down the neighbour's
 * client). The attacker connects from 127.0.0.2 (and .5–.7), the neighbour from 127.0.0.3, the
 * probe from 127.0.0.4: per-address limits see them apart, as they would see different hosts.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { type AddressInfo, connect, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type ATTACKS,
  type AttackName,
  type HealthReport,
  type NeighbourReport,
  type ProcessReport,
  runAttack,
  type Service,
  type Summary,
  sampleProcess,
  seedWorld,
  startHealthProbe,
  startNeighbour,
  startService,
  type Target,
} from './attacks.js';
import { type Driver, drivers, freshDatabase } from './support.js';

const root = new URL('..', import.meta.url).pathname;

/** The small caps the suite runs the service with (docs: README "Configuration"). */
const LIMITS = {
  // Attack 1 runs with 3000; the others with the default, so that a loaded machine's stalls do not
  // turn the neighbour's requests into 408s.
  REQUEST_TIMEOUT_MS: 10_000,
  MAX_CONNECTIONS: 1000,
  MAX_CONNECTIONS_PER_ADDRESS: 50,
  WEBSOCKETS_PER_ENVIRONMENT: 60,
  SUBSCRIPTIONS_PER_CREDENTIAL: 100,
  SUBSCRIPTIONS_PER_ENVIRONMENT: 300,
  WEBSOCKET_MESSAGES_PER_SECOND: 20,
  WEBSOCKET_BUFFER_BYTES: 1 << 20,
  ENVIRONMENT_CONCURRENCY: 8,
  ENVIRONMENT_QUEUE: 256,
  RATE_LIMIT_PER_SECOND: 100,
  MAX_REQUEST_BYTES: 65_536,
};
/**
 * The RSS cap: 400 MB on a real server (the service alone is about 110 MB at start). PGlite keeps
 * the database in the service's own process (about 250–400 MB at start, data included), so there the
 * cap is the same headroom over the RSS it had when the attack began.
 */
const RSS_CAP_MB = 400;
const RSS_HEADROOM_MB = 290;
const HEALTH_BOUND_MS = 3000;

const ATTACKER = '127.0.0.2';
const NEIGHBOUR = '127.0.0.3';
const PROBE = '127.0.0.4';
/** The attacker's other addresses: WebSockets spread under the per-address cap, a second rate budget. */
const ATTACKER_MORE = ['127.0.0.5', '127.0.0.6', '127.0.0.7'];

const TOKENS = 40;
const HEAVY_SESSIONS = 100;
const LIGHT_SESSIONS = 10;

interface TestWorld {
  /** PGLITE_DIR or DATABASE_URL for the service. */
  env: Record<string, string>;
  attacker: Target;
  neighbour: { key: string; sessionId: string };
  cleanup(): Promise<void>;
}

/**
 * Two environments (the attacker's, the neighbour's), the attacker's public tokens and sessions (100
 * with about 30 KB of metadata, 10 light ones), one session of the neighbour's, all made on the
 * database before the service starts: PGlite's directory is seeded, closed, then handed over.
 */
async function seedTestWorld(driver: Driver): Promise<TestWorld> {
  const dir = mkdtempSync(join(tmpdir(), 'sg-noisy-'));
  const fresh = await freshDatabase(driver);
  const pgliteDir = join(dir, 'pglite');
  const cleanup = async () => {
    await fresh.drop();
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    const world = await seedWorld(fresh.url ? { databaseUrl: fresh.url } : { pgliteDir }, {
      tokens: TOKENS,
      heavy: HEAVY_SESSIONS,
      light: LIGHT_SESSIONS,
    });
    return {
      env: fresh.url ? { DATABASE_URL: fresh.url } : { PGLITE_DIR: pgliteDir },
      attacker: { url: '', ...world.attacker, localAddresses: [ATTACKER, ...ATTACKER_MORE] },
      neighbour: world.neighbour,
      cleanup,
    };
  } catch (error) {
    await cleanup();
    throw error;
  }
}

interface Outcome {
  attack: Summary;
  neighbour: NeighbourReport;
  health: HealthReport;
  process: ProcessReport;
  /** The service's RSS before the attack, and the cap its peak must stay under. */
  startRssMb: number;
  rssCapMb: number;
  /** What the service wrote while the attack ran (and the second after). */
  log: string;
}

/** The attacker, the neighbour and the probe connect from loopback addresses of their own. */
async function expectLoopbackAddresses(): Promise<void> {
  const server = createServer((socket) => socket.end());
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  try {
    for (const localAddress of [ATTACKER, NEIGHBOUR, PROBE, ...ATTACKER_MORE]) {
      await new Promise<void>((resolve, reject) => {
        const socket = connect({ port, host: '127.0.0.1', localAddress }, () => {
          socket.destroy();
          resolve();
        });
        socket.once('error', (error) =>
          reject(
            new Error(
              `cannot connect from ${localAddress} (${error.message}): the suite needs 127.0.0.2–127.0.0.7 on the loopback (Linux has all of 127.0.0.0/8)`,
            ),
          ),
        );
      });
    }
  } finally {
    server.close();
  }
}

let built = false;
function build(): void {
  if (built) return;
  execFileSync(process.execPath, ['scripts/build.mjs'], { cwd: root, stdio: 'inherit' });
  built = true;
}

describe.each(drivers)('a noisy neighbour, on %s', (driver) => {
  let world: TestWorld;

  beforeAll(async () => {
    await expectLoopbackAddresses();
    build();
    world = await seedTestWorld(driver);
  }, 120_000);
  afterAll(async () => {
    await world?.cleanup();
  });

  /**
   * A fresh service; the neighbour and the probe start, the attack runs in its own process, the
   * neighbour goes on for `settleMs` after it; then everything stops and is reported.
   */
  async function underAttack<N extends AttackName>(
    name: N,
    options: Parameters<(typeof ATTACKS)[N]>[1],
    {
      limits = {},
      neighbourRate = 50,
      settleMs = 1000,
      rssCapMb: postgresCapMb = RSS_CAP_MB,
    }: { limits?: Partial<typeof LIMITS>; neighbourRate?: number; settleMs?: number; rssCapMb?: number } = {},
  ): Promise<Outcome> {
    const service: Service = await startService({
      NODE_ENV: 'production',
      SHUTDOWN_GRACE_MS: '1000',
      ...world.env,
      ...Object.fromEntries(Object.entries({ ...LIMITS, ...limits }).map(([k, v]) => [k, String(v)])),
    });
    try {
      const from = service.output.text.length;
      const startRssMb = sampleProcess(service.pid).stop().peakRssMb;
      const sampler = sampleProcess(service.pid);
      const neighbour = startNeighbour({ url: service.url, ...world.neighbour, localAddress: NEIGHBOUR }, { ratePerSecond: neighbourRate });
      const health = startHealthProbe(service.url, { localAddress: PROBE });
      await sleep(300);
      let attack: Summary | undefined;
      let failure: unknown;
      try {
        attack = await runAttack(name, { ...world.attacker, url: service.url }, options, 90_000);
        await sleep(settleMs);
      } catch (error) {
        failure = error;
      }
      const [n, h] = await Promise.all([neighbour.stop(), health.stop()]);
      const processReport = sampler.stop();
      if (!attack) throw failure;
      const rssCapMb = driver === 'postgres' ? postgresCapMb : startRssMb + RSS_HEADROOM_MB;
      const outcome = {
        attack,
        neighbour: n,
        health: h,
        process: processReport,
        startRssMb,
        rssCapMb,
        log: service.output.text.slice(from),
      };
      report(name, outcome);
      return outcome;
    } finally {
      await service.stop();
    }
  }

  /** One line per attack for whoever reads the test's output (no secrets in it). */
  function report(name: string, o: Outcome): void {
    const logged = o.log.split('\n').filter((l) => l.trim());
    const lines = logged.length;
    console.log(
      `[${driver}] ${name}: ${JSON.stringify(o.attack.outcomes)} figures=${JSON.stringify(o.attack.figures)} sockets=${o.attack.socketsOpened} openAtEnd=${o.attack.openAtEnd}` +
        ` | neighbour ${o.neighbour.requests} req, ${o.neighbour.errorCount} errors, p50 ${o.neighbour.latency.p50.toFixed(1)} ms, p99 ${o.neighbour.latency.p99.toFixed(1)} ms` +
        ` | /health max ${o.health.latency.max.toFixed(0)} ms, ${o.health.failures.length} failed | RSS ${o.startRssMb} → peak ${o.process.peakRssMb} MB, CPU ${o.process.cpuPercent}% | log ${lines} lines`,
    );
    // What the service logged, in short: the log guard (test/setup/log-guard.ts) checks it too.
    for (const line of logged.slice(0, 6)) console.log(`    ${line.slice(0, 200)}`);
  }

  /** What every attack must leave unharmed. */
  function expectUnharmed(o: Outcome): void {
    expect.soft(o.neighbour.requests, 'the neighbour made requests').toBeGreaterThan(20);
    expect.soft(o.neighbour.errors, 'the neighbour saw no error and no non-2xx').toEqual([]);
    expect.soft(o.health.failures, 'every /health answered 200').toEqual([]);
    expect.soft(o.health.samples, '/health was probed throughout').toBeGreaterThan(5);
    expect.soft(o.health.latency.max, `every /health answered within ${HEALTH_BOUND_MS} ms`).toBeLessThan(HEALTH_BOUND_MS);
    expect.soft(o.process.peakRssMb, `the service's RSS stayed under ${o.rssCapMb} MB`).toBeLessThan(o.rssCapMb);
    // Each HTTP request has its line (the request log); every other line is what the attack made it say.
    const lines = o.log.split('\n').filter((l) => l.trim() && !l.includes('"msg":"request"'));
    const stack = lines.findIndex((l) => /^\s+at /.test(l) || l.includes('"stack":'));
    expect.soft(stack === -1 ? '' : lines.slice(Math.max(0, stack - 1), stack + 3).join('\n'), 'no stack in the log').toBe('');
    expect.soft(lines.length, 'at most one log line per socket the attack opened').toBeLessThanOrEqual(o.attack.socketsOpened + 2);
    expect.soft(o.log, 'the database was never judged unreachable').not.toMatch(/database unreachable/);
  }

  it('1. one-byte chunks of bodies that never end: each refused (too many pieces) or answered 408 by REQUEST_TIMEOUT_MS, memory bounded', async () => {
    // Each connection sends its 60,000 chunks over 4 s (at full speed the parsing alone starves a
    // loaded 2-core machine's /health, fix or no fix), and waits REQUEST_TIMEOUT_MS and 5 s more,
    // from its own opening, for its answer.
    const timeout = 3000;
    const holdMs = timeout + 5000;
    const o = await underAttack(
      'chunkedBodies',
      { connections: 24, chunks: 60_000, sendMs: 4000, holdMs, durationMs: holdMs + 4000 },
      { limits: { REQUEST_TIMEOUT_MS: timeout } },
    );
    expectUnharmed(o);
    expect.soft(o.attack.socketsOpened).toBe(24);
    const unanswered = Object.entries(o.attack.outcomes).filter(([label]) => /unanswered after/.test(label));
    expect.soft(unanswered, 'no never-ending body still held past REQUEST_TIMEOUT_MS').toEqual([]);
    expect.soft(o.attack.openAtEnd, 'no never-ending body still held past REQUEST_TIMEOUT_MS').toBe(0);
    const answers = Object.entries(o.attack.outcomes).filter(([label]) => /: answered/.test(label));
    for (const [label] of answers)
      expect.soft(label, 'answered with a refusal, never a result or a 5xx').toMatch(/answered (408|401|413|400)$/);
    // A body in one-byte pieces is cut once it has come in more pieces than its size allows (400),
    // else at REQUEST_TIMEOUT_MS (408).
    const key = Object.entries(o.attack.outcomes).filter(([label]) => label.startsWith('graphql-json with key'));
    expect
      .soft(
        key.map(([label]) => label),
        'a credential’s never-ending GraphQL body is refused',
      )
      .toEqual([expect.stringMatching(/^graphql-json with key: answered (400|408)$/)]);
  }, 90_000);

  it('2. 60 KB pings from a client that never reads: the flooder is cut, memory bounded', async () => {
    const o = await underAttack('pingFlood', { connections: 4, init: 'both', durationMs: 3000 });
    expectUnharmed(o);
    expect.soft(o.attack.socketsOpened).toBe(4);
    expect.soft(o.attack.openAtEnd, 'every flooder was ended by the server').toBe(0);
    expect
      .soft(
        Object.keys(o.attack.outcomes).filter((l) => /open at end|not opened/.test(l)),
        'every flooder was ended by the server',
      )
      .toEqual([]);
  }, 90_000);

  it('3. idle subscriptions of many public tokens: at most SUBSCRIPTIONS_PER_ENVIRONMENT live, the rest refused RATE_LIMITED', async () => {
    const o = await underAttack('idleSubscriptions', {
      tokens: TOKENS,
      subscriptionsPerToken: 20,
      messagesPerSecond: 10,
      durationMs: 6000,
    });
    expectUnharmed(o);
    expect
      .soft(o.attack.figures['socketsAcknowledged'], 'each token’s socket was accepted (under WEBSOCKETS_PER_ENVIRONMENT)')
      .toBe(TOKENS);
    expect.soft(o.attack.figures['subscriptionsSent']).toBe(TOKENS * 20);
    expect
      .soft(o.attack.figures['subscriptionsLive'], 'live subscriptions within the environment’s cap')
      .toBeLessThanOrEqual(LIMITS.SUBSCRIPTIONS_PER_ENVIRONMENT);
    expect.soft(o.attack.figures['subscriptionsLive'], 'the cap was filled').toBeGreaterThan(LIMITS.SUBSCRIPTIONS_PER_ENVIRONMENT / 2);
    expect
      .soft(o.attack.outcomes['subscription refused: RATE_LIMITED'] ?? 0, 'the subscriptions over the cap are refused RATE_LIMITED')
      .toBeGreaterThanOrEqual(TOKENS * 20 - LIMITS.SUBSCRIPTIONS_PER_ENVIRONMENT);
  }, 90_000);

  it('4. heavy legal reads in one environment: the other is served, no fake outage; 7,000 filter values are BAD_USER_INPUT', async () => {
    // Four clients with batches of 10, as in the issue, on a real server. PGlite runs every query on
    // the service's own thread and copies each row out of its WebAssembly heap: one batch of 10 in
    // flight there takes about 250 MB and blocks /health for about a second, so one client, 5 a batch.
    const [clients, batch] = driver === 'pglite' ? [1, 5] : [4, 10];
    // One answer is 27 MB, built in memory (its rows, its JSON, the bytes written): the
    // environment's room lets one be in flight at a time, which with V8's slack before it
    // collects comes to about 500 MB, bounded however many clients ask.
    const o = await underAttack(
      'heavyReads',
      { connections: clients, batch, first: 100, filterValues: 7000, filterPerSecond: 4.5, durationMs: 4000 },
      { rssCapMb: 650 },
    );
    expectUnharmed(o);
    const outcomes = Object.entries(o.attack.outcomes);
    expect.soft(o.attack.figures['batches'], 'the heavy batches ran').toBeGreaterThan(0);
    // 429 is the attacker's own rate limit (a batch costs 10): an answer, not a failure.
    expect
      .soft(
        outcomes.filter(([label]) => label.startsWith('batch') && !/^batch: (200|429)$/.test(label)).map(([l]) => l),
        'every batch answered',
      )
      .toEqual([]);
    const filters = outcomes.filter(([label]) => label.startsWith('filter'));
    expect.soft(filters.length, 'the long filters were sent').toBeGreaterThan(0);
    for (const [label] of filters)
      expect.soft(label, 'a filter of 7,000 values is refused as input').toMatch(/: (200|400) BAD_USER_INPUT$/);
  }, 90_000);

  it('5. made-up Bearer values: charged to the address, 429 once its budget is spent, over HTTP and WebSocket upgrades', async () => {
    // A rate limit the attacker outruns on a loaded machine too; the neighbour keeps under its own.
    const rate = 20;
    const o = await underAttack(
      'garbageCredentials',
      { count: 400, connections: 8, upgrades: 300, upgradeConcurrency: 20, durationMs: 4000 },
      { limits: { RATE_LIMIT_PER_SECOND: rate }, neighbourRate: 15 },
    );
    expectUnharmed(o);
    const { outcomes, figures } = o.attack;
    const budget = (seconds = 0) => 2 * rate + rate * seconds + 10;
    expect.soft(outcomes['http: 429'] ?? 0, 'made-up credentials get 429 once the address’s budget is spent').toBeGreaterThan(0);
    expect.soft(outcomes['http: 401'] ?? 0, 'no more 401s than the address’s budget').toBeLessThanOrEqual(budget(figures['httpSeconds']));
    expect
      .soft(
        Object.keys(outcomes).filter((l) => l.startsWith('http') && !/http: (401|429)$/.test(l)),
        'only 401 and 429',
      )
      .toEqual([]);
    expect.soft(outcomes['upgrade: refused 429'] ?? 0, 'upgrades get 429 once the address’s budget is spent').toBeGreaterThan(0);
    expect
      .soft(outcomes['upgrade: opened'] ?? 0, 'no more upgrades than the address’s budget')
      .toBeLessThanOrEqual(budget(figures['upgradeSeconds']));
  }, 90_000);

  it('6. connections held: over MAX_CONNECTIONS_PER_ADDRESS closed at once, WebSockets capped per environment', async () => {
    const o = await underAttack('connectionHog', { connections: 200, wave: 50, websockets: 120, holdMs: 1500, durationMs: 10_000 });
    expectUnharmed(o);
    const { figures, outcomes } = o.attack;
    expect.soft(figures['tcpOpened']).toBe(200);
    expect
      .soft(figures['tcpOpenAfterHold'], 'idle connections of one address within MAX_CONNECTIONS_PER_ADDRESS')
      .toBeLessThanOrEqual(LIMITS.MAX_CONNECTIONS_PER_ADDRESS);
    expect
      .soft(figures['tcpClosedByServer'], 'the connections over the cap were closed at once')
      .toBeGreaterThanOrEqual(200 - LIMITS.MAX_CONNECTIONS_PER_ADDRESS);
    expect
      .soft(figures['websocketsOpenAfterHold'], 'authenticated WebSockets of one environment within WEBSOCKETS_PER_ENVIRONMENT')
      .toBeLessThanOrEqual(LIMITS.WEBSOCKETS_PER_ENVIRONMENT);
    expect
      .soft(outcomes['websocket: acknowledged'] ?? 0, 'up to the cap, sockets are served')
      .toBeGreaterThan(LIMITS.WEBSOCKETS_PER_ENVIRONMENT / 2);
  }, 90_000);

  it('7. floods of complete messages and over-size messages: flooders closed 4429, over-size closed, one log line at most each', async () => {
    const o = await underAttack('messageFlood', { connections: 2, oversize: 20, durationMs: 3000 });
    expectUnharmed(o);
    const { outcomes } = o.attack;
    expect.soft(outcomes['complete flood: closed (4429)'] ?? 0, 'each complete flooder closed with 4429').toBe(2);
    const oversize = Object.entries(outcomes).filter(([label]) => label.startsWith('oversize'));
    expect
      .soft(
        oversize.map(([l]) => l),
        'each over-size message closes its socket (1009)',
      )
      .toEqual(['oversize: closed (1009)']);
  }, 90_000);
});
