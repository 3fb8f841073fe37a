import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { parse } from 'yaml';

const root = path.join(__dirname, '../..');
const read = (file: string) => readFileSync(path.join(root, file), 'utf8');

interface ComposeService {
  image?: string;
  command?: string[];
  ports?: string[];
  environment?: Record<string, string>;
}

describe('docker-compose.yml', () => {
  const compose = parse(read('docker-compose.yml')) as { services: Record<string, ComposeService> };

  it('runs the same Kafka version as the local stack', () => {
    const localVersion = /<kafka.version>(.+)<\/kafka.version>/.exec(
      read('deploy/local/kafka/pom.xml'),
    )![1];
    expect(compose.services.kafka?.image).toBe(`apache/kafka:${localVersion}`);
  });

  it('runs the same Apicurio Registry version as the local stack, on the same host port', () => {
    const localVersion = /APICURIO_VERSION_JAVA21=(\S+)/.exec(read('deploy/local/stack'))![1];
    expect(compose.services.registry?.image).toBe(`apicurio/apicurio-registry:${localVersion}`);
    expect(compose.services.registry?.ports).toContain('8081:8080');
    expect(compose.services.kafka?.ports).toContain('9092:9092');
  });

  it('points every gridpulse service at a source file that exists', () => {
    const commands = Object.values(compose.services)
      .filter((service) => service.image === 'gridpulse:local' && service.command)
      .map((service) => service.command![0]!);
    expect(commands.length).toBeGreaterThan(0);
    for (const file of commands) expect(existsSync(path.join(root, file))).toBe(true);
  });

  it('has Prometheus scrape each service on the port it publishes', () => {
    const scrape = parse(read('deploy/prometheus/prometheus.yml')) as {
      scrape_configs: Array<{ static_configs: Array<{ targets: string[] }> }>;
    };
    const targets = scrape.scrape_configs.flatMap((job) =>
      job.static_configs.flatMap((c) => c.targets),
    );
    for (const target of targets) {
      const [name, port] = target.split(':');
      expect(compose.services[name!]?.ports).toContain(`${port}:${port}`);
    }
  });
});
