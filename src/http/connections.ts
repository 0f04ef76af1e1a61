import type { Server } from 'node:http';
import type { Socket } from 'node:net';

/**
 * Caps the TCP connections the server holds: in all (Node closes those over `server.maxConnections`
 * at once) and per peer address, so one client cannot take the file descriptors everyone needs.
 * The address is the TCP peer's: behind a proxy every client shares it, so the per-address cap is
 * then the proxy's to enforce (set MAX_CONNECTIONS_PER_ADDRESS=0).
 */
export function capConnections(server: Server, total: number, perAddress: number): void {
  server.maxConnections = total;
  if (perAddress <= 0) return;
  const open = new Map<string, number>();
  server.on('connection', (socket: Socket) => {
    const address = socket.remoteAddress ?? '';
    const count = (open.get(address) ?? 0) + 1;
    if (count > perAddress) return void socket.destroy();
    open.set(address, count);
    socket.once('close', () => {
      const left = (open.get(address) ?? 1) - 1;
      if (left > 0) open.set(address, left);
      else open.delete(address);
    });
  });
}
