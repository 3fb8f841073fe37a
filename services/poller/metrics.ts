import { Counter, Gauge, Histogram, type Registry } from 'prom-client';

export type PollOutcome = 'ok' | 'partial' | 'failed' | 'skipped' | 'abandoned';

/** Every poller metric, created on the registry passed in (tests make a fresh one each). */
export function createPollerMetrics(registry: Registry) {
  const registers = [registry];
  return {
    polls: new Counter({
      name: 'gridpulse_poller_polls_total',
      help:
        'Poll cycles of one connection, by OEM and outcome ' +
        '(ok, partial, failed, skipped, abandoned by a stop).',
      labelNames: ['oem', 'outcome'],
      registers,
    }),
    pollDuration: new Histogram({
      name: 'gridpulse_poller_poll_duration_seconds',
      help: "Duration of one connection's poll cycle, listing and every device included.",
      labelNames: ['oem'],
      buckets: [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120],
      registers,
    }),
    requests: new Counter({
      name: 'gridpulse_poller_oem_requests_total',
      help: 'HTTP requests to OEM APIs, by OEM and outcome (2xx, 4xx, 5xx, 429, timeout, error).',
      labelNames: ['oem', 'outcome'],
      registers,
    }),
    rateLimitWaits: new Counter({
      name: 'gridpulse_poller_rate_limit_waits_total',
      help: 'Times a request waited: for the local rate limit (local) or an OEM Retry-After (oem).',
      labelNames: ['oem', 'source'],
      registers,
    }),
    retries: new Counter({
      name: 'gridpulse_poller_oem_retries_total',
      help: 'OEM requests retried after a 5xx, 429 or timeout.',
      labelNames: ['oem'],
      registers,
    }),
    tokenRefreshes: new Counter({
      name: 'gridpulse_poller_token_refreshes_total',
      help: 'Access-token refreshes by OEM and outcome (ok, rejected, failed, persist_failed).',
      labelNames: ['oem', 'outcome'],
      registers,
    }),
    recordsProduced: new Counter({
      name: 'gridpulse_poller_records_produced_total',
      help: 'DeviceState records written to device-state.v1, by OEM and connectivity.',
      labelNames: ['oem', 'connectivity'],
      registers,
    }),
    normalizationFailures: new Counter({
      name: 'gridpulse_poller_normalization_failures_total',
      help: 'OEM responses skipped because they could not be normalized, by OEM and reason.',
      labelNames: ['oem', 'reason'],
      registers,
    }),
    cycleLag: new Histogram({
      name: 'gridpulse_poller_cycle_lag_seconds',
      help: "How late a connection's cycle started after its slot.",
      labelNames: ['oem'],
      buckets: [0.01, 0.1, 0.5, 1, 2, 5, 10, 30, 60],
      registers,
    }),
    missedCycles: new Counter({
      name: 'gridpulse_poller_missed_cycles_total',
      help: 'Cycles not started because the previous cycle of the connection was still running.',
      labelNames: ['oem'],
      registers,
    }),
    circuitState: new Gauge({
      name: 'gridpulse_poller_circuit_state',
      help: 'Circuit breaker per OEM: 0 closed, 1 half-open, 2 open.',
      labelNames: ['oem'],
      registers,
    }),
    connectionsRejected: new Counter({
      name: 'gridpulse_poller_connections_rejected_total',
      help:
        'connections.v1 revisions not pollable, by reason (no_key, key_id_mismatch, ' +
        'authentication_failed, unknown_format, truncated, invalid); counted at each replay.',
      labelNames: ['reason'],
      registers,
    }),
    commands: new Counter({
      name: 'gridpulse_poller_commands_total',
      help: 'Device commands run to a result, by OEM and outcome (succeeded, failed).',
      labelNames: ['oem', 'outcome'],
      registers,
    }),
    connectionsOwned: new Gauge({
      name: 'gridpulse_poller_connections_owned',
      help: 'Connections this replica polls (from the connections.v1 partitions it owns).',
      labelNames: ['oem'],
      registers,
    }),
  };
}

export type PollerMetrics = ReturnType<typeof createPollerMetrics>;
