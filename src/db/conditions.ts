import { userInfo } from 'node:os';

/**
 * What a failure to reach PostgreSQL means, in plain words, and what to do about it. One table:
 * the start-up log, /ready's reason, the CLI and the runtime outage log all read it, and the
 * table in docs/API.md is generated from it (npm run docs:config).
 *
 * Nothing here prints the server's own message (it may quote values) or DATABASE_URL's password:
 * an explanation names only what DATABASE_URL says in the open (host, port, database, role).
 */

/** What DATABASE_URL names, without its password. */
export interface DatabaseTarget {
  /** `host:port`, or the socket directory. */
  server: string;
  host: string;
  port: string;
  database: string;
  user: string;
  /** DATABASE_URL's sslmode asks for TLS. */
  tls: boolean;
}

export interface ConditionSpec {
  /** A few words, the start of every line that reports it. */
  title: string;
  /** SQLSTATE codes (a trailing * is a class), socket or driver codes; the docs list them. */
  codes: readonly string[];
  /** Said of the codes in the docs, when a code alone does not decide (28000, ECONNRESET). */
  when?: string;
  /** Whether it can pass by itself (a restart, a network, connections freed): either way the service keeps trying. */
  heals: boolean;
  /** What is wrong and what to do, with what DATABASE_URL names. */
  explain(target: DatabaseTarget): string;
}

export const CONDITIONS = {
  'database-missing': {
    title: 'database missing',
    codes: ['3D000', '57P04'],
    heals: false,
    explain: (t) =>
      `the server at ${t.server} has no database "${t.database}" (DATABASE_URL's path): create it (createdb -h ${t.host} -p ${t.port} -U ${t.user} ${t.database}) or correct DATABASE_URL`,
  },
  'role-missing': {
    title: 'role missing',
    codes: ['28000'],
    when: 'the role does not exist',
    heals: false,
    explain: (t) =>
      `the server at ${t.server} has no role "${t.user}" (DATABASE_URL's user): create it (createuser -h ${t.host} -p ${t.port} --login ${t.user}) or correct DATABASE_URL`,
  },
  'authentication-failed': {
    title: 'authentication failed',
    codes: ['28P01'],
    heals: false,
    explain: (t) =>
      `the server at ${t.server} refused the password of role "${t.user}": correct the password in DATABASE_URL (or set the role's with ALTER ROLE ${t.user} PASSWORD …)`,
  },
  'tls-required': {
    title: 'not allowed without TLS',
    codes: ['28000'],
    when: 'pg_hba.conf has no entry for this connection without TLS',
    heals: false,
    explain: (t) =>
      `the server at ${t.server} has no pg_hba.conf entry that lets role "${t.user}" connect to database "${t.database}" from this address without TLS: if the server wants TLS, add ?sslmode=require to DATABASE_URL; if not, add such an entry (and reload the server)`,
  },
  'tls-unavailable': {
    title: 'TLS not offered',
    codes: ['ECONNRESET', 'EPROTO', 'ERR_SSL_WRONG_VERSION_NUMBER'],
    when: "DATABASE_URL's sslmode asks for TLS and the handshake is cut",
    heals: false,
    explain: (t) =>
      `DATABASE_URL asks for TLS (sslmode) but the server at ${t.server} does not offer it: turn ssl on in the server's postgresql.conf, or remove sslmode from DATABASE_URL`,
  },
  'tls-certificate': {
    title: 'TLS certificate not trusted',
    codes: [
      'DEPTH_ZERO_SELF_SIGNED_CERT',
      'SELF_SIGNED_CERT_IN_CHAIN',
      'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
      'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
      'CERT_HAS_EXPIRED',
      'ERR_TLS_CERT_ALTNAME_INVALID',
    ],
    heals: false,
    explain: (t) =>
      `the certificate of the server at ${t.server} cannot be verified: give Node.js its CA (NODE_EXTRA_CA_CERTS=ca.pem), or use sslmode=require, which encrypts without verifying`,
  },
  'not-allowed': {
    title: 'connection not allowed',
    codes: ['28000'],
    when: 'pg_hba.conf rejects this connection, or the role may not log in',
    heals: false,
    explain: (t) =>
      `the server at ${t.server} does not let role "${t.user}" connect to database "${t.database}" from this address: add a pg_hba.conf entry for it (and reload the server), or ALTER ROLE ${t.user} LOGIN, or connect as another role`,
  },
  'permission-denied': {
    title: 'permission denied',
    codes: ['42501'],
    heals: false,
    explain: (t) =>
      `role "${t.user}" may not create or use the service's tables in database "${t.database}": make it the database's owner, or GRANT CREATE ON SCHEMA public TO ${t.user}`,
  },
  'too-many-connections': {
    title: 'too many connections',
    codes: ['53300'],
    heals: true,
    explain: (t) =>
      `the server at ${t.server} has no connection left for this role or database: run fewer instances or a smaller DATABASE_POOL_SIZE, or raise max_connections (or the role's or database's CONNECTION LIMIT)`,
  },
  'server-starting': {
    title: 'server starting or stopping',
    codes: ['57P01', '57P02', '57P03'],
    heals: true,
    explain: (t) => `the server at ${t.server} is starting up, shutting down or recovering: wait for it`,
  },
  'host-unknown': {
    title: 'host not found',
    codes: ['ENOTFOUND', 'EAI_AGAIN'],
    heals: true,
    explain: (t) => `the host name "${t.host}" does not resolve: correct DATABASE_URL's host (or the DNS it relies on)`,
  },
  'server-unreachable': {
    title: 'server unreachable',
    codes: [
      'ECONNREFUSED',
      'ECONNRESET',
      'ECONNABORTED',
      'EPIPE',
      'EHOSTUNREACH',
      'ENETUNREACH',
      'CONNECTION_CLOSED',
      'CONNECTION_ENDED',
      'CONNECTION_DESTROYED',
      '57P05',
      '08*',
    ],
    heals: true,
    explain: (t) =>
      `nothing accepts connections at ${t.server}, or the connection was cut: start PostgreSQL there, or correct DATABASE_URL's host and port`,
  },
  'not-answering': {
    title: 'no answer in time',
    codes: ['ETIMEDOUT', 'CONNECT_TIMEOUT', 'DATABASE_TIMEOUT', 'CONNECTION_UNRESPONSIVE', '57014'],
    heals: true,
    explain: (t) =>
      `the server at ${t.server} does not answer within its deadline (DATABASE_CONNECT_TIMEOUT_MS, DATABASE_TIMEOUT_MS): it is overloaded, or a network or firewall between drops the traffic`,
  },
} as const satisfies Record<string, ConditionSpec>;

