import { z } from './zod.js';

/**
 * What the tables of settings in README.md and docs/API.md say about a variable besides what its
 * schema says (type, range, default): its meaning, and how a default the schema cannot show reads.
 */
export interface SettingMeta {
  description: string;
  /** The default as the tables show it, when the schema has none or a computed one. */
  defaultText?: string;
}

const setting = <T extends z.ZodType>(schema: T, description: string, defaultText?: string) =>
  schema.meta({ description, ...(defaultText !== undefined && { defaultText }) } satisfies SettingMeta);

/**
 * Every environment variable the service reads, each declared once: its schema and its meaning.
 * The documentation's tables are generated from here (`npm run docs:config`; a test fails while
 * they differ), so a new setting is one entry in this object and one field of Config below.
 */
export const SETTINGS_SCHEMA = z.object({
  PORT: setting(z.coerce.number().int().min(0).max(65535).default(4000), 'port to listen on; `0` takes any free port'),
  HOST: setting(z.string().min(1).default('127.0.0.1'), 'address to listen on; `0.0.0.0` for every interface'),
  DATABASE_URL: setting(
    z
      .string()
      .regex(/^postgres(ql)?:\/\//, 'must be a postgres:// URL')
      .optional()
      .or(z.literal('').transform(() => undefined)),
    '`postgres://…` or `postgresql://…`: a PostgreSQL server, through postgres.js. Unset: the embedded PGlite',
    'unset',
  ),
  PGLITE_DIR: setting(
    z.string().min(1).default('.data/pglite'),
    'where the embedded database keeps its files; `memory://` keeps nothing. One process at a time',
  ),
  DATABASE_POOL_SIZE: setting(
    z.coerce.number().int().min(1).max(1000).default(10),
    "connections to the PostgreSQL server per instance; keep instances × pool size under the server's `max_connections`",
  ),
  DATABASE_TIMEOUT_MS: setting(
    z.coerce.number().int().min(50).default(1000),
    "statement deadline, from asking for a pool connection to the rows; also the server's `statement_timeout`",
  ),
  DATABASE_CONNECT_TIMEOUT_MS: setting(
    z.coerce.number().int().min(50).default(1000),
    'longest wait for a new connection, startup included',
  ),
  DATABASE_IDLE_TIMEOUT_SECONDS: setting(z.coerce.number().int().min(1).default(30), 'idle pool connections close after this many seconds'),
  MAX_REQUEST_BYTES: setting(
    z.coerce.number().int().positive().default(65536),
    'largest HTTP request body, in bytes; a larger one is refused (413) before any parsing',
  ),
  NODE_ENV: setting(
    z.string().default('development'),
    '`production` turns GraphiQL and field suggestions off, and creates no first environment',
  ),
  GRAPHIQL: setting(z.enum(['0', '1']).optional(), '`1` serves GraphiQL even in production; `0` turns it off', 'unset'),
  RATE_LIMIT_PER_SECOND: setting(
    z.coerce.number().min(0).default(100),
    'sustained requests per second per credential; a request without a valid credential (none, or one that fails) is charged to its client address; `0` turns the limit off',
  ),
  RATE_LIMIT_BURST: setting(
    z.coerce.number().int().min(1).optional(),
    'requests a credential may send at once after idling',
    'twice the rate',
  ),
  TRUST_PROXY: setting(
    z.coerce.number().int().min(0).max(10).default(0),
    'proxies in front that append to `X-Forwarded-For`; the client address is read through them. `0` ignores the header',
  ),
  SHUTDOWN_GRACE_MS: setting(
    z.coerce.number().int().min(0).default(10_000),
    'how long SIGTERM or SIGINT waits for requests in flight before answering them 503',
  ),
  SUBSCRIPTIONS_PER_CREDENTIAL: setting(
    z.coerce.number().int().min(1).default(100),
    'live subscriptions (SSE or WebSocket) one credential may hold open on each instance',
  ),
  SUBSCRIPTIONS_PER_ENVIRONMENT: setting(
    z.coerce.number().int().min(1).default(1000),
    'live subscriptions one environment may hold open on each instance, all its credentials together',
  ),
  REQUEST_TIMEOUT_MS: setting(
    z.coerce.number().int().min(100).default(10_000),
    'headers and body of a request must arrive within this; else 408',
  ),
  MAX_CONNECTIONS: setting(z.coerce.number().int().min(1).default(4096), 'open TCP connections in all; more are closed at once'),
  MAX_CONNECTIONS_PER_ADDRESS: setting(
    z.coerce.number().int().min(0).default(256),
    'open TCP connections per peer address; `0` turns the cap off (do, behind a proxy: every client has its address)',
  ),
  WEBSOCKETS_PER_ENVIRONMENT: setting(
    z.coerce.number().int().min(1).default(1000),
    'authenticated WebSockets one environment may hold open on each instance',
  ),
  WEBSOCKET_MESSAGES_PER_SECOND: setting(
    z.coerce.number().min(1).default(50),
    'messages of any kind one WebSocket may send per second (twice that at once); over it, closed with 4429',
  ),
  WEBSOCKET_BUFFER_BYTES: setting(
    z.coerce.number().int().min(1024).default(1_048_576),
    'answers a WebSocket may leave unread, in bytes; a peer that lets more pile up is cut off',
  ),
  ENVIRONMENT_CONCURRENCY: setting(
    z.coerce.number().int().min(1).default(16),
    'operations of one environment in progress at once on each instance (a batch weighs its operations); more wait in line',
  ),
  ENVIRONMENT_QUEUE: setting(
    z.coerce.number().int().min(0).default(256),
    'requests of one environment that may wait in line; one more is refused 429',
  ),
  LOG_LEVEL: setting(
    z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
    'least severe log lines written: `info` writes one line per request; `debug` adds /health, /ready and /metrics',
  ),
  LOG_FORMAT: setting(
    z.enum(['json', 'pretty']).optional(),
    '`json`: one JSON object per line; `pretty`: lines for people',
    '`pretty` on a terminal outside production, else `json`',
  ),
  METRICS: setting(z.enum(['0', '1']).default('1'), '`0`: no metric is recorded and `/metrics` is not served (anywhere)'),
  METRICS_PORT: setting(
    z.coerce.number().int().min(0).max(65535).optional(),
    "serves `/metrics` on this port (on `HOST`) instead of the service's own; unset: `/metrics` is on the service's port",
    'unset',
  ),
  METRICS_TOKEN: setting(
    z.string().min(16, 'at least 16 characters').optional(),
    'when set, `/metrics` asks for `Authorization: Bearer <token>`',
    'unset',
  ),
  CORS_ORIGINS: setting(
    z
      .string()
      .default('')
      .transform((v) =>
        v
          .split(',')
          .map((o) => o.trim())
          .filter(Boolean),
      )
      .refine(
        (list) => list.every((o) => o === '*' || /^https?:\/\/[^/\s]+$/.test(o)),
        'a comma-separated list of origins like https://app.example.com, or *',
      ),
    'comma-separated origins a browser may call from (`https://app.example.com`), or `*`; unset: none',
    'unset',
  ),
});

const schema = SETTINGS_SCHEMA;

export interface Config {
  port: number;
  /** Log level, and whether lines are for people. */
  logging: { level: string; pretty: boolean };
  /** Where /metrics is served (its own port, or the service's when null) and the token it asks for. */
  metrics: { on: boolean; port: number | null; token: string | null };
  host: string;
  databaseUrl: string | undefined;
  pgliteDir: string;
  /** postgres.js pool size. */
  poolSize: number;
  /** Bounds on every wait for the real server (see src/db/postgres.ts). */
  timeouts: { statementMs: number; connectMs: number; idleSeconds: number };
  maxRequestBytes: number;
  production: boolean;
  graphiql: boolean;
  /** Requests per second per credential (0: no limit) and the burst allowed after idling. */
  rateLimit: { perSecond: number; burst: number };
  /** Origins browsers may call from; '*' for any; empty: no cross-origin access. */
  corsOrigins: string[];
  /** Proxies in front that append X-Forwarded-For; the client address is read through them. */
  trustProxyHops: number;
  /** How long SIGTERM waits for in-flight requests before answering them 503. */
  shutdownGraceMs: number;
  /** Live subscriptions open at once per credential, on each instance. */
  subscriptionsPerCredential: number;
  /** What one client or tenant may hold of this instance (docs/SECURITY.md, "Resource model"). */
  limits: Limits;
}

export interface Limits {
  /** Headers and body must arrive within this; else 408. */
  requestTimeoutMs: number;
  /** Open TCP connections, in all and per peer address (0: no per-address cap). */
  maxConnections: number;
  maxConnectionsPerAddress: number;
  /** Authenticated WebSockets per environment; messages per second per socket; bytes a socket may have unsent. */
  websocketsPerEnvironment: number;
  websocketMessagesPerSecond: number;
  websocketBufferBytes: number;
  /** Live subscriptions per environment (each credential also has its own cap). */
  subscriptionsPerEnvironment: number;
  /** Requests of one environment in progress at once; more wait in line, up to `environmentQueue`. */
  environmentConcurrency: number;
  environmentQueue: number;
}

/** Reads and checks the process environment once; a bad value stops the process with its name. */
export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  const parsed = schema.safeParse(env);
  if (!parsed.success) {
    const lines = parsed.error.issues.map((i) => `  ${i.path.join('.')}: ${i.message}`);
    throw new Error(`invalid configuration:\n${lines.join('\n')}`);
  }
  const e = parsed.data;
  const production = e.NODE_ENV === 'production';
  return {
    port: e.PORT,
    host: e.HOST,
    databaseUrl: e.DATABASE_URL,
    pgliteDir: e.PGLITE_DIR,
    poolSize: e.DATABASE_POOL_SIZE,
    timeouts: {
      statementMs: e.DATABASE_TIMEOUT_MS,
      connectMs: e.DATABASE_CONNECT_TIMEOUT_MS,
      idleSeconds: e.DATABASE_IDLE_TIMEOUT_SECONDS,
    },
    maxRequestBytes: e.MAX_REQUEST_BYTES,
    production,
    graphiql: e.GRAPHIQL ? e.GRAPHIQL === '1' : !production,
    rateLimit: {
      perSecond: e.RATE_LIMIT_PER_SECOND,
      burst: e.RATE_LIMIT_BURST ?? Math.max(1, Math.ceil(e.RATE_LIMIT_PER_SECOND * 2)),
    },
    corsOrigins: e.CORS_ORIGINS,
    logging: { level: e.LOG_LEVEL, pretty: (e.LOG_FORMAT ?? (!production && process.stdout.isTTY ? 'pretty' : 'json')) === 'pretty' },
    metrics: { on: e.METRICS === '1', port: e.METRICS_PORT ?? null, token: e.METRICS_TOKEN ?? null },
    shutdownGraceMs: e.SHUTDOWN_GRACE_MS,
    subscriptionsPerCredential: e.SUBSCRIPTIONS_PER_CREDENTIAL,
    limits: {
      requestTimeoutMs: e.REQUEST_TIMEOUT_MS,
      maxConnections: e.MAX_CONNECTIONS,
      maxConnectionsPerAddress: e.MAX_CONNECTIONS_PER_ADDRESS,
      websocketsPerEnvironment: e.WEBSOCKETS_PER_ENVIRONMENT,
      websocketMessagesPerSecond: e.WEBSOCKET_MESSAGES_PER_SECOND,
      websocketBufferBytes: e.WEBSOCKET_BUFFER_BYTES,
      subscriptionsPerEnvironment: e.SUBSCRIPTIONS_PER_ENVIRONMENT,
      environmentConcurrency: e.ENVIRONMENT_CONCURRENCY,
      environmentQueue: e.ENVIRONMENT_QUEUE,
    },
    trustProxyHops: e.TRUST_PROXY,
  };
}
