/**
 * The noisy neighbour of issue 19: each attack of the issue as a function, bounded in time and in
 * sockets, that destroys every socket it opened before it returns; a well-behaved neighbour (another
 * environment, its own key) reading and writing over keep-alive; a /health probe; and the harness
 * that starts the built service as `npm start` runs it and samples its RSS and CPU.
 *
 * Used by test/noisy-neighbour.test.ts (what must hold) and bench/abuse.ts (what it costs the
 * neighbour). An attack runs best in a process of its own, so that its CPU does not slow down the
 * neighbour's client or the probe: `runAttack(name, target, options)` does that, and
 *
 *   node --import tsx test/attacks.ts <attack> '{"target": {...}, "options": {...}}'
 *
 * runs one and prints its Summary as one JSON line. All traffic goes to the target's address (the
 * tests use 127.0.0.1); an attack may connect from other loopback addresses (127.0.0.x) so that
 * per-address limits can tell the attacker from the neighbour.
 */
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { Agent, request as httpRequest, type IncomingHttpHeaders } from 'node:http';
import { connect, createServer, type Socket } from 'node:net';
import { setTimeout as sleep, setImmediate as yieldToLoop } from 'node:timers/promises';
import { fileURLToPath, pathToFileURL } from 'node:url';
import WebSocket from 'ws';

const root = fileURLToPath(new URL('..', import.meta.url));
const thisFile = fileURLToPath(import.meta.url);

// ───────────────────────────────────────── shapes ─────────────────────────────────────────

export interface Target {
  /** The service's origin, like http://127.0.0.1:4000. */
  url: string;
  /** A secret key of the attacker's own environment (attacks that need none work without it). */
  key?: string;
  /** Public access tokens of the attacker's environment (attack 3). */
  tokens?: string[];
  /** Sessions of the attacker's environment: what subscriptions watch, what REST PATCH names. */
  sessionIds?: string[];
  /** Loopback addresses (127.0.0.x) to connect from; the first is the attacker's main address. */
  localAddresses?: string[];
}

export interface Summary {
  attack: string;
  /** From the attack's start to its last socket destroyed. */
  elapsedMs: number;
  /** Sockets (TCP connections, WebSockets) the attack opened, and the most open at once. */
  socketsOpened: number;
  peakOpen: number;
  /** How each socket, request or subscription ended, counted by label. */
  outcomes: Record<string, number>;
  /** Sockets still open when the attack's time was up (the cleanup destroyed them). */
  openAtEnd: number;
  /** For each socket the server ended (answered, closed, reset): ms from its opening. */
  endedAfterMs: number[];
  /** The attack's own figures: bytes, subscriptions live, messages sent, … */
  figures: Record<string, number>;
}

/** Past its duration, an attack has this long to wind down before every socket is destroyed. */
const HARD_GRACE_MS = 5000;

interface Closable {
  destroy(): void;
}

/** One run of an attack: its deadline, its sockets, what it saw. */
class Run {
  readonly started = performance.now();
  readonly deadline: number;
  private stopped = false;
  private readonly open = new Set<Closable>();
  socketsOpened = 0;
  peakOpen = 0;
  openAtEnd = 0;
  readonly outcomes: Record<string, number> = {};
  readonly endedAfterMs: number[] = [];
  readonly figures: Record<string, number> = {};

  constructor(
    readonly attack: string,
    readonly durationMs: number,
  ) {
    this.deadline = this.started + durationMs;
  }

  /** Still within its time, and not stopped. */
  get active(): boolean {
    return !this.stopped && performance.now() < this.deadline;
  }

  get stoppedHard(): boolean {
    return this.stopped;
  }

  get elapsed(): number {
    return performance.now() - this.started;
  }

  count(label: string, n = 1): void {
    this.outcomes[label] = (this.outcomes[label] ?? 0) + n;
  }

  add(figure: string, n = 1): void {
    this.figures[figure] = (this.figures[figure] ?? 0) + n;
  }

  track(socket: Closable): void {
    this.open.add(socket);
    this.socketsOpened++;
    this.peakOpen = Math.max(this.peakOpen, this.open.size);
  }

  untrack(socket: Closable): void {
    this.open.delete(socket);
  }

  /** Waits for the attack's work, at most its duration and the grace; then destroys every socket. */
  async finish(work: Promise<unknown>): Promise<Summary> {
    let timer: NodeJS.Timeout | undefined;
    const hard = new Promise<void>((resolve) => {
      timer = setTimeout(resolve, Math.max(0, this.deadline + HARD_GRACE_MS - performance.now()));
    });
    try {
      await Promise.race([work.catch((error: unknown) => this.count(`attack failed: ${String(error)}`)), hard]);
    } finally {
      clearTimeout(timer);
      this.stopped = true;
      this.openAtEnd = this.open.size;
      for (const socket of this.open) socket.destroy();
      this.open.clear();
    }
    return {
      attack: this.attack,
      elapsedMs: Math.round(this.elapsed),
      socketsOpened: this.socketsOpened,
      peakOpen: this.peakOpen,
      outcomes: this.outcomes,
      openAtEnd: this.openAtEnd,
      endedAfterMs: this.endedAfterMs.map(Math.round),
      figures: this.figures,
    };
  }
}

function origin(target: { url: string }): { host: string; port: number } {
  const { hostname, port } = new URL(target.url);
  return { host: hostname, port: Number(port) };
}

const wsUrl = (target: { url: string }) => `${target.url.replace(/^http/, 'ws')}/graphql`;
const address = (target: Target, i = 0) => target.localAddresses?.[i % target.localAddresses.length];

/** Resolves when the socket drains, closes, or `ms` pass. */
function drained(socket: Socket, ms: number): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(timer);
      socket.off('drain', done);
      socket.off('close', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    socket.once('drain', done);
    socket.once('close', done);
  });
}

/** Runs `work` over `items` with at most `limit` at once. */
async function pool<T>(items: T[], limit: number, work: (item: T, index: number) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(limit, items.length) }, async () => {
      while (next < items.length) {
        const i = next++;
        await work(items[i]!, i);
      }
    }),
  );
}

