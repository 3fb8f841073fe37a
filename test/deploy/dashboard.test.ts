import { readFileSync } from 'node:fs';
import path from 'node:path';
import { parse } from 'yaml';
import { knownSeriesNames, referencedSeries } from './support/metric-names';
import { PROMETHEUS_DIR, REPO_ROOT } from './support/prometheus';
import { dashboardQueries, type Dashboard } from './support/dashboard';

const dashboard = JSON.parse(
  readFileSync(path.join(REPO_ROOT, 'deploy/grafana/gridpulse.json'), 'utf8'),
) as Dashboard;

describe('deploy/grafana/gridpulse.json', () => {
  it('lays the pipeline out left to right in its first row', () => {
    const firstRow = dashboard.panels
      .filter((panel) => panel.type !== 'row' && panel.gridPos.y === 1)
      .sort((a, b) => a.gridPos.x - b.gridPos.x)
      .map((panel) => panel.title);
    expect(firstRow).toEqual([
      'Polls ok /s',
      'State records /s',
      'Events /s',
      'Delivered /s',
      'Delivery latency p95',
      'Consumer lag',
      'Errors /s',
    ]);
    const rows = dashboard.panels.filter((panel) => panel.type === 'row').map((row) => row.title);
    expect(rows.slice(1).map((title) => title.split(' ')[0])).toEqual([
      'Polls',
      'State',
      'Events',
      'Deliveries',
      'Latency',
      'Lag',
      'Errors',
    ]);
  });

  it('has unique panel ids, no overlapping panels, and a Prometheus datasource variable', () => {
    const ids = dashboard.panels.map((panel) => panel.id);
    expect(new Set(ids).size).toBe(ids.length);
    const cells = new Set<string>();
    for (const { gridPos } of dashboard.panels) {
      expect(gridPos.x + gridPos.w).toBeLessThanOrEqual(24);
      for (let x = gridPos.x; x < gridPos.x + gridPos.w; x += 1) {
        for (let y = gridPos.y; y < gridPos.y + gridPos.h; y += 1) {
          expect(cells.has(`${x},${y}`)).toBe(false);
          cells.add(`${x},${y}`);
        }
      }
    }
    expect(dashboard.templating.list).toContainEqual(
      expect.objectContaining({ name: 'datasource', type: 'datasource', query: 'prometheus' }),
    );
  });

  it('queries only metrics the services define and recording rules that exist', async () => {
    const known = await knownSeriesNames();
    const rules = parse(readFileSync(path.join(PROMETHEUS_DIR, 'rules/gridpulse.yml'), 'utf8')) as {
      groups: Array<{ rules: Array<{ record?: string }> }>;
    };
    const recorded = new Set(rules.groups.flatMap((g) => g.rules.map((r) => r.record)));
    const queries = dashboardQueries(dashboard);
    expect(queries.length).toBeGreaterThan(30);

    const unknown = queries
      .flatMap(({ expr }) => referencedSeries(expr))
      .filter((n) => !known.has(n));
    const recordings = queries.flatMap(({ expr }) => expr.match(/\w+:gridpulse_\w+:\w+/g) ?? []);
    expect(unknown).toEqual([]);
    expect(recordings.length).toBeGreaterThan(0);
    expect(recordings.filter((name) => !recorded.has(name))).toEqual([]);
  });
});
