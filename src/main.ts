import { setTimeout as sleep } from 'node:timers/promises';
import { buildApp, type Listening, listen } from './app.js';
import { createFirstEnvironment, isEmpty } from './auth/environments.js';
import { type Config, loadConfig } from './config.js';
import { type Database, openDatabase } from './db/client.js';
import { describeCondition, STARTUP_RETRY } from './db/conditions.js';
import { DataDirLockedError } from './db/lock.js';
import { configureLogging, describeError, log } from './log.js';
import { startTracing } from './telemetry/tracing.js';
import { VERSION } from './version.js';

// A fault nobody awaited (a driver's background work during an outage, say) is logged; the
// process keeps serving, and /ready tells whether the database answers.
process.on('unhandledRejection', (reason) => log.error('unhandled rejection (still serving)', reason));
process.on('uncaughtException', (error) => log.error('uncaught exception (still serving)', error));

function codeFromStringsAllowed(): boolean {
  const flag = '--disallow-code-generation-from-strings';
  return !process.execArgv.includes(flag) && !(process.env['NODE_OPTIONS'] ?? '').includes(flag);
}

function fail(message: string): never {
  console.error(message);
  process.exit(1);
}

let config: Config;
try {
  config = loadConfig();
} catch (error) {
  fail((error as Error).message);
}
configureLogging(config.logging);

// Spans, when the standard OTEL_* variables configure an exporter; before anything is served.
let stopTracing: () => Promise<void>;
try {
  stopTracing = await startTracing();
} catch (error) {
  fail(`Tracing could not start: ${describeError(error)}`);
}

let database: Database;
try {
  database = await openDatabase(config);
} catch (error) {
  if (error instanceof DataDirLockedError) fail(error.message);
  throw error;
}
const app = buildApp(config, database);

let listening: Listening;
try {
  listening = await listen(app, config.port, config.host);
} catch (error) {
  const code = (error as NodeJS.ErrnoException).code;
  if (code === 'EADDRINUSE')
    fail(`Port ${config.port} on ${config.host} is already in use: stop what holds it, or set PORT to another port.`);
  if (code === 'EACCES') fail(`No permission to listen on port ${config.port}: set PORT to a port above 1023.`);
  if (code === 'EADDRNOTAVAIL') fail(`HOST=${config.host} is no address of this machine: set HOST (e.g. 127.0.0.1 or 0.0.0.0).`);
  fail(`Could not listen on ${config.host}:${config.port}: ${describeError(error)}`);
}
const { url } = listening;
if (config.metrics.on && config.metrics.port !== null) log.info(`metrics on ${listening.metricsUrl}`);
if (codeFromStringsAllowed()) {
  log.warn(
    'V8 may build code from strings in this process: start it with --disallow-code-generation-from-strings (as npm start does), so that nothing a request sends can ever run',
  );
}
const where = config.databaseUrl ? 'PostgreSQL (DATABASE_URL)' : `embedded PGlite at ${config.pgliteDir}`;
log.info(`sessions-gateway ${VERSION} listening on ${url}/graphql (database: ${where}; Node.js ${process.versions.node})`);

let stopping = false;
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.on(signal, () => {
    if (stopping) return;
    stopping = true;
    log.info(`${signal}: finishing in-flight requests`);
    const exit = (code: number) => void log.flush().then(() => process.exit(code));
    listening
      .shutdown(config.shutdownGraceMs)
      .then(() => app.close())
      .then(() => stopTracing())
      .then(
        () => exit(0),
        (error) => {
          log.error('shutdown failed', error);
          exit(1);
        },
      );
  });
}

/**
 * Migrates, retrying until the database answers; /ready (which says why) and the API answer 503
 * meanwhile. A condition is logged in plain words when it starts, then at its cadence (STARTUP_RETRY).
 */
async function start(): Promise<void> {
  const since = Date.now();
  let reported: { what: string; at: number } | null = null;
  for (let attempt = 1; ; attempt++) {
    try {
      await app.database.migrate();
      app.startupError = undefined;
      if (reported) log.info(`database ready after ${Math.round((Date.now() - since) / 1000)} s`);
      return;
    } catch (error) {
      if (stopping) return;
      app.startupError = error;
      const condition = app.database.diagnose(error);
      const heals = condition?.heals ?? true;
      const what = condition ? describeCondition(condition) : describeError(error);
      const { healing, lasting } = STARTUP_RETRY;
      const now = Date.now();
      if (!reported || reported.what !== what || now - reported.at >= (heals ? healing.logEveryMs : lasting.logEveryMs)) {
        reported = { what, at: now };
        log.warn(
          heals
            ? `database not ready: ${what}. This can pass by itself: retrying every few seconds`
            : `database not ready: ${what}. Waiting will not fix this: retrying every ${lasting.retryMs / 1000} s until it is fixed`,
        );
      }
      await sleep(heals ? Math.min(healing.maxRetryMs, 500 * attempt) : lasting.retryMs);
    }
  }
}

async function firstStart(): Promise<void> {
  if (config.production) {
    if (await isEmpty(app.database.db)) {
      log.warn(
        'No environment exists yet. In production none is created for you; make one with: npm run -s cli -- env create --slug production --type PRODUCTION',
      );
    }
    return;
  }
  const first = await createFirstEnvironment(app.database.db);
  if (!first) {
    if (config.graphiql) log.info(`GraphiQL: ${url}/graphql`);
    return;
  }
  // For the person who started it, once: plain text, not a log line (a key never goes to the log).
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

await start();
if (!stopping) {
  app.ready = true;
  for (let attempt = 1; !stopping; attempt++) {
    try {
      await firstStart();
      break;
    } catch (error) {
      log.warn(`first-start check failed (${describeError(error)}); retrying`);
      await sleep(Math.min(5000, 500 * attempt));
    }
  }
}
