import { Socket } from 'node:net';
import postgres from 'postgres';

/**
 * postgres.js (3.4.9) leaves a connection waiting for good when the network goes silent, and
 * mishandles some of its failure paths. Each was reproduced; what goes wrong, and what this guard
 * does about it, through postgres.js's documented `socket` option (a net.Socket of ours):
 *
 * 1. A partition (packets dropped, the connection still open): a statement on the wire waits until
 *    TCP gives up, minutes later. The guard fails a connection awaiting an answer that does not
 *    come within `unansweredMs`.
 * 2. postgres.js hands a statement to an idle connection first: after a partition, a pool of dead
 *    idle connections is found one statement and one wait at a time (over 10 s for 10). When one
 *    connection is found unresponsive, every idle one that has heard nothing since is closed too.
 * 3. A socket error while statements are on the wire can leave them unsettled, and a FATAL server
 *    message (a terminated backend, a restart) arrives as data first. Either fails the connection
 *    the one way postgres.js recovers from cleanly: the error, then a clean close that rejects
 *    every statement on it.
 * 4. A cancel request's socket that fails raises an unhandled error; the guard swallows it.
 * 5. A first statement cancelled while its connection is still starting is never sent, and the
 *    connection stays "connecting" for good; the guard closes it when unused.
 */

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
 * One guarded socket: a net.Socket that reads the wire as it passes. It counts the replies the
 * client waits for (a ReadyForQuery per startup, Sync or simple Query) and fails the connection
 * when none arrives for `unansweredMs`. Its fields are #private: a socket has many of its own.
 */
class GuardedSocket extends Socket {
  #failed = false;
  #ready = false;
  #firstWrite = true;
  #isCancel = false;
  #expected = 0;
  #received = 0;
  #flushPending = false;
  #lastIn = performance.now();
  #busySince = 0;
  /** Per the last ReadyForQuery: a transaction is open (postgres.js may send its next statement any time). */
  #inTransaction = false;
  #pid: number | null = null;
  #leakTimer: NodeJS.Timeout | undefined;
  #held: [string, unknown[]][] | null = null;
  // Incoming message framing.
  #header = Buffer.alloc(0);
  #type = 0;
  #left = 0;
  #body: Buffer[] | null = null;
  readonly #guard: ConnectionGuard;

  constructor(guard: ConnectionGuard) {
    super();
    this.#guard = guard;
  }

  /**
   * Node's connect() sets `write` on the socket itself back to net.Socket's (to undo an earlier
   * end()), hiding a subclass's: the subclass's is uncovered again.
   */
  override connect(...args: unknown[]): this {
    (super.connect as (...a: unknown[]) => this)(...args);
    delete (this as { write?: unknown }).write;
    return this;
  }

