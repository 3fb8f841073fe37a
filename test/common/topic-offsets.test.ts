import type { Admin } from 'kafkajs';
import { fetchTopicOffsets } from '../../services/common/topic-offsets';

/** A stand-in for kafkajs' admin (this unit's collaborator) that fails its first calls. */
function adminFailing(errors: Error[]): { admin: Admin; calls: () => number } {
  let calls = 0;
  const admin = {
    fetchTopicOffsets: async () => {
      calls += 1;
      const err = errors.shift();
      if (err) throw err;
      return [{ partition: 0, offset: '5', high: '5', low: '0' }];
    },
  } as unknown as Admin;
  return { admin, calls: () => calls };
}

/** Shaped as kafkajs' KafkaJSProtocolError: what the helper reads is `retriable`. */
const protocolError = (type: string, retriable: boolean, message: string) =>
  Object.assign(new Error(message), { name: 'KafkaJSProtocolError', type, retriable });

const notLeader = () =>
  protocolError(
    'NOT_LEADER_FOR_PARTITION',
    true,
    'This server is not the leader for that topic-partition',
  );

describe('fetchTopicOffsets', () => {
  it('waits out "not the leader" right after a topic was created', async () => {
    const { admin, calls } = adminFailing([notLeader(), notLeader()]);
    await expect(fetchTopicOffsets(admin, 't')).resolves.toEqual([
      { partition: 0, offset: '5', high: '5', low: '0' },
    ]);
    expect(calls()).toBe(3);
  });

  it('gives up after its attempts, and at once on an error that is not retriable', async () => {
    const retried = adminFailing([notLeader(), notLeader(), notLeader()]);
    await expect(fetchTopicOffsets(retried.admin, 't', 2)).rejects.toThrow('not the leader');
    expect(retried.calls()).toBe(2);

    const missing = protocolError(
      'UNKNOWN_TOPIC_OR_PARTITION',
      false,
      'This server does not host this topic-partition',
    );
    const final = adminFailing([missing]);
    await expect(fetchTopicOffsets(final.admin, 't')).rejects.toBe(missing);
    expect(final.calls()).toBe(1);
  });
});
