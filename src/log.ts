import { DrizzleQueryError } from 'drizzle-orm/errors';
import pino from 'pino';
import pretty from 'pino-pretty';
import { traceIds } from './telemetry/tracing.js';

/**
 * The one logger: JSON lines on stdout (pino), pretty on a developer's terminal. A failed
 * statement's text and parameters (metadata, secrets) never reach a line: an error from the
 * database is told by its codes; keys and tokens are redacted from every line that could carry one.
 */

function chainOf(error: unknown): unknown[] {
  const chain: unknown[] = [];
  for (let e = error; e && chain.length < 8; ) {
    chain.push(e);
    const next = (e as { originalError?: unknown; cause?: unknown }).originalError ?? (e as { cause?: unknown }).cause;
    e = next;
  }
  return chain;
}

/** A PostgreSQL error (SQLSTATE code): its message may quote a value, so only codes are shown. */
function isServerError(error: unknown): error is { code: string; constraint_name?: string; constraint?: string } {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'string' && /^[0-9A-Z]{5}$/.test(code) && (error as { severity?: unknown }).severity !== undefined;
}

/** Whether the error came from a statement: its message would show SQL text or values. */
export function isDatabaseError(error: unknown): boolean {
  return chainOf(error).some((e) => e instanceof DrizzleQueryError || isServerError(e));
}

/** A one-line description safe to print: SQLSTATE and constraint for database errors, else the message. */
export function describeError(error: unknown): string {
  const chain = chainOf(error);
  if (isDatabaseError(error)) {
    const server = chain.find(isServerError);
    const code =
      server?.code ?? (chain.map((e) => (e as { code?: unknown }).code).find((c) => typeof c === 'string') as string | undefined);
    const constraint = server && (server.constraint_name ?? server.constraint);
    return `database error${code ? ` ${code}` : ''}${constraint ? ` (constraint ${constraint})` : ''}`;
  }
  if (error instanceof Error) {
    const code = (error as { code?: unknown }).code;
    return `${error.name}${typeof code === 'string' ? ` ${code}` : ''}: ${error.message}`;
  }
  return String(error);
}

/** An error as a log line carries it: what it is, and the stack of one that is no database error. */
function serializeError(error: unknown): Record<string, unknown> {
  const deepest = isDatabaseError(error) ? undefined : chainOf(error).findLast((e): e is Error => e instanceof Error);
  return { message: describeError(error), ...(deepest?.stack && { stack: deepest.stack.split('\n').slice(1).join('\n') }) };
}

const options: pino.LoggerOptions = {
  level: 'info',
  base: { service: 'sessions-gateway' },
  timestamp: pino.stdTimeFunctions.isoTime,
  formatters: { level: (label) => ({ level: label }) },
  serializers: { err: serializeError },
  redact: { paths: ['authorization', '*.authorization', 'secretKey', '*.secretKey', 'token', '*.token'], censor: '[redacted]' },
  // A traced request's lines carry its ids.
  mixin: () => traceIds() ?? {},
};

/**
 * Stdout, written off the event loop in batches: a line waits until 4 KB have gathered or for the
 * next flush (every 250 ms, and at exit), so that a busy instance makes one write per dozen
 * requests rather than one per line (each of which woke a thread of libuv's pool). Lines that a
 * stalled stdout leaves unwritten past 16 MB are dropped, not held.
 */
function stdout(): pino.DestinationStream {
  const destination = pino.destination({ dest: 1, sync: false, minLength: 4096, maxLength: 16 * 1024 * 1024 });
  let pending = false;
  const flush = (done?: (error?: Error) => void) => {
    pending = false;
    destination.flush(done);
  };
  setInterval(() => {
    try {
      if (pending) flush();
    } catch {
      // destroyed at exit: nothing left to write
    }
  }, 250).unref();
  return {
    write(line: string) {
      pending = true;
      destination.write(line);
    },
    flush,
  } as pino.DestinationStream;
}

/**
 * Request lines hold only the service's own fields (ids, route, status, duration, operation names,
 * outcome codes), none a key, token or value a caller stored: they skip the redaction pass, which
 * cost more than the rest of the line (measured: 11 µs a line with it, 4.5 without).
 */
const unredacted = (options: pino.LoggerOptions): pino.LoggerOptions => ({ ...options, redact: undefined });

let logger = pino(options);
let requestLogger = pino(unredacted(options));

export interface LoggingOptions {
  level: string;
  /** Human-readable lines instead of JSON. */
  pretty: boolean;
  /** Where lines go (tests read them); stdout by default. */
  destination?: pino.DestinationStream;
}

/** Sets the level and format, once the configuration is read (JSON at info until then). */
export function configureLogging({ level, pretty: human, destination }: LoggingOptions): void {
  const to =
    destination ??
    (human ? pretty({ colorize: process.stdout.isTTY, translateTime: 'SYS:HH:MM:ss.l', ignore: 'pid,hostname,service' }) : undefined);
  const shared = to ?? stdout();
  logger = pino({ ...options, level }, shared);
  requestLogger = pino(unredacted({ ...options, level }), shared);
}

/** Changes the level of every line from now on (bench/instruments.ts switches it to and fro). */
export function setLogLevel(level: string): void {
  logger.level = level;
  requestLogger.level = level;
}

type Fields = Record<string, unknown>;
/** A message, and an error or fields of the line. */
type Write = (message: string, detail?: unknown) => void;

const write =
  (level: 'debug' | 'info' | 'warn' | 'error'): Write =>
  (message, detail) => {
    if (detail === undefined) logger[level](message);
    else if (detail instanceof Error || (detail !== null && typeof detail === 'object' && 'message' in detail))
      logger[level]({ err: detail }, message);
    else logger[level](detail as Fields, message);
  };

export const log = {
  debug: write('debug'),
  info: write('info'),
  warn: write('warn'),
  error: write('error'),
  /** A request's line (see `unredacted`): its fields, under the message `request`. */
  request: (level: 'debug' | 'info', fields: Fields) => requestLogger[level](fields, 'request'),
  /** Whether lines of this level are written (a line need not be built otherwise). */
  enabled: (level: 'debug' | 'info') => logger.isLevelEnabled(level),
  /** Writes what is buffered (before the process exits); resolves once every line is written (or after a second, if stdout does not take them). */
  flush: (): Promise<void> =>
    new Promise((resolve) => {
      const timer = setTimeout(resolve, 1000);
      logger.flush(() => {
        clearTimeout(timer);
        resolve();
      });
    }),
};