  #busy(): boolean {
    return this.#expected > this.#received || this.#flushPending;
  }

  /** Whether a statement or a transaction holds this connection. */
  get used(): boolean {
    return this.#busy() || this.#inTransaction;
  }

  /** Called by the guard's sweep. */
  check(now: number): void {
    const silentSince = Math.max(this.#lastIn, this.#busySince);
    if (!this.#failed && this.#busy() && now - silentSince > this.#guard.unansweredMs) {
      this.fail(
        Object.assign(new Error(`the database did not answer for ${this.#guard.unansweredMs} ms`), { code: 'CONNECTION_UNRESPONSIVE' }),
      );
      this.#guard.unresponsiveSince(silentSince);
    }
  }

  /**
   * Closes this connection, silently, if it is idle (nothing on the wire, no transaction open)
   * and has heard nothing from the database since `since`: it is as likely cut off as the
   * connection found unresponsive, and postgres.js hands out idle connections first.
   */
  closeIfIdleSince(since: number): void {
    if (!this.#failed && this.#ready && !this.#isCancel && !this.#busy() && !this.#inTransaction && this.#lastIn < since) {
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
    if (this.#failed) return;
    this.#failed = true;
    clearTimeout(this.#leakTimer);
    this.#guard.forget(this);
    if (error && !this.#isCancel) super.emit('error', error);
    this.destroy();
    if (immediate) super.emit('close', false);
    // The delay lets postgres.js write its own ROLLBACK into a socket that still exists.
    else setTimeout(() => super.emit('close', false), 30);
  }

  override write(chunk: Uint8Array | string, ...rest: unknown[]): boolean {
    const bytes = typeof chunk === 'string' ? Buffer.from(chunk) : Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
    if (this.#failed || this.destroyed) {
      if (this.#firstWrite && bytes.length >= 8 && bytes.readUInt32BE(4) === CANCEL_REQUEST_CODE) this.#isCancel = true;
      this.#firstWrite = false;
      return false;
    }
    const wasBusy = this.#busy();
    let at = 0;
    if (this.#firstWrite) {
      // The untyped first message: a startup (one ReadyForQuery expected) or a cancel request.
      this.#firstWrite = false;
      if (bytes.readUInt32BE(4) === CANCEL_REQUEST_CODE) this.#isCancel = true;
      else this.#expected++;
      at = bytes.readUInt32BE(0);
    }
    // postgres.js always writes whole messages.
    for (; at + 5 <= bytes.length; at += 1 + bytes.readUInt32BE(at + 1)) {
      const type = bytes[at];
      if (type === SYNC || type === SIMPLE_QUERY) this.#expected++;
      else if (type === FLUSH) this.#flushPending = true;
    }
    if (!wasBusy && this.#busy()) this.#busySince = performance.now();
    clearTimeout(this.#leakTimer);
    return (super.write as (...args: unknown[]) => boolean)(chunk, ...rest);
  }

  override emit(event: string | symbol, ...args: unknown[]): boolean {
    if (this.#failed) return false;
    if (this.#held) {
      this.#held.push([event as string, args]);
      return true;
    }
    if (event === 'error') {
      if (this.#firstWrite) {
        // Nothing written yet: whether this is a cancel socket is known after postgres.js's first write.
        this.#held = [['error', args]];
        setImmediate(() => {
          const held = this.#held!;
          this.#held = null;
          for (const [e, a] of held) this.emit(e, ...a);
        });
        return true;
      }
      if (this.#isCancel) {
        this.fail(null); // a failed cancel request is nobody's error (postgres.js would leave it unhandled)
        return true;
      }
      if (!this.#ready) return super.emit('error', ...args); // at startup: postgres.js rejects the first statement
      this.fail(args[0] as Error);
      return true;
    }
    if (event === 'close') {
      clearTimeout(this.#leakTimer);
      this.#guard.forget(this);
      return super.emit('close', ...args);
    }
    if (event !== 'data') return super.emit(event, ...args);
    return this.#onData(args[0] as Buffer);
  }

  #onData(data: Buffer): boolean {
    this.#lastIn = performance.now();
    this.#flushPending = false;
    let fatal: { at: number; error: Error } | null = null;
    for (let i = 0; i < data.length && !fatal; ) {
      if (this.#left === 0) {
        if (this.#header.length === 0 && i + 5 <= data.length) {
          // The usual case: the whole header is in this chunk.
          this.#type = data[i]!;
          this.#left = data.readUInt32BE(i + 1) - 4;
          i += 5;
        } else {
          const take = Math.min(5 - this.#header.length, data.length - i);
          this.#header = Buffer.concat([this.#header, data.subarray(i, i + take)]);
          i += take;
          if (this.#header.length < 5) break;
          this.#type = this.#header[0]!;
          this.#left = this.#header.readUInt32BE(1) - 4;
          this.#header = Buffer.alloc(0);
        }
        this.#body = this.#type === ERROR_RESPONSE || this.#type === BACKEND_KEY_DATA ? [] : null;
        if (this.#left === 0) fatal = this.#messageEnd(i);
        continue;
      }
      const take = Math.min(this.#left, data.length - i);
      if (this.#type === READY_FOR_QUERY) this.#inTransaction = data[i] !== IDLE; // its one byte: the transaction status
      this.#body?.push(data.subarray(i, i + take));
      i += take;
      this.#left -= take;
      if (this.#left === 0) fatal = this.#messageEnd(i);
    }
    const passed = fatal ? data.subarray(0, fatal.at) : data;
    if (passed.length > 0) super.emit('data', passed);
    if (fatal) this.fail(fatal.error);
    return true;
  }

  /** A whole message has arrived; a FATAL error is taken out of the stream and fails the connection. */
  #messageEnd(end: number): { at: number; error: Error } | null {
    const body = this.#body ? Buffer.concat(this.#body) : null;
    this.#body = null;
    if (this.#type === READY_FOR_QUERY) {
      this.#received++;
      if (!this.#ready) {
        this.#ready = true;
        // A first statement cancelled while its connection was starting is never sent, and
        // postgres.js would then keep the connection in "connecting" for good: close it if unused.
        this.#leakTimer = setTimeout(() => this.fail(null), 250);
      }
    } else if (this.#type === BACKEND_KEY_DATA && body) {
      this.#pid = body.readUInt32BE(0);
      this.#guard.byPid.set(this.#pid, this);
    } else if (this.#type === ERROR_RESPONSE && body) {
      const fields: Record<string, string> = {};
      for (const part of body.toString('utf8').split('\0')) {
        if (part)
          fields[{ C: 'code', M: 'message', V: 'severity', S: 'severity_local', D: 'detail' }[part[0]!] ?? part[0]!] = part.slice(1);
      }
      if (fields['severity'] === 'FATAL' || fields['severity'] === 'PANIC') {
        return { at: Math.max(0, end - body.length - 5), error: new postgres.PostgresError(fields as never) };
      }
    }
    return null;
  }

  get backendPid(): number | null {
    return this.#pid;
  }
}

/** The socket factory postgres.js connects through, and the watch over every socket it made. */
export class ConnectionGuard {
  readonly byPid = new Map<number, GuardedSocket>();
  private readonly live = new Set<GuardedSocket>();
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
    const socket = new GuardedSocket(this);
    if (options.path) socket.connect(options.path);
    else socket.connect(options.port[0]!, options.host[0]!);
    Object.assign(socket, { host: options.host[0], port: options.port[0] });
    this.live.add(socket);
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

  forget(connection: GuardedSocket): void {
    this.live.delete(connection);
    if (connection.backendPid !== null) this.byPid.delete(connection.backendPid);
  }

  /** Fails the connection of a backend (a transaction whose statement passed its deadline). */
  kill(pid: number | null | undefined, error: Error): void {
    if (pid) this.byPid.get(pid)?.fail(error);
  }

  /** The pool's connections by state, for the metrics. */
  states(): { idle: number; used: number } {
    let used = 0;
    for (const connection of this.live) if (connection.used) used++;
    return { idle: this.live.size - used, used };
  }

  stop(): void {
    clearInterval(this.timer);
  }
}
