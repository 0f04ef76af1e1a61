import { connect, type Socket } from 'node:net';
import postgres from 'postgres';
import { describeCondition, diagnose, isUnavailableCode } from './conditions.js';
import { describeError, log } from '../log.js';

/**
 * postgres.js bounds none of the waits an outage or a partition causes, and mishandles a few of
 * its failure paths (each found and reproduced against postgres.js 3.4.9). This module bounds
 * every wait and steers clear of those paths:
 *
 * - a deadline on every statement (`withDeadline`): the caller hears within `statementMs`; a
 *   statement still queued for a connection is dequeued, so it never runs later;
 * - a guard on every socket (`ConnectionGuard`): a connection awaiting an answer that does not come
 *   (a partition) is failed, and with it every idle connection that has heard nothing since (else
 *   each would cost a statement and a wait to find, one after another); a socket error or a
 *   FATAL server message fails the connection the one way postgres.js recovers from cleanly
 *   (error, then a clean close that rejects every statement on it, so none is lost or left
 *   hanging); cancel sockets never raise;
 * - reconnecting at most 1 s apart, so the service heals within seconds of the database's return.
 */

/** How long the service waits on a real PostgreSQL server; see README, "Security and limits". */
export interface DatabaseTimeouts {
  /** Longest wait for one statement, from asking for it (a pool connection included) to its rows. */
  statementMs: number;
  /** Longest wait for a new connection, startup included. */
  connectMs: number;
  /** Idle pool connections close after this many seconds. */
  idleSeconds: number;
}

export const DEFAULT_TIMEOUTS: DatabaseTimeouts = { statementMs: 1000, connectMs: 1000, idleSeconds: 30 };

/** A statement that got no answer within its deadline: the database is away (a 503). */
export class DatabaseTimeoutError extends Error {
  readonly code = 'DATABASE_TIMEOUT';
  constructor(ms: number) {
    super(`the database did not answer within ${ms} ms`);
  }
}

/** Whether the database answers, logged once per change rather than once per failed request. */
class Health {
  private down = false;

  constructor(private readonly url: string) {}

  ok(): void {
    if (!this.down) return;
    this.down = false;
    log.info('database reachable again');
  }

  failed(error: unknown): void {
    if (this.down) return;
    this.down = true;
    const condition = diagnose(error, this.url);
    log.warn(`database unreachable: ${condition ? describeCondition(condition) : describeError(error)}; answering 503 until it is back`);
  }
}

function errorCode(error: unknown): string | undefined {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? code : undefined;
}

/**
 * PostgreSQL's text form of a one-dimensional text[]: `{a,"b c","d\\"e",NULL}`. With fetch_types
 * off, postgres.js hands arrays over as this text, and Drizzle's own parser drops every
 * backslash, so the tags column is parsed here.
 */
export function parseTextArray(literal: string): (string | null)[] {
  const values: (string | null)[] = [];
  if (literal === '{}') return values;
  let i = 1;
  for (;;) {
    if (literal[i] === '"') {
      let value = '';
      for (i++; literal[i] !== '"'; i++) {
        if (literal[i] === '\\') i++;
        value += literal[i];
      }
      i++;
      values.push(value);
    } else {
      const end = literal.slice(i).search(/[,}]/) + i;
      const raw = literal.slice(i, end);
      values.push(raw === 'NULL' ? null : raw);
      i = end;
    }
    if (literal[i] !== ',') return values;
    i++;
  }
}

const TEXT_ARRAY_OID = 1009;

// ---------------------------------------------------------------------------------------------
// The socket guard

// PostgreSQL wire protocol: the messages that ask for (or end) a reply.
const SYNC = 0x53; // 'S' (frontend)
const SIMPLE_QUERY = 0x51; // 'Q'
const FLUSH = 0x48; // 'H'
const READY_FOR_QUERY = 0x5a; // 'Z' (backend)
const IDLE = 0x49; // 'I': ReadyForQuery's status outside a transaction
const ERROR_RESPONSE = 0x45; // 'E'
const BACKEND_KEY_DATA = 0x4b; // 'K'
const CANCEL_REQUEST_CODE = 80877102;

type SocketOptions = { host: string[]; port: number[]; path?: string | false };

/**
 * One guarded socket. It counts the replies the client waits for (a ReadyForQuery per startup,
 * Sync or simple Query) and fails the connection when none arrives for `unansweredMs`.
 */
