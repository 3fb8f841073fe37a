import { AssignerProtocol, type PartitionAssigner } from 'kafkajs';

/** The protocol name every poller replica announces; members must agree on it to share a group. */
export const CO_PARTITIONED_ASSIGNER_NAME = 'GridpulseCoPartitioned';

/**
 * A kafkajs partition assigner that hands out partition *numbers*: each member gets the same
 * numbers of every subscribed topic. Topics keyed alike with equal partition counts (the
 * poller's connections.v1 and commands.v1) then have all the records of one key on one member.
 *
 * Numbers go round-robin over the members sorted by id, so the split is even and the same for
 * the same membership. A topic with fewer partitions simply has no partition of the higher
 * numbers; the poller refuses to start when its two topics' counts differ.
 * (Custom assigners: https://kafka.js.org/docs/consuming#custom-partition-assigner)
 */
export const coPartitionedAssigner: PartitionAssigner = ({ cluster }) => ({
  name: CO_PARTITIONED_ASSIGNER_NAME,
  version: 0,

  async assign({ members, topics }) {
    const memberIds = members.map((member) => member.memberId).sort();
    const partitionsByTopic = new Map(
      topics.map((topic) => [
        topic,
        new Set(cluster.findTopicPartitionMetadata(topic).map((p) => p.partitionId)),
      ]),
    );
    const numbers = [...new Set([...partitionsByTopic.values()].flatMap((ids) => [...ids]))].sort(
      (a, b) => a - b,
    );

    const assignment = new Map(memberIds.map((id) => [id, {} as Record<string, number[]>]));
    numbers.forEach((partition, index) => {
      const perTopic = assignment.get(memberIds[index % memberIds.length]!)!;
      for (const [topic, ids] of partitionsByTopic) {
        if (ids.has(partition)) (perTopic[topic] ??= []).push(partition);
      }
    });

    // Every member gets an assignment, possibly empty: a member left out would see none at all.
    return memberIds.map((memberId) => ({
      memberId,
      memberAssignment: AssignerProtocol.MemberAssignment.encode({
        version: 0,
        assignment: assignment.get(memberId)!,
        userData: Buffer.alloc(0),
      }),
    }));
  },

  protocol({ topics }) {
    return {
      name: CO_PARTITIONED_ASSIGNER_NAME,
      metadata: AssignerProtocol.MemberMetadata.encode({
        version: 0,
        topics,
        userData: Buffer.alloc(0),
      }),
    };
  },
});
