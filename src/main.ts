import { createApp, listen, shutdown } from './app.js';
import { createFirstEnvironment } from './auth/environments.js';
import { loadConfig } from './config.js';

const config = loadConfig();
const app = await createApp(config);
const { server, url } = await listen(app, config.port, config.host);
const where = config.databaseUrl ? 'PostgreSQL (DATABASE_URL)' : `embedded PGlite at ${config.pgliteDir}`;
console.log(`sessions-gateway listening on ${url}/graphql (database: ${where})`);

const first = await createFirstEnvironment(app.database.db);
if (first) {
  console.log(
    [
      '',
      `First start: created the ${first.type} environment "${first.slug}". Its secret key (shown once):`,
      '',
      `  ${first.secretKey}`,
      '',
      config.graphiql ? `Open GraphiQL at ${url}/graphql and send the header` : `Send the header to ${url}/graphql:`,
      `  {"Authorization": "Bearer ${first.secretKey}"}`,
      '',
    ].join('\n'),
  );
}
if (config.graphiql && !first) console.log(`GraphiQL: ${url}/graphql`);

let stopping = false;
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.on(signal, () => {
    if (stopping) return;
    stopping = true;
    console.log(`${signal}: finishing in-flight requests`);
    shutdown(app, server).then(
      () => process.exit(0),
      (error) => {
        console.error(error);
        process.exit(1);
      },
    );
  });
}
