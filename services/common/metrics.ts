import { collectDefaultMetrics, Gauge, Registry } from 'prom-client';

/**
 * A registry with the process metrics (CPU, memory, event-loop lag, GC) under the gridpulse_
 * prefix and a `gridpulse_build_info` gauge. Each service defines its own metrics on it in its
 * metrics.ts.
 */
export function createMetricsRegistry(service: string, version = packageVersion()): Registry {
  const registry = new Registry();
  registry.setDefaultLabels({ service });
  collectDefaultMetrics({ register: registry, prefix: 'gridpulse_' });
  // These three are gauges named like counters, which promtool (and the naming rules) reject
  // (prom-client issue #283); the per-type gauges beside them carry the same numbers.
  for (const kind of ['handles', 'requests', 'resources']) {
    registry.removeSingleMetric(`gridpulse_nodejs_active_${kind}_total`);
  }

  const buildInfo = new Gauge({
    name: 'gridpulse_build_info',
    help: 'Always 1; labels say which gridpulse and Node.js versions run.',
    labelNames: ['version', 'node_version'],
    registers: [registry],
  });
  buildInfo.set({ version, node_version: process.version }, 1);
  return registry;
}

function packageVersion(): string {
  // npm sets this when the service runs through an npm script; plain `node` runs say unknown.
  return process.env.npm_package_version ?? 'unknown';
}
