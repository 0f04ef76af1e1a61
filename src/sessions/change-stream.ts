import type { Session } from './session.js';

/**
 * One subscriber's stream of a session's versions. It holds at most one session: a newer one
 * replaces one not yet taken (a slow reader skips versions in between, never the latest), and
 * versions it has seen are never repeated. `return()` (the client went away) ends it at once,
 * even while a `next()` waits.
 */
export class ChangeStream implements AsyncIterableIterator<Session> {
  private pending: Session | null = null;
  private waiting: { resolve(r: IteratorResult<Session>): void; reject(e: unknown): void } | null = null;
  private done = false;
  private failure: unknown = null;
  private readonly cleanups: (() => void)[] = [];

  constructor(private seen: number) {}

  /** Whether this stream has had this version (or a newer one). */
  hasSeen(version: number): boolean {
    return version <= Math.max(this.seen, this.pending?.version ?? 0);
  }

  /** A version of the session; ignored unless newer than every one this stream has had. */
  offer(session: Session): void {
    if (this.done || this.hasSeen(session.version)) return;
    if (this.waiting) {
      const { resolve } = this.waiting;
      this.waiting = null;
      this.seen = session.version;
      resolve({ value: session, done: false });
    } else {
      this.pending = session;
    }
  }

  /** Ends the stream: the reader gets `error` (or the end), after the version it has not taken. */
  end(error: unknown = null): void {
    if (this.done) return;
    this.done = true;
    this.failure = error;
    for (const cleanup of this.cleanups.splice(0)) cleanup();
    if (this.waiting && !this.pending) this.settle();
  }

  /** Runs when the stream ends, however it ends. */
  onEnd(cleanup: () => void): void {
    if (this.done) cleanup();
    else this.cleanups.push(cleanup);
  }

  private settle(): void {
    const waiting = this.waiting!;
    this.waiting = null;
    if (this.failure) {
      const failure = this.failure;
      this.failure = null;
      waiting.reject(failure);
    } else {
      waiting.resolve({ value: undefined, done: true });
    }
  }

  next(): Promise<IteratorResult<Session>> {
    if (this.pending) {
      const value = this.pending;
      this.pending = null;
      this.seen = value.version;
      return Promise.resolve({ value, done: false });
    }
    return new Promise((resolve, reject) => {
      this.waiting = { resolve, reject };
      if (this.done) this.settle();
    });
  }

  return(): Promise<IteratorResult<Session>> {
    this.pending = null;
    this.failure = null;
    this.end();
    return Promise.resolve({ value: undefined, done: true });
  }

  [Symbol.asyncIterator](): this {
    return this;
  }
}
