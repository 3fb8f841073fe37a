import { isIP } from 'node:net';
import { Agent, errors as undiciErrors } from 'undici';
import { isGridpulseError } from '../common/errors';
import { activeSigningKeys, customHeaders, type Destination } from './destination';
import { DispatcherErrorCode } from './errors';
import { parseRetryAfterMs } from './retry-policy';
import { guardedLookup, isBlockedAddress, parseDestinationUrl, stripBrackets } from './ssrf-guard';
import { signWebhook } from './webhook-signer';

export type AttemptErrorKind = 'timeout' | 'connection' | 'address-refused' | 'redirect' | 'status';

/** What one HTTP attempt came to. Never holds the body or any secret. */
export interface AttemptResult {
  ok: boolean;
  statusCode: number | null;
  errorKind: AttemptErrorKind | null;
  retryAfterMs: number | null;
  durationMs: number;
  /** A short, secret-free explanation for logs and the attempt record. */
  detail: string | null;
}

export interface WebhookClient {
  send(destination: Destination, webhookId: string, body: string): Promise<AttemptResult>;
  close(): Promise<void>;
}

const RESPONSE_DRAIN_LIMIT_BYTES = 64 * 1024;

/**
 * POSTs signed webhooks over one pooled keep-alive undici Agent. Redirects are not followed
 * (undici's request does not follow them without an interceptor). Unless private URLs are
 * allowed, sockets connect only to addresses the guard checked (see guardedLookup).
 */
export function createWebhookClient(options: {
  allowPrivateUrls: boolean;
  connectionsPerOrigin: number;
  now?: () => number;
}): WebhookClient {
  const now = options.now ?? Date.now;
  const agent = new Agent({
    connections: options.connectionsPerOrigin,
    keepAliveTimeout: 30_000,
    connect: options.allowPrivateUrls
      ? { timeout: 5_000 }
      : { timeout: 5_000, lookup: guardedLookup as never },
  });

  return {
    async send(destination, webhookId, body) {
      const started = performance.now();
      const elapsed = () => Math.round(performance.now() - started);

      let url: URL;
      try {
        url = parseDestinationUrl(destination.url, options);
        const host = stripBrackets(url.hostname);
        // A literal IP never goes through lookup, so it is checked here.
        if (!options.allowPrivateUrls && isIP(host) && isBlockedAddress(host)) {
          return refused(`address ${host} is private or internal`, elapsed());
        }
      } catch (err) {
        return refused(err instanceof Error ? err.message : 'invalid URL', elapsed());
      }

      const timestampSec = Math.floor(now() / 1000);
      const signature = signWebhook(
        activeSigningKeys(destination, now()),
        webhookId,
        timestampSec,
        body,
      );
      const headers = {
        ...customHeaders(destination),
        'content-type': 'application/json',
        'user-agent': 'gridpulse-webhooks/1',
        'webhook-id': webhookId,
        'webhook-timestamp': String(timestampSec),
        'webhook-signature': signature,
      };

      try {
        const response = await agent.request({
          origin: url.origin,
          path: `${url.pathname}${url.search}`,
          method: 'POST',
          headers,
          body,
          headersTimeout: destination.timeoutMs,
          bodyTimeout: destination.timeoutMs,
          signal: AbortSignal.timeout(destination.timeoutMs),
        });
        // Read (a bounded part of) the answer so the connection goes back to the pool.
        await response.body.dump({ limit: RESPONSE_DRAIN_LIMIT_BYTES }).catch(() => undefined);
        const { statusCode } = response;
        const durationMs = elapsed();

        if (statusCode >= 200 && statusCode < 300) {
          return {
            ok: true,
            statusCode,
            errorKind: null,
            retryAfterMs: null,
            durationMs,
            detail: null,
          };
        }
        const retryAfter = response.headers['retry-after'];
        return {
          ok: false,
          statusCode,
          errorKind: statusCode >= 300 && statusCode < 400 ? 'redirect' : 'status',
          retryAfterMs: parseRetryAfterMs(
            Array.isArray(retryAfter) ? retryAfter[0] : retryAfter,
            now(),
          ),
          durationMs,
          detail: `HTTP ${statusCode}`,
        };
      } catch (err) {
        return classifyError(err, elapsed());
      }
    },

    close: () => agent.close(),
  };
}

function refused(detail: string, durationMs: number): AttemptResult {
  return {
    ok: false,
    statusCode: null,
    errorKind: 'address-refused',
    retryAfterMs: null,
    durationMs,
    detail,
  };
}

function classifyError(err: unknown, durationMs: number): AttemptResult {
  const failure = (errorKind: AttemptErrorKind, detail: string): AttemptResult => ({
    ok: false,
    statusCode: null,
    errorKind,
    retryAfterMs: null,
    durationMs,
    detail,
  });

  if (isGridpulseError(err, DispatcherErrorCode.addressRefused)) {
    return failure('address-refused', err.message);
  }
  const name = (err as { name?: unknown } | null)?.name;
  if (
    err instanceof undiciErrors.HeadersTimeoutError ||
    err instanceof undiciErrors.BodyTimeoutError ||
    err instanceof undiciErrors.ConnectTimeoutError ||
    name === 'TimeoutError' ||
    name === 'AbortError'
  ) {
    return failure('timeout', 'no answer within the timeout');
  }
  const code = (err as { code?: unknown } | null)?.code;
  return failure('connection', typeof code === 'string' ? code : 'connection failed');
}
