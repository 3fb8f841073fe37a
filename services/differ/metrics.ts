import { Counter, Gauge, Histogram, type Registry } from 'prom-client';

export type SuppressedReason = 'deadband' | 'unchanged' | 'stale';

export interface DifferMetrics {
  recordsIn: Counter<'outcome'>;
  eventsOut: Counter<'type'>;
  suppressedUpdates: Counter<'reason'>;
  stateStoreDevices: Gauge<string>;
  restoreSeconds: Histogram<string>;
  transactionAborts: Counter<'reason'>;
  transactionSeconds: Histogram<string>;
}

/** All differ metrics, on the registry passed in (tests make a fresh one each). */
export function createDifferMetrics(registry: Registry): DifferMetrics {
  const registers = [registry];
  return {
    recordsIn: new Counter({
      name: 'gridpulse_differ_records_in_total',
      help: 'device-state records consumed, by what the rules made of them.',
      labelNames: ['outcome'],
      registers,
    }),
    eventsOut: new Counter({
      name: 'gridpulse_differ_events_out_total',
      help: 'Device events committed to events.v1, by type.',
      labelNames: ['type'],
      registers,
    }),
    suppressedUpdates: new Counter({
      name: 'gridpulse_differ_suppressed_updates_total',
      help: 'Samples that produced no device.updated: within deadbands, identical, or stale.',
      labelNames: ['reason'],
      registers,
    }),
    stateStoreDevices: new Gauge({
      name: 'gridpulse_differ_state_store_devices',
      help: 'Devices held in the state stores of the partitions this replica owns.',
      registers,
    }),
    restoreSeconds: new Histogram({
      name: 'gridpulse_differ_restore_duration_seconds',
      help: 'Time to restore newly assigned partitions from device-snapshots.v1.',
      buckets: [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60],
      registers,
    }),
    transactionAborts: new Counter({
      name: 'gridpulse_differ_transaction_aborts_total',
      help: 'Batches whose Kafka transaction was aborted (and the batch retried).',
      labelNames: ['reason'],
      registers,
    }),
    transactionSeconds: new Histogram({
      name: 'gridpulse_differ_transaction_duration_seconds',
      help: 'Time to write one batch: events, snapshots and offsets in one transaction.',
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
      registers,
    }),
  };
}
