import { z } from 'zod';
import { parseEnv } from '../common/config';
import { onShutdownSignal } from '../common/lifecycle';
import { createLogger } from '../common/logger';
import { exitOnStartFailure } from '../common/start-failure';
import { startReceiver } from './receiver';

const envSchema = z.object({
  RECEIVER_SECRETS: z
    .string({ error: 'required: the destination signing secret(s), whsec_…, comma-separated' })
    .transform((value) =>
      value
        .split(',')
        .map((secret) => secret.trim())
        .filter(Boolean),
    )
    .pipe(z.array(z.string().startsWith('whsec_', 'each secret starts with whsec_')).min(1)),
  RECEIVER_PORT: z.coerce.number().int().min(0).max(65535).default(8099),
  RECEIVER_HOST: z.string().default('127.0.0.1'),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
});

async function main(): Promise<void> {
  const env = parseEnv(envSchema);
  const logger = createLogger({ service: 'webhook-receiver', level: env.LOG_LEVEL });
  const receiver = await startReceiver({
    secrets: env.RECEIVER_SECRETS,
    port: env.RECEIVER_PORT,
    host: env.RECEIVER_HOST,
    logger,
  });
  logger.info({ url: receiver.url }, 'receiver listening');

  onShutdownSignal(async () => {
    await receiver.stop();
    logger.info({ ...receiver.summary() }, 'receiver stopped');
  });
}

main().catch(exitOnStartFailure('webhook-receiver'));
