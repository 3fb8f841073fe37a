import { ConfigResourceTypes, type Admin } from 'kafkajs';
import { CommonErrorCode, GridpulseError } from './errors';
import { TOPIC_SPECS, type TopicSpec, type Topics } from './topics';

export interface TopicMismatch {
  topic: string;
  setting: 'partitions' | 'replication.factor' | 'cleanup.policy' | 'retention.ms';
  expected: string;
  actual: string;
}

export interface ProvisionReport {
  created: string[];
  unchanged: string[];
  mismatches: TopicMismatch[];
}

/**
 * Creates every declared topic that does not exist and checks the ones that do. A topic with
 * other settings than declared is reported, never altered: changing partition counts or cleanup
 * policy under running consumers is an operator's decision.
 */
export async function provisionTopics(
  admin: Admin,
  topics: Topics,
  options: { replicationFactor: number; specs?: readonly TopicSpec[] },
): Promise<ProvisionReport> {
  const specs = options.specs ?? TOPIC_SPECS;
  const existing = new Set(await admin.listTopics());
  const missing = specs.filter((spec) => !existing.has(nameOf(topics, spec)));

  if (missing.length > 0) {
    await createTopics(admin, missing, topics, options.replicationFactor);
    await waitForLeaders(
      admin,
      missing.map((spec) => nameOf(topics, spec)),
    );
  }

  const present = specs.filter((spec) => existing.has(nameOf(topics, spec)));
  const mismatches = await findMismatches(admin, topics, present, options.replicationFactor);
  const mismatched = new Set(mismatches.map((mismatch) => mismatch.topic));

  return {
    created: missing.map((spec) => nameOf(topics, spec)),
    unchanged: present.map((spec) => nameOf(topics, spec)).filter((name) => !mismatched.has(name)),
    mismatches,
  };
}

async function createTopics(
  admin: Admin,
  specs: readonly TopicSpec[],
  topics: Topics,
  replicationFactor: number,
): Promise<void> {
  try {
    await admin.createTopics({
      // Waited for below: kafkajs' own wait gives up when a just-created topic is briefly
      // unknown to the broker answering the metadata request (seen under load on KRaft).
      waitForLeaders: false,
      topics: specs.map((spec) => ({
        topic: nameOf(topics, spec),
        numPartitions: spec.partitions,
        replicationFactor,
        configEntries: topicConfig(spec, replicationFactor),
      })),
    });
  } catch (err) {
    // Another process (a second replica, a parallel test) created some first: that is fine.
    if (!isOnlyAlreadyExists(err)) throw err;
  }
}

/** Resolves once every partition of `names` has a leader; retriable errors are waited out. */
async function waitForLeaders(admin: Admin, names: string[], timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      const { topics } = await admin.fetchTopicMetadata({ topics: names });
      const isLed = topics.every(
        (topic) => topic.partitions.length > 0 && topic.partitions.every((p) => p.leader >= 0),
      );
      if (isLed && topics.length === names.length) return;
    } catch (err) {
      if (!isRetriable(err) || Date.now() > deadline) throw err;
    }
    if (Date.now() > deadline) {
      throw new GridpulseError(CommonErrorCode.topicUnavailable, 'topics have no leader', {
        retriable: true,
        context: { topics: names, timeoutMs },
      });
    }
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

function isRetriable(err: unknown): boolean {
  return (
    typeof err === 'object' && err !== null && (err as { retriable?: unknown }).retriable === true
  );
}

function isOnlyAlreadyExists(err: unknown): boolean {
  const errors = (err as { errors?: Array<{ type?: string }> } | null)?.errors;
  const types = errors?.map((e) => e.type) ?? [(err as { type?: string } | null)?.type];
  return types.length > 0 && types.every((type) => type === 'TOPIC_ALREADY_EXISTS');
}

function topicConfig(spec: TopicSpec, replicationFactor: number) {
  const entries = [
    { name: 'cleanup.policy', value: spec.cleanupPolicy },
    { name: 'retention.ms', value: String(spec.retentionMs) },
  ];
  // With one broker there is nothing to be in sync with; with three, an acknowledged write
  // survives the loss of any one broker.
  if (replicationFactor >= 3) entries.push({ name: 'min.insync.replicas', value: '2' });
  return entries;
}

async function findMismatches(
  admin: Admin,
  topics: Topics,
  specs: readonly TopicSpec[],
  replicationFactor: number,
): Promise<TopicMismatch[]> {
  if (specs.length === 0) return [];
  const names = specs.map((spec) => nameOf(topics, spec));
  const metadata = await admin.fetchTopicMetadata({ topics: names });
  const configs = await admin.describeConfigs({
    includeSynonyms: false,
    resources: names.map((name) => ({
      type: ConfigResourceTypes.TOPIC,
      name,
      configNames: ['cleanup.policy', 'retention.ms'],
    })),
  });

  const mismatches: TopicMismatch[] = [];
  for (const spec of specs) {
    const topic = nameOf(topics, spec);
    const partitions = metadata.topics.find((entry) => entry.name === topic)?.partitions ?? [];
    const replicas = partitions[0]?.replicas.length ?? 0;
    const entries = configs.resources.find(
      (resource) => resource.resourceName === topic,
    )?.configEntries;
    const valueOf = (name: string) =>
      entries?.find((entry) => entry.configName === name)?.configValue ?? 'unknown';

    const checks: Array<[TopicMismatch['setting'], string, string]> = [
      ['partitions', String(spec.partitions), String(partitions.length)],
      ['replication.factor', String(replicationFactor), String(replicas)],
      ['cleanup.policy', spec.cleanupPolicy, valueOf('cleanup.policy')],
      ['retention.ms', String(spec.retentionMs), valueOf('retention.ms')],
    ];
    for (const [setting, expected, actual] of checks) {
      if (expected !== actual) mismatches.push({ topic, setting, expected, actual });
    }
  }
  return mismatches;
}

function nameOf(topics: Topics, spec: TopicSpec): string {
  return topics[spec.name as keyof Topics];
}
