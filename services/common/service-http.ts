import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Registry } from 'prom-client';

/** A named readiness condition, e.g. 'kafka consumer joined'. */
export type ReadinessCheck = () => boolean | Promise<boolean>;

export interface ServiceHttp {
  readonly port: number;
  close(): Promise<void>;
}

/**
 * The operational endpoint every service exposes: `/metrics` (Prometheus text), `/healthz`
 * (the process is alive: always 200 while the event loop turns) and `/readyz` (200 only when
 * every readiness check passes; the body names the failing ones).
 */
export async function startServiceHttp(options: {
  port: number;
  host?: string;
  registry: Registry;
  readiness?: Record<string, ReadinessCheck>;
}): Promise<ServiceHttp> {
  const { registry, readiness = {} } = options;

  const server: Server = createServer((req, res) => {
    const url = req.url ?? '/';
    if (req.method !== 'GET') {
      res.writeHead(405, { allow: 'GET' }).end();
      return;
    }
    if (url === '/metrics') {
      registry
        .metrics()
        .then((body) => res.writeHead(200, { 'content-type': registry.contentType }).end(body))
        .catch((err: unknown) => res.writeHead(500).end(String(err)));
      return;
    }
    if (url === '/healthz') {
      res.writeHead(200, { 'content-type': 'text/plain' }).end('ok\n');
      return;
    }
    if (url === '/readyz') {
      evaluateReadiness(readiness)
        .then((failing) => {
          const ready = failing.length === 0;
          const body = ready ? 'ready\n' : `not ready: ${failing.join(', ')}\n`;
          res.writeHead(ready ? 200 : 503, { 'content-type': 'text/plain' }).end(body);
        })
        .catch((err: unknown) => res.writeHead(503).end(`not ready: ${String(err)}\n`));
      return;
    }
    res.writeHead(404).end();
  });

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, options.host ?? '0.0.0.0', () => resolve());
  });

  return {
    port: (server.address() as AddressInfo).port,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

async function evaluateReadiness(checks: Record<string, ReadinessCheck>): Promise<string[]> {
  const results = await Promise.all(
    Object.entries(checks).map(async ([name, check]) => ((await check()) ? null : name)),
  );
  return results.filter((name): name is string => name !== null);
}