/** A WebSocket that the run tracks; `closed` resolves with its close code (1006: cut). */
function openWebSocket(run: Run, target: Target, options: { localAddress?: string; headers?: Record<string, string> } = {}) {
  const opened = performance.now();
  const ws = new WebSocket(wsUrl(target), 'graphql-transport-ws', {
    localAddress: options.localAddress,
    headers: options.headers,
    perMessageDeflate: false,
    handshakeTimeout: 5000,
  });
  const handle = { destroy: () => ws.terminate() };
  run.track(handle);
  const result = {
    ws,
    opened,
    /** The upgrade's HTTP status when it was refused. */
    refusedStatus: 0,
    errorCode: '',
    closeCode: 0,
    closedAt: 0,
    open: new Promise<boolean>((resolve) => {
      ws.once('open', () => resolve(true));
      ws.once('close', () => resolve(false));
    }),
    closed: null as unknown as Promise<number>,
  };
  ws.on('error', (error: NodeJS.ErrnoException) => {
    result.errorCode ||= error.code ?? error.message.slice(0, 60);
  });
  ws.on('unexpected-response', (_req, res) => {
    result.refusedStatus = res.statusCode ?? 0;
    res.resume();
    ws.terminate();
  });
  result.closed = new Promise<number>((resolve) => {
    ws.once('close', (code) => {
      result.closeCode = code;
      result.closedAt = performance.now();
      run.untrack(handle);
      resolve(code);
    });
  });
  return result;
}

const send = (ws: WebSocket, message: unknown) => {
  if (ws.readyState === WebSocket.OPEN) ws.send(JSON.stringify(message));
};

// ─────────────────────────────── 1. one-byte chunks, never ending ───────────────────────────────

export type ChunkRoute = 'graphql-json' | 'graphql-sse' | 'rest-patch';

export interface ChunkedOptions {
  /** The attack's bound: every socket is destroyed by then (and 5 s of grace). */
  durationMs?: number;
  /**
   * How long each connection keeps its body going, from its own opening, waiting for the server
   * to answer or close it; one still unanswered then is counted "unanswered after <holdMs> ms"
   * and closed. Default: all of durationMs.
   */
  holdMs?: number;
  /** Connections at once, spread over the routes × credentials. */
  connections?: number;
  /**
   * One-byte chunks each connection sends at full speed (the issue: 60,000), then one every 250 ms;
   * REST PATCH, whose body limit is 32 KB, at most 30,000 (a body that never ends, not a big one).
   */
  chunks?: number;
  /** Spread each connection's chunks over this long (0: as fast as the socket takes them). */
  sendMs?: number;
  routes?: ChunkRoute[];
  /** Without a credential, with the attacker's key, or both (the default when a key is given). */
  credentials?: ('none' | 'key')[];
}

/**
 * Attack 1: `Transfer-Encoding: chunked` bodies of `1\r\n \r\n` chunks that never end, to POST
 * /graphql (JSON), POST /graphql with `Accept: text/event-stream`, and REST PATCH. Each connection
 * records the status it was answered, or that it was closed unanswered, and when.
 */
export async function chunkedBodies(target: Target, options: ChunkedOptions = {}): Promise<Summary> {
  const { durationMs = 5000, connections = 12, chunks = 60_000, routes = ['graphql-json', 'graphql-sse', 'rest-patch'] } = options;
  const holdMs = options.holdMs ?? durationMs;
  const sendMs = options.sendMs ?? 0;
  const credentials = options.credentials ?? (target.key ? ['none', 'key'] : ['none']);
  const variants = routes.flatMap((route) => credentials.map((credential) => ({ route, credential })));
  const run = new Run('chunked-bodies', durationMs);
  const { host, port } = origin(target);
  const BATCH = 250;
  const batch = Buffer.from('1\r\n \r\n'.repeat(BATCH));
  const one = Buffer.from('1\r\n \r\n');

  const connection = async (i: number) => {
    const { route, credential } = variants[i % variants.length]!;
    // Under the route's body limit whatever the trickle adds.
    const limit = route === 'rest-patch' ? 32_000 : 65_000;
    const fast = Math.min(chunks, limit - 2000);
    const maxChunks = Math.min(fast + 2000, limit);
    const label = `${route} ${credential === 'key' ? 'with key' : 'no credential'}`;
    const socket = connect({ host, port, localAddress: address(target) });
    socket.setNoDelay(true);
    run.track(socket);
    const opened = performance.now();
    const until = opened + holdMs;
    const going = () => !run.stoppedHard && performance.now() < until;
    let ended = false;
    let head = '';
    const end = (outcome: string) => {
      if (ended) return;
      ended = true;
      run.endedAfterMs.push(performance.now() - opened);
      run.count(`${label}: ${outcome}`);
      socket.destroy();
    };
    socket.on('data', (data: Buffer) => {
      head += data.toString('latin1');
      const status = /^HTTP\/1\.[01] (\d{3})/.exec(head)?.[1];
      if (status) end(`answered ${status}`);
    });
    socket.on('error', (error: NodeJS.ErrnoException) => end(`error ${error.code ?? error.message}`));
    socket.on('close', () => {
      run.untrack(socket);
      end('closed unanswered');
    });
    await new Promise<void>((resolve) => {
      socket.once('connect', resolve);
      socket.once('close', resolve);
    });
    if (ended) return;
    const path = route === 'rest-patch' ? `/api/v1/sessions/${target.sessionIds?.[0] ?? 'session_none'}` : '/graphql';
    const headers = [
      `${route === 'rest-patch' ? 'PATCH' : 'POST'} ${path} HTTP/1.1`,
      `Host: ${host}:${port}`,
      'Content-Type: application/json',
      'Transfer-Encoding: chunked',
      `Accept: ${route === 'graphql-sse' ? 'text/event-stream' : 'application/json'}`,
      ...(credential === 'key' && target.key ? [`Authorization: Bearer ${target.key}`] : []),
    ];
    socket.write(`${headers.join('\r\n')}\r\n\r\n`);
    let sent = 0;
    const began = performance.now();
    while (going() && !ended && sent < fast) {
      const n = Math.min(BATCH, fast - sent);
      const ok = socket.write(n === BATCH ? batch : batch.subarray(0, n * one.length));
      sent += n;
      if (!ok) await drained(socket, 250);
      else if (sendMs > 0) await sleep(Math.max(0, began + (sent / fast) * sendMs - performance.now()));
      else if (sent % (BATCH * 8) === 0) await yieldToLoop();
    }
    // The body never ends: one more chunk now and then, so the connection is never idle either.
    while (going() && !ended && sent < maxChunks) {
      await sleep(Math.min(250, Math.max(0, until - performance.now())));
      if (!ended && going()) socket.write(one);
      sent++;
    }
    run.add('chunksSent', sent);
    // Sent all it could and held it open: what the server still has not answered, it never will in time.
    while (going() && !ended) await sleep(Math.min(100, Math.max(1, until - performance.now())));
    if (!ended && !run.stoppedHard) {
      ended = true;
      run.count(`${label}: unanswered after ${holdMs} ms`);
      run.untrack(socket);
      socket.destroy();
    }
  };
  return run.finish(Promise.all(Array.from({ length: connections }, (_, i) => connection(i))));
}

