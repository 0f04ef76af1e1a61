import type { IncomingMessage } from 'node:http';
import { isIP } from 'node:net';
import type { Caller } from '../auth/credentials.js';

/**
 * The rate limit's key: a checked credential has a bucket of its own; a request without one (none
 * sent, or one that failed: a made-up key gets no bucket of its own) is charged to its address.
 */
export function rateKey(caller: Caller, req: IncomingMessage, trustProxyHops: number): string {
  return 'credential' in caller ? caller.credential.id : addressKey(clientAddress(req, trustProxyHops));
}

const addressKey = (address: string) => `address:${address}`;

/**
 * The client's address: the socket's, or behind `hops` trusted proxies the address the outermost
 * of them saw (X-Forwarded-For, counted from the right, so a client cannot forge it).
 */
export function clientAddress(req: IncomingMessage, hops: number): string {
  const peer = req.socket.remoteAddress ?? 'unknown';
  const header = req.headers['x-forwarded-for'];
  if (hops <= 0 || !header) return peer;
  const chain = (Array.isArray(header) ? header.join(',') : header)
    .split(',')
    .map((a) => a.trim())
    .filter(Boolean);
  const address = chain[chain.length - hops] ?? chain[0];
  // Only an address is a key: anything else a proxy passed on (or a client made up) is the peer's.
  return address !== undefined && isIP(address) ? address : peer;
}
