import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { parse, parseAllDocuments } from 'yaml';
import { TOPIC_SPECS } from '../../services/common/topics';
import { REPO_ROOT, requireTool } from './support/prometheus';

interface Manifest {
  apiVersion: string;
  kind: string;
  metadata: { name: string; labels?: Record<string, string> };
  // Parsed YAML, a boundary: the assertions below are the schema.
  spec?: Record<string, any>;
  data?: Record<string, string>;
  stringData?: Record<string, string>;
}

const K8S_DIR = path.join(REPO_ROOT, 'deploy/k8s');
/** The topic each consuming service reads; its partition count caps the useful replicas. */
const CONSUMED_TOPIC: Record<string, string | null> = {
  poller: 'connections.v1',
  differ: 'device-state.v1',
  dispatcher: 'events.v1',
  'admin-api': null,
};

describe('deploy/k8s', () => {
  let manifests: Manifest[];
  const byKind = (kind: string) => manifests.filter((m) => m.kind === kind);
  const named = (kind: string, name: string) => byKind(kind).find((m) => m.metadata.name === name);

  beforeAll(() => {
    const rendered = spawnSync(requireTool('kubectl'), ['kustomize', K8S_DIR], {
      encoding: 'utf8',
    });
    if (rendered.status !== 0) throw new Error(`kubectl kustomize failed: ${rendered.stderr}`);
    manifests = parseAllDocuments(rendered.stdout).map((doc) => doc.toJS() as Manifest);
  });

  it('renders with kubectl kustomize into one Deployment and PDB per service', () => {
    const deployments = byKind('Deployment')
      .map((m) => m.metadata.name)
      .sort();
    expect(deployments).toEqual(Object.keys(CONSUMED_TOPIC).sort());
    for (const name of deployments) {
      const budget = named('PodDisruptionBudget', name);
      expect(budget?.spec?.selector).toEqual(named('Deployment', name)!.spec!.selector);
      expect(budget?.spec?.maxUnavailable).toBe(1);
    }
    expect(
      manifests.every(
        (m) =>
          m.kind === 'Namespace' ||
          (m.metadata as { namespace?: string }).namespace === 'gridpulse',
      ),
    ).toBe(true);
  });

  it.each(Object.keys(CONSUMED_TOPIC))(
    'gives %s probes, requests and config that exist',
    (name) => {
      const deployment = named('Deployment', name)!;
      const pod = deployment.spec!.template.spec;
      const container = pod.containers[0];
      const config = {
        ...named('ConfigMap', 'gridpulse-common')!.data,
        ...named('ConfigMap', `${name}-config`)?.data,
      };

      expect(container.args).toEqual([`services/${name}/main.ts`]);
      expect(existsSync(path.join(REPO_ROOT, container.args[0]))).toBe(true);
      expect(container.readinessProbe.httpGet).toEqual({ path: '/readyz', port: 'metrics' });
      expect(container.livenessProbe.httpGet).toEqual({ path: '/healthz', port: 'metrics' });
      const metricsPort = container.ports.find((p: { name: string }) => p.name === 'metrics');
      expect(String(metricsPort.containerPort)).toBe(config.METRICS_PORT);
      expect(deployment.spec!.template.metadata.annotations).toMatchObject({
        'prometheus.io/port': config.METRICS_PORT,
      });
      expect(container.resources.requests).toEqual({
        cpu: expect.any(String),
        memory: expect.any(String),
      });
      expect(container.resources.limits.memory).toEqual(expect.any(String));

      for (const source of container.envFrom) {
        if (source.configMapRef) expect(named('ConfigMap', source.configMapRef.name)).toBeDefined();
        if (source.secretRef) expect(named('Secret', source.secretRef.name)).toBeDefined();
      }
    },
  );

  it('runs no more replicas than the partitions of the consumed topic', () => {
    for (const [name, topic] of Object.entries(CONSUMED_TOPIC)) {
      if (!topic) continue;
      const partitions = TOPIC_SPECS.find((spec) => spec.name === topic)!.partitions;
      expect({ name, fits: named('Deployment', name)!.spec!.replicas <= partitions }).toEqual({
        name,
        fits: true,
      });
    }
  });

  it('uses the metrics ports the Prometheus scrape config and docker-compose use', () => {
    const scrape = parse(
      readFileSync(path.join(REPO_ROOT, 'deploy/prometheus/prometheus.yml'), 'utf8'),
    ) as {
      scrape_configs: Array<{ static_configs: Array<{ targets: string[] }> }>;
    };
    const ports = Object.fromEntries(
      scrape.scrape_configs
        .flatMap((job) => job.static_configs.flatMap((c) => c.targets))
        .map((target) => target.split(':') as [string, string]),
    );
    for (const name of Object.keys(CONSUMED_TOPIC).filter((n) => ports[n])) {
      expect({ name, port: named('ConfigMap', `${name}-config`)!.data!.METRICS_PORT }).toEqual({
        name,
        port: ports[name],
      });
    }
  });

  it('keeps only placeholders in Secrets', () => {
    for (const secret of byKind('Secret')) {
      for (const value of Object.values(secret.stringData ?? secret.data ?? {})) {
        expect(['', 'CHANGE_ME']).toContain(value);
      }
    }
  });

  it('keeps the KEDA example within partition counts and out of the base', () => {
    const kustomization = parse(readFileSync(path.join(K8S_DIR, 'kustomization.yaml'), 'utf8')) as {
      resources: string[];
    };
    expect(kustomization.resources.some((file) => file.startsWith('examples/'))).toBe(false);
    expect(byKind('ScaledObject')).toEqual([]);

    const examples = parseAllDocuments(
      readFileSync(path.join(K8S_DIR, 'examples/keda-scaledobjects.yaml'), 'utf8'),
    ).map((doc) => doc.toJS() as Manifest);
    expect(examples.length).toBeGreaterThan(0);
    for (const scaled of examples) {
      const target = scaled.spec!.scaleTargetRef.name as string;
      const topic = CONSUMED_TOPIC[target]!;
      const partitions = TOPIC_SPECS.find((spec) => spec.name === topic)!.partitions;
      expect({ target, max: scaled.spec!.maxReplicaCount }).toEqual({ target, max: partitions });
      expect(named('Deployment', target)).toBeDefined();
    }
  });
});
