import type { Admin } from 'kafkajs';

/**
 * admin.fetchTopicOffsets, retried: right after a topic is created the broker may answer
 * "not the leader" until the leaders are known, and kafkajs does not retry that here.
 */
export async function fetchTopicOffsets(admin: Admin, topic: string, attempts = 10) {
  for (let attempt = 1; ; attempt += 1) {
    try {
      return await admin.fetchTopicOffsets(topic);
    } catch (err) {
      const retriable = (err as { retriable?: unknown } | null)?.retriable === true;
      if (!retriable || attempt >= attempts) throw err;
      await new Promise((resolve) => setTimeout(resolve, 200 * attempt));
    }
  }
}
