import { consumerGroupId } from '../../services/common/topics';
import { setUpTestKafka, waitFor, type TestKafka } from '../support/kafka';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { dashboardQueries, type Dashboard } from './support/dashboard';
import { startPipeline, type Pipeline } from './support/pipeline';
import {
  checkMetrics,
  REPO_ROOT,
  startPrometheus,
  type RunningPrometheus,
} from './support/prometheus';

const UNAUTHENTICATED_REQUESTS = 3;

describe('Prometheus scraping the running pipeline', () => {
  let testKafka: TestKafka;
  let pipeline: Pipeline | undefined;
  let prometheus: RunningPrometheus | undefined;

  beforeAll(async () => {
    testKafka = await setUpTestKafka({ partitions: 3 });
    pipeline = await startPipeline(testKafka);
    prometheus = await startPrometheus(pipeline.targets);
  }, 120_000);

  afterAll(async () => {
    await prometheus?.stop();
    await pipeline?.stop();
    await testKafka?.close();
  }, 60_000);

  it('has every target up', async () => {
    const { targets } = pipeline!;
    await waitFor(
      async () => {
        const active = await prometheus!.activeTargets();
        return active.length === targets.length && active.every((t) => t.health === 'up');
      },
      { timeoutMs: 20_000, what: 'every target up' },
    );

    const up = await prometheus!.query('up{job="gridpulse"}');
    expect(up.map((row) => row.metric.component).sort()).toEqual(
      targets.map((target) => target.name).sort(),
    );
    expect(up.every((row) => row.value === 1)).toBe(true);
    // Build info from the common registry, on every service that uses it.
    const builds = await prometheus!.query('gridpulse_build_info');
    expect(builds.map((row) => row.metric.service).sort()).toEqual(
      ['admin-api', 'differ', 'dispatcher', 'oem-simulator', 'poller'].sort(),
    );
  });

  it('reports what a known workload did: records, events, deliveries, lag, auth failures', async () => {
    const { poller, receiver, adminApi } = pipeline!;

    // Workload: a few poll cycles of the 3 simulated devices, then the poller stops (its
    // /metrics keeps answering), and 3 requests without an API key hit the admin API.
    await waitFor(async () => (await sumOf(poller.metrics.recordsProduced)) >= 9, {
      timeoutMs: 30_000,
      what: '9 device-state records',
    });
    await poller.stop();
    for (let i = 0; i < UNAUTHENTICATED_REQUESTS; i += 1) {
      const response = await fetch(`${adminApi.url}/destinations`);
      expect(response.status).toBe(401);
    }

    // The truth, from Kafka and from the receiver, not from the services' own counters.
    const produced = await endOffsetTotal(testKafka, testKafka.topics['device-state.v1']);
    expect(produced).toBeGreaterThanOrEqual(9);
    await waitFor(async () => (await sumOf(pipeline!.differMetrics.recordsIn)) === produced, {
      timeoutMs: 30_000,
      what: 'the differ consuming every record',
    });
    const eventsOut = await sumOf(pipeline!.differMetrics.eventsOut);
    expect(eventsOut).toBeGreaterThanOrEqual(3); // at least device.discovered per device
    await waitFor(() => receiver.summary().received === eventsOut, {
      timeoutMs: 30_000,
      what: 'the receiver getting every event',
    });
    const delivered = receiver.summary().received + receiver.summary().duplicates;
    const differGroup = consumerGroupId('differ', testKafka.config.topicPrefix);

    const expected: Record<string, number> = {
      'sum(gridpulse_poller_records_produced_total)': produced,
      'sum(gridpulse_differ_records_in_total)': produced,
      'sum(gridpulse_differ_events_out_total)': eventsOut,
      'sum(gridpulse_dispatcher_deliveries_total{outcome="delivered"})': delivered,
      'sum(gridpulse_receiver_events_total)': receiver.summary().received,
      [`sum(gridpulse_kafka_consumer_lag{group="${differGroup}"})`]: 0,
      // The recording rule the lag alert uses, evaluated by Prometheus from the scraped gauge.
      [`group_topic:gridpulse_kafka_consumer_lag:sum{group="${differGroup}"}`]: 0,
      'sum(gridpulse_admin_api_auth_failures_total)': UNAUTHENTICATED_REQUESTS,
      'sum(gridpulse_dispatcher_deliveries_total{outcome="dead"}) or vector(0)': 0,
    };
    const seen: Record<string, number | null> = {};
    await waitFor(
      async () => {
        for (const expr of Object.keys(expected)) seen[expr] = await prometheus!.scalar(expr);
        return Object.keys(expected).every((expr) => seen[expr] === expected[expr]);
      },
      { timeoutMs: 20_000, intervalMs: 500, what: 'Prometheus to scrape the final values' },
    ).catch(() => undefined);
    expect(seen).toEqual(expected);
  });

  it('answers every dashboard query, with data for the pipeline overview', async () => {
    const dashboard = JSON.parse(
      readFileSync(path.join(REPO_ROOT, 'deploy/grafana/gridpulse.json'), 'utf8'),
    ) as Dashboard;
    // The overview row: each stage of the workload above shows up.
    const overview = [
      'Polls ok /s',
      'State records /s',
      'Events /s',
      'Delivered /s',
      'Consumer lag',
    ];
    let failures: string[] = [];
    let empty: string[] = [];
    const runQueries = async () => {
      failures = [];
      empty = [];
      for (const { panel, expr } of dashboardQueries(dashboard)) {
        const rows = await prometheus!.query(expr).catch((err: unknown) => {
          failures.push(`${panel}: ${String(err)}`);
          return [];
        });
        if (rows.length === 0) empty.push(panel);
      }
      return failures.length === 0 && !empty.some((panel) => overview.includes(panel));
    };
    // A rate() needs two scrapes of its series; one that first appeared within the last
    // scrape interval has only one, so give the 1 s scrapes a few seconds.
    await waitFor(runQueries, {
      timeoutMs: 10_000,
      intervalMs: 1_000,
      what: 'dashboard data',
    }).catch(() => undefined);
    expect(failures).toEqual([]);
    expect(empty.filter((panel) => overview.includes(panel))).toEqual([]);
  });

  it('loads the repository alert rules and evaluates them without error on real series', async () => {
    const groups = await prometheus!.ruleGroups();
    const rules = groups.flatMap((group) => group.rules);
    expect(groups.map((group) => group.name).sort()).toEqual(
      [
        'gridpulse-dispatcher',
        'gridpulse-pipeline',
        'gridpulse-poller',
        'gridpulse-recording',
        'gridpulse-services',
      ].sort(),
    );
    await waitFor(
      async () =>
        (await prometheus!.ruleGroups()).every((g) => g.rules.every((r) => r.health !== 'unknown')),
      {
        timeoutMs: 10_000,
        what: 'every rule evaluated once',
      },
    );
    const unhealthy = (await prometheus!.ruleGroups())
      .flatMap((group) => group.rules)
      .filter((rule) => rule.health !== 'ok');
    expect(unhealthy).toEqual([]);
    expect(rules.length).toBeGreaterThanOrEqual(12);
  });

  it('passes promtool check metrics on the /metrics output of every service', async () => {
    const results: Record<string, string[]> = {};
    for (const target of pipeline!.targets) {
      const response = await fetch(`http://${target.address}/metrics`);
      expect(response.status).toBe(200);
      results[target.name] = checkMetrics(await response.text()).findings;
    }
    expect(results).toEqual(
      Object.fromEntries(pipeline!.targets.map((target) => [target.name, []])),
    );
  });
});

async function sumOf(metric: { get(): Promise<{ values: Array<{ value: number }> }> }) {
  const { values } = await metric.get();
  return values.reduce((sum, entry) => sum + entry.value, 0);
}

async function endOffsetTotal(testKafka: TestKafka, topic: string): Promise<number> {
  const offsets = await testKafka.admin.fetchTopicOffsets(topic);
  return offsets.reduce((sum, entry) => sum + Number(entry.high) - Number(entry.low), 0);
}
