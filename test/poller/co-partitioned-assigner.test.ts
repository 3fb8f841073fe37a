import { AssignerProtocol, type Cluster } from 'kafkajs';
import { coPartitionedAssigner } from '../../services/poller/co-partitioned-assigner';

/** The assigner reads only partition metadata from the cluster. */
function clusterWith(partitions: Record<string, number>): Cluster {
  return {
    findTopicPartitionMetadata: (topic: string) =>
      Array.from({ length: partitions[topic] ?? 0 }, (_, partitionId) => ({ partitionId })),
  } as unknown as Cluster;
}

async function assign(members: string[], partitions: Record<string, number>) {
  const assigner = coPartitionedAssigner({
    cluster: clusterWith(partitions),
    groupId: 'g',
    logger: undefined as never,
  });
  const result = await assigner.assign({
    members: members.map((memberId) => ({ memberId, memberMetadata: Buffer.alloc(0) })),
    topics: Object.keys(partitions),
  });
  return new Map(
    result.map(({ memberId, memberAssignment }) => [
      memberId,
      AssignerProtocol.MemberAssignment.decode(memberAssignment)!.assignment,
    ]),
  );
}

describe('co-partitioned assigner', () => {
  it('gives each member the same partition numbers of every topic', async () => {
    const assignment = await assign(['m-b', 'm-a', 'm-c'], { conn: 6, cmd: 6 });
    for (const perTopic of assignment.values()) {
      expect(perTopic.conn).toEqual(perTopic.cmd);
      expect(perTopic.conn).toHaveLength(2);
    }
    const all = [...assignment.values()].flatMap((perTopic) => perTopic.conn ?? []);
    expect(all.sort()).toEqual([0, 1, 2, 3, 4, 5]);
    expect(assignment.get('m-a')!.conn).toEqual([0, 3]);
  });

  it('gives an extra member an empty assignment rather than none', async () => {
    const assignment = await assign(['m1', 'm2', 'm3'], { conn: 2, cmd: 2 });
    expect(assignment.get('m3')).toEqual({});
    expect(assignment.size).toBe(3);
  });
});