// ─────────────────────────────── 2. pings echoed to a reader that never reads ───────────────────────────────

export interface PingFloodOptions {
  durationMs?: number;
  /** Sockets; with `init: 'both'` half send connection_init with the key and half none. */
  connections?: number;
  init?: boolean | 'both';
  payloadBytes?: number;
}

/**
 * Attack 2: a graphql-transport-ws client that stops reading (its socket paused) and sends
 * `{"type":"ping","payload":{"pad":"<60 KB>"}}` as fast as its own buffer allows, with
 * connection_init (the key) or without. Records whether and how the server ended each socket:
 * cut while flooding, or a close frame found once the client reads again at the end.
 */
export async function pingFlood(target: Target, options: PingFloodOptions = {}): Promise<Summary> {
  const { durationMs = 3000, connections = 2, init = 'both', payloadBytes = 60_000 } = options;
  const run = new Run('ping-flood', durationMs);
  const ping = Buffer.from(JSON.stringify({ type: 'ping', payload: { pad: 'x'.repeat(payloadBytes) } }));

  const flooder = async (i: number) => {
    const withInit = init === 'both' ? i % 2 === 0 : init;
    const label = withInit ? 'with connection_init' : 'without connection_init';
    const socket = openWebSocket(run, target, { localAddress: address(target, i) });
    if (!(await socket.open)) {
      run.count(`${label}: not opened (${socket.refusedStatus || socket.errorCode || socket.closeCode})`);
      return;
    }
    const { ws } = socket;
    if (withInit) send(ws, { type: 'connection_init', payload: { Authorization: `Bearer ${target.key ?? 'none'}` } });
    // Stop reading: whatever the server sends piles up in its kernel buffer, then in the server.
    const raw = (ws as unknown as { _socket: Socket })._socket;
    raw.pause();
    let sent = 0;
    while (run.active && ws.readyState === WebSocket.OPEN) {
      if (ws.bufferedAmount > 1 << 20) {
        await sleep(2);
        continue;
      }
      ws.send(ping, { binary: false });
      sent++;
      if (sent % 16 === 0) await yieldToLoop();
    }
    run.add('pingsSent', sent);
    run.add('bytesSent', sent * ping.length);
    if (ws.readyState === WebSocket.CLOSED || ws.readyState === WebSocket.CLOSING) {
      await socket.closed;
      run.endedAfterMs.push(socket.closedAt - socket.opened);
      run.count(`${label}: cut while flooding (${socket.closeCode}${socket.errorCode ? ` ${socket.errorCode}` : ''})`);
      return;
    }
    // Read again: a close frame the server sent meanwhile is behind everything it echoed.
    raw.resume();
    const code = await Promise.race([socket.closed, sleep(1500).then(() => 0)]);
    if (code) {
      run.endedAfterMs.push(socket.closedAt - socket.opened);
      run.count(`${label}: closed, seen once read (${code})`);
    } else {
      run.count(`${label}: open at end`);
    }
  };
  return run.finish(Promise.all(Array.from({ length: connections }, (_, i) => flooder(i))));
}

// ─────────────────────────────── 3. idle subscriptions, many tokens ───────────────────────────────

export interface IdleSubscriptionOptions {
  durationMs?: number;
  /** Tokens used (one WebSocket each); all of target.tokens by default. */
  tokens?: number;
  subscriptionsPerToken?: number;
  /** Subscribe messages per second per socket: under the per-socket message limit, as a client would. */
  messagesPerSecond?: number;
}

const SUBSCRIPTION = 'subscription Idle($id: ID!) { sessionChanged(id: $id) { id version } }';

/**
 * Attack 3: many public tokens × many `sessionChanged` subscriptions over graphql-ws, then nothing:
 * every subscription idle until the attack's time is up. Counts subscriptions refused (by code),
 * and those live at the end.
 */
export async function idleSubscriptions(target: Target, options: IdleSubscriptionOptions = {}): Promise<Summary> {
  const tokens = (target.tokens ?? []).slice(0, options.tokens ?? Infinity);
  const { durationMs = 5000, subscriptionsPerToken = 20, messagesPerSecond = 10 } = options;
  const sessions = target.sessionIds?.length ? target.sessionIds : ['session_none'];
  const run = new Run('idle-subscriptions', durationMs);
  let live = 0;

  const holder = async (token: string, i: number) => {
    const socket = openWebSocket(run, target, { localAddress: address(target, i) });
    const subscribed = new Set<string>();
    let acked = false;
    const ack = new Promise<void>((resolve) => {
      socket.ws.on('message', (data) => {
        let message: { type?: string; id?: string; payload?: { extensions?: { code?: string } }[] };
        try {
          message = JSON.parse(String(data));
        } catch {
          return;
        }
        if (message.type === 'connection_ack') {
          acked = true;
          resolve();
        } else if (message.type === 'error' && message.id && subscribed.has(message.id)) {
          subscribed.delete(message.id);
          run.count(`subscription refused: ${message.payload?.[0]?.extensions?.code ?? 'no code'}`);
        } else if (message.type === 'complete' && message.id && subscribed.has(message.id)) {
          subscribed.delete(message.id);
          run.count('subscription completed');
        } else if (message.type === 'next' && message.id) {
          run.add('events');
          const code = (message.payload as { errors?: { extensions?: { code?: string } }[] } | undefined)?.errors?.[0]?.extensions?.code;
          if (code && subscribed.delete(message.id)) run.count(`subscription refused: ${code}`);
        }
      });
      socket.closed.then(() => resolve());
    });
    if (!(await socket.open)) {
      run.count(`socket not opened (${socket.refusedStatus || socket.errorCode || socket.closeCode})`);
      return;
    }
    send(socket.ws, { type: 'connection_init', payload: { Authorization: `Bearer ${token}` } });
    await Promise.race([ack, sleep(5000)]);
    if (!acked) {
      run.count(`socket not acknowledged (${socket.closeCode || 'no answer'})`);
      return;
    }
    run.add('socketsAcknowledged');
    for (let s = 0; s < subscriptionsPerToken && run.active && socket.ws.readyState === WebSocket.OPEN; s++) {
      const id = `s${s}`;
      subscribed.add(id);
      send(socket.ws, { id, type: 'subscribe', payload: { query: SUBSCRIPTION, variables: { id: sessions[(i + s) % sessions.length] } } });
      run.add('subscriptionsSent');
      await sleep(1000 / messagesPerSecond);
    }
    // Idle: nothing more is sent until the time is up.
    await Promise.race([socket.closed, sleep(Math.max(0, run.deadline - performance.now()))]);
    if (socket.ws.readyState === WebSocket.OPEN) {
      live += subscribed.size;
      run.count('subscription live at end', subscribed.size);
    } else {
      run.count(`socket closed by the server (${socket.closeCode})`);
      run.endedAfterMs.push(socket.closedAt - socket.opened);
      run.count('subscription ended with its socket', subscribed.size);
    }
  };
  const summary = await run.finish(Promise.all(tokens.map((token, i) => holder(token, i))));
  summary.figures['subscriptionsLive'] = live;
  return summary;
}