class GuardedConnection {
  private failed = false;
  private ready = false;
  private firstWrite = true;
  private isCancel = false;
  private expected = 0;
  private received = 0;
  private flushPending = false;
  private lastIn = performance.now();
  private busySince = 0;
  /** Per the last ReadyForQuery: a transaction is open (postgres.js may send its next statement any time). */
  private inTransaction = false;
  private pid: number | null = null;
  private leakTimer: NodeJS.Timeout | undefined;
  private held: [string, unknown[]][] | null = null;
  // Incoming message framing.
  private header = Buffer.alloc(0);
  private type = 0;
  private left = 0;
  private body: Buffer[] | null = null;
  private readonly emit: Socket['emit'];
  private readonly write: Socket['write'];

  constructor(
    readonly socket: Socket,
    private readonly guard: ConnectionGuard,
  ) {
    this.emit = socket.emit.bind(socket);
    this.write = socket.write.bind(socket);
    socket.write = this.onWrite as Socket['write'];
    socket.emit = this.onEmit as Socket['emit'];
  }

  private busy(): boolean {
    return this.expected > this.received || this.flushPending;
  }

  /** Called by the guard's sweep. */
  check(now: number): void {
    const silentSince = Math.max(this.lastIn, this.busySince);
    if (!this.failed && this.busy() && now - silentSince > this.guard.unansweredMs) {
      this.fail(Object.assign(new Error(`the database did not answer for ${this.guard.unansweredMs} ms`), { code: 'CONNECTION_UNRESPONSIVE' }));
      this.guard.unresponsiveSince(silentSince);
    }
  }

  /**
   * Closes this connection, silently, if it is idle (nothing on the wire, no transaction open)
   * and has heard nothing from the database since `since`: it is as likely cut off as the
   * connection found unresponsive, and postgres.js hands out idle connections first.
   */
  closeIfIdleSince(since: number): void {
    if (!this.failed && this.ready && !this.isCancel && !this.busy() && !this.inTransaction && this.lastIn < since) {
      // No transaction, so no ROLLBACK to wait for: closed at once, so no statement is handed to it meanwhile.
      this.fail(null, true);
    }
  }

  /**
   * Ends the connection the one way postgres.js recovers from cleanly: the error (rejecting the
   * statements on the wire), then, a moment later, a close without error, which rejects any
   * statement routed to it in between and lets the pool reconnect. Null ends it silently.
   */
  fail(error: Error | null, immediate = false): void {
    if (this.failed) return;
    this.failed = true;
    clearTimeout(this.leakTimer);
    this.guard.forget(this);
    if (error && !this.isCancel) this.emit('error', error);
    this.socket.destroy();
    if (immediate) this.emit('close', false);
    // The delay lets postgres.js write its own ROLLBACK into a socket that still exists.
    else setTimeout(() => this.emit('close', false), 30);
  }

  private onWrite = (chunk: Uint8Array | string, ...rest: unknown[]): boolean => {
    const bytes = typeof chunk === 'string' ? Buffer.from(chunk) : Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
    if (this.failed || this.socket.destroyed) {
      if (this.firstWrite && bytes.length >= 8 && bytes.readUInt32BE(4) === CANCEL_REQUEST_CODE) this.isCancel = true;
      this.firstWrite = false;
      return false;
    }
    const wasBusy = this.busy();
    let at = 0;
    if (this.firstWrite) {
      // The untyped first message: a startup (one ReadyForQuery expected) or a cancel request.
      this.firstWrite = false;
      if (bytes.readUInt32BE(4) === CANCEL_REQUEST_CODE) this.isCancel = true;
      else this.expected++;
      at = bytes.readUInt32BE(0);
    }
    // postgres.js always writes whole messages.
    for (; at + 5 <= bytes.length; at += 1 + bytes.readUInt32BE(at + 1)) {
      const type = bytes[at];
      if (type === SYNC || type === SIMPLE_QUERY) this.expected++;
      else if (type === FLUSH) this.flushPending = true;
    }
    if (!wasBusy && this.busy()) this.busySince = performance.now();
    clearTimeout(this.leakTimer);
    return (this.write as (...args: unknown[]) => boolean)(chunk, ...rest);
  };

