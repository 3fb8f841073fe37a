import { Counter, Histogram, Registry } from 'prom-client';
import { histogramQuantile, parsePrometheusText, sumOf } from '../../services/cli/metrics-scrape';

describe('parsePrometheusText', () => {
  it('reads what prom-client writes, labels and escapes included', async () => {
    const registry = new Registry();
    const counter = new Counter({
      name: 'x_total',
      help: 'h',
      labelNames: ['type'],
      registers: [registry],
    });
    counter.inc({ type: 'device.updated' }, 3);
    counter.inc({ type: 'a "quoted" one' }, 2);

    const samples = parsePrometheusText(await registry.metrics());

    expect(sumOf(samples, 'x_total')).toBe(5);
    expect(sumOf(samples, 'x_total', { type: 'a "quoted" one' })).toBe(2);
    expect(sumOf(samples, 'x_total', { type: 'device.updated' })).toBe(3);
  });
});

describe('histogramQuantile', () => {
  it('interpolates inside the bucket the quantile falls in', async () => {
    const registry = new Registry();
    const histogram = new Histogram({
      name: 'lat_seconds',
      help: 'h',
      buckets: [1, 2, 4],
      registers: [registry],
    });
    for (let i = 0; i < 50; i += 1) histogram.observe(0.5); // bucket le=1
    for (let i = 0; i < 50; i += 1) histogram.observe(3); // bucket le=4

    const samples = parsePrometheusText(await registry.metrics());

    expect(histogramQuantile(samples, 'lat_seconds', 0.5)).toBeCloseTo(1, 5);
    // rank 99 of 100: 49 of the 50 observations into the (2, 4] bucket
    expect(histogramQuantile(samples, 'lat_seconds', 0.99)).toBeCloseTo(2 + (2 * 49) / 50, 5);
  });

  it('is NaN with no observations', () => {
    expect(histogramQuantile([], 'lat_seconds', 0.99)).toBeNaN();
  });
});
