import type postgres from 'postgres';
import { metrics } from '../telemetry/metrics.js';
import { DatabaseTimeoutError, errorCode, type Health } from './availability.js';
import { isUnavailableCode } from './conditions.js';

/**
 * postgres.js puts no deadline on a statement: one waiting for a pool connection, or on a
 * connection whose server stopped answering, waits for good, and a statement dequeued late still
 * runs. Every statement here gets a deadline (transactions and BEGIN's own wait included), through
 * a Proxy over the client's `unsafe`, `begin` and `savepoint` (what Drizzle calls).
 */

/** Fails the connection a transaction runs on (the socket guard's), so the transaction rolls back. */
export interface Killer {
  kill(pid: number | null | undefined, error: Error): void;
}

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
  /** Still waiting for a pool connection (not yet sent). */
  queued(): boolean;
  due: number;
  /** However slow this process is, the deadline moves no later than this. */
  latest: number;
  expire(): void;
}

/**
 * The deadlines of the statements in flight, swept a few times per deadline rather than one
 * timer each: statements all have the same deadline, so the set is in order of expiry. A deadline
 * measures the database's silence, not this process's: time the event loop was held (a sweep
 * that runs late) is added to every deadline, as answers may be waiting unread meanwhile, up to
 * MAX_STRETCH times the deadline.
 */
const MAX_STRETCH = 4;

export class Deadlines {
  private readonly pending = new Set<Pending>();
  private timer: NodeJS.Timeout | undefined;
  private readonly every: number;
  private last = 0;

  constructor(readonly ms: number) {
    this.every = Math.max(10, Math.floor(ms / 10));
  }

  add(item: Pending): void {
    this.pending.add(item);
    if (!this.timer) {
      this.last = performance.now();
      this.timer = setInterval(() => this.sweep(), this.every);
      this.timer.unref();
    }
  }

  delete(item: Pending): void {
    this.pending.delete(item);
  }

  /** Statements waiting for a pool connection. */
  queued(): number {
    let n = 0;
    for (const item of this.pending) if (item.queued()) n++;
    return n;
  }

  private sweep(): void {
    const now = performance.now();
    // Time the event loop was held past this sweep's turn is this process's, not the database's.
    const late = now - this.last - this.every;
    this.last = now;
    if (late > 0) for (const item of this.pending) item.due = Math.min(item.due + late, item.latest);
    // After a stall, answers may be waiting unread (timers run before I/O): judged next time.
    if (late > this.every) return;
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
function withDeadline(query: PendingQuery, deadlines: Deadlines, health: Health, guard: Killer | null, tx: Scope | null): PendingQuery {
  let settled: Promise<unknown> | undefined;
  const run = () =>
    (settled ??= new Promise((resolve, reject) => {
      const now = performance.now();
      const item: Pending = {
        queued: () => query.state === null,
        due: now + deadlines.ms,
        latest: now + MAX_STRETCH * deadlines.ms,
        expire() {
          const error = new DatabaseTimeoutError(deadlines.ms);
          metrics.deadlineExpirations.inc();
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
    // biome-ignore lint/suspicious/noThenProperty: the guarded query is a thenable, as postgres.js's own is
    then: (onFulfilled, onRejected) => run().then(onFulfilled, onRejected),
  };
  return guarded;
}

/** The same postgres.js client, with every statement (in transactions too) under its deadline. */
export function bounded(sql: Sql, deadlines: Deadlines, health: Health, guard: Killer | null, tx: Scope | null = null): Sql {
  const send = sql.unsafe.bind(sql) as unknown as (...a: unknown[]) => PendingQuery;
  const unsafe = (...args: unknown[]) => withDeadline(send(...args), deadlines, health, guard, tx);
  return new Proxy(sql, {
    get(target, property, receiver) {
      if (property === 'unsafe') return unsafe;
      const value = Reflect.get(target, property, receiver);
      if (property === 'savepoint') {
        return (...args: unknown[]) => {
          const fn = args.pop() as (inner: Sql) => unknown;
          return (value as (...a: unknown[]) => unknown).apply(target, [
            ...args,
            (inner: Sql) => fn(bounded(inner, deadlines, health, guard, tx)),
          ]);
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
