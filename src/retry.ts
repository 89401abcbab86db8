// Waiting out a stall: a service that does not answer (reason 'unavailable')
// is asked again with backoff for a bounded time, so an etcd or Placement
// that freezes or restarts for a few seconds costs a delay, not a failure.
// Only for work that is safe to repeat; callers of non-idempotent writes make
// the repeat recognise its own earlier effect (see InstanceStore).
import pRetry from 'p-retry'

export interface WaitOutOptions {
  /** Give up once this long has passed since the first attempt. */
  budgetMs: number
  signal?: AbortSignal
  /** Told before each new attempt (for logs). */
  onRetry?(error: Error, attempt: number): void
}

export function isUnavailable(error: unknown): boolean {
  return (error as {reason?: unknown} | undefined)?.reason === 'unavailable'
}

export async function waitOutStalls<T>(work: () => Promise<T>, options: WaitOutOptions): Promise<T> {
  if (options.budgetMs <= 0) return work()
  return pRetry(work, {
    retries: Number.POSITIVE_INFINITY,
    maxRetryTime: options.budgetMs,
    minTimeout: 200,
    maxTimeout: 2000,
    randomize: true,
    signal: options.signal,
    shouldRetry: ({error}) => isUnavailable(error),
    onFailedAttempt: ({error, attemptNumber}) => {
      if (isUnavailable(error)) options.onRetry?.(error, attemptNumber)
    },
  })
}
