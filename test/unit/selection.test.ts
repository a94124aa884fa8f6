import { parse, type FragmentDefinitionNode, type OperationDefinitionNode, type FieldNode } from 'graphql';
import { describe, expect, it } from 'vitest';
import { selectsField } from '../../src/graphql/selection';

/** The `runs` field of a document, as the resolver's info would hold it. */
function infoOf(document: string): Parameters<typeof selectsField>[0] {
  const doc = parse(document);
  const op = doc.definitions.find((d): d is OperationDefinitionNode => d.kind === 'OperationDefinition')!;
  const fragments = Object.fromEntries(
    doc.definitions.filter((d): d is FragmentDefinitionNode => d.kind === 'FragmentDefinition').map((f) => [f.name.value, f]),
  );
  const runs = op.selectionSet.selections.filter((s): s is FieldNode => s.kind === 'Field' && s.name.value === 'runs');
  return { fieldNodes: runs, fragments };
}

describe('selectsField', () => {
  it.each([
    ['{ runs { totalCount nodes { id } } }', true],
    ['{ runs { nodes { id } pageInfo { hasNextPage } } }', false],
    ['{ runs { n: totalCount } }', true],
    ['{ runs { ... on RunConnection { totalCount } } }', true],
    ['{ runs { ...Page } } fragment Page on RunConnection { pageInfo { endCursor } totalCount }', true],
    ['{ runs { ...Page } } fragment Page on RunConnection { nodes { id } }', false],
    // Deeper is not directly below: a node's field of the same name does not count.
    ['{ runs { nodes { totalCount: id } } }', false],
    // Conservative under directives: counted as selected.
    ['{ runs { totalCount @skip(if: true) } }', true],
    // Two aliases of the field: either selecting it is enough (they share the resolver's info).
    ['{ runs { nodes { id } } runs { totalCount } }', true],
    // A fragment spreading itself is refused by validation; the walk still ends.
    ['{ runs { ...A } } fragment A on RunConnection { ...A }', false],
  ])('%s → %s', (document, selected) => {
    expect(selectsField(infoOf(document), 'totalCount')).toBe(selected);
  });
});
