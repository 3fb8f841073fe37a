/**
 * Every Kafka topic gridpulse uses, declared once. Provisioning (deploy/local and
 * `gridpulse topics`) creates them from this list, and services take their names from here.
 *
 * Partition counts bound consumer-group parallelism. device-state, device-snapshots and events
 * share a count and are all keyed by device id, so a device's records land on the same
 * partition number everywhere (the differ relies on that co-partitioning).
 */
export interface TopicSpec {
  /** Name without the deployment's prefix. */
  readonly name: string;
  readonly partitions: number;
  readonly cleanupPolicy: 'delete' | 'compact';
  /** -1 keeps records forever (compacted topics, the event log replays read from). */
  readonly retentionMs: number;
  readonly purpose: string;
}

const DAY_MS = 24 * 60 * 60 * 1000;
const DEVICE_PARTITIONS = 12;

export const TOPIC_SPECS = [
  {
    name: 'connections.v1',
    partitions: 6,
    cleanupPolicy: 'compact',
    retentionMs: -1,
    purpose: 'OEM accounts (credentials, owner), keyed by connection id; pollers share it',
  },
  {
    name: 'commands.v1',
    partitions: 6,
    cleanupPolicy: 'delete',
    retentionMs: 7 * DAY_MS,
    purpose: 'device commands, keyed by connection id, run by the poller owning it',
  },
  {
    name: 'device-state.v1',
    partitions: DEVICE_PARTITIONS,
    cleanupPolicy: 'delete',
    retentionMs: 7 * DAY_MS,
    purpose: 'normalized poll results, keyed by device id',
  },
  {
    name: 'device-snapshots.v1',
    partitions: DEVICE_PARTITIONS,
    cleanupPolicy: 'compact',
    retentionMs: -1,
    purpose: "the differ's last known state per device (changelog), keyed by device id",
  },
  {
    name: 'events.v1',
    partitions: DEVICE_PARTITIONS,
    cleanupPolicy: 'delete',
    retentionMs: 30 * DAY_MS,
    purpose: 'platform events in the seed catalogue; replays for destinations read from here',
  },
  {
    name: 'destinations.v1',
    partitions: 3,
    cleanupPolicy: 'compact',
    retentionMs: -1,
    purpose: 'webhook destinations, keyed by destination id; every dispatcher reads all',
  },
  // Delayed retry tiers (the dispatcher's retry-tiers.ts): a delivery waits in the tier with the
  // longest delay not above its remaining wait, so records in one tier ripen in offset order and
  // a long wait never blocks a short one behind it. The names give the default tier delays.
  {
    name: 'deliveries.retry.v1',
    partitions: DEVICE_PARTITIONS,
    cleanupPolicy: 'delete',
    retentionMs: 14 * DAY_MS,
    purpose: 'deliveries due within 5 s (overflow, rate limit, replays, short retries)',
  },
  {
    name: 'deliveries.retry.5s.v1',
    partitions: 6,
    cleanupPolicy: 'delete',
    retentionMs: 14 * DAY_MS,
    purpose: 'deliveries due in 5 s to 1 min, with their due time',
  },
  {
    name: 'deliveries.retry.1m.v1',
    partitions: 6,
    cleanupPolicy: 'delete',
    retentionMs: 14 * DAY_MS,
    purpose: 'deliveries due in 1 to 10 min, with their due time',
  },
  {
    name: 'deliveries.retry.10m.v1',
    partitions: 6,
    cleanupPolicy: 'delete',
    retentionMs: 14 * DAY_MS,
    purpose: 'deliveries due in 10 min to 1 h, with their due time',
  },
  {
    name: 'deliveries.retry.1h.v1',
    partitions: 6,
    cleanupPolicy: 'delete',
    retentionMs: 14 * DAY_MS,
    purpose: 'deliveries due in 1 to 6 h, with their due time',
  },
  {
    name: 'deliveries.retry.6h.v1',
    partitions: 6,
    cleanupPolicy: 'delete',
    retentionMs: 14 * DAY_MS,
    purpose: 'deliveries due in 6 h or more, with their due time',
  },
  {
    name: 'deliveries.dead.v1',
    partitions: 3,
    cleanupPolicy: 'delete',
    retentionMs: 30 * DAY_MS,
    purpose: 'deliveries that exhausted their attempts, with full history; replayable',
  },
  {
    name: 'delivery-attempts.v1',
    partitions: 6,
    cleanupPolicy: 'delete',
    retentionMs: 14 * DAY_MS,
    purpose: 'audit log: one record per delivery attempt',
  },
  // The admin API's records (services/admin-api): compacted, so the API rebuilds its view of
  // them from the beginning at start-up. Keyed by the record's id.
  {
    name: 'customers.v1',
    partitions: 3,
    cleanupPolicy: 'compact',
    retentionMs: -1,
    purpose: 'customers of each workspace, keyed by customer id (admin API)',
  },
  {
    name: 'sites.v1',
    partitions: 3,
    cleanupPolicy: 'compact',
    retentionMs: -1,
    purpose: 'sites of each workspace, keyed by site id (admin API)',
  },
  {
    name: 'enrollments.v1',
    partitions: 3,
    cleanupPolicy: 'compact',
    retentionMs: -1,
    purpose: 'program enrollments and their approval, keyed by enrollment id (admin API)',
  },
] as const satisfies readonly TopicSpec[];

export type TopicName = (typeof TOPIC_SPECS)[number]['name'];

/** The concrete topic names of one deployment (or one test), keyed by their base name. */
export type Topics = Readonly<Record<TopicName, string>>;

/**
 * Names with the deployment's prefix (GRIDPULSE_TOPIC_PREFIX), e.g. 'staging.events.v1'.
 * Tests use a unique prefix each, so they share one broker without seeing each other.
 */
export function resolveTopics(prefix = ''): Topics {
  const entries = TOPIC_SPECS.map((spec) => [
    spec.name,
    prefix ? `${prefix}.${spec.name}` : spec.name,
  ]);
  return Object.freeze(Object.fromEntries(entries)) as Topics;
}

/** Consumer groups are `gridpulse.<service>` (with the prefix, if any, in front). */
export function consumerGroupId(service: string, prefix = ''): string {
  return prefix ? `${prefix}.gridpulse.${service}` : `gridpulse.${service}`;
}
