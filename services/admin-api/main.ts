import { createLogger } from '../common/logger';
import { onShutdownSignal } from '../common/lifecycle';
import { startServiceHttp } from '../common/service-http';
import { exitOnStartFailure } from '../common/start-failure';
import { startAdminApi } from './admin-api';
import { loadAdminApiConfig } from './config';

/**
 * Process entry: `npx tsx services/admin-api/main.ts`. Env: ADMIN_API_PORT (8088),
 * ADMIN_API_KEYS (workspaceId:sha256hex,...), CREDENTIALS_ENCRYPTION_KEY (32 bytes, hex or
 * base64), METRICS_PORT (9404), plus the common Kafka/registry keys (services/common/config.ts).
 */
async function main(): Promise<void> {
  const config = loadAdminApiConfig();
  const logger = createLogger({ service: 'admin-api', level: config.connectivity.logLevel });
  logger.info({ port: config.port, keys: config.apiKeys.length }, 'starting');

  const api = await startAdminApi({ config, logger });
  const ops = await startServiceHttp({
    port: config.metricsPort,
    registry: api.registry,
    readiness: { 'view loaded': api.isReady },
  });
  logger.info({ metricsPort: ops.port }, 'started');

  onShutdownSignal(
    async (signal) => {
      logger.info({ signal }, 'stopping');
      await api.stop();
      await ops.close();
      logger.info('stopped');
    },
    { onForcedExit: (reason) => logger.error({ reason }, 'forced exit') },
  );
}

main().catch(exitOnStartFailure('admin-api'));
