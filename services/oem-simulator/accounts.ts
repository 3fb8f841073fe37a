import type { ApiContext } from './api-context';
import type { SimAccount, SimOem } from './types';

/** The registration view of one account: what a connection needs, with the live refresh token. */
export function describeAccount(
  context: ApiContext,
  oem: SimOem,
  accountIndex: number,
  now: number,
): SimAccount {
  const home = context.fleet.home(oem, accountIndex);
  const device = context.fleet.currentDevice(oem, accountIndex, now);
  const app = context.apps[oem];
  return {
    oem,
    accountId: home.accountId,
    clientId: app.clientId,
    clientSecret: app.clientSecret,
    apiKey: oem === 'enphase' ? app.apiKey : undefined,
    refreshToken: context.tokens.currentRefreshToken(oem, accountIndex),
    siteIds: [String(device.siteId)],
    customer: { ...home.customer },
    site: { ...home.site, address: { ...home.site.address } },
    workspaceId: home.workspaceId,
    organizationId: home.organizationId,
  };
}

/** Accounts of one or both OEMs, Tesla first, paged by offset/limit over that order. */
export function listAccounts(
  context: ApiContext,
  now: number,
  filter: { oem?: SimOem; offset?: number; limit?: number } = {},
): SimAccount[] {
  const oems: SimOem[] = filter.oem ? [filter.oem] : ['tesla', 'enphase'];
  const ranges = oems.map((oem) => ({ oem, count: context.fleet.accountCount(oem) }));
  const total = ranges.reduce((sum, range) => sum + range.count, 0);
  const from = Math.max(0, filter.offset ?? 0);
  const to = Math.min(total, from + (filter.limit ?? total));

  const accounts: SimAccount[] = [];
  for (let position = from; position < to; position += 1) {
    let index = position;
    for (const range of ranges) {
      if (index < range.count) {
        accounts.push(describeAccount(context, range.oem, index, now));
        break;
      }
      index -= range.count;
    }
  }
  return accounts;
}
