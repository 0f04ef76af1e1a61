import { randomBytes } from 'node:crypto';
import { and, eq, lt, sql } from 'drizzle-orm';
import type { Database, Db } from '../db/client.js';
import type { Listener } from '../db/listen.js';
import { sessionWatches } from '../db/schema.js';
import { log } from '../log.js';
import { metrics } from '../telemetry/metrics.js';
import { ChangeStream } from './change-stream.js';
import { RateLimitedError, ShuttingDownError } from './errors.js';
import type { Session } from './session.js';

/** The channel the database trigger notifies on, for writes to sessions some instance watches. */
export const CHANGES_CHANNEL = 'session_changed';

/** How long to wait before reading a changed row again when the read failed. */
const REREAD_AFTER_MS = 1000;
/** A watch row lives this long unless its instance refreshes it (every WATCH_REFRESH_MS). */
const WATCH_TTL = sql`now() + interval '60 seconds'`;
const WATCH_REFRESH_MS = 20_000;
/**
 * A write whose statement ran just before its session's watch row was committed, and committed
 * just after the first read: read once more this long after a watch starts.
 */
const SETTLE_MS = 500;

/**
 * This instance's rows in session_watches: the sessions it has subscribers for. The database
 * trigger notifies only for writes to watched sessions.
 */
class WatchRegistry {
  readonly instanceId = `inst_${randomBytes(9).toString('base64url')}`;

  constructor(private readonly db: Db) {}

  async add(environmentId: string, sessionId: string): Promise<void> {
    await this.db
      .insert(sessionWatches)
      .values({ environmentId, sessionId, instanceId: this.instanceId, expiresAt: WATCH_TTL })
      .onConflictDoUpdate({
        target: [sessionWatches.environmentId, sessionWatches.sessionId, sessionWatches.instanceId],
        set: { expiresAt: WATCH_TTL },
      });
  }

  async remove(environmentId: string, sessionId: string): Promise<void> {
    await this.db
      .delete(sessionWatches)
      .where(
        and(
          eq(sessionWatches.environmentId, environmentId),
          eq(sessionWatches.sessionId, sessionId),
          eq(sessionWatches.instanceId, this.instanceId),
        ),
      );
  }

  /** Keeps this instance's rows alive, and clears those of instances long gone. */
  async refresh(): Promise<void> {
    await this.db.update(sessionWatches).set({ expiresAt: WATCH_TTL }).where(eq(sessionWatches.instanceId, this.instanceId));
    await this.db.delete(sessionWatches).where(lt(sessionWatches.expiresAt, sql`now() - interval '1 minute'`));
  }

  async removeAll(): Promise<void> {
    await this.db.delete(sessionWatches).where(eq(sessionWatches.instanceId, this.instanceId));
  }
}

/** The subscribers of one session on this instance, and the one read of it that may be running. */
interface Watch {
  environmentId: string;
  id: string;
  streams: Set<ChangeStream>;
  /** Its row in session_watches is written (from then on, writes to the session notify). */
  registered: Promise<void>;
  reading: boolean;
  readAgain: boolean;
  retry?: NodeJS.Timeout;
}

export interface ChangesOptions {
  /** Most streams open at once per credential (by the caller's key for it). */
  perCredential: number;
  /** Most streams open at once per environment (an environment can mint many credentials). */
  perEnvironment: number;
}

/**
 * The live updates of one instance. A write to a watched session notifies (a trigger, in the
 * writing transaction); each instance LISTENs on one connection and, for a session that has
 * subscribers here, reads the row once per change, however many subscribers wait on it, and
 * offers it to each. Reads of one session never overlap: changes arriving during a read cause one
 * more read after it. When the listening connection comes back after a loss, every watched
 * session is read again, so a change made meanwhile still arrives.
 */
export class SessionChanges {
  private readonly watches = new Map<string, Watch>();
  private readonly perCredential = new Map<string, number>();
  private readonly perEnvironment = new Map<string, number>();
  private readonly live = new Set<ChangeStream>();
  private listener: Promise<Listener> | null = null;
  private closed = false;
  private readonly registry: WatchRegistry;
  private readonly heartbeat: NodeJS.Timeout;

  constructor(
    private readonly database: Database,
    private readonly read: (environmentId: string, id: string) => Promise<Session | null>,
    private readonly options: ChangesOptions,
  ) {
    this.registry = new WatchRegistry(database.db);
    this.heartbeat = setInterval(() => {
      if (this.watches.size > 0)
        this.registry.refresh().catch((error: unknown) => log.warn('could not refresh the watched sessions', error));
    }, WATCH_REFRESH_MS);
    this.heartbeat.unref();
    metrics.liveSubscriptions.sources.add(this.liveCount);
  }

  private readonly liveCount = () => this.live.size;

  /**
   * Subscribers on this instance whose watch is in place (from then on every write reaches them),
   * and sessions watched (tests check nothing is left behind).
   */
  get size(): { streams: number; sessions: number } {
    return { streams: this.live.size, sessions: this.watches.size };
  }

