import { Agent, request } from 'undici';
import type { Logger } from '../common/logger';
import { GridpulseError } from '../common/errors';
import { createCircuitBreaker, type CircuitState } from './circuit-breaker';
import type { Oem, PollerConfig } from './config';
import { PollerErrorCode, isAbandoned } from './errors';
import type { PollerMetrics } from './metrics';
import { createRateLimiter, createSemaphore, sleep } from './rate-limiter';

export interface OemRequest {
  /** PUT: Enphase's battery settings and storm guard. */
  method: 'GET' | 'POST' | 'PUT';
  url: string;
  headers?: Record<string, string>;
  body?: string;
}

export interface OemResponse {
  status: number;
  body: string;
}

/**
 * Every HTTP call to one OEM goes through here: a pooled undici Agent, the OEM's rate limit
 * and concurrency cap, retries with exponential backoff and full jitter on 5xx and timeouts,
 * Retry-After on 429, and the OEM's circuit breaker. 2xx and other 4xx come back to the
 * adapter, which knows what they mean for that vendor (Tesla's 408 is "device offline").
 */
export interface OemHttpClient {
  /**
   * Once `signal` aborts, a request not sent yet (waiting for the rate limit, a concurrency
   * slot, a backoff or a Retry-After) rejects with GP_POLLER_STOPPING; one already on the wire
   * still finishes or times out (OEM_TIMEOUT_MS).
   */
  send(req: OemRequest, signal?: AbortSignal): Promise<OemResponse>;
  circuitState(): CircuitState;
  close(): Promise<void>;
}

const CIRCUIT_GAUGE: Record<CircuitState, number> = { closed: 0, half_open: 1, open: 2 };

export function createOemHttpClient(options: {
  oem: Oem;
  config: PollerConfig['http'];
  circuit: PollerConfig['circuit'];
  metrics: PollerMetrics;
  logger: Logger;
}): OemHttpClient {
  const { oem, config, metrics } = options;
  const logger = options.logger.child({ component: 'oem-http', oem });
  const agent = new Agent({
    connections: config.concurrency,
    headersTimeout: config.timeoutMs,
    bodyTimeout: config.timeoutMs,
    connectTimeout: Math.min(config.timeoutMs, 10_000),
  });
  const limiter = createRateLimiter(config.rateLimitPerSecond);
  const semaphore = createSemaphore(config.concurrency);
  const breaker = createCircuitBreaker({
    ...options.circuit,
    onStateChange: (state) => {
      metrics.circuitState.set({ oem }, CIRCUIT_GAUGE[state]);
      logger.warn({ state }, 'circuit state changed');
    },
  });
  metrics.circuitState.set({ oem }, 0);
  let closed = false;

  async function attemptOnce(req: OemRequest, signal: AbortSignal | undefined): Promise<Attempt> {
    if (!breaker.tryAcquire()) {
      throw new GridpulseError(PollerErrorCode.circuitOpen, 'OEM circuit open', {
        retriable: true,
        context: { oem },
      });
    }

    try {
      const waitedMs = await limiter.acquire(signal);
      if (waitedMs > 0) metrics.rateLimitWaits.inc({ oem, source: 'local' });
      const res = await semaphore.run(
        () =>
          // The stop signal is not passed on: a request on the wire ends on its own timeout.
          request(req.url, {
            method: req.method,
            headers: req.headers,
            body: req.body,
            dispatcher: agent,
            signal: AbortSignal.timeout(config.timeoutMs),
          }).then(async (response) => ({
            status: response.statusCode,
            retryAfter: response.headers['retry-after'],
            body: await response.body.text(),
          })),
        signal,
      );
      const failed = res.status >= 500;
      if (failed) breaker.onFailure();
      else breaker.onSuccess();
      metrics.requests.inc({ oem, outcome: statusOutcome(res.status) });
      return { kind: 'response', ...res };
    } catch (err) {
      if (isAbandoned(err)) {
        breaker.onAbandon();
        throw err;
      }
      breaker.onFailure();
      metrics.requests.inc({ oem, outcome: isTimeout(err) ? 'timeout' : 'error' });
      return { kind: 'error', err };
    }
  }

  return {
    async send(req, signal) {
      for (let attempt = 1; ; attempt += 1) {
        if (closed) throw unreachable(oem, new Error('client closed'), attempt);
        const result = await attemptOnce(req, signal);
        const isLast = attempt >= config.maxAttempts;

        if (result.kind === 'response' && result.status < 500 && result.status !== 429) {
          return { status: result.status, body: result.body };
        }

        if (result.kind === 'response' && result.status === 429) {
          const retryAfterMs = parseRetryAfterMs(result.retryAfter);
          if (isLast || (retryAfterMs ?? 0) > config.maxRetryAfterSeconds * 1000) {
            throw new GridpulseError(PollerErrorCode.oemRateLimited, 'OEM rate limit', {
              retriable: true,
              context: { oem, attempt, retryAfterMs },
            });
          }
          metrics.rateLimitWaits.inc({ oem, source: 'oem' });
          metrics.retries.inc({ oem });
          logger.debug({ attempt, retryAfterMs }, 'rate limited by OEM');
          await sleep(retryAfterMs ?? backoffMs(config, attempt), signal);
          continue;
        }

        if (isLast) {
          if (result.kind === 'error') throw unreachable(oem, result.err, attempt);
          throw new GridpulseError(PollerErrorCode.oemHttpError, 'OEM server error', {
            retriable: true,
            context: { oem, attempt, status: result.status },
          });
        }
        metrics.retries.inc({ oem });
        const delayMs = backoffMs(config, attempt);
        logger.debug(
          { attempt, delayMs, status: result.kind === 'response' ? result.status : null },
          'retrying OEM request',
        );
        await sleep(delayMs, signal);
      }
    },
    circuitState: () => breaker.state(),
    async close() {
      closed = true;
      await agent.close();
    },
  };
}

