/**
 * List benchmark (issue 3): a tag-filtered `sessions` page, first and deep (after 10,000 rows of
 * paging), on a table of 10k and of 1M sessions, through the whole GraphQL path on a real
 * PostgreSQL. Seeds with generate_series. Prints a Markdown table and the EXPLAIN plans.
 *
 *   DATABASE_URL=postgres://postgres@127.0.0.1:5432/test npm run bench:list
 */
import postgres from 'postgres';
import { type App, createApp } from '../src/app.js';
import { createEnvironment } from '../src/auth/environments.js';
import { loadConfig } from '../src/config.js';
import { openDatabase } from '../src/db/client.js';
import { freshDatabase } from './database.js';

const ITERATIONS = Number(process.env.BENCH_ITERATIONS ?? 300);
const SIZES = [10_000, 1_000_000];
const DEEP = 10_000;

interface Setup {
  app: App;
  url: string;
  key: string;
  /** Statements Drizzle sent, with their parameters, for EXPLAIN. */
  sent: { sql: string; params: unknown[] }[];
}

async function setup(size: number): Promise<Setup> {
  const url = await freshDatabase(`sg_bench_${size}`);
  const s = { sent: [] } as unknown as Setup;
  const database = await openDatabase({ databaseUrl: url, onQuery: (sql, params) => void s.sent.push({ sql, params }) });
  s.app = await createApp(loadConfig({ DATABASE_URL: url }), database);
  s.url = url;
  const env = await createEnvironment(s.app.database.db, 'bench', 'PRODUCTION');
  s.key = env.secretKey;
  // Every other session carries "chat", one in a hundred also "vip"; each has a unique tag too.
  const sql = postgres(url, { max: 1, onnotice: () => {} });
  const t0 = performance.now();
  await sql`
    insert into sessions (environment_id, id, type, task_identifier, trigger_config, tags, metadata, created_at, updated_at)
    select ${env.environmentId}, 'session_' || lpad(i::text, 9, '0'), 'chat.agent', 'my-chat',
           '{"basePayload": {}}'::jsonb,
           case when i % 100 = 0 then array['chat', 'vip'] when i % 2 = 0 then array['chat'] else array['other'] end
             || array['u' || i],
           jsonb_build_object('n', i),
           timestamp '2026-01-01' + i * interval '10 millisecond',
           timestamp '2026-01-01' + i * interval '10 millisecond'
    from generate_series(1, ${size}) as i`;
  await sql`vacuum analyze sessions`;
  await sql.end();
  console.error(`seeded ${size} sessions in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
  return s;
}

const PAGE = `query Page($tags: [String!], $after: String) {
  sessions(filter: { tags: $tags }, first: 20, after: $after) {
    edges { cursor node { id tags createdAt version } }
    pageInfo { hasNextPage endCursor }
  }
}`;

async function page(s: Setup, tags: string[], after: string | null) {
  const response = await s.app.graphql.yoga.fetch('http://bench/graphql', {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${s.key}` },
    body: JSON.stringify({ query: PAGE, variables: { tags, after } }),
  });
  const body = (await response.json()) as any;
  if (body.errors) throw new Error(JSON.stringify(body.errors));
  return body.data.sessions as { edges: { cursor: string }[]; pageInfo: { endCursor: string | null } };
}

/** The cursor after `rows` matching rows, reached by paging 100 at a time as a client would. */
async function cursorAfter(s: Setup, tags: string[], rows: number): Promise<string> {
  let after: string | null = null;
  let seen = 0;
  while (seen < rows) {
    const first = Math.min(100, rows - seen);
    const query = `query($tags: [String!], $after: String) { sessions(filter: {tags: $tags}, first: ${first}, after: $after) { pageInfo { endCursor } } }`;
    const response = await s.app.graphql.yoga.fetch('http://bench/graphql', {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${s.key}` },
      body: JSON.stringify({ query, variables: { tags, after } }),
    });
    const body = (await response.json()) as { data: { sessions: { pageInfo: { endCursor: string } } } };
    after = body.data.sessions.pageInfo.endCursor;
    seen += first;
  }
  return after!;
}

async function measure(s: Setup, tags: string[], after: string | null) {
  for (let i = 0; i < 30; i++) await page(s, tags, after);
  const times: number[] = [];
  for (let i = 0; i < ITERATIONS; i++) {
    const t0 = performance.now();
    await page(s, tags, after);
    times.push(performance.now() - t0);
  }
  times.sort((a, b) => a - b);
  return { median: times[Math.floor(times.length / 2)]!, p95: times[Math.floor(times.length * 0.95)]! };
}

async function explain(s: Setup, tags: string[], after: string | null): Promise<string> {
  s.sent.length = 0;
  await page(s, tags, after);
  // The page is the statement ordered by created_at; the other is the hasPreviousPage probe.
  const pageQuery = s.sent.find((q) => q.sql.includes('order by'))!;
  const sql = postgres(s.url, { max: 1, onnotice: () => {} });
  const rows = await sql.unsafe(`explain (analyze, buffers, costs off) ${pageQuery.sql}`, pageQuery.params as never[]);
  await sql.end();
  return rows.map((r) => r['QUERY PLAN']).join('\n');
}

const results: string[] = [];
const plans: string[] = [];
const medians: Record<string, number> = {};
for (const size of SIZES) {
  const s = await setup(size);
  const chatRows = size / 2;
  const deepRows = Math.min(DEEP, chatRows - 20);
  const deep = await cursorAfter(s, ['chat'], deepRows);
  const cases: [string, string[], string | null][] = [
    ['tag "chat" (50%), first page', ['chat'], null],
    [`tag "chat" (50%), after ${deepRows.toLocaleString('en')} rows`, ['chat'], deep],
    ['tag "vip" (1%), first page', ['vip'], null],
  ];
  for (const [name, tags, after] of cases) {
    const m = await measure(s, tags, after);
    medians[`${size}:${name.replace(/after .*/, 'deep')}`] = m.median;
    results.push(`| ${size.toLocaleString('en')} | ${name} | ${m.median.toFixed(2)} | ${m.p95.toFixed(2)} |`);
    plans.push(`#### ${size.toLocaleString('en')} sessions, ${name}\n\n\`\`\`\n${await explain(s, tags, after)}\n\`\`\``);
  }
  await s.app.close();
}

console.log('| sessions | page | median ms | p95 ms |\n| ---: | --- | ---: | ---: |');
console.log(results.join('\n'));
console.log('\n| page | 1M median / 10k median |\n| --- | ---: |');
for (const name of ['tag "chat" (50%), first page', 'tag "chat" (50%), deep', 'tag "vip" (1%), first page']) {
  console.log(`| ${name} | ${(medians[`1000000:${name}`]! / medians[`10000:${name}`]!).toFixed(2)}× |`);
}
console.log(`\n${plans.join('\n\n')}`);
