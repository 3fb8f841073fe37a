import type { SimulatorMetrics } from './metrics';
import { FAULT_KINDS, type FaultKind, type SimOem, type SimStats } from './types';

export interface StatsRecorder {
  recordRequest(oem: SimOem | 'sim', endpoint: string, status: number): void;
  recordFault(oem: SimOem, kind: FaultKind): void;
  snapshot(): SimStats;
}

/** Counts what the simulator served and injected, for `/_sim/stats` and `/metrics` alike. */
export function createStatsRecorder(metrics: SimulatorMetrics): StatsRecorder {
  const requests = new Map<string, number>();
  const faults: Record<SimOem, Record<FaultKind, number>> = {
    tesla: zeroFaults(),
    enphase: zeroFaults(),
  };

  return {
    recordRequest(oem, endpoint, status) {
      const key = `${oem}|${endpoint}|${status}`;
      requests.set(key, (requests.get(key) ?? 0) + 1);
      metrics.requests.inc({ oem, endpoint, status: String(status) });
    },
    recordFault(oem, kind) {
      faults[oem][kind] += 1;
      metrics.faults.inc({ oem, kind });
    },
    snapshot() {
      const total = zeroFaults();
      for (const kind of FAULT_KINDS) total[kind] = faults.tesla[kind] + faults.enphase[kind];
      return {
        requests: [...requests].map(([key, count]) => {
          const [oem, endpoint, status] = key.split('|') as [SimOem | 'sim', string, string];
          return { oem, endpoint, status: Number(status), count };
        }),
        faults: total,
        faultsByOem: { tesla: { ...faults.tesla }, enphase: { ...faults.enphase } },
      };
    },
  };
}

function zeroFaults(): Record<FaultKind, number> {
  return Object.fromEntries(FAULT_KINDS.map((kind) => [kind, 0])) as Record<FaultKind, number>;
}
