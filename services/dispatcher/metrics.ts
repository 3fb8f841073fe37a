import { Counter, Gauge, Histogram, type Registry } from 'prom-client';

export type DispatcherMetrics = ReturnType<typeof createDispatcherMetrics>;

const OTHER_DESTINATIONS = '_other';

/** Every dispatcher metric, registered on `registry` (tests pass a fresh one). */
export function createDispatcherMetrics(
  registry: Registry,
  options: { destinationLabelLimit: number },
) {
  const registers = [registry];
  // Destination ids are bounded by what the admin API holds, not by traffic, but a deployment
  // with thousands of them must not get thousands of series: the first N seen get a label of
  // their own, later ones share _other.
  const labelled = new Set<string>();

  return {
    events: new Counter({
      name: 'gridpulse_dispatcher_events_total',
      help: 'events.v1 records read, by outcome (matched, unmatched, undecodable).',
      labelNames: ['outcome'],
      registers,
    }),
    attempts: new Counter({
      name: 'gridpulse_dispatcher_attempts_total',
      help: 'HTTP attempts, by destination and outcome: success, or the error kind (status, timeout, ...); past the label limit destinations add up in _other.',
      labelNames: ['destination', 'outcome'],
      registers,
    }),
    inFlight: new Gauge({
      name: 'gridpulse_dispatcher_in_flight',
      help: 'HTTP attempts under way, per destination; past the label limit they add up in _other.',
      labelNames: ['destination'],
      registers,
    }),
    deliveries: new Counter({
      name: 'gridpulse_dispatcher_deliveries_total',
      help: 'Deliveries finished or handed on, by outcome: delivered, retry, deferred, dead, dropped.',
      labelNames: ['outcome'],
      registers,
    }),
    deliveryLatency: new Histogram({
      name: 'gridpulse_dispatcher_delivery_latency_seconds',
      help: 'From the event timestamp to the 2xx that delivered it (retries included).',
      buckets: [
        0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 1800, 3600, 21600, 86400, 345600,
      ],
      registers,
    }),
    attemptDuration: new Histogram({
      name: 'gridpulse_dispatcher_attempt_duration_seconds',
      help: 'Duration of one HTTP attempt, by result (success or failure).',
      labelNames: ['result'],
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
      registers,
    }),
    retriesPending: new Gauge({
      name: 'gridpulse_dispatcher_retries_pending',
      help: 'Deliveries waiting on each retry tier (consumer lag); the tier says how far off they are.',
      labelNames: ['tier'],
      registers,
    }),
    destinations: new Gauge({
      name: 'gridpulse_dispatcher_destinations',
      help: 'Destinations known to this replica, by state (enabled, disabled).',
      labelNames: ['state'],
      registers,
    }),
    autoDisabled: new Counter({
      name: 'gridpulse_dispatcher_destinations_disabled_total',
      help: 'Destinations this replica disabled, by reason (gone, failing).',
      labelNames: ['reason'],
      registers,
    }),
    /** The `destination` label value for an id: the id itself for the first N ids seen. */
    destinationLabel(destinationId: string): string {
      if (labelled.has(destinationId)) return destinationId;
      if (labelled.size < options.destinationLabelLimit) {
        labelled.add(destinationId);
        return destinationId;
      }
      return OTHER_DESTINATIONS;
    },
  };
}
