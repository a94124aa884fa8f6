import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { buildSchema, type GraphQLEnumType, parse, validate } from 'graphql';
import { describe, expect, it } from 'vitest';
import * as documents from '../../ui/src/documents';
import { toRunFilter } from '../../ui/src/filters';
import { waitInWords } from '../../ui/src/waiting';

const schema = buildSchema(readFileSync(join(__dirname, '..', '..', 'schema.graphql'), 'utf8'));

describe('the web console against schema.graphql', () => {
  const operations = Object.entries(documents).filter(([, text]) => /^(query|mutation|subscription)\b/.test(text));

  it('has its operations', () => {
    expect(operations.map(([name]) => name).sort()).toEqual(
      [
        'CANCEL_RUN',
        'CANCEL_RUNS',
        'ME',
        'PAUSE_RUN',
        'QUEUES',
        'RESUME_RUN',
        'RETRY_RUN',
        'RUN',
        'RUNS',
        'RUN_EVENTS',
        'RUN_UPDATED',
        'SIGNAL_RUN',
        'WORKFLOW',
        'WORKFLOWS',
      ].sort(),
    );
  });

  it.each(operations)('%s validates against the schema', (_name, text) => {
    expect(validate(schema, parse(text)).map((e) => e.message)).toEqual([]);
  });

  it('says every kind of wait in words of its own', () => {
    const kinds = (schema.getType('WaitKind') as GraphQLEnumType).getValues().map((v) => v.name);
    for (const kind of kinds) {
      const words = waitInWords({ kind, taskId: 't', taskKey: 'step', since: null, until: null });
      expect(words, kind).not.toContain(`(${kind})`);
      expect(words, kind).toContain('“step”');
    }
    expect(waitInWords({ kind: 'SOMETHING_NEW', taskId: 't', taskKey: 'step', since: null, until: null })).toBe('“step” waits (SOMETHING_NEW).');
  });
});

describe('the runs filter form', () => {
  const empty = { workflow: '', status: [], createdAfter: '', createdBefore: '', tags: '' };

  it.each([
    ['nothing filled in', empty, {}],
    ['a workflow, trimmed', { ...empty, workflow: '  hello ' }, { workflow: 'hello' }],
    ['statuses', { ...empty, status: ['RUNNING', 'PAUSED'] }, { status: ['RUNNING', 'PAUSED'] }],
    ['tags, split on commas, blanks dropped', { ...empty, tags: ' a, b ,, ' }, { tags: ['a', 'b'] }],
    ['only blank tags', { ...empty, tags: ' , ' }, {}],
  ])('%s', (_what, form, filter) => {
    expect(toRunFilter(form)).toEqual(filter);
  });

  it('sends times as ISO instants', () => {
    const filter = toRunFilter({ ...empty, createdAfter: '2026-01-02T03:04', createdBefore: '2026-01-03T00:00' });
    expect(filter['createdAfter']).toBe(new Date('2026-01-02T03:04').toISOString());
    expect(filter['createdBefore']).toBe(new Date('2026-01-03T00:00').toISOString());
  });
});