// ─────────────────────────────── HTTP helper ───────────────────────────────

interface HttpAnswer {
  status: number;
  headers: IncomingHttpHeaders;
  /** The body, kept up to `keepBytes`; `bytes` counts all of it. */
  body: string;
  bytes: number;
}

/** One request over `agent`; rejects on a network error or when `timeoutMs` pass. */
function call(
  agent: Agent,
  url: string,
  init: { method: string; path: string; headers?: Record<string, string>; body?: string | Buffer; timeoutMs?: number; keepBytes?: number },
): Promise<HttpAnswer> {
  const { host, port } = origin({ url });
  return new Promise((resolve, reject) => {
    const req = httpRequest(
      {
        agent,
        host,
        port,
        method: init.method,
        path: init.path,
        headers: { ...init.headers, ...(init.body ? { 'content-length': Buffer.byteLength(init.body) } : {}) },
      },
      (res) => {
        const keep = init.keepBytes ?? 65_536;
        const parts: Buffer[] = [];
        let kept = 0;
        let bytes = 0;
        res.on('data', (chunk: Buffer) => {
          bytes += chunk.length;
          if (kept < keep) {
            parts.push(chunk);
            kept += chunk.length;
          }
        });
        res.on('end', () => {
          clearTimeout(timer);
          resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(parts).toString('utf8'), bytes });
        });
        res.on('error', (error) => {
          clearTimeout(timer);
          reject(error);
        });
      },
    );
    const timer = setTimeout(() => req.destroy(new Error(`no answer within ${init.timeoutMs ?? 10_000} ms`)), init.timeoutMs ?? 10_000);
    req.on('error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
    req.end(init.body);
  });
}

/** A keep-alive agent from `localAddress`, whose sockets the run tracks and counts. */
function trackedAgent(run: Run, localAddress: string | undefined, maxSockets: number): Agent {
  const agent = new Agent({ keepAlive: true, maxSockets, localAddress } as ConstructorParameters<typeof Agent>[0]);
  const create = agent.createConnection.bind(agent);
  agent.createConnection = ((opts: object, callback?: unknown) => {
    const socket = (create as (o: object, c?: unknown) => Socket)(opts, callback);
    run.track(socket);
    socket.once('close', () => run.untrack(socket));
    return socket;
  }) as typeof agent.createConnection;
  return agent;
}

const errorCode = (body: string): string | undefined => {
  try {
    const parsed = JSON.parse(body) as
      | { errors?: { extensions?: { code?: string } }[] }
      | { errors?: { extensions?: { code?: string } }[] }[];
    const first = Array.isArray(parsed) ? parsed.find((r) => r.errors)?.errors : parsed.errors;
    return first?.[0]?.extensions?.code;
  } catch {
    return undefined;
  }
};

// ─────────────────────────────── 4. heavy legal requests ───────────────────────────────

export interface HeavyReadOptions {
  durationMs?: number;
  /** Clients sending batches back to back. */
  connections?: number;
  /** Operations per batch (at most 10) and the page size of each. */
  batch?: number;
  first?: number;
  /** Values in the status filter of the other request, and how many such requests a second. */
  filterValues?: number;
  filterPerSecond?: number;
}

const PAGE = `query Page($first: Int) { sessions(first: $first) { edges { cursor node { id externalId type taskIdentifier tags metadata status version createdAt updatedAt } } pageInfo { hasNextPage endCursor } } }`;
const FILTERED = `query Filtered($filter: SessionFilter) { sessions(filter: $filter, first: 1) { edges { node { id } } } }`;

/**
 * Attack 4: legal but heavy reads in the attacker's own environment: batches of `batch` ×
 * `sessions(first: 100)` over sessions carrying about 30 KB of metadata each, back to back from
 * `connections` clients; and `sessions(filter: {status: [7,000 × ACTIVE]})` a few times a second.
 */
export async function heavyReads(target: Target, options: HeavyReadOptions = {}): Promise<Summary> {
  const { durationMs = 4000, connections = 4, batch = 10, first = 100, filterValues = 7000, filterPerSecond = 4.5 } = options;
  const run = new Run('heavy-reads', durationMs);
  const agent = trackedAgent(run, address(target), connections + 1);
  const headers = { 'content-type': 'application/json', accept: 'application/json', authorization: `Bearer ${target.key}` };
  const batchBody = JSON.stringify(Array.from({ length: batch }, () => ({ query: PAGE, variables: { first } })));
  const filterBody = JSON.stringify({
    query: FILTERED,
    variables: { filter: { status: Array.from({ length: filterValues }, () => 'ACTIVE') } },
  });

  const client = async () => {
    while (run.active) {
      try {
        const answer = await call(agent, target.url, {
          method: 'POST',
          path: '/graphql',
          headers,
          body: batchBody,
          timeoutMs: 30_000,
          keepBytes: 4096,
        });
        run.add('bytesAnswered', answer.bytes);
        run.add('batches');
        const code = answer.bytes < 4096 ? errorCode(answer.body) : undefined;
        run.count(`batch: ${answer.status}${code ? ` ${code}` : ''}`);
        if (answer.status === 429) await sleep(Number(answer.headers['retry-after'] ?? 1) * 1000);
      } catch (error) {
        if (!run.active) return;
        run.count(`batch: ${(error as Error).message.slice(0, 80)}`);
        await sleep(100);
      }
    }
  };
  const filtering = async () => {
    for (let next = performance.now(); run.active; next += 1000 / filterPerSecond) {
      await sleep(Math.max(0, next - performance.now()));
      if (!run.active) return;
      try {
        const answer = await call(agent, target.url, { method: 'POST', path: '/graphql', headers, body: filterBody, timeoutMs: 30_000 });
        const code = errorCode(answer.body);
        run.count(`filter of ${filterValues}: ${answer.status}${code ? ` ${code}` : ' data'}`);
      } catch (error) {
        if (!run.active) return;
        run.count(`filter of ${filterValues}: ${(error as Error).message.slice(0, 80)}`);
      }
      next = Math.max(next, performance.now() - 1000 / filterPerSecond);
    }
  };
  const summary = await run.finish(
    Promise.all([...Array.from({ length: connections }, client), ...(filterPerSecond > 0 ? [filtering()] : [])]),
  );
  agent.destroy();
  return summary;
}

