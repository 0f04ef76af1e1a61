import type { IncomingMessage, ServerResponse } from 'node:http';

/** CORS for the origins configured (`*` for any); answers preflights. False when the request is answered. */
export function cors(req: IncomingMessage, res: ServerResponse, corsOrigins: readonly string[]): boolean {
  const origin = req.headers.origin;
  const allowed = origin !== undefined && (corsOrigins.includes('*') || corsOrigins.includes(origin));
  // The answer differs by Origin whenever origins are listed: caches must keep them apart.
  if (corsOrigins.length > 0 && !corsOrigins.includes('*')) res.setHeader('vary', 'Origin');
  if (allowed) {
    res.setHeader('access-control-allow-origin', corsOrigins.includes('*') ? '*' : origin);
    res.setHeader('access-control-expose-headers', 'ETag, Retry-After, X-RateLimit-Limit, X-RateLimit-Remaining, X-RateLimit-Reset');
  }
  if (req.method !== 'OPTIONS') return true;
  if (allowed) {
    res.setHeader('access-control-allow-methods', 'GET, POST, PATCH, OPTIONS');
    res.setHeader('access-control-allow-headers', 'Authorization, Content-Type, Accept, If-Match');
    res.setHeader('access-control-max-age', '600');
  }
  res.writeHead(204, { allow: 'GET, POST, PATCH, OPTIONS' });
  res.end();
  return false;
}
