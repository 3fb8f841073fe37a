import { Registry } from 'prom-client';
import { createDispatcherMetrics } from '../../services/dispatcher/metrics';

describe('dispatcher metrics', () => {
  it('labels the first destinations by id and puts the rest in _other, for good', () => {
    const metrics = createDispatcherMetrics(new Registry(), { destinationLabelLimit: 2 });
    expect(
      ['dst_a', 'dst_b', 'dst_c', 'dst_a', 'dst_d', 'dst_c'].map(metrics.destinationLabel),
    ).toEqual(['dst_a', 'dst_b', '_other', 'dst_a', '_other', '_other']);
  });

  it('counts attempts per destination and outcome on one series each', async () => {
    const registry = new Registry();
    const metrics = createDispatcherMetrics(registry, { destinationLabelLimit: 1 });
    for (const [id, outcome] of [
      ['dst_a', 'success'],
      ['dst_a', 'status_5xx'],
      ['dst_b', 'timeout'],
      ['dst_c', 'timeout'],
    ] as const) {
      metrics.attempts.inc({ destination: metrics.destinationLabel(id), outcome });
    }
    const output = await registry.getSingleMetricAsString('gridpulse_dispatcher_attempts_total');
    expect(output.split('\n').filter((line) => !line.startsWith('#'))).toEqual([
      'gridpulse_dispatcher_attempts_total{destination="dst_a",outcome="success"} 1',
      'gridpulse_dispatcher_attempts_total{destination="dst_a",outcome="status_5xx"} 1',
      'gridpulse_dispatcher_attempts_total{destination="_other",outcome="timeout"} 2',
    ]);
  });
});