// ─────────────────────────────── 5. made-up credentials ───────────────────────────────

export interface GarbageOptions {
  durationMs?: number;
  /** HTTP requests, each with a credential never sent before (`Bearer g<N>`), over `connections` keep-alive sockets. */
  count?: number;
  connections?: number;
  /** WebSocket upgrades, each with its own made-up credential in the upgrade's header; `upgradeConcurrency` at once. */
  upgrades?: number;
  upgradeConcurrency?: number;
  /** false: the same, with no Authorization header at all (the baseline the issue compares with). */
  header?: boolean;
}

/**
 * Attack 5: made-up Bearer values, each different, as fast as the server answers: over HTTP from
 * the attacker's first address, as WebSocket upgrades from its second (so each spends a budget of
 * its own). Counts statuses; an upgrade that opens is closed at once.
 */
export async function garbageCredentials(target: Target, options: GarbageOptions = {}): Promise<Summary> {
  const { durationMs = 4000, count = 600, connections = 8, upgrades = 400, upgradeConcurrency = 20, header = true } = options;
  const run = new Run('garbage-credentials', durationMs);
  const agent = trackedAgent(run, address(target, 0), connections);
  const body = JSON.stringify({ query: '{ session(id: "session_none") { id } }' });
  let n = 0;
  const credential = () => (header ? { authorization: `Bearer g${n++}` } : ({} as Record<string, string>));

  const http = async () => {
    const started = performance.now();
    await pool(Array.from({ length: count }), connections, async () => {
      if (!run.active) return;
      try {
        const answer = await call(agent, target.url, {
          method: 'POST',
          path: '/graphql',
          headers: { 'content-type': 'application/json', accept: 'application/json', ...credential() },
          body,
          timeoutMs: 10_000,
        });
        run.count(`http: ${answer.status}`);
      } catch (error) {
        if (run.active) run.count(`http: ${(error as Error).message.slice(0, 80)}`);
      }
    });
    run.figures['httpSeconds'] = (performance.now() - started) / 1000;
  };
  const ws = async () => {
    const started = performance.now();
    await pool(Array.from({ length: upgrades }), upgradeConcurrency, async () => {
      if (!run.active) return;
      const socket = openWebSocket(run, target, { localAddress: address(target, 1), headers: credential() });
      const opened = await socket.open;
      if (opened) {
        run.count('upgrade: opened');
        socket.ws.terminate();
      } else {
        run.count(
          `upgrade: ${socket.refusedStatus ? `refused ${socket.refusedStatus}` : `failed ${socket.errorCode || socket.closeCode}`}`,
        );
      }
      await socket.closed;
    });
    run.figures['upgradeSeconds'] = (performance.now() - started) / 1000;
  };
  const summary = await run.finish(Promise.all([http(), ws()]));
  agent.destroy();
  return summary;
}

// ─────────────────────────────── 6. connections held ───────────────────────────────

export interface ConnectionHogOptions {
  durationMs?: number;
  /** Idle TCP connections from the attacker's first address, opened `wave` at a time. */
  connections?: number;
  wave?: number;
  /** Authenticated WebSockets with the attacker's key, spread over the attacker's other addresses. */
  websockets?: number;
  /** How long each phase holds what it opened before counting what is still open. */
  holdMs?: number;
}

/**
 * Attack 6: many idle TCP connections from one address (nothing sent), then many authenticated
 * WebSockets with one key. Counts what the server closed at once and what was still open after
 * `holdMs`.
 */
export async function connectionHog(target: Target, options: ConnectionHogOptions = {}): Promise<Summary> {
  const { durationMs = 6000, connections = 200, wave = 50, websockets = 120, holdMs = 1500 } = options;
  const run = new Run('connection-hog', durationMs);
  const { host, port } = origin(target);

  const tcp = async () => {
    const sockets: { socket: Socket; closed: boolean }[] = [];
    await pool(Array.from({ length: connections }), wave, async () => {
      if (!run.active) return;
      const socket = connect({ host, port, localAddress: address(target, 0) });
      const entry = { socket, closed: false };
      sockets.push(entry);
      run.track(socket);
      const opened = performance.now();
      socket.on('error', (error: NodeJS.ErrnoException) => run.count(`tcp: error ${error.code ?? error.message}`));
      socket.on('data', () => {});
      socket.once('close', () => {
        entry.closed = true;
        run.untrack(socket);
        run.endedAfterMs.push(performance.now() - opened);
      });
      await new Promise<void>((resolve) => {
        socket.once('connect', resolve);
        socket.once('close', resolve);
      });
    });
    run.figures['tcpOpened'] = sockets.length;
    await sleep(holdMs);
    const open = sockets.filter((s) => !s.closed).length;
    run.figures['tcpOpenAfterHold'] = open;
    run.figures['tcpClosedByServer'] = sockets.length - open;
    for (const { socket } of sockets) socket.destroy();
  };

  const sockets = async () => {
    const addresses =
      target.localAddresses && target.localAddresses.length > 1 ? target.localAddresses.slice(1) : (target.localAddresses ?? []);
    const held: ReturnType<typeof openWebSocket>[] = [];
    await pool(Array.from({ length: websockets }), 20, async (_, i) => {
      if (!run.active) return;
      const socket = openWebSocket(run, target, { localAddress: addresses.length ? addresses[i % addresses.length] : undefined });
      held.push(socket);
      if (!(await socket.open)) {
        run.count(`websocket: not opened (${socket.refusedStatus || socket.errorCode || socket.closeCode})`);
        return;
      }
      const acked = new Promise<boolean>((resolve) => {
        socket.ws.on('message', (data) => {
          if (String(data).includes('"connection_ack"')) resolve(true);
        });
        socket.closed.then(() => resolve(false));
      });
      send(socket.ws, { type: 'connection_init', payload: { Authorization: `Bearer ${target.key}` } });
      const ok = await Promise.race([acked, sleep(5000).then(() => false)]);
      if (ok) run.count('websocket: acknowledged');
    });
    await sleep(holdMs);
    const open = held.filter((s) => s.ws.readyState === WebSocket.OPEN);
    run.figures['websocketsOpenAfterHold'] = open.length;
    for (const s of held) {
      if (s.closeCode) {
        run.count(`websocket: closed by the server (${s.closeCode})`);
        run.endedAfterMs.push(s.closedAt - s.opened);
      }
    }
    for (const s of held) s.ws.terminate();
  };

  return run.finish(
    (async () => {
      await tcp();
      await sockets();
    })(),
  );
}

// ─────────────────────────────── 7. message floods ───────────────────────────────