  private onEmit = (event: string | symbol, ...args: unknown[]): boolean => {
    if (this.failed) return false;
    if (this.held) {
      this.held.push([event as string, args]);
      return true;
    }
    if (event === 'error') {
      if (this.firstWrite) {
        // Nothing written yet: whether this is a cancel socket is known after postgres.js's first write.
        this.held = [['error', args]];
        setImmediate(() => {
          const held = this.held!;
          this.held = null;
          for (const [e, a] of held) this.onEmit(e, ...a);
        });
        return true;
      }
      if (this.isCancel) {
        this.fail(null); // a failed cancel request is nobody's error (postgres.js would leave it unhandled)
        return true;
      }
      if (!this.ready) return this.emit('error', ...args); // at startup: postgres.js rejects the first statement
      this.fail(args[0] as Error);
      return true;
    }
    if (event === 'close') {
      clearTimeout(this.leakTimer);
      this.guard.forget(this);
      return this.emit('close', ...args);
    }
    if (event !== 'data') return this.emit(event, ...args);
    return this.onData(args[0] as Buffer);
  };

  private onData(data: Buffer): boolean {
    this.lastIn = performance.now();
    this.flushPending = false;
    let fatal: { at: number; error: Error } | null = null;
    for (let i = 0; i < data.length && !fatal; ) {
      if (this.left === 0) {
        if (this.header.length === 0 && i + 5 <= data.length) {
          // The usual case: the whole header is in this chunk.
          this.type = data[i]!;
          this.left = data.readUInt32BE(i + 1) - 4;
          i += 5;
        } else {
          const take = Math.min(5 - this.header.length, data.length - i);
          this.header = Buffer.concat([this.header, data.subarray(i, i + take)]);
          i += take;
          if (this.header.length < 5) break;
          this.type = this.header[0]!;
          this.left = this.header.readUInt32BE(1) - 4;
          this.header = Buffer.alloc(0);
        }
        this.body = this.type === ERROR_RESPONSE || this.type === BACKEND_KEY_DATA ? [] : null;
        if (this.left === 0) fatal = this.messageEnd(i);
        continue;
      }
      const take = Math.min(this.left, data.length - i);
      if (this.type === READY_FOR_QUERY) this.inTransaction = data[i] !== IDLE; // its one byte: the transaction status
      this.body?.push(data.subarray(i, i + take));
      i += take;
      this.left -= take;
      if (this.left === 0) fatal = this.messageEnd(i);
    }
    const passed = fatal ? data.subarray(0, fatal.at) : data;
    if (passed.length > 0) this.emit('data', passed);
    if (fatal) this.fail(fatal.error);
    return true;
  }

  /** A whole message has arrived; a FATAL error is taken out of the stream and fails the connection. */
  private messageEnd(end: number): { at: number; error: Error } | null {
    const body = this.body ? Buffer.concat(this.body) : null;
    this.body = null;
    if (this.type === READY_FOR_QUERY) {
      this.received++;
      if (!this.ready) {
        this.ready = true;
        // A first statement cancelled while its connection was starting is never sent, and
        // postgres.js would then keep the connection in "connecting" for good: close it if unused.
        this.leakTimer = setTimeout(() => this.fail(null), 250);
      }
    } else if (this.type === BACKEND_KEY_DATA && body) {
      this.pid = body.readUInt32BE(0);
      this.guard.byPid.set(this.pid, this);
    } else if (this.type === ERROR_RESPONSE && body) {
      const fields: Record<string, string> = {};
      for (const part of body.toString('utf8').split('\0')) {
        if (part) fields[{ C: 'code', M: 'message', V: 'severity', S: 'severity_local', D: 'detail' }[part[0]!] ?? part[0]!] = part.slice(1);
      }
      if (fields['severity'] === 'FATAL' || fields['severity'] === 'PANIC') {
        return { at: Math.max(0, end - body.length - 5), error: new postgres.PostgresError(fields as never) };
      }
    }
    return null;
  }

  get backendPid(): number | null {
    return this.pid;
  }
}

/** The socket factory postgres.js connects through, and the watch over every socket it made. */
class ConnectionGuard {
  readonly byPid = new Map<number, GuardedConnection>();
  private readonly live = new Set<GuardedConnection>();
  private readonly timer: NodeJS.Timeout;

