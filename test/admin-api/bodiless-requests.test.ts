import { createMemoryLogger, type TestKafka } from '../support/kafka';
import type { AdminApiHandle } from '../../services/admin-api/admin-api';
import {
  ADMIN_API_TOPICS,
  auth,
  http,
  KEY_A,
  setUpTestKafkaRetrying,
  startTestApi,
} from './support';

describe('admin API requests without a body', () => {
  let testKafka: TestKafka;
  let api: AdminApiHandle;

  beforeAll(async () => {
    testKafka = await setUpTestKafkaRetrying({ partitions: 1, only: ADMIN_API_TOPICS });
    api = await startTestApi(testKafka, createMemoryLogger('admin-api').logger);
  });

  afterAll(async () => {
    await api?.stop();
    await testKafka?.close();
  });

  const json = { ...auth(KEY_A), 'content-type': 'application/json' };

  it('answers a DELETE with a JSON content type and no body like any other (404, no route)', async () => {
    const res = await http(api.url, { method: 'DELETE', url: '/customers/cus_x', headers: json });

    expect(res.statusCode).toBe(404);
    expect(res.json()).toEqual({
      error: { code: 'GP_ADMIN_NOT_FOUND', message: 'no such route' },
    });
  });

  it('answers a GET with a JSON content type and no body', async () => {
    const res = await http(api.url, { method: 'GET', url: '/customers/cus_x', headers: json });

    expect(res.statusCode).toBe(404);
    expect(res.json().error.code).toBe('GP_ADMIN_NOT_FOUND');
  });

  it('still refuses an empty JSON body where a body is expected', async () => {
    const res = await http(api.url, {
      method: 'POST',
      url: '/customers',
      headers: json,
      payload: '',
    });

    expect(res.statusCode).toBe(400);
    expect(res.json().error).toMatchObject({ code: 'GP_ADMIN_INVALID_REQUEST', field: 'body' });
  });

  it('still refuses a DELETE whose body is not valid JSON', async () => {
    const res = await http(api.url, {
      method: 'DELETE',
      url: '/customers/cus_x',
      headers: json,
      payload: '{not json',
    });

    expect(res.statusCode).toBe(400);
    expect(res.json().error.message).toBe('body is not valid JSON');
  });
});
