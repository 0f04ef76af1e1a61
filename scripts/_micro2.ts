import postgres from 'postgres';
import { drizzle } from 'drizzle-orm/postgres-js';
import * as schema from '../src/db/schema.js';
import { SessionStore } from '../src/sessions/store.js';
import { boundedPostgres, DEFAULT_TIMEOUTS } from '../src/db/postgres.js';
import { parseUpdateInput } from '../src/sessions/rules.js';
const url = 'postgres://postgres@127.0.0.1:5432/sg_bench_http';
const raw = postgres(url, { max: 10, onnotice: () => {} });
const [env] = await raw`select environment_id from sessions limit 1`;
const environmentId = env!.environment_id as string;
const ids = (await raw`select id from sessions`).map((r) => r.id as string);
const plainStore = new SessionStore(drizzle(postgres(url, { max: 10, onnotice: () => {}, fetch_types: false }), { schema }) as any);
const boundedStore = new SessionStore(drizzle(boundedPostgres(url, 10, DEFAULT_TIMEOUTS).sql, { schema }) as any);
async function bench(name: string, fn: (i: number) => Promise<unknown>, n = 5000, conc = 8) {
  for (let i = 0; i < 500; i++) await fn(i);
  let k = 0; const c0 = process.cpuUsage();
  await Promise.all(Array.from({ length: conc }, async () => { while (k < n) await fn(k++); }));
  const c = process.cpuUsage(c0);
  console.log(name.padEnd(30), ((c.user + c.system) / n).toFixed(1), 'µs CPU/op');
}
const input = (i: number) => ({ tags: ['t' + (i % 97), 'bench'], metadata: { n: i, topic: 'load' } });
for (let r = 0; r < 2; r++) {
await bench('raw postgres.js', (i) => raw`update sessions set tags = ${input(i).tags}, metadata = ${raw.json(input(i).metadata)}, version = version + 1, updated_at = now() where environment_id = ${environmentId} and id = ${ids[i % ids.length]!} returning *`);
await bench('drizzle prepared (plain pg.js)', (i) => plainStore.patch(environmentId, ids[i % ids.length]!, input(i)));
await bench('drizzle prepared (bounded)', (i) => boundedStore.patch(environmentId, ids[i % ids.length]!, input(i)));
}
const c0 = process.cpuUsage(); for (let i = 0; i < 20000; i++) parseUpdateInput(input(i)); const c = process.cpuUsage(c0);
console.log('parseUpdateInput', ((c.user + c.system) / 20000).toFixed(1), 'µs CPU/op');
process.exit(0);