  constructor(readonly unansweredMs: number) {
    const every = Math.max(50, Math.floor(unansweredMs / 5));
    let last = performance.now();
    this.timer = setInterval(() => {
      const now = performance.now();
      const late = now - last > every * 4;
      last = now;
      // After a stall of the event loop, answers may be waiting unread: judge nothing this time.
      if (late) return;
      for (const connection of this.live) connection.check(now);
    }, every);
    this.timer.unref();
  }

  /** Returns the socket at once (postgres.js must never see the factory fail); failures arrive as events. */
  socket = (options: SocketOptions): Socket => {
    const socket = options.path ? connect(options.path) : connect(options.port[0]!, options.host[0]!);
    Object.assign(socket, { host: options.host[0], port: options.port[0] });
    this.live.add(new GuardedConnection(socket, this));
    return socket;
  };

  /**
   * A connection got no answer since `since`. postgres.js hands each statement to an idle
   * connection first, so idle connections as cut off as that one would each cost a statement
   * and `unansweredMs` to find, one after the other: with a few statements at a time (concurrent
   * requests sharing one credential lookup, say), a pool of dead connections would take
   * its size times `unansweredMs` to replace. Every idle connection that has heard nothing since
   * is closed now instead; the next statements open new connections.
   */
  unresponsiveSince(since: number): void {
    for (const connection of this.live) connection.closeIfIdleSince(since);
  }

  forget(connection: GuardedConnection): void {
    this.live.delete(connection);
    if (connection.backendPid !== null) this.byPid.delete(connection.backendPid);
  }

  /** Fails the connection of a backend (a transaction whose statement passed its deadline). */
  kill(pid: number | null | undefined, error: Error): void {
    if (pid) this.byPid.get(pid)?.fail(error);
  }

  stop(): void {
    clearInterval(this.timer);
  }
}

// ---------------------------------------------------------------------------------------------
// Deadlines

interface PendingQuery extends PromiseLike<unknown> {
  state: { pid: number } | null;
  values(): PendingQuery;
  cancel(): unknown;
}

type Sql = postgres.Sql;

interface Scope {
  /** The backend a transaction runs on, once known. */
  pid: number | null;
}

/** A statement waiting for its rows, and what to do if its deadline passes first. */
interface Pending {
  due: number;
  expire(): void;
}

/**
 * The deadlines of the statements in flight, swept a few times per deadline rather than one
 * timer each: statements all have the same deadline, so the set is in order of expiry.
 */
class Deadlines {
  private readonly pending = new Set<Pending>();
  private timer: NodeJS.Timeout | undefined;

  constructor(readonly ms: number) {}

  add(item: Pending): void {
    this.pending.add(item);
    if (!this.timer) {
      this.timer = setInterval(() => this.sweep(), Math.max(10, Math.floor(this.ms / 10)));
      this.timer.unref();
    }
  }

  delete(item: Pending): void {
    this.pending.delete(item);
  }

  private sweep(): void {
    const now = performance.now();
    for (const item of this.pending) {
      if (item.due > now) break;
      this.pending.delete(item);
      item.expire();
    }
    if (this.pending.size === 0) {
      clearInterval(this.timer);
      this.timer = undefined;
    }
  }
}

/**
 * Every statement gets a deadline. When it passes, the caller gets DatabaseTimeoutError, and: a
 * statement still queued (never written) is dequeued, so it never runs later; in a transaction,
 * its connection is failed, so the transaction rolls back; one already on the wire is left to the
 * server's statement_timeout and the socket guard.
 */
function withDeadline(query: PendingQuery, deadlines: Deadlines, health: Health, guard: ConnectionGuard | null, tx: Scope | null): PendingQuery {
  let settled: Promise<unknown> | undefined;
  const run = () =>
    (settled ??= new Promise((resolve, reject) => {
      const item: Pending = {
        due: performance.now() + deadlines.ms,
        expire() {
          const error = new DatabaseTimeoutError(deadlines.ms);
          health.failed(error);
          reject(error);
          if (tx) guard?.kill(query.state?.pid ?? tx.pid, error);
          else if (query.state === null) query.cancel();
        },
      };
      deadlines.add(item);
      query.then(
        (rows) => {
          deadlines.delete(item);
          health.ok();
          resolve(rows);
        },
        (error: unknown) => {
          deadlines.delete(item);
          if (isUnavailableCode(errorCode(error))) health.failed(error);
          else health.ok(); // the server answered, if only with an error
          reject(error);
        },
      );
      if (tx) setImmediate(() => (tx.pid ??= query.state?.pid ?? null));
    }));
  const guarded: PendingQuery = {
    get state() {
      return query.state;
    },
    values() {
      query.values();
      return guarded;
    },
    cancel: () => query.cancel(),
    then: (onFulfilled, onRejected) => run().then(onFulfilled, onRejected),
  };
  return guarded;
}