/** Full jitter: uniform in [0, min(max, base * 2^(attempt-1))]. */
export function backoffMs(
  config: Pick<PollerConfig['http'], 'backoffBaseMs' | 'backoffMaxMs'>,
  attempt: number,
): number {
  const ceiling = Math.min(config.backoffMaxMs, config.backoffBaseMs * 2 ** (attempt - 1));
  return Math.round(Math.random() * ceiling);
}

/** Retry-After is either delta-seconds or an HTTP date (RFC 9110 §10.2.3). */
export function parseRetryAfterMs(
  header: string | string[] | undefined,
  now = Date.now(),
): number | undefined {
  const value = Array.isArray(header) ? header[0] : header;
  if (!value) return undefined;
  if (/^\d+$/.test(value.trim())) return Number(value.trim()) * 1000;
  const date = Date.parse(value);
  return Number.isNaN(date) ? undefined : Math.max(0, date - now);
}

type Attempt =
  | { kind: 'response'; status: number; retryAfter: string | string[] | undefined; body: string }
  | { kind: 'error'; err: unknown };

function statusOutcome(status: number): string {
  if (status === 429) return '429';
  if (status >= 500) return '5xx';
  if (status >= 400) return '4xx';
  return '2xx';
}

function isTimeout(err: unknown): boolean {
  const { code, name } = (err ?? {}) as { code?: unknown; name?: unknown };
  return (
    name === 'TimeoutError' ||
    code === 'UND_ERR_HEADERS_TIMEOUT' ||
    code === 'UND_ERR_BODY_TIMEOUT' ||
    code === 'UND_ERR_CONNECT_TIMEOUT'
  );
}

function unreachable(oem: Oem, err: unknown, attempt: number): GridpulseError {
  return new GridpulseError(PollerErrorCode.oemUnreachable, 'OEM unreachable', {
    cause: err,
    retriable: true,
    context: { oem, attempt, timeout: isTimeout(err) },
  });
}