export type ConditionName = keyof typeof CONDITIONS;

/**
 * How start-up retries and logs a condition while the database is not ready. Every condition is
 * retried, those that cannot pass by themselves too: an operator may create the database or the
 * role meanwhile, and the service then serves without a restart. Those are logged seldom.
 */
export const STARTUP_RETRY = {
  /** Can pass by itself: backoff from 0.5 s up to this, logged again this often while it lasts. */
  healing: { maxRetryMs: 5000, logEveryMs: 10_000 },
  /** Cannot: tried this often (so a fix is picked up as soon), logged again this often. */
  lasting: { retryMs: 5000, logEveryMs: 60_000 },
} as const;

export interface DatabaseCondition {
  name: ConditionName;
  title: string;
  /** The code it was told by: a SQLSTATE, a socket or a driver code. */
  code: string;
  heals: boolean;
  /** What is wrong and what to do. */
  explanation: string;
}

function osUser(): string {
  try {
    return userInfo().username;
  } catch {
    return process.env['USER'] ?? 'postgres';
  }
}

/**
 * DATABASE_URL's parts that may be shown; the password never is. What the URL leaves out is taken
 * as postgres.js takes it: from libpq's PGHOST, PGPORT, PGUSER, PGDATABASE, else its defaults.
 */
export function databaseTarget(url: string | undefined, env: NodeJS.ProcessEnv = process.env): DatabaseTarget {
  let parsed: URL | null = null;
  try {
    parsed = url ? new URL(url) : null;
  } catch {
    // shown by its defaults below
  }
  const query = (name: string) => parsed?.searchParams.get(name) || undefined;
  const socketDir = query('host');
  const host = socketDir ?? (parsed?.hostname ? decodeURIComponent(parsed.hostname) : undefined) ?? env['PGHOST'] ?? 'localhost';
  const port = parsed?.port || query('port') || env['PGPORT'] || '5432';
  const user = (parsed?.username && decodeURIComponent(parsed.username)) || query('user') || env['PGUSERNAME'] || env['PGUSER'] || osUser();
  const database =
    (parsed?.pathname.slice(1) && decodeURIComponent(parsed.pathname.slice(1))) || query('dbname') || env['PGDATABASE'] || user;
  const sslmode = query('sslmode') ?? query('ssl');
  return {
    server: socketDir ? `${socketDir} (port ${port})` : `${host}:${port}`,
    host,
    port,
    database,
    user,
    tls: sslmode !== undefined && !['disable', 'allow', 'prefer', 'false'].includes(sslmode),
  };
}