export interface MessageFloodOptions {
  durationMs?: number;
  /** Authenticated sockets each sending `complete` messages as fast as they can. */
  connections?: number;
  /** Sockets that each send one message over the size limit; `oversizeBytes` long. */
  oversize?: number;
  oversizeBytes?: number;
}

/**
 * Attack 7: floods of graphql-ws `complete` messages over authenticated sockets (reading
 * normally), and sockets that each send one over-size message. Records how each socket was ended.
 */
export async function messageFlood(target: Target, options: MessageFloodOptions = {}): Promise<Summary> {
  const { durationMs = 3000, connections = 2, oversize = 20, oversizeBytes = 70_000 } = options;
  const run = new Run('message-flood', durationMs);
  const complete = Buffer.from(JSON.stringify({ id: 'c', type: 'complete' }));
  const big = Buffer.from(JSON.stringify({ type: 'ping', payload: { pad: 'x'.repeat(oversizeBytes) } }));

  const authenticated = async (i: number) => {
    const socket = openWebSocket(run, target, { localAddress: address(target, i) });
    if (!(await socket.open)) return null;
    const acked = new Promise<boolean>((resolve) => {
      socket.ws.on('message', (data) => {
        if (String(data).includes('"connection_ack"')) resolve(true);
      });
      socket.closed.then(() => resolve(false));
    });
    send(socket.ws, { type: 'connection_init', payload: { Authorization: `Bearer ${target.key}` } });
    if (!(await Promise.race([acked, sleep(5000).then(() => false)]))) run.count(`not acknowledged (${socket.closeCode || 'no answer'})`);
    return socket;
  };

  const flooder = async (i: number) => {
    const socket = await authenticated(i);
    if (!socket) return run.count('complete flood: not opened');
    let sent = 0;
    while (run.active && socket.ws.readyState === WebSocket.OPEN) {
      if (socket.ws.bufferedAmount > 256 * 1024) {
        await sleep(2);
        continue;
      }
      socket.ws.send(complete, { binary: false });
      sent++;
      if (sent % 200 === 0) await yieldToLoop();
    }
    run.add('completesSent', sent);
    const code = await Promise.race([socket.closed, sleep(1000).then(() => 0)]);
    if (code) {
      run.count(`complete flood: closed (${code})`);
      run.endedAfterMs.push(socket.closedAt - socket.opened);
    } else {
      run.count('complete flood: open at end');
    }
  };

  const oversized = async () => {
    await pool(Array.from({ length: oversize }), 5, async (_, i) => {
      if (!run.active) return;
      const socket = await authenticated(i + 1);
      if (!socket) return run.count('oversize: not opened');
      socket.ws.send(big, { binary: false });
      const code = await Promise.race([socket.closed, sleep(2000).then(() => 0)]);
      if (code) {
        run.count(`oversize: closed (${code})`);
        run.endedAfterMs.push(socket.closedAt - socket.opened);
      } else {
        run.count('oversize: still open 2 s later');
        socket.ws.terminate();
      }
    });
  };

  return run.finish(Promise.all([...Array.from({ length: connections }, (_, i) => flooder(i)), oversized()]));
}

// ─────────────────────────────── running an attack ───────────────────────────────

export const ATTACKS = {
  chunkedBodies,
  pingFlood,
  idleSubscriptions,
  heavyReads,
  garbageCredentials,
  connectionHog,
  messageFlood,
} as const;
export type AttackName = keyof typeof ATTACKS;

/**
 * Runs one attack in a Node process of its own (its CPU is not the neighbour's client's), killed
 * if it outlives its bound: the process's end closes whatever it still held.
 */
export function runAttack<N extends AttackName>(
  name: N,
  target: Target,
  options: Parameters<(typeof ATTACKS)[N]>[1],
  hardTimeoutMs = 60_000,
): Promise<Summary> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', thisFile, name, JSON.stringify({ target, options })], {
      cwd: root,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (err += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), hardTimeoutMs);
    child.on('close', (code) => {
      clearTimeout(timer);
      const last = out.trim().split('\n').at(-1);
      if (code === 0 && last) resolve(JSON.parse(last) as Summary);
      else reject(new Error(`attack ${name} exited with ${code}:\n${err.slice(-2000)}`));
    });
  });
}

// ─────────────────────────────── the neighbour ───────────────────────────────

export interface NeighbourTarget {
  url: string;
  /** A secret key of the neighbour's environment, and one of its sessions. */
  key: string;
  sessionId: string;
  localAddress?: string;
}

export interface NeighbourOptions {
  /** Requests a second, evenly spaced (a well-behaved client, under its rate limit). */
  ratePerSecond?: number;
  /** A request unanswered this long counts as an error. */
  timeoutMs?: number;
}

export interface Latencies {
  n: number;
  p50: number;
  p99: number;
  max: number;
}

export interface NeighbourReport {
  requests: number;
  elapsedMs: number;
  /** Answered requests per second. */
  rps: number;
  /** Count per "op status". */
  statuses: Record<string, number>;
  /** Every failed request (non-2xx, GraphQL error, network error, timeout), the first 50 in full. */
  errorCount: number;
  errors: string[];
  latency: Latencies;
  byOp: Record<string, Latencies>;
}

