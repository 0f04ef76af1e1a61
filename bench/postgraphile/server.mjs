/**
 * PostGraphile 5 on the service's own schema (its migrations: the same tables, indexes and NOTIFY
 * trigger), the benchmark's third column. Amber preset, the pg adaptor with a pool of
 * DATABASE_POOL_SIZE, production settings (no GraphiQL, no watch, no explain). It checks no key:
 * it does less than the service and the bare server there.
 *
 *   DATABASE_URL=… PORT=4200 node bench/postgraphile/server.mjs   (Node.js 22 or later)
 */
import { createServer } from 'node:http';
import { postgraphile } from 'postgraphile';
import { makePgService } from 'postgraphile/adaptors/pg';
import { grafserv } from 'postgraphile/grafserv/node';
import { PostGraphileAmberPreset } from 'postgraphile/presets/amber';

const preset = {
  extends: [PostGraphileAmberPreset],
  pgServices: [
    makePgService({
      connectionString: process.env.DATABASE_URL,
      schemas: ['public'],
      poolConfig: { max: Number(process.env.DATABASE_POOL_SIZE ?? 10) },
    }),
  ],
  grafserv: { graphqlPath: '/graphql', graphiql: false, watch: false },
  grafast: { explain: false },
};

const pgl = postgraphile(preset);
const serv = pgl.createServ(grafserv);
const server = createServer();
await serv.addTo(server);
const port = Number(process.env.PORT ?? 4200);
server.listen(port, '127.0.0.1', () => console.log(`postgraphile listening on ${port}`));
process.on('SIGTERM', () => server.close(() => pgl.release().then(() => process.exit(0))));
