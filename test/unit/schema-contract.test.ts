import 'reflect-metadata';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { getNamedType, GraphQLNonNull, isObjectType, type GraphQLField, type GraphQLObjectType } from 'graphql';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';
import { generateSdkOperations, SDK_PATHS } from '../../scripts/codegen';
import { buildMaestroSchema } from '../../src/graphql/schema';

/**
 * The schema as a contract: described everywhere and Relay-shaped (graphql-schema-linter, as
 * `npm run lint` runs it), and typed all the way into the worker SDK, so that a rename the SDK
 * depends on fails `npm run typecheck` (both of its steps are exercised here).
 */
const root = join(__dirname, '..', '..');
const schemaSdl = readFileSync(join(root, 'schema.graphql'), 'utf8');

/** graphql-schema-linter with the rules configured in package.json, on an SDL text. */
function lint(sdl: string): { status: number | null; output: string } {
  const run = spawnSync(join(root, 'node_modules/.bin/graphql-schema-linter'), ['--stdin', '--format', 'compact'], { cwd: root, input: sdl, encoding: 'utf8' });
  return { status: run.status, output: `${run.stdout}${run.stderr}` };
}

describe('schema.graphql under graphql-schema-linter (description and Relay rules)', () => {
  it('has 0 findings', () => {
    const { status, output } = lint(schemaSdl);
    expect(output.trim()).toBe('');
    expect(status).toBe(0);
  });

  it('fails on one: a field without a description, a connection without edges', () => {
    const undocumented = schemaSdl.replace(/ *"""The run\."""\n(\s+runId: ID!)/, '$1');
    expect(lint(undocumented)).toMatchObject({
      status: 1,
      output: expect.stringContaining('The field `RunEvent.runId` is missing a description. (fields-have-descriptions)'),
    });
    const edgeless = schemaSdl.replace(/(type RunConnection \{[\s\S]*?)\n\s+"""[^"]*"""\n\s+edges: \[RunEdge!\]!/, '$1');
    expect(lint(edgeless)).toMatchObject({ status: 1, output: expect.stringContaining('Connection `RunConnection` is missing the following field: edges.') });
  });
});

describe('connections', () => {
  it('every *Connection has nodes, edges { cursor node }, pageInfo and totalCount, and its fields take first/after/last/before', async () => {
    const schema = await buildMaestroSchema();
    const connections = Object.values(schema.getTypeMap()).filter((t): t is GraphQLObjectType => isObjectType(t) && t.name.endsWith('Connection'));
    expect(connections.map((c) => c.name).sort()).toEqual(['RunConnection', 'ScheduleConnection', 'WorkflowConnection']);
    const typeOf = (f: GraphQLField<unknown, unknown> | undefined) => String(f?.type);
    for (const connection of connections) {
      const fields = connection.getFields();
      const node = getNamedType(fields['nodes']!.type);
      const edge = getNamedType(fields['edges']!.type) as GraphQLObjectType;
      expect([typeOf(fields['nodes']), typeOf(fields['edges']), typeOf(fields['pageInfo']), typeOf(fields['totalCount'])]).toEqual([
        `[${node.name}!]!`,
        `[${edge.name}!]!`,
        'PageInfo!',
        'Int!',
      ]);
      expect([typeOf(edge.getFields()['cursor']), typeOf(edge.getFields()['node'])]).toEqual(['String!', `${node.name}!`]);
      const returning = Object.values(schema.getQueryType()!.getFields()).filter((f) => getNamedType(f.type) === connection);
      expect(returning).toHaveLength(1);
      expect(returning[0]!.type).toBeInstanceOf(GraphQLNonNull);
      expect(
        Object.fromEntries(returning[0]!.args.filter((a) => ['first', 'after', 'last', 'before'].includes(a.name)).map((a) => [a.name, String(a.type)])),
      ).toEqual({
        first: 'Int',
        after: 'String',
        last: 'Int',
        before: 'String',
      });
    }
    const pageInfo = schema.getType('PageInfo') as GraphQLObjectType;
    expect(Object.fromEntries(Object.values(pageInfo.getFields()).map((f) => [f.name, String(f.type)]))).toEqual({
      hasNextPage: 'Boolean!',
      hasPreviousPage: 'Boolean!',
      startCursor: 'String',
      endCursor: 'String',
    });
  });
});

/** Type-checks the worker SDK as `tsc -p tsconfig.json` would, with another generated/operations.ts. */
function typecheckSdk(generated: string): string[] {
  const config = ts.getParsedCommandLineOfConfigFile(join(root, 'tsconfig.json'), {}, { ...ts.sys, onUnRecoverableConfigFileDiagnostic: () => undefined })!;
  const options = { ...config.options, noEmit: true };
  const host = ts.createCompilerHost(options);
  const getSourceFile = host.getSourceFile.bind(host);
  const readFile = host.readFile.bind(host);
  const swapped = (file: string) => file.replace(/\\/g, '/') === SDK_PATHS.output.replace(/\\/g, '/');
  host.readFile = (file) => (swapped(file) ? generated : readFile(file));
  host.getSourceFile = (file, language, ...rest) => (swapped(file) ? ts.createSourceFile(file, generated, language) : getSourceFile(file, language, ...rest));
  const program = ts.createProgram({ rootNames: [join(root, 'src/worker-sdk/index.ts')], options, host });
  return ts
    .getPreEmitDiagnostics(program)
    .map((d) => `${d.file ? `${d.file.fileName.slice(root.length + 1)}: ` : ''}${ts.flattenDiagnosticMessageText(d.messageText, '\n')}`);
}

describe('the worker SDK against the schema (npm run typecheck)', () => {
  const renamed = schemaSdl.replace('  leaseExpiresAt: DateTimeISO!', '  expiresAt: DateTimeISO!');
  const operations = readFileSync(SDK_PATHS.operations, 'utf8');

  it('type-checks as generated from schema.graphql', async () => {
    expect(typecheckSdk(await generateSdkOperations())).toEqual([]);
  });

  it('renaming a field the SDK reads fails codegen --check, its first step: the operation no longer validates', async () => {
    expect(renamed).not.toBe(schemaSdl);
    await expect(generateSdkOperations(renamed, operations)).rejects.toThrow('Cannot query field "leaseExpiresAt" on type "TaskLease"');
  });

  it('renaming it in the operations too fails tsc, its second step, where the SDK reads the old name', async () => {
    const generated = await generateSdkOperations(renamed, operations.replaceAll('leaseExpiresAt', 'expiresAt'));
    const errors = typecheckSdk(generated);
    expect(errors).toContainEqual(expect.stringMatching(/^src\/worker-sdk\/client\.ts: Property 'leaseExpiresAt' does not exist on type/));
  });
});
