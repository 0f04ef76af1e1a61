/**
 * Hot-path benchmark: updateSession against a read and against an empty operation through the
 * same stack (yoga in-process, real PostgreSQL), so the ratios show what the write itself costs.
 *
 *   DATABASE_URL=postgres://postgres@127.0.0.1:5432/test npm run bench:update
 */
import postgres from 'postgres';
import { createApp } from '../src/app.js';
import { createEnvironment } from '../src/auth/environments.js';
import { loadConfig } from '../src/config.js';

const ITERATIONS = Number(process.env.BENCH_ITERATIONS ?? 2000);
const adminUrl = process.env.DATABASE_URL;
if (!adminUrl) throw new Error('DATABASE_URL must point at a real PostgreSQL server');

const admin = postgres(adminUrl, { max: 1, onnotice: () => {} });
await admin.unsafe('drop database if exists sg_bench_update with (force)');
await admin.unsafe('create database sg_bench_update');
await admin.end();
const url = new URL(adminUrl);
url.pathname = '/sg_bench_update';

const app = await createApp(loadConfig({ DATABASE_URL: url.toString(), RATE_LIMIT_PER_SECOND: '0' }));
const { secretKey } = await createEnvironment(app.database.db, 'bench', 'PRODUCTION');

const send = async (query: string, variables: Record<string, unknown> = {}) => {
  const response = await app.yoga.fetch('http://bench/graphql', {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${secretKey}` },
    body: JSON.stringify({ query, variables }),
  });
  const body = (await response.json()) as { errors?: unknown };
  if (body.errors) throw new Error(JSON.stringify(body.errors));
};

await send(`mutation { createSession(input: {type: "chat", taskIdentifier: "t", externalId: "bench", triggerConfig: {basePayload: {}}}) { __typename } }`);

let i = 0;
const cases: [string, () => Promise<void>][] = [
  ['`{ __typename }` (baseline: HTTP, parse, validate)', () => send('{ __typename }')],
  ['`session(id)` read by externalId', () => send('{ session(id: "bench") { id version tags } }')],
  [
    '`updateSession` tags + metadata write',
    () =>
      send(
        `mutation($input: UpdateSessionInput!) { updateSession(id: "bench", input: $input) { __typename ... on UpdateSessionSuccess { session { version } } } }`,
        { input: { tags: [`t${i}`], metadata: { i: i++ } } },
      ),
  ],
];

const rows: string[] = [];
let baseline = 0;
for (const [name, run] of cases) {
  for (let k = 0; k < 200; k++) await run();
  const times: number[] = [];
  for (let k = 0; k < ITERATIONS; k++) {
    const t0 = performance.now();
    await run();
    times.push(performance.now() - t0);
  }
  times.sort((a, b) => a - b);
  const median = times[Math.floor(times.length / 2)]!;
  baseline ||= median;
  rows.push(`| ${name} | ${(median * 1000).toFixed(0)} | ${(times[Math.floor(times.length * 0.95)]! * 1000).toFixed(0)} | ${(median / baseline).toFixed(2)}× |`);
}
console.log('| operation | median µs | p95 µs | vs baseline |\n| --- | ---: | ---: | ---: |');
console.log(rows.join('\n'));
await app.close();