  private listen(): Promise<Listener> {
    if (!this.listener) {
      const listener = this.database.listen(CHANGES_CHANNEL, {
        message: (payload) => this.notified(payload),
        // Rows may have expired while the database was away: written again, then read.
        resumed: () => {
          for (const watch of this.watches.values()) {
            this.registry.add(watch.environmentId, watch.id).then(
              () => this.refresh(watch),
              () => this.refresh(watch),
            );
          }
        },
      });
      this.listener = listener;
      // A failed start is not kept: the next subscriber tries again.
      listener.catch(() => {
        if (this.listener === listener) this.listener = null;
      });
    }
    return this.listener;
  }

  private notified(payload: string): void {
    let parsed: unknown;
    try {
      parsed = JSON.parse(payload);
    } catch {
      return;
    }
    if (!Array.isArray(parsed)) return;
    const [environmentId, id, version] = parsed as [string, string, number];
    const watch = this.watches.get(key(environmentId, id));
    if (!watch) return;
    // Every subscriber has this version already (the change that opened a stream, say): no read.
    if ([...watch.streams].every((s) => s.hasSeen(version))) return;
    this.refresh(watch);
  }

  private refresh(watch: Watch): void {
    if (watch.reading) {
      watch.readAgain = true;
      return;
    }
    watch.reading = true;
    clearTimeout(watch.retry);
    this.read(watch.environmentId, watch.id).then(
      (session) => {
        watch.reading = false;
        if (session) for (const stream of watch.streams) stream.offer(session);
        if (watch.readAgain && watch.streams.size > 0) {
          watch.readAgain = false;
          this.refresh(watch);
        }
      },
      (error: unknown) => {
        watch.reading = false;
        watch.readAgain = false;
        log.warn('could not read a changed session for its subscribers; trying again', error);
        if (watch.streams.size > 0 && !this.closed) {
          watch.retry = setTimeout(() => this.refresh(watch), REREAD_AFTER_MS);
          watch.retry.unref();
        }
      },
    );
  }

  /**
   * A stream of the session's versions after `session.version`, for a caller whose credential is
   * `owner` (for the cap). The session is read once more after the stream is registered, so a
   * change made since `session` was read is not missed.
   */
  async subscribe(session: Session, owner: string): Promise<ChangeStream> {
    if (this.closed) throw shuttingDown();
    await this.listen();
    // Counted and registered with no await in between, so concurrent subscribes respect the cap.
    if (this.closed) throw shuttingDown();
    if ((this.perCredential.get(owner) ?? 0) >= this.options.perCredential) {
      metrics.refusals.inc({ kind: 'subscriptions' });
      throw new RateLimitedError(`At most ${this.options.perCredential} live subscriptions per credential: end one first`, 1);
    }
    if ((this.perEnvironment.get(session.environmentId) ?? 0) >= this.options.perEnvironment) {
      metrics.refusals.inc({ kind: 'subscriptions' });
      throw new RateLimitedError(`At most ${this.options.perEnvironment} live subscriptions per environment: end one first`, 1);
    }
    const stream = new ChangeStream(session.version);
    const k = key(session.environmentId, session.id);
    let watch = this.watches.get(k);
    const first = !watch;
    if (!watch) {
      watch = {
        environmentId: session.environmentId,
        id: session.id,
        streams: new Set(),
        registered: this.registry.add(session.environmentId, session.id),
        reading: false,
        readAgain: false,
      };
      this.watches.set(k, watch);
    }
    const watched = watch;
    watched.streams.add(stream);
    count(this.perCredential, owner, 1);
    count(this.perEnvironment, session.environmentId, 1);
    stream.onEnd(() => {
      watched.streams.delete(stream);
      if (watched.streams.size === 0 && this.watches.get(k) === watched) {
        clearTimeout(watched.retry);
        this.watches.delete(k);
        watched.registered.then(() => this.registry.remove(watched.environmentId, watched.id)).catch(() => {});
      }
      count(this.perCredential, owner, -1);
      count(this.perEnvironment, session.environmentId, -1);
    });
    try {
      await watched.registered;
    } catch (error) {
      // Not watched after all: the next subscriber tries again.
      if (this.watches.get(k) === watched) this.watches.delete(k);
      stream.end();
      throw error;
    }
    this.live.add(stream);
    stream.onEnd(() => this.live.delete(stream));
    this.refresh(watched);
    if (first) {
      const settle = setTimeout(() => watched.streams.size > 0 && this.refresh(watched), SETTLE_MS);
      settle.unref();
    }
    return stream;
  }

  /** Ends every stream and stops listening. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.heartbeat);
    metrics.liveSubscriptions.sources.delete(this.liveCount);
    const watched = this.watches.size > 0;
    for (const watch of [...this.watches.values()]) for (const stream of [...watch.streams]) stream.end();
    if (watched) await this.registry.removeAll().catch(() => {});
    const listener = this.listener;
    this.listener = null;
    if (listener) await (await listener.catch(() => null))?.close();
  }
}

const key = (environmentId: string, id: string) => `${environmentId}\u0000${id}`;

/** Adds `by` to a count kept in a map, forgetting it at zero. */
function count(counts: Map<string, number>, k: string, by: number): void {
  const next = (counts.get(k) ?? 0) + by;
  if (next > 0) counts.set(k, next);
  else counts.delete(k);
}

const shuttingDown = () => new ShuttingDownError('The server is shutting down; subscribe on another instance');
