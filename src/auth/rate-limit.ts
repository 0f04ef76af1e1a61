export interface RateLimit {
  /** Sustained requests per second per key; 0 turns the limit off. */
  perSecond: number;
  /** Requests a key may send at once after being idle. */
  burst: number;
}

interface Bucket {
  tokens: number;
  at: number;
}

/** What a take leaves: whether it was allowed, and the figures the x-ratelimit-* headers show. */
export interface Allowance {
  allowed: boolean;
  limit: number;
  remaining: number;
  /** Seconds until the bucket is full again. */
  resetSeconds: number;
  /** Seconds until the refused request could pass (0 when allowed). */
  retryAfterSeconds: number;
}

const MAX_BUCKETS = 50_000;

/**
 * A token bucket per key, in memory (per instance). The map stays in order of use, so when it is
 * full the key idle longest goes first; a forgotten key starts again with a full bucket.
 */
export class RateLimiter {
  private readonly buckets = new Map<string, Bucket>();

  constructor(
    readonly limit: RateLimit,
    private readonly now: () => number = () => performance.now(),
  ) {}

  get enabled(): boolean {
    return this.limit.perSecond > 0;
  }

  private bucket(key: string): Bucket {
    const t = this.now();
    const bucket = this.buckets.get(key) ?? { tokens: this.limit.burst, at: t };
    bucket.tokens = Math.min(this.limit.burst, bucket.tokens + ((t - bucket.at) / 1000) * this.limit.perSecond);
    bucket.at = t;
    this.buckets.delete(key);
    this.buckets.set(key, bucket);
    if (this.buckets.size > MAX_BUCKETS) this.buckets.delete(this.buckets.keys().next().value!);
    return bucket;
  }

  /** Takes `n` tokens if the key has them; takes nothing otherwise. */
  take(key: string, n = 1): Allowance {
    const bucket = this.bucket(key);
    const allowed = bucket.tokens >= n;
    if (allowed) bucket.tokens -= n;
    return this.allowance(bucket, allowed, n);
  }

  /** Whether `n` tokens are there, taking none. */
  check(key: string, n = 1): Allowance {
    const bucket = this.bucket(key);
    return this.allowance(bucket, bucket.tokens >= n, n);
  }

  private allowance(bucket: Bucket, allowed: boolean, n: number): Allowance {
    const { perSecond, burst } = this.limit;
    return {
      allowed,
      limit: burst,
      remaining: Math.floor(bucket.tokens),
      resetSeconds: Math.ceil((burst - bucket.tokens) / perSecond),
      retryAfterSeconds: allowed ? 0 : Math.max(1, Math.ceil((n - bucket.tokens) / perSecond)),
    };
  }
}
