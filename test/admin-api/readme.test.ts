import { readFileSync } from 'node:fs';
import path from 'node:path';
import { Registry } from 'prom-client';
import type { AdminApiHandle } from '../../services/admin-api/admin-api';
import { createAdminApiMetrics } from '../../services/admin-api/metrics';
import { createMemoryLogger, type TestKafka } from '../support/kafka';
import { ADMIN_API_TOPICS, auth, http, setUpTestKafkaRetrying, startTestApi } from './support';

const README = readFileSync(path.join(__dirname, '../../services/admin-api/README.md'), 'utf8');

describe('admin API README', () => {
  let testKafka: TestKafka;
  let api: AdminApiHandle;

  beforeAll(async () => {
    testKafka = await setUpTestKafkaRetrying({ partitions: 1, only: ADMIN_API_TOPICS });
    api = await startTestApi(testKafka, createMemoryLogger('admin-api').logger);
  });

  afterAll(async () => {
    await api?.stop();
    await testKafka?.close();
  });

  it('quotes the body a request with a bad key gets', async () => {
    const res = await http(api.url, { method: 'GET', url: '/customers', headers: auth('nope') });

    expect(res.statusCode).toBe(401);
    expect(README).toContain(`\`${res.body}\``);
    expect(README).not.toMatch(/bare 401/);
  });

  it('lists every admin API metric with its labels', async () => {
    const registry = new Registry();
    createAdminApiMetrics(registry);
    const metrics = await registry.getMetricsAsJSON();
    const section = README.slice(README.indexOf('## Metrics'), README.indexOf('## Known'));

    expect(metrics.length).toBeGreaterThan(0);
    for (const metric of metrics) {
      const row = section.split('\n').find((line) => line.includes(`\`${metric.name}\``));
      expect(row).toBeDefined();
      // prom-client keeps the declared label names on the metric, observed or not.
      const { labelNames } = registry.getSingleMetric(metric.name) as unknown as {
        labelNames: string[];
      };
      for (const label of labelNames) expect(row).toContain(`\`${label}\``);
    }
  });
});
