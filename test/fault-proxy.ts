import { connect, createServer, type Server, type Socket } from 'node:net';

/**
 * A TCP proxy between the service and PostgreSQL that a test can break:
 * - `cut()`: every connection is reset and new ones are refused (the database is down);
 * - `partition()`: connections stay open but nothing crosses, either way (a network partition);
 * - `restore()`: traffic flows again; bytes held during a partition are delivered, as TCP would.
 */
interface Pair {
  client: Socket;
  upstream: Socket | null;
  /** Bytes held during a partition, for each direction. */
  toUpstream: Buffer[];
  toClient: Buffer[];
  /** Cut off from the database for good, its client still connected (see `strand`). */
  stranded?: boolean;
}

export class FaultProxy {
  private server: Server | null = null;
  private readonly pairs = new Set<Pair>();
  private mode: 'open' | 'cut' | 'partition' = 'open';

  private constructor(
    private readonly target: { host: string; port: number },
    public port: number,
  ) {}

  static async start(target: { host: string; port: number }): Promise<FaultProxy> {
    const proxy = new FaultProxy(target, 0);
    await proxy.listen();
    return proxy;
  }

  private listen(): Promise<void> {
    const server = createServer((client) => this.accept(client));
    this.server = server;
    return new Promise((resolve) => {
      server.listen(this.port, '127.0.0.1', () => {
        this.port = (server.address() as { port: number }).port;
        resolve();
      });
    });
  }

  private accept(client: Socket): void {
    const pair: Pair = { client, upstream: null, toUpstream: [], toClient: [] };
    this.pairs.add(pair);
    const drop = () => {
      client.destroy();
      pair.upstream?.destroy();
      this.pairs.delete(pair);
    };
    client.on('error', drop);
    client.on('close', drop);
    client.on('data', (chunk: Buffer) => {
      if (pair.stranded) return;
      if (this.mode === 'open' && pair.upstream) pair.upstream.write(chunk);
      else pair.toUpstream.push(chunk);
    });
    if (this.mode === 'open') this.connectUpstream(pair);
  }

  private connectUpstream(pair: Pair): void {
    const upstream = connect(this.target.port, this.target.host);
    pair.upstream = upstream;
    upstream.on('error', () => pair.client.destroy());
    upstream.on('close', () => pair.client.destroy());
    upstream.on('data', (chunk: Buffer) => {
      if (this.mode === 'open') pair.client.write(chunk);
      else pair.toClient.push(chunk);
    });
    this.flush(pair);
  }

  private flush(pair: Pair): void {
    for (const chunk of pair.toUpstream.splice(0)) pair.upstream!.write(chunk);
    for (const chunk of pair.toClient.splice(0)) pair.client.write(chunk);
  }

  /** Resets every connection and refuses new ones. */
  async cut(): Promise<void> {
    this.mode = 'cut';
    await new Promise<void>((resolve) => {
      this.server?.close(() => resolve());
      for (const { client, upstream } of this.pairs) {
        client.resetAndDestroy();
        upstream?.destroy();
      }
      this.pairs.clear();
    });
    this.server = null;
  }

  /** Keeps every connection open and lets nothing through; new connections hang the same way. */
  partition(): void {
    this.mode = 'partition';
  }

  /**
   * Every open connection stays open to its client but never reaches the database again (a server
   * gone behind a firewall that still completes TCP): only a client that gives up on it recovers.
   * New connections work.
   */
  strand(): void {
    for (const pair of this.pairs) {
      pair.stranded = true;
      pair.upstream?.removeAllListeners().on('error', () => {});
      pair.upstream?.destroy();
      pair.upstream = null;
    }
  }

  async restore(): Promise<void> {
    const was = this.mode;
    this.mode = 'open';
    if (was === 'cut') await this.listen();
    for (const pair of this.pairs) {
      if (pair.stranded) continue;
      if (pair.upstream) this.flush(pair);
      else this.connectUpstream(pair);
    }
  }

  async close(): Promise<void> {
    for (const { client, upstream } of this.pairs) {
      client.destroy();
      upstream?.destroy();
    }
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
  }
}
