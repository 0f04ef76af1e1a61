import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Authenticator } from './auth/credentials.js';
import type { Config } from './config.js';
import { type Database, openDatabase } from './db/client.js';
import { createGraphQLServer } from './http/server.js';
import { SessionsService } from './sessions/service.js';

export interface App {
  database: Database;
  auth: Authenticator;
  sessions: SessionsService;
  yoga: ReturnType<typeof createGraphQLServer>;
  close(): Promise<void>;
}

/** Everything but the listening socket: database (migrated), credentials, core and GraphQL. */
export async function createApp(config: Config, database = openDatabase(config)): Promise<App> {
  await database.migrate();
  const auth = new Authenticator(database.db);
  const sessions = new SessionsService(database.db, (environmentId) => auth.tokenSecret(environmentId));
  const yoga = createGraphQLServer({
    database,
    auth,
    sessions,
    maxRequestBytes: config.maxRequestBytes,
    graphiql: config.graphiql,
    production: config.production,
    rateLimit: config.rateLimit,
  });
  return { database, auth, sessions, yoga, close: () => database.close() };
}

/** Serves the app on node:http; resolves with the server and its base URL once listening. */
export async function listen(app: App, port: number, host: string): Promise<{ server: Server; url: string }> {
  const server = createServer(app.yoga);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve());
  });
  const address = server.address() as AddressInfo;
  const shownHost = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  return { server, url: `http://${shownHost}:${address.port}` };
}

/** Stops accepting connections, lets in-flight requests finish, then closes the database. */
export async function shutdown(app: App, server: Server, graceMs = 10_000): Promise<void> {
  const closed = new Promise<void>((resolve) => server.close(() => resolve()));
  server.closeIdleConnections();
  const timer = setTimeout(() => server.closeAllConnections(), graceMs);
  await closed;
  clearTimeout(timer);
  await app.close();
}
