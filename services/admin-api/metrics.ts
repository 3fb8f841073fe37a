import { Counter, Histogram, type Registry } from 'prom-client';

export interface AdminApiMetrics {
  requests: Counter<'method' | 'route' | 'status'>;
  requestDuration: Histogram<'method' | 'route'>;
  eventsEmitted: Counter<'type'>;
  transactionRetries: Counter;
  authFailures: Counter;
}

/** Labels stay bounded: the route pattern (never the URL), the method, the status class. */
export function createAdminApiMetrics(registry: Registry): AdminApiMetrics {
  return {
    requests: new Counter({
      name: 'gridpulse_admin_api_requests_total',
      help: 'HTTP requests answered, by route pattern and status class',
      labelNames: ['method', 'route', 'status'],
      registers: [registry],
    }),
    requestDuration: new Histogram({
      name: 'gridpulse_admin_api_request_duration_seconds',
      help: 'Time from request to response',
      labelNames: ['method', 'route'],
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
      registers: [registry],
    }),
    eventsEmitted: new Counter({
      name: 'gridpulse_admin_api_events_emitted_total',
      help: 'Events written to events.v1 by the admin API, by type',
      labelNames: ['type'],
      registers: [registry],
    }),
    transactionRetries: new Counter({
      name: 'gridpulse_admin_api_transaction_retries_total',
      help: 'Kafka transactions aborted and retried after a retriable error',
      registers: [registry],
    }),
    authFailures: new Counter({
      name: 'gridpulse_admin_api_auth_failures_total',
      help: 'Requests refused with 401',
      registers: [registry],
    }),
  };
}
