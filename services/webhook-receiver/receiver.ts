import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Counter, Registry } from 'prom-client';
import { Webhook, WebhookVerificationError } from 'standardwebhooks';
import type { Logger } from '../common/logger';

/**
 * An example webhook receiver: the starting point we hand to customers. It verifies every
 * request with the official Standard Webhooks library, answers 401 to anything it cannot
 * verify, and acts once per webhook-id (gridpulse delivers at least once, so duplicates are
 * normal and carry the same id).
 */
export interface ReceivedEvent {
  webhookId: string;
  type: string;
  key: string;
  timestamp: string;
  data: Record<string, unknown>;
}

export interface ReceiverOptions {
  /** The destination's signing secret(s), `whsec_…`; any one verifying is enough (rotation). */
  secrets: string[];
  logger: Logger;
  port?: number;
  host?: string;
  registry?: Registry;
  /** How many recent webhook-ids to remember for deduplication. */
  dedupeWindow?: number;
  /**
   * Called once per new event, after verification. The event counts as received only when
   * this returns (or its promise resolves); if it throws, the receiver answers 500 and the
   * delivery comes again with the same webhook-id.
   */
  onEvent?: (event: ReceivedEvent) => void | Promise<void>;
}

export interface ReceiverSummary {
  received: number;
  duplicates: number;
  rejected: number;
  /** Verified events whose handler threw: answered 500, so they are delivered again. */
  failed: number;
  byType: Record<string, number>;
}

export interface ReceiverHandle {
  readonly url: string;
  readonly registry: Registry;
  summary(): ReceiverSummary;
  stop(): Promise<void>;
}

const MAX_BODY_BYTES = 1024 * 1024;

export async function startReceiver(options: ReceiverOptions): Promise<ReceiverHandle> {
  const logger = options.logger.child({ component: 'webhook-receiver' });
  const verifiers = options.secrets.map((secret) => new Webhook(secret));
  const registry = options.registry ?? new Registry();
  const metrics = createReceiverMetrics(registry);
  const seen = new RecentIds(options.dedupeWindow ?? 100_000);
  // Ids whose handler is still running: a redelivery arriving meanwhile is told to come back
  // later rather than acted on twice.
  const inFlight = new Set<string>();
  const summary: ReceiverSummary = {
    received: 0,
    duplicates: 0,
    rejected: 0,
    failed: 0,
    byType: {},
  };

  const server: Server = createServer((req, res) => {
    if (req.method === 'GET' && req.url === '/metrics') {
      void registry
        .metrics()
        .then((body) => res.writeHead(200, { 'content-type': registry.contentType }).end(body));
      return;
    }
    if (req.method === 'GET' && req.url === '/summary') {
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(summary));
      return;
    }
    if (req.method === 'GET' && req.url === '/received') {
      // The webhook-ids still in the dedupe window, oldest first: for checking a run end to end.
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(seen.list()));
      return;
    }
    if (req.method !== 'POST') {
      res.writeHead(405, { allow: 'POST' }).end();
      return;
    }

    readBody(req)
      .then(async (body) => {
        const event = verify(verifiers, body, req);
        if (!event) {
          summary.rejected += 1;
          metrics.rejected.inc();
          logger.warn({ webhookId: req.headers['webhook-id'] }, 'signature rejected');
          res.writeHead(401).end();
          return;
        }
        if (seen.has(event.webhookId)) {
          summary.duplicates += 1;
          metrics.duplicates.inc();
          logger.debug({ webhookId: event.webhookId }, 'duplicate ignored');
          res.writeHead(200).end();
          return;
        }
        if (inFlight.has(event.webhookId)) {
          logger.debug({ webhookId: event.webhookId }, 'duplicate while in progress');
          res.writeHead(409).end();
          return;
        }

        inFlight.add(event.webhookId);
        try {
          await options.onEvent?.(event);
        } catch (err) {
          // Not marked as seen: the sender retries with the same id and the handler runs again.
          summary.failed += 1;
          metrics.failed.inc();
          logger.error({ err, type: event.type, webhookId: event.webhookId }, 'handler failed');
          res.writeHead(500).end();
          return;
        } finally {
          inFlight.delete(event.webhookId);
        }

        seen.add(event.webhookId);
        summary.received += 1;
        summary.byType[event.type] = (summary.byType[event.type] ?? 0) + 1;
        metrics.events.inc({ type: event.type });
        logger.info(
          { type: event.type, deviceId: event.data.deviceId, webhookId: event.webhookId },
          'event received',
        );
        res.writeHead(204).end();
      })
      .catch((err: unknown) => {
        summary.rejected += 1;
        metrics.rejected.inc();
        const tooLarge = err instanceof BodyTooLargeError;
        logger.warn({ err, webhookId: req.headers['webhook-id'] }, 'request refused');
        res.writeHead(tooLarge ? 413 : 400).end();
      });
  });

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, options.host ?? '127.0.0.1', () => resolve());
  });
  const { port } = server.address() as AddressInfo;

  return {
    url: `http://${options.host ?? '127.0.0.1'}:${port}/webhooks`,
    registry,
    summary: () => structuredClone(summary),
    stop: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

function verify(verifiers: Webhook[], body: string, req: IncomingMessage): ReceivedEvent | null {
  const headers = {
    'webhook-id': String(req.headers['webhook-id'] ?? ''),
    'webhook-timestamp': String(req.headers['webhook-timestamp'] ?? ''),
    'webhook-signature': String(req.headers['webhook-signature'] ?? ''),
  };
  for (const verifier of verifiers) {
    try {
      const payload = verifier.verify(body, headers) as Omit<ReceivedEvent, 'webhookId'>;
      return { ...payload, webhookId: headers['webhook-id'] };
    } catch (err) {
      // Wrong secret, stale timestamp or bad signature: try the next secret, else reject.
      if (!(err instanceof WebhookVerificationError)) throw err;
    }
  }
  return null;
}

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > MAX_BODY_BYTES) {
        reject(new BodyTooLargeError());
        req.destroy();
        return;
      }
      chunks.push(chunk);
    });
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

class BodyTooLargeError extends Error {
  constructor() {
    super(`request body over ${MAX_BODY_BYTES} bytes`);
  }
}

function createReceiverMetrics(registry: Registry) {
  return {
    events: new Counter({
      name: 'gridpulse_receiver_events_total',
      help: 'Verified events received for the first time, by event type.',
      labelNames: ['type'],
      registers: [registry],
    }),
    duplicates: new Counter({
      name: 'gridpulse_receiver_duplicates_total',
      help: 'Verified deliveries whose webhook-id had been received before.',
      registers: [registry],
    }),
    rejected: new Counter({
      name: 'gridpulse_receiver_rejected_total',
      help: 'Requests refused: bad or missing signature, stale timestamp, or oversized body.',
      registers: [registry],
    }),
    failed: new Counter({
      name: 'gridpulse_receiver_handler_failures_total',
      help: 'Verified events whose handler threw; answered 500 so that they are delivered again.',
      registers: [registry],
    }),
  };
}

/** A bounded set: remembers the last `capacity` ids, forgetting the oldest first. */
class RecentIds {
  readonly #ids = new Set<string>();
  readonly #capacity: number;

  constructor(capacity: number) {
    this.#capacity = capacity;
  }

  has(id: string): boolean {
    return this.#ids.has(id);
  }

  list(): string[] {
    return [...this.#ids];
  }

  add(id: string): void {
    this.#ids.add(id);
    if (this.#ids.size > this.#capacity) {
      const oldest = this.#ids.values().next().value as string;
      this.#ids.delete(oldest);
    }
  }
}
