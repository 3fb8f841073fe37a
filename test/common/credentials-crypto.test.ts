import {
  decryptCredentials,
  encryptCredentials,
  parseCredentialsKey,
} from '../../services/common/credentials-crypto';

describe('credentials crypto', () => {
  const key = { id: 'k1', key: Buffer.alloc(32, 9) };
  const plaintext = Buffer.from('{"refreshToken":"rt-secret-1"}', 'utf8');

  function reasonOf(run: () => unknown): unknown {
    try {
      run();
    } catch (err) {
      const { code, context } = err as { code: string; context: { reason: string } };
      return { code, reason: context.reason };
    }
    return 'no error';
  }

  it('round-trips under the key it names, with no plaintext in the stored bytes', () => {
    const stored = encryptCredentials(plaintext, 'conn-1', key);
    expect(stored.credentialsFormat).toBe('aes-256-gcm:k1');
    expect(stored.credentials.includes('rt-secret-1')).toBe(false);
    expect(stored.credentials.length).toBe(12 + plaintext.length + 16);
    const opened = decryptCredentials(stored.credentialsFormat, stored.credentials, 'conn-1', key);
    expect(opened.equals(plaintext)).toBe(true);
  });

  it('passes the json format through unchanged, with or without a key', () => {
    expect(decryptCredentials('json', plaintext, 'conn-1', undefined).equals(plaintext)).toBe(true);
  });

  it('refuses a record with a coded reason: no key, other key id, wrong key, other connection', () => {
    const { credentialsFormat, credentials } = encryptCredentials(plaintext, 'conn-1', key);
    const code = 'GP_CREDENTIALS_UNDECRYPTABLE';
    expect(
      reasonOf(() => decryptCredentials(credentialsFormat, credentials, 'conn-1', undefined)),
    ).toEqual({ code, reason: 'no_key' });
    expect(
      reasonOf(() =>
        decryptCredentials(credentialsFormat, credentials, 'conn-1', { ...key, id: 'k2' }),
      ),
    ).toEqual({ code, reason: 'key_id_mismatch' });
    expect(
      reasonOf(() =>
        decryptCredentials(credentialsFormat, credentials, 'conn-1', {
          id: 'k1',
          key: Buffer.alloc(32, 1),
        }),
      ),
    ).toEqual({ code, reason: 'authentication_failed' });
    // The connection id is authenticated: a ciphertext copied onto another connection fails.
    expect(
      reasonOf(() => decryptCredentials(credentialsFormat, credentials, 'conn-2', key)),
    ).toEqual({ code, reason: 'authentication_failed' });
    expect(
      reasonOf(() => decryptCredentials(credentialsFormat, Buffer.alloc(8), 'conn-1', key)),
    ).toEqual({ code, reason: 'truncated' });
    expect(reasonOf(() => decryptCredentials('rot13', credentials, 'conn-1', key))).toEqual({
      code,
      reason: 'unknown_format',
    });
  });

  it('reads a 32-byte key as hex or base64 and refuses any other length', () => {
    const bytes = Buffer.alloc(32, 5);
    expect(parseCredentialsKey(bytes.toString('hex'))?.equals(bytes)).toBe(true);
    expect(parseCredentialsKey(bytes.toString('base64'))?.equals(bytes)).toBe(true);
    expect(parseCredentialsKey('abcd')).toBeNull();
  });
});
