import { Counter, type Registry } from 'prom-client';

export interface SimulatorMetrics {
  requests: Counter<'oem' | 'endpoint' | 'status'>;
  faults: Counter<'oem' | 'kind'>;
}

/** Every metric the simulator exports, on the registry given (tests pass a fresh one). */
export function createSimulatorMetrics(registry: Registry): SimulatorMetrics {
  return {
    requests: new Counter({
      name: 'gridpulse_oem_sim_requests_total',
      help: 'Requests the OEM simulator answered, by OEM, endpoint and HTTP status.',
      labelNames: ['oem', 'endpoint', 'status'],
      registers: [registry],
    }),
    faults: new Counter({
      name: 'gridpulse_oem_sim_faults_injected_total',
      help: 'Faults the OEM simulator injected, by OEM and kind.',
      labelNames: ['oem', 'kind'],
      registers: [registry],
    }),
  };
}
