import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { SchemaRegistry, SchemaType } from '@kafkajs/confluent-schema-registry';
import avro from 'avsc';
import { readSchemaFile } from '../../services/common/avro';
import { createTestConfig } from '../support/kafka';

/**
 * DESIGN.md: schema evolution is BACKWARD compatible, and a test proves each change is. The
 * schemas as last released sit in test/fixtures/released-schemas; the current ones must read
 * what those wrote. The registry is the authority (it is what refuses a deploy); avsc's
 * resolver says which field broke it, and decodes a record written with the released schema.
 */
const RELEASED_DIR = path.join(__dirname, '../fixtures/released-schemas');
const released = readdirSync(RELEASED_DIR)
  .filter((file) => file.endsWith('.avsc'))
  .map((file) => file.replace(/\.avsc$/, ''));
const current = readdirSync(path.join(__dirname, '../../schemas'))
  .filter((file) => file.endsWith('.avsc'))
  .map((file) => file.replace(/\.avsc$/, ''));

describe('schema evolution', () => {
  const config = createTestConfig();
  const registry = new SchemaRegistry({ host: config.registry.url });

  it('keeps every released schema (a topic whose schema vanished would be unreadable)', () => {
    expect(current).toEqual(expect.arrayContaining(released));
  });

  it.each(released)(
    '%s: the registry accepts the current schema after the released one',
    async (name) => {
      const subject = `${config.topicPrefix}.evolution.${name}-value`;
      const releasedText = readFileSync(path.join(RELEASED_DIR, `${name}.avsc`), 'utf8');
      await registry.register({ type: SchemaType.AVRO, schema: releasedText }, {
        subject,
        compatibility: 'BACKWARD',
      } as Parameters<SchemaRegistry['register']>[1]);

      const registered = registry.register(
        { type: SchemaType.AVRO, schema: readSchemaFile(name) },
        { subject },
      );

      await expect(registered).resolves.toHaveProperty('id');
    },
  );

  it.each(released)('%s: the current schema decodes a record the released one wrote', (name) => {
    const releasedType = avro.Type.forSchema(
      JSON.parse(readFileSync(path.join(RELEASED_DIR, `${name}.avsc`), 'utf8')),
    );
    const currentType = avro.Type.forSchema(JSON.parse(readSchemaFile(name)));
    const written = releasedType.random();

    // createResolver throws, naming the field, when the current schema cannot read the old one.
    const resolver = currentType.createResolver(releasedType);
    const read = currentType.fromBuffer(releasedType.toBuffer(written), resolver);

    expect(currentType.isValid(read)).toBe(true);
  });

  it('catches an incompatible change (the check can fail)', async () => {
    const base = JSON.parse(readFileSync(path.join(RELEASED_DIR, 'event.avsc'), 'utf8')) as {
      fields: unknown[];
    };
    const broken = { ...base, fields: [...base.fields, { name: 'required', type: 'string' }] };
    const subject = `${config.topicPrefix}.evolution.broken-value`;
    await registry.register({ type: SchemaType.AVRO, schema: JSON.stringify(base) }, {
      subject,
      compatibility: 'BACKWARD',
    } as Parameters<SchemaRegistry['register']>[1]);

    await expect(
      registry.register({ type: SchemaType.AVRO, schema: JSON.stringify(broken) }, { subject }),
    ).rejects.toMatchObject({ status: 409 });
    expect(() =>
      avro.Type.forSchema(broken as avro.Schema).createResolver(
        avro.Type.forSchema(base as avro.Schema),
      ),
    ).toThrow(/required/);
  });
});