function chainOf(error: unknown): unknown[] {
  const chain: unknown[] = [];
  for (let e = error; e && chain.length < 8; ) {
    chain.push(e);
    e = (e as { originalError?: unknown }).originalError ?? (e as { cause?: unknown }).cause;
  }
  return chain;
}

const codeOf = (e: unknown) => (e as { code?: unknown } | null)?.code as unknown;

function byCode(code: string): ConditionName[] {
  return (Object.keys(CONDITIONS) as ConditionName[]).filter((name) =>
    CONDITIONS[name].codes.some((c: string) => (c.endsWith('*') ? code.startsWith(c.slice(0, -1)) : code === c)),
  );
}

/**
 * The condition an error is, or null when it is none of them (a statement's own failure, say).
 * Where one code means several (28000; ECONNRESET with TLS), the server's or the socket's
 * message decides; it is read here, never shown.
 */
export function diagnose(error: unknown, url?: string): DatabaseCondition | null {
  const target = databaseTarget(url);
  for (const e of chainOf(error)) {
    const code = codeOf(e);
    if (typeof code !== 'string') continue;
    const message = e instanceof Error ? e.message : String((e as { message?: unknown }).message ?? '');
    let names = byCode(code);
    if (code === '28000') {
      // The server's words, read not shown: role missing, or no pg_hba.conf entry for an unencrypted connection.
      names = [
        /^role ".*" does not exist/.test(message)
          ? 'role-missing'
          : /^no pg_hba\.conf entry.*(no encryption|SSL off)$/.test(message)
            ? 'tls-required'
            : 'not-allowed',
      ];
    } else if (names.includes('tls-unavailable')) {
      names = [target.tls && /TLS|SSL|secure/i.test(message) ? 'tls-unavailable' : 'server-unreachable'];
    }
    const name = names[0];
    if (!name) continue;
    const spec: ConditionSpec = CONDITIONS[name];
    return { name, title: spec.title, code, heals: spec.heals, explanation: spec.explain(target) };
  }
  return null;
}

/** One line: the condition, what to do, and whether waiting can help. */
export function describeCondition(condition: DatabaseCondition): string {
  return `${condition.title} (${condition.code}): ${condition.explanation}`;
}

/**
 * Codes that mean the database is unavailable to this service (a 503 that may pass), not that
 * a statement is wrong: every condition but a missing permission, which a statement can meet too.
 */
export function isUnavailableCode(code: string | undefined): boolean {
  return code !== undefined && byCode(code).some((name) => name !== 'permission-denied');
}

/** /ready's 503 body: the condition by name, what to do, and whether waiting can help. */
export function unreadyReport(condition: DatabaseCondition | null, otherwise: string): Record<string, unknown> {
  if (!condition) return { status: 'unavailable', reason: otherwise };
  return {
    status: 'unavailable',
    condition: condition.name,
    reason: `${condition.title}: ${condition.explanation}`,
    healsByItself: condition.heals,
  };
}
