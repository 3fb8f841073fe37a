import { listAccounts } from './accounts';
import type { ApiContext, Reply, SimRequest } from './api-context';
import { parseAccountId } from './fleet';
import type { StatsRecorder } from './stats';
import type { SimOem, SimTruth } from './types';
import { isGridpulseError } from '../common/errors';

export interface ControlHooks {
  stats: StatsRecorder;
  advance(ms: number): void;
  truth(filter: { oem?: SimOem; accountId?: string }): SimTruth;
}

/** The simulator's own endpoints under /_sim, for demos and tests (never part of an OEM API). */
export function createControlApi(context: ApiContext, hooks: ControlHooks) {
  return (request: SimRequest): Reply => {
    const route = `${request.method} ${request.path}`;
    const reply = (endpoint: string, status: number, body: unknown): Reply => ({
      oem: 'sim',
      endpoint,
      status,
      body,
    });

    switch (route) {
      case 'GET /_sim/accounts': {
        const oem = parseOem(request.query.get('oem'));
        const accounts = listAccounts(context, context.now(), {
          oem,
          offset: optionalInt(request.query.get('offset')),
          limit: optionalInt(request.query.get('limit')),
        });
        return reply('accounts', 200, accounts);
      }
      case 'GET /_sim/stats':
        return reply('stats', 200, hooks.stats.snapshot());
      case 'GET /_sim/faults':
        return reply('faults', 200, context.faults.config());
      case 'PUT /_sim/faults':
        try {
          context.faults.configure(request.body);
          return reply('faults', 200, context.faults.config());
        } catch (err: unknown) {
          if (!isGridpulseError(err)) throw err;
          return reply('faults', 400, { code: err.code, message: err.message });
        }
      case 'GET /_sim/truth': {
        const accountId = request.query.get('accountId') ?? undefined;
        if (accountId !== undefined && parseAccountId(accountId) === null) {
          return reply('truth', 400, { message: 'accountId is not a simulated account' });
        }
        return reply(
          'truth',
          200,
          hooks.truth({ oem: parseOem(request.query.get('oem')), accountId }),
        );
      }
      case 'POST /_sim/advance': {
        const ms = (request.body as { ms?: unknown } | undefined)?.ms;
        if (typeof ms !== 'number' || !Number.isFinite(ms) || ms < 0) {
          return reply('advance', 400, { message: 'body must be {"ms": <non-negative number>}' });
        }
        hooks.advance(ms);
        return reply('advance', 200, { now: context.now() });
      }
      default:
        return reply('unknown', 404, { message: 'no such simulator endpoint' });
    }
  };
}

function parseOem(value: string | null): SimOem | undefined {
  return value === 'tesla' || value === 'enphase' ? value : undefined;
}

function optionalInt(value: string | null): number | undefined {
  if (value === null) return undefined;
  const parsed = Number.parseInt(value, 10);
  return Number.isFinite(parsed) && parsed >= 0 ? parsed : undefined;
}