export function percentiles(values: number[]): Latencies {
  if (values.length === 0) return { n: 0, p50: 0, p99: 0, max: 0 };
  const sorted = [...values].sort((a, b) => a - b);
  const at = (q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;
  return { n: sorted.length, p50: at(0.5), p99: at(0.99), max: sorted.at(-1)! };
}

const READ = 'query Read($id: ID!) { session(id: $id) { id version tags metadata } }';
const WRITE = `mutation Write($id: ID!, $input: UpdateSessionInput!) {
  updateSession(id: $id, input: $input) { __typename ... on UpdateSessionSuccess { session { id version } } ... on Error { code message } }
}`;

/**
 * A well-behaved tenant in an environment of its own: alternates `session(id)`, `updateSession` and
 * REST GET of one session, one request at a time over one keep-alive connection, at a steady rate.
 * Records every status, every failure and each latency. `stop()` ends it and reports.
 */
export function startNeighbour(target: NeighbourTarget, options: NeighbourOptions = {}): { stop(): Promise<NeighbourReport> } {
  const { ratePerSecond = 50, timeoutMs = 10_000 } = options;
  const agent = new Agent({ keepAlive: true, maxSockets: 1, localAddress: target.localAddress } as ConstructorParameters<typeof Agent>[0]);
  const statuses: Record<string, number> = {};
  const errors: string[] = [];
  let errorCount = 0;
  const all: number[] = [];
  const byOp: Record<string, number[]> = { read: [], update: [], rest: [] };
  let running = true;
  const started = performance.now();
  const headers = { 'content-type': 'application/json', accept: 'application/json', authorization: `Bearer ${target.key}` };
  const fail = (what: string) => {
    errorCount++;
    if (errors.length < 50) errors.push(what);
  };

  const loop = (async () => {
    const period = 1000 / ratePerSecond;
    let next = performance.now();
    for (let i = 0; running; i++) {
      const wait = next - performance.now();
      if (wait > 0) await sleep(wait);
      if (!running) break;
      next = Math.max(next + period, performance.now());
      const op = (['read', 'update', 'rest'] as const)[i % 3]!;
      const t0 = performance.now();
      try {
        const answer =
          op === 'rest'
            ? await call(agent, target.url, { method: 'GET', path: `/api/v1/sessions/${target.sessionId}`, headers, timeoutMs })
            : await call(agent, target.url, {
                method: 'POST',
                path: '/graphql',
                headers,
                timeoutMs,
                body: JSON.stringify(
                  op === 'read'
                    ? { query: READ, variables: { id: target.sessionId } }
                    : { query: WRITE, variables: { id: target.sessionId, input: { tags: [`n${i % 7}`], metadata: { n: i } } } },
                ),
              });
        const ms = performance.now() - t0;
        all.push(ms);
        byOp[op]!.push(ms);
        statuses[`${op} ${answer.status}`] = (statuses[`${op} ${answer.status}`] ?? 0) + 1;
        if (answer.status < 200 || answer.status > 299) {
          fail(`${op}: ${answer.status} ${answer.body.slice(0, 200)}`);
          continue;
        }
        const body = JSON.parse(answer.body) as {
          errors?: unknown[];
          data?: { session?: { id: string }; updateSession?: { __typename: string } };
          id?: string;
        };
        if (op === 'rest' && body.id !== target.sessionId) fail(`rest: unexpected body ${answer.body.slice(0, 200)}`);
        if (op !== 'rest' && body.errors) fail(`${op}: ${answer.body.slice(0, 200)}`);
        if (op === 'read' && body.data?.session?.id !== target.sessionId) fail(`read: unexpected body ${answer.body.slice(0, 200)}`);
        if (op === 'update' && body.data?.updateSession?.__typename !== 'UpdateSessionSuccess')
          fail(`update: ${answer.body.slice(0, 200)}`);
      } catch (error) {
        const ms = performance.now() - t0;
        all.push(ms);
        byOp[op]!.push(ms);
        statuses[`${op} failed`] = (statuses[`${op} failed`] ?? 0) + 1;
        fail(`${op}: ${(error as Error).message}`);
      }
    }
  })();

  return {
    async stop() {
      running = false;
      await loop;
      agent.destroy();
      const elapsedMs = performance.now() - started;
      return {
        requests: all.length,
        elapsedMs: Math.round(elapsedMs),
        rps: (all.length * 1000) / elapsedMs,
        statuses,
        errorCount,
        errors,
        latency: percentiles(all),
        byOp: Object.fromEntries(Object.entries(byOp).map(([op, values]) => [op, percentiles(values)])),
      };
    },
  };
}

/** The neighbour for `durationMs`. */
export async function neighbour(target: NeighbourTarget, durationMs: number, options: NeighbourOptions = {}): Promise<NeighbourReport> {
  const running = startNeighbour(target, options);
  await sleep(durationMs);
  return running.stop();
}

export interface HealthReport {
  samples: number;
  /** Probes unanswered within `timeoutMs`, or failed; each counted at `timeoutMs` in the latencies. */
  failures: string[];
  latency: Latencies;
}

/**
 * Times GET /health every `intervalMs` (one at a time: a probe that takes longer delays the next),
 * over keep-alive from `localAddress`.
 */
export function startHealthProbe(
  url: string,
  options: { intervalMs?: number; timeoutMs?: number; localAddress?: string } = {},
): { stop(): Promise<HealthReport> } {
  const { intervalMs = 100, timeoutMs = 10_000 } = options;
  const agent = new Agent({ keepAlive: true, maxSockets: 1, localAddress: options.localAddress } as ConstructorParameters<typeof Agent>[0]);
  const latencies: number[] = [];
  const failures: string[] = [];
  let running = true;
  const loop = (async () => {
    while (running) {
      const t0 = performance.now();
      try {
        const answer = await call(agent, url, { method: 'GET', path: '/health', timeoutMs });
        latencies.push(performance.now() - t0);
        if (answer.status !== 200) failures.push(`status ${answer.status}`);
      } catch (error) {
        latencies.push(Math.max(performance.now() - t0, 0));
        failures.push((error as Error).message);
      }
      await sleep(Math.max(0, intervalMs - (performance.now() - t0)));
    }
  })();
  return {
    async stop() {
      running = false;
      await loop;
      agent.destroy();
      return { samples: latencies.length, failures, latency: percentiles(latencies) };
    },
  };
}

/** The probe for `durationMs`. */
export async function healthProbe(
  url: string,
  durationMs: number,
  options: { intervalMs?: number; localAddress?: string } = {},
): Promise<HealthReport> {
  const running = startHealthProbe(url, options);
  await sleep(durationMs);
  return running.stop();
}

// ─────────────────────────────── the service, as npm start runs it ───────────────────────────────

export interface Service {
  pid: number;
  url: string;
  /** Everything it wrote on stdout and stderr, interleaved. */
  output: { text: string };
  exited: Promise<number | null>;
  /** SIGTERM; SIGKILL if it has not exited within `graceMs`. */
  stop(graceMs?: number): Promise<void>;
}

export function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const server = createServer();
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

/** `npm start`'s command (package.json), without npm: the built dist/main.js, the same Node flags. */
export function startCommand(dir = root): string[] {
  const scripts = (JSON.parse(readFileSync(`${dir}/package.json`, 'utf8')) as { scripts: { start: string } }).scripts;
  return scripts.start
    .replace(/^exec /, '')
    .split(' ')
    .filter(Boolean);
}

/**
 * Starts the built service (run `node scripts/build.mjs` first) with `env` on top of this
 * process's environment (DATABASE_URL and PGLITE_DIR only as `env` gives them); resolves once
 * /ready answers 200.
 */
export async function startService(env: Record<string, string>, options: { cwd?: string } = {}): Promise<Service> {
  const { DATABASE_URL: _url, PGLITE_DIR: _dir, ...inherited } = process.env;
  const port = env['PORT'] ?? String(await freePort());
  const [command, ...args] = startCommand(options.cwd);
  const child = spawn(command!, args, {
    cwd: options.cwd ?? root,
    env: { ...inherited, ...env, PORT: port },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const output = { text: '' };
  child.stdout.on('data', (d) => (output.text += d));
  child.stderr.on('data', (d) => (output.text += d));
  const exited = new Promise<number | null>((resolve) => child.on('close', resolve));
  let exitCode: number | null | undefined;
  void exited.then((code) => (exitCode = code));
  const stop = async (graceMs = 5000) => {
    if (exitCode !== undefined) return;
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
    await exited;
    clearTimeout(timer);
  };
  for (let i = 0; i < 1200 && !/listening on http/.test(output.text) && exitCode === undefined; i++) await sleep(50);
  const url = /listening on (http:\/\/[\d.:]+)\/graphql/.exec(output.text)?.[1];
  if (!url) {
    await stop();
    throw new Error(`the service did not start:\n${output.text.slice(-3000)}`);
  }
  for (let i = 0; i < 300; i++) {
    const ready = await fetch(`${url}/ready`).then(
      (r) => r.status,
      () => 0,
    );
    if (ready === 200) break;
    await sleep(100);
  }
  return { pid: child.pid!, url, output, exited, stop };
}

export interface ProcessReport {
  peakRssMb: number;
  /** Average CPU over the sampling, percent of one core. */
  cpuPercent: number;
  samples: number;
}

function rssMb(pid: number): number {
  const line = readFileSync(`/proc/${pid}/status`, 'utf8')
    .split('\n')
    .find((l) => l.startsWith('VmRSS:'));
  return line ? Number(line.split(/\s+/)[1]) / 1024 : 0;
}

/** utime + stime, in ms (clock ticks of 10 ms). */
function cpuMs(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return (Number(fields[11]) + Number(fields[12])) * 10;
}

/** Samples a process's RSS every `intervalMs` (from /proc/<pid>/status) and its CPU over the whole time. */
export function sampleProcess(pid: number, intervalMs = 200): { stop(): ProcessReport } {
  const t0 = performance.now();
  let cpu0 = 0;
  let peak = 0;
  let samples = 0;
  const sample = () => {
    try {
      peak = Math.max(peak, rssMb(pid));
      samples++;
    } catch {
      // the process is gone
    }
  };
  try {
    cpu0 = cpuMs(pid);
  } catch {
    // gone already
  }
  sample();
  const timer = setInterval(sample, intervalMs);
  return {
    stop() {
      clearInterval(timer);
      sample();
      let cpu = 0;
      try {
        cpu = cpuMs(pid) - cpu0;
      } catch {
        // gone
      }
      return { peakRssMb: Math.round(peak), cpuPercent: Math.round((cpu / (performance.now() - t0)) * 100), samples };
    },
  };
}

// ─────────────────────────────── the two tenants ───────────────────────────────

export interface World {
  /** The attacker's environment: its key, public tokens, and light sessions to watch or PATCH. */
  attacker: { key: string; tokens: string[]; sessionIds: string[] };
  /** The neighbour's environment: its key and its one session. */
  neighbour: { key: string; sessionId: string };
}

/** About 30 KB of metadata: 60 keys of 490 characters each. */
export function heavyMetadata(n: number): Record<string, string> {
  return Object.fromEntries(Array.from({ length: 60 }, (_, k) => [`k${String(k).padStart(2, '0')}`, `${n}:${k}:`.padEnd(490, 'm')]));
}

/**
 * Seeds a database the service has not opened yet (PGlite serves one process at a time), through
 * the service's own code: migrations; the attacker's environment with `tokens` public tokens
 * (`read:sessions`), `heavy` sessions with about 30 KB of metadata and `light` small ones; the
 * neighbour's environment with one session. The src modules are loaded here only, so that an
 * attack's process does not load them.
 */
export async function seedWorld(
  where: { databaseUrl?: string; pgliteDir?: string },
  { tokens = 40, heavy = 100, light = 10 }: { tokens?: number; heavy?: number; light?: number } = {},
): Promise<World> {
  const [{ createEnvironment, createToken }, { openDatabase }, { sessions }] = await Promise.all([
    import('../src/auth/environments.js'),
    import('../src/db/client.js'),
    import('../src/db/schema.js'),
  ]);
  const database = await openDatabase(where.databaseUrl ? { databaseUrl: where.databaseUrl } : { pgliteDir: where.pgliteDir! });
  try {
    await database.migrate();
    const { db } = database;
    const attacker = await createEnvironment(db, 'attacker', 'PRODUCTION');
    const neighbour = await createEnvironment(db, 'neighbour', 'PRODUCTION');
    const minted: string[] = [];
    // Distinct scopes make distinct tokens (two signed in the same second with the same claims are one).
    for (let i = 0; i < tokens; i++) minted.push((await createToken(db, 'attacker', ['read:sessions', `read:sessions:t${i}`], 3600)).token);
    const row = (environmentId: string, id: string, extra: object = {}) => ({
      environmentId,
      id,
      type: 'chat.agent',
      taskIdentifier: 'my-chat',
      triggerConfig: { basePayload: { model: 'small' } },
      ...extra,
    });
    for (let i = 0; i < heavy; i += 20) {
      const ids = Array.from({ length: Math.min(20, heavy - i) }, (_, k) => i + k);
      await db
        .insert(sessions)
        .values(ids.map((n) => row(attacker.environmentId, `session_heavy${n}`, { tags: ['heavy'], metadata: heavyMetadata(n) })));
    }
    const lightIds = Array.from({ length: light }, (_, i) => `session_light${i}`);
    if (light > 0) await db.insert(sessions).values(lightIds.map((id) => row(attacker.environmentId, id)));
    await db.insert(sessions).values(row(neighbour.environmentId, 'session_neighbour', { metadata: { plan: 'pro' } }));
    return {
      attacker: { key: attacker.secretKey, tokens: minted, sessionIds: lightIds },
      neighbour: { key: neighbour.secretKey, sessionId: 'session_neighbour' },
    };
  } finally {
    await database.close();
  }
}

// ─────────────────────────────── command line ───────────────────────────────

if (process.argv[1] && pathToFileURL(process.argv[1]).href === import.meta.url) {
  const [name, json] = process.argv.slice(2);
  const attack = ATTACKS[name as AttackName] as (target: Target, options: unknown) => Promise<Summary>;
  if (!attack || !json) {
    console.error(`usage: node --import tsx test/attacks.ts <${Object.keys(ATTACKS).join('|')}> '{"target": {...}, "options": {...}}'`);
    process.exit(2);
  }
  const { target, options } = JSON.parse(json) as { target: Target; options: unknown };
  const summary = await attack(target, options ?? {});
  process.stdout.write(`${JSON.stringify(summary)}\n`);
  process.exit(0);
}
