import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Authenticator } from './auth/credentials.js';
import type { Config } from './config.js';
import { type Database, openDatabase } from './db/client.js';
import { createGraphQLServer, type GraphQLServers } from './http/graphql.js';
import { metricsServer } from './http/metrics-endpoint.js';
import { RestApi } from './http/rest/api.js';
import { HttpServer } from './http/server.js';
import { log } from './log.js';
import { SessionsService } from './sessions/service.js';
import { recording } from './telemetry/metrics.js';

export interface App {
  config: Config;
  database: Database;
  auth: Authenticator;
  sessions: SessionsService;
  graphql: GraphQLServers;
  /** False until the database is migrated: until then every API request answers 503. */
  ready: boolean;
  /** While not ready: the last failed attempt to reach the database, which /ready explains. */
  startupError?: unknown;
  close(): Promise<void>;
}

/** Everything but the listening socket, with no database work yet (see `createApp`). */
export function buildApp(config: Config, database: Database): App {
  recording.set(config.metrics.on);
  const auth = new Authenticator(database.db);
  const sessions = new SessionsService(database, (environmentId, scopes, expiresAt) => auth.signToken(environmentId, scopes, expiresAt), {
    subscriptionsPerCredential: config.subscriptionsPerCredential,
    subscriptionsPerEnvironment: config.limits.subscriptionsPerEnvironment,
  });
  const graphql = createGraphQLServer({
    auth,
    sessions,
    maxRequestBytes: config.maxRequestBytes,
    graphiql: config.graphiql,
    production: config.production,
  });
  return {
    config,
    database,
    auth,
    sessions,
    graphql,
    ready: false,
    close: async () => {
      await sessions.changes.close();
      await database.close();
    },
  };
}

/** An app whose database is migrated and ready. */
export async function createApp(config: Config, database?: Database): Promise<App> {
  database ??= await openDatabase(config);
  const app = buildApp(config, database);
  await database.migrate();
  app.ready = true;
  return app;
}

export interface Listening {
  server: Server;
  url: string;
  /** Where /metrics is served: on its own port (METRICS_PORT), else on `url`. */
  metricsUrl: string;
  /** Graceful: see HttpServer.shutdown. */
  shutdown(graceMs?: number): Promise<void>;
}

/** Serves the app on a new HTTP server; resolves once it listens. */
export async function listen(app: App, port: number, host: string): Promise<Listening> {
  const http = new HttpServer({
    graphql: app.graphql,
    rest: new RestApi(app.sessions),
    database: app.database,
    maxRequestBytes: app.config.maxRequestBytes,
    rateLimit: app.config.rateLimit,
    corsOrigins: app.config.corsOrigins,
    ready: () => app.ready,
    startupError: () => app.startupError,
    trustProxyHops: app.config.trustProxyHops,
    limits: app.config.limits,
    metrics: app.config.metrics,
    endSubscriptions: () => void app.sessions.changes.close().catch((error: unknown) => log.warn('ending live updates failed', error)),
    caller: (authorization) => app.auth.caller(authorization),
    authenticate: (authorization) => app.auth.authenticate(authorization),
  });
  const url = await http.listen(port, host);
  const { metrics } = app.config;
  if (!metrics.on || metrics.port === null)
    return { server: http.server, url, metricsUrl: `${url}/metrics`, shutdown: (graceMs) => http.shutdown(graceMs) };
  const own = metricsServer(metrics.token);
  await new Promise<void>((resolve, reject) => own.once('error', reject).listen(metrics.port!, host, resolve));
  const { address, family, port: metricsPort } = own.address() as AddressInfo;
  const shown = family === 'IPv6' ? `[${address}]` : address;
  const shutdown = async (graceMs?: number) => {
    own.close();
    await http.shutdown(graceMs);
  };
  return { server: http.server, url, metricsUrl: `http://${shown}:${metricsPort}/metrics`, shutdown };
}
