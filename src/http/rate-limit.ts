import { createHash } from 'node:crypto';
import type { Plugin } from 'graphql-yoga';

export interface RateLimit {
  /** Sustained requests per second per credential; 0 turns the limit off. */
  perSecond: number;
  /** Requests a credential may send at once after being idle. */
  burst: number;
}

interface Bucket {
  tokens: number;
  at: number;
}

const MAX_BUCKETS = 50_000;

/**
 * A token bucket per credential (per client address for requests without one), checked before the
 * body is parsed. Over the rate: 429 RATE_LIMITED with Retry-After, and nothing runs.
 */
export function useRateLimit(limit: RateLimit, now: () => number = () => performance.now()): Plugin {
  if (limit.perSecond <= 0) return {};
  const buckets = new Map<string, Bucket>();
  const take = (key: string): number => {
    const t = now();
    const bucket = buckets.get(key) ?? { tokens: limit.burst, at: t };
    bucket.tokens = Math.min(limit.burst, bucket.tokens + ((t - bucket.at) / 1000) * limit.perSecond);
    bucket.at = t;
    buckets.delete(key); // re-inserted last: the map stays in order of use, oldest first
    buckets.set(key, bucket);
    if (buckets.size > MAX_BUCKETS) buckets.delete(buckets.keys().next().value!);
    if (bucket.tokens >= 1) {
      bucket.tokens -= 1;
      return 0;
    }
    return Math.ceil((1 - bucket.tokens) / limit.perSecond);
  };
  return {
    onRequest({ request, url, serverContext, endResponse, fetchAPI }) {
      if (url.pathname !== '/graphql') return;
      const authorization = request.headers.get('authorization');
      const address = (serverContext as { req?: { socket?: { remoteAddress?: string } } }).req?.socket?.remoteAddress;
      const key = authorization
        ? createHash('sha256').update(authorization).digest('base64url')
        : `address:${address ?? 'unknown'}`;
      const retryAfter = take(key);
      if (retryAfter === 0) return;
      const body = {
        errors: [
          {
            message: `Too many requests: at most ${limit.perSecond} per second per credential; retry after ${retryAfter} s`,
            extensions: { code: 'RATE_LIMITED' },
          },
        ],
      };
      endResponse(
        new fetchAPI.Response(JSON.stringify(body), {
          status: 429,
          headers: { 'content-type': 'application/graphql-response+json; charset=utf-8', 'retry-after': String(retryAfter) },
        }),
      );
    },
  };
}
