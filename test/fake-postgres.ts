import { createServer, type Server, type Socket } from 'node:net';
import { createSecureContext, TLSSocket } from 'node:tls';

/**
 * A TCP server speaking the first messages of PostgreSQL's protocol, for the conditions the
 * shared test server (trust authentication, no TLS) cannot show: it answers a client's startup
 * with the FATAL error a real server sends, answers SSLRequest with `N` (no TLS) or by starting
 * TLS with the given certificate, or says nothing at all.
 */
export type FakeBehaviour = { kind: 'fatal'; code: string; message: string; tls?: { key: string; cert: string } } | { kind: 'silent' };

const SSL_REQUEST = 80877103;
const PROTOCOL_3 = 196608;

function errorResponse(code: string, message: string): Buffer {
  const fields = Buffer.from(`SFATAL\0VFATAL\0C${code}\0M${message}\0\0`, 'utf8');
  const header = Buffer.alloc(5);
  header[0] = 0x45; // 'E'
  header.writeUInt32BE(fields.length + 4, 1);
  return Buffer.concat([header, fields]);
}

export class FakePostgres {
  private readonly sockets = new Set<Socket>();
  private readonly server: Server;
  port = 0;

  private constructor(private readonly behaviour: FakeBehaviour) {
    this.server = createServer((socket) => this.accept(socket));
  }

  static async start(behaviour: FakeBehaviour): Promise<FakePostgres> {
    const fake = new FakePostgres(behaviour);
    await new Promise<void>((resolve) => fake.server.listen(0, '127.0.0.1', resolve));
    fake.port = (fake.server.address() as { port: number }).port;
    return fake;
  }

  private accept(socket: Socket): void {
    this.sockets.add(socket);
    socket.on('close', () => this.sockets.delete(socket));
    socket.on('error', () => {});
    const behaviour = this.behaviour;
    if (behaviour.kind === 'silent') return;
    // A startup message is answered with the error, and the connection ends; anything else (a TLS
    // handshake after `N`) is, as a real server takes it, an invalid startup packet: closed unanswered.
    const answer = (stream: Socket) =>
      stream.once('data', (startup: Buffer) => {
        if (startup.length >= 8 && startup.readUInt32BE(4) === PROTOCOL_3) stream.end(errorResponse(behaviour.code, behaviour.message));
        else stream.destroy();
      });
    socket.once('data', (first: Buffer) => {
      if (first.length < 8 || first.readUInt32BE(4) !== SSL_REQUEST)
        return void socket.end(errorResponse(behaviour.code, behaviour.message));
      if (!behaviour.tls) {
        socket.write('N');
        return void answer(socket);
      }
      socket.write('S');
      const secure = new TLSSocket(socket, { isServer: true, secureContext: createSecureContext(behaviour.tls) });
      secure.on('error', () => socket.destroy());
      answer(secure);
    });
  }

  async close(): Promise<void> {
    for (const socket of this.sockets) socket.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}
