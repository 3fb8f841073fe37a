import { ConfigResourceTypes } from 'kafkajs';
import { provisionTopics } from '../../services/common/provision';
import { TOPIC_SPECS } from '../../services/common/topics';
import { setUpTestKafka, type TestKafka } from '../support/kafka';

describe('provisionTopics', () => {
  let stack: TestKafka;
  const specs = TOPIC_SPECS.filter((spec) =>
    ['events.v1', 'destinations.v1'].includes(spec.name),
  ).map((spec) => ({ ...spec, partitions: 2 }));

  beforeAll(async () => {
    stack = await setUpTestKafka({ only: [] });
  });
  afterAll(() => stack.close());

  it('creates the declared topics with their settings, and a second run changes nothing', async () => {
    const options = { replicationFactor: 1, specs };
    const first = await provisionTopics(stack.admin, stack.topics, options);
    expect(first.created.sort()).toEqual(
      [stack.topics['destinations.v1'], stack.topics['events.v1']].sort(),
    );

    const configs = await stack.admin.describeConfigs({
      includeSynonyms: false,
      resources: [{ type: ConfigResourceTypes.TOPIC, name: stack.topics['destinations.v1'] }],
    });
    const policy = configs.resources[0]?.configEntries.find(
      (e) => e.configName === 'cleanup.policy',
    );
    expect(policy?.configValue).toBe('compact');

    const second = await provisionTopics(stack.admin, stack.topics, options);
    expect(second.created).toEqual([]);
    expect(second.mismatches).toEqual([]);
    expect(second.unchanged).toHaveLength(2);
  });

  it('reports a topic that exists with other settings, and leaves it alone', async () => {
    const events = specs.find((spec) => spec.name === 'events.v1')!;
    const compacted = [{ ...events, cleanupPolicy: 'compact' as const, partitions: 3 }];

    const report = await provisionTopics(stack.admin, stack.topics, {
      replicationFactor: 1,
      specs: compacted,
    });

    expect(report.created).toEqual([]);
    expect(report.mismatches).toEqual(
      expect.arrayContaining([
        {
          topic: stack.topics['events.v1'],
          setting: 'cleanup.policy',
          expected: 'compact',
          actual: 'delete',
        },
        { topic: stack.topics['events.v1'], setting: 'partitions', expected: '3', actual: '2' },
      ]),
    );
    const metadata = await stack.admin.fetchTopicMetadata({ topics: [stack.topics['events.v1']] });
    expect(metadata.topics[0]?.partitions).toHaveLength(2);
  });
});
