import postgres from 'postgres';
import { log } from '../log.js';
import { metrics } from '../telemetry/metrics.js';
import { within } from './within.js';

export interface ListenHandlers {
  /** A notification's payload. */
  message(payload: string): void;
  /**
   * Listening (first, or again after the connection was lost): notifications sent before were
   * missed, so whatever they would have said must be read afresh.
   */
  resumed(): void;
}

export interface Listener {
  close(): Promise<void>;
}

export interface ListenOptions {
  /** How often the listening connection is asked to answer; one that does not is replaced. */
  heartbeatMs: number;
  /** How long a heartbeat (or the LISTEN itself) may take. */
  timeoutMs: number;
  connectTimeoutMs: number;
}

/** The name PostgreSQL shows for the listening connection (pg_stat_activity.application_name). */
export const LISTEN_APPLICATION_NAME = 'sessions-gateway listen';

/**
 * LISTEN on one dedicated connection of its own (not the pool's). postgres.js's own `listen`
 * re-listens once after a close and gives up if that fails; this one keeps trying, at most a
 * second apart, checks the connection with a heartbeat (a partition leaves it open but silent),
 * and says when it listens again so that missed notifications can be made good.
 */
export class PostgresListener implements Listener {
  private sql: postgres.Sql | null = null;
  private listening = false;
  private lostOnce = false;
  private closed = false;
  private retry: NodeJS.Timeout | undefined;
  private readonly heartbeat: NodeJS.Timeout;
  private first!: { resolve(): void; reject(error: unknown): void };
  /**
   * Settles with the first attempt to listen: notifications sent before LISTEN took effect are
   * lost, so whoever waits for a change must not start before this (later attempts go on meanwhile).
   */
  readonly ready = new Promise<void>((resolve, reject) => {
    this.first = { resolve, reject };
  });

  constructor(
    private readonly url: string,
    private readonly channel: string,
    private readonly handlers: ListenHandlers,
    private readonly options: ListenOptions,
  ) {
    this.heartbeat = setInterval(() => void this.check(), options.heartbeatMs);
    this.heartbeat.unref();
    metrics.listening.sources.add(this.connected);
    void this.connect();
  }

  private async connect(): Promise<void> {
    if (this.closed) return;
    let sql: postgres.Sql | null = null;
    const options = {
      max: 1,
      idle_timeout: 0,
      max_lifetime: null,
      fetch_types: false,
      onnotice: () => {},
      connect_timeout: Math.max(1, this.options.connectTimeoutMs / 1000),
      connection: { application_name: LISTEN_APPLICATION_NAME },
      onclose: () => sql && this.lost(sql),
      // postgres.js passes every notification of the connection here (untyped, but documented).
      onnotify: (channel: string, payload: string) => {
        if (channel === this.channel) this.handlers.message(payload);
      },
    };
    sql = postgres(this.url, options as postgres.Options<Record<string, postgres.PostgresType>>);
    this.sql = sql;
    try {
      await within(sql.unsafe(`listen "${this.channel}"`), this.options.timeoutMs);
    } catch {
      return this.lost(sql);
    }
    if (this.sql !== sql) return;
    this.listening = true;
    this.first.resolve();
    if (this.lostOnce) log.info('listening for session changes again');
    // Also the first time: a subscriber registered while LISTEN was on its way is read now.
    this.handlers.resumed();
  }

  /** The connection is gone or useless: drop it and listen on a new one shortly. */
  private lost(sql: postgres.Sql): void {
    if (this.sql !== sql) return;
    if (this.listening) log.warn('lost the connection listening for session changes; reconnecting');
    this.sql = null;
    this.listening = false;
    this.lostOnce = true;
    this.first.reject(new Error('could not listen for session changes'));
    sql.end({ timeout: 0 }).catch(() => {});
    if (this.closed) return;
    this.retry = setTimeout(() => void this.connect(), 500);
    this.retry.unref();
  }

  private async check(): Promise<void> {
    const sql = this.sql;
    if (!sql || !this.listening) return;
    try {
      await within(sql`select 1`, this.options.timeoutMs);
    } catch {
      this.lost(sql);
    }
  }

  private readonly connected = () => (this.listening ? 1 : 0);

  async close(): Promise<void> {
    this.closed = true;
    metrics.listening.sources.delete(this.connected);
    clearInterval(this.heartbeat);
    clearTimeout(this.retry);
    const sql = this.sql;
    this.sql = null;
    await sql?.end({ timeout: 1 });
  }
}
