import { z } from './zod.js';

const schema = z.object({
  PORT: z.coerce.number().int().min(0).max(65535).default(4000),
  HOST: z.string().min(1).default('127.0.0.1'),
  DATABASE_URL: z
    .string()
    .regex(/^postgres(ql)?:\/\//, 'must be a postgres:// URL')
    .optional()
    .or(z.literal('').transform(() => undefined)),
  PGLITE_DIR: z.string().min(1).default('.data/pglite'),
  DATABASE_POOL_SIZE: z.coerce.number().int().min(1).max(1000).default(10),
  DATABASE_TIMEOUT_MS: z.coerce.number().int().min(50).default(1000),
  DATABASE_CONNECT_TIMEOUT_MS: z.coerce.number().int().min(50).default(1000),
  DATABASE_IDLE_TIMEOUT_SECONDS: z.coerce.number().int().min(1).default(30),
  MAX_REQUEST_BYTES: z.coerce.number().int().positive().default(65536),
  NODE_ENV: z.string().default('development'),
  GRAPHIQL: z.enum(['0', '1']).optional(),
  RATE_LIMIT_PER_SECOND: z.coerce.number().min(0).default(100),
  RATE_LIMIT_BURST: z.coerce.number().int().min(1).optional(),
  TRUST_PROXY: z.coerce.number().int().min(0).max(10).default(0),
  SHUTDOWN_GRACE_MS: z.coerce.number().int().min(0).default(10_000),
  SUBSCRIPTIONS_PER_CREDENTIAL: z.coerce.number().int().min(1).default(100),
  SUBSCRIPTIONS_PER_ENVIRONMENT: z.coerce.number().int().min(1).default(1000),
  REQUEST_TIMEOUT_MS: z.coerce.number().int().min(100).default(10_000),
  MAX_CONNECTIONS: z.coerce.number().int().min(1).default(4096),
  MAX_CONNECTIONS_PER_ADDRESS: z.coerce.number().int().min(0).default(256),
  WEBSOCKETS_PER_ENVIRONMENT: z.coerce.number().int().min(1).default(1000),
  WEBSOCKET_MESSAGES_PER_SECOND: z.coerce.number().min(1).default(50),
  WEBSOCKET_BUFFER_BYTES: z.coerce.number().int().min(1024).default(1_048_576),
  ENVIRONMENT_CONCURRENCY: z.coerce.number().int().min(1).default(8),
  ENVIRONMENT_QUEUE: z.coerce.number().int().min(0).default(256),
  CORS_ORIGINS: z
    .string()
    .default('')
    .transform((v) => v.split(',').map((o) => o.trim()).filter(Boolean))
    .refine((list) => list.every((o) => o === '*' || /^https?:\/\/[^/\s]+$/.test(o)), 'a comma-separated list of origins like https://app.example.com, or *'),
});

export interface Config {
  port: number;
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