/** The same postgres.js client, with every statement (in transactions too) under its deadline. */
function bounded(sql: Sql, deadlines: Deadlines, health: Health, guard: ConnectionGuard | null, tx: Scope | null = null): Sql {
  const send = sql.unsafe.bind(sql) as unknown as (...a: unknown[]) => PendingQuery;
  const unsafe = (...args: unknown[]) => withDeadline(send(...args), deadlines, health, guard, tx);
  return new Proxy(sql, {
    get(target, property, receiver) {
      if (property === 'unsafe') return unsafe;
      const value = Reflect.get(target, property, receiver);
      if (property === 'savepoint') {
        return (...args: unknown[]) => {
          const fn = args.pop() as (inner: Sql) => unknown;
          return (value as (...a: unknown[]) => unknown).apply(target, [...args, (inner: Sql) => fn(bounded(inner, deadlines, health, guard, tx))]);
        };
      }
      if (property === 'begin') {
        return (...args: unknown[]) => {
          const fn = args.pop() as (inner: Sql) => unknown;
          const scope: Scope = { pid: null };
          let abandoned = false;
          const transaction = (value as (...a: unknown[]) => Promise<unknown>).apply(target, [
            ...args,
            (inner: Sql) => {
              if (abandoned) throw new DatabaseTimeoutError(deadlines.ms); // began too late: roll back at once
              return fn(bounded(inner, deadlines, health, guard, scope));
            },
          ]);
          // BEGIN itself may wait for a connection: that wait is bounded too.
          let timer: NodeJS.Timeout;
          const waited = new Promise<never>((_, reject) => {
            timer = setTimeout(() => {
              if (scope.pid === null) {
                abandoned = true;
                reject(new DatabaseTimeoutError(deadlines.ms));
              }
            }, deadlines.ms);
          });
          transaction.finally(() => clearTimeout(timer)).catch(() => {});
          return Promise.race([transaction, waited]);
        };
      }
      return value;
    },
  });
}

/**
 * A postgres.js pool whose every wait is bounded: connecting and startup, each statement
 * (server-side too, with statement_timeout), an unanswered connection, and reconnecting after an
 * outage (at most 1 s between attempts). The socket guard needs a plain connection: with TLS
 * (sslmode in DATABASE_URL) statements keep their deadlines, but a partition is only noticed
 * when TCP gives up; terminate TLS in a local proxy (pgbouncer) to have both.
 */
export function boundedPostgres(url: string, poolSize: number, timeouts: DatabaseTimeouts): { sql: Sql; stop(): void } {
  const health = new Health(url);
  const tls = /[?&](ssl|sslmode)=(?!disable)/.test(url);
  // Above statement_timeout, so a statement the server still works on is never cut.
  const guard = tls ? null : new ConnectionGuard(timeouts.statementMs + 500);
  const sql = postgres(url, {
    max: poolSize,
    onnotice: () => {},
    // The schema needs no custom type; fetching types on each new connection is work whose
    // failure during an outage postgres.js leaves unhandled.
    fetch_types: false,
    types: { textArray: { to: TEXT_ARRAY_OID, from: [TEXT_ARRAY_OID], parse: parseTextArray } },
    idle_timeout: timeouts.idleSeconds,
    connect_timeout: timeouts.connectMs / 1000,
    backoff: (attempt: number) => Math.min(0.05 * 2 ** attempt, 1),
    connection: {
      statement_timeout: timeouts.statementMs,
      idle_in_transaction_session_timeout: 5 * timeouts.statementMs,
      application_name: 'sessions-gateway',
    },
    ...(guard && { socket: guard.socket }),
  } as unknown as postgres.Options<Record<string, postgres.PostgresType>>);
  return { sql: bounded(sql, new Deadlines(timeouts.statementMs), health, guard), stop: () => guard?.stop() };
}
