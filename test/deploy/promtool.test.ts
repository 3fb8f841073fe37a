import { readFileSync } from 'node:fs';
import path from 'node:path';
import { parse } from 'yaml';
import {
  knownSeriesNames,
  createServiceRegistries,
  referencedSeries,
} from './support/metric-names';
import { checkMetrics, PROMETHEUS_DIR, runPromtool } from './support/prometheus';

interface RuleFile {
  groups: Array<{
    name: string;
    rules: Array<{
      alert?: string;
      record?: string;
      expr: string;
      annotations?: Record<string, string>;
    }>;
  }>;
}

const RULE_FILE = path.join(PROMETHEUS_DIR, 'rules/gridpulse.yml');
const rules = (parse(readFileSync(RULE_FILE, 'utf8')) as RuleFile).groups.flatMap((g) => g.rules);

describe('deploy/prometheus', () => {
  it('passes promtool check config (which also checks the rule files it loads)', () => {
    const result = runPromtool(['check', 'config', 'prometheus.yml']);
    expect(result.output).toContain('SUCCESS');
    expect(result.status).toBe(0);
  });

  it('passes promtool check rules', () => {
    const result = runPromtool(['check', 'rules', 'rules/gridpulse.yml']);
    expect(result.output).toMatch(/SUCCESS: \d+ rules found/);
    expect(result.status).toBe(0);
  });

  it('passes promtool test rules: every alert firing and not firing', () => {
    const result = runPromtool(['test', 'rules', 'tests/gridpulse.test.yml']);
    expect(result.output).toContain('SUCCESS');
    expect(result.status).toBe(0);
  });

  it('has a unit test for every alert, with a firing and a quiet case', () => {
    const tests = parse(
      readFileSync(path.join(PROMETHEUS_DIR, 'tests/gridpulse.test.yml'), 'utf8'),
    ) as {
      tests: Array<{ alert_rule_test?: Array<{ alertname: string; exp_alerts: unknown[] }> }>;
    };
    const cases = tests.tests.flatMap((test) => test.alert_rule_test ?? []);
    for (const alert of rules.filter((rule) => rule.alert).map((rule) => rule.alert!)) {
      const own = cases.filter((c) => c.alertname === alert);
      expect({ alert, fires: own.some((c) => c.exp_alerts.length > 0) }).toEqual({
        alert,
        fires: true,
      });
      expect({ alert, quiet: own.some((c) => c.exp_alerts.length === 0) }).toEqual({
        alert,
        quiet: true,
      });
    }
  });

  it('gives every alert a runbook and a summary', () => {
    const alerts = rules.filter((rule) => rule.alert);
    expect(alerts.length).toBeGreaterThanOrEqual(10);
    for (const alert of alerts) {
      expect({
        alert: alert.alert,
        runbook: (alert.annotations?.runbook ?? '').length > 80,
      }).toEqual({
        alert: alert.alert,
        runbook: true,
      });
      expect(alert.annotations?.summary).toBeTruthy();
    }
  });

  it('refers only to metrics the services define', async () => {
    const known = await knownSeriesNames();
    const referenced = rules.flatMap((rule) => referencedSeries(rule.expr));
    expect(new Set(referenced).size).toBeGreaterThanOrEqual(10);
    const unknown = rules
      .flatMap((rule) => referencedSeries(rule.expr))
      .filter((name) => !known.has(name));
    expect(unknown).toEqual([]);
  });
});

describe('service metric registries', () => {
  it('pass promtool check metrics, definitions only', async () => {
    const registries = await createServiceRegistries();
    const findings: Record<string, string[]> = {};
    for (const [service, registry] of Object.entries(registries)) {
      findings[service] = checkMetrics(await registry.metrics()).findings;
    }
    expect(findings).toEqual(Object.fromEntries(Object.keys(registries).map((s) => [s, []])));
  });
});
