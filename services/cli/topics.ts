import { Command } from 'commander';
import { baseEnvSchema, parseEnv, toConnectivityConfig } from '../common/config';
import { createCliKafka, explainCliError } from '../common/cli-kafka';
import { createKafka } from '../common/kafka';
import { createLogger } from '../common/logger';
import { provisionTopics, type ProvisionReport } from '../common/provision';
import { TOPIC_SPECS, resolveTopics } from '../common/topics';

/**
 * Creates the declared topics on the configured cluster (KAFKA_BROKERS), idempotently, and
 * reports any that exist with other settings. Returns false when something is mismatched.
 */
export async function ensureTopics(
  env: NodeJS.ProcessEnv = process.env,
  print: (line: string) => void = (line) => process.stdout.write(`${line}\n`),
  options: { failFast?: boolean } = {},
): Promise<boolean> {
  const config = toConnectivityConfig(parseEnv(baseEnvSchema, env), 'cli');
  // failFast: `gridpulse topics` typed by a person; `gridpulse start` keeps the patient client.
  const kafka = options.failFast
    ? createCliKafka(config, env)
    : createKafka(config, createLogger({ service: 'cli', level: 'error' }));
  const admin = kafka.admin();
  try {
    await admin.connect();
    const topics = resolveTopics(config.topicPrefix);
    const report = await provisionTopics(admin, topics, {
      replicationFactor: config.kafka.replicationFactor,
    });
    printReport(report, print);
    return report.mismatches.length === 0;
  } catch (err) {
    throw explainCliError(err, config);
  } finally {
    await admin.disconnect();
  }
}

export function topicsCommand(): Command {
  return new Command('topics')
    .description('create every gridpulse topic that is missing and check the others')
    .option('--list', 'only list the declared topics and their settings')
    .action(async (options: { list?: boolean }) => {
      if (options.list) {
        for (const spec of TOPIC_SPECS) {
          const retention = spec.retentionMs < 0 ? 'forever' : `${spec.retentionMs / 86_400_000}d`;
          process.stdout.write(
            `${spec.name.padEnd(22)} ${String(spec.partitions).padStart(3)} partitions  ` +
              `${spec.cleanupPolicy.padEnd(7)} ${retention.padEnd(7)} ${spec.purpose}\n`,
          );
        }
        return;
      }
      process.exitCode = (await ensureTopics(process.env, undefined, { failFast: true })) ? 0 : 1;
    });
}

function printReport(report: ProvisionReport, print: (line: string) => void): void {
  for (const topic of report.created) print(`topics: created ${topic}`);
  if (report.unchanged.length > 0) print(`topics: ${report.unchanged.length} already as declared`);
  for (const m of report.mismatches) {
    print(`topics: MISMATCH ${m.topic} ${m.setting}: declared ${m.expected}, found ${m.actual}`);
  }
}
