import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { coordinateOf, runGate, schemaChanges, unannounced, unreleasedSection } from '../../scripts/schema-gate';

/**
 * The breaking-change gate (`npm run lint:schema`). There is no release tag yet, so both baselines
 * are exercised in throwaway git repositories: the latest `v*` tag, and the previous commit.
 */
const current = readFileSync(join(__dirname, '..', '..', 'schema.graphql'), 'utf8');
/** The real schema without `Run.error` (its description and the field). */
const withoutRunError = current.replace(/\n\s+"""\n?\s*Why it FAILED[^"]*"""\n\s+error: String\n/, '\n');

const CHANGELOG = (unreleased: string) =>
  `# Changelog\n\n## [Unreleased]\n\n${unreleased}\n\n## [0.1.0] - 2030-01-01\n\n### Removed\n- **Breaking:** \`Run.error\` gone long ago.\n`;

describe('schemaChanges and coordinates', () => {
  it('removing a field the schema has is breaking, named by its coordinate', () => {
    expect(withoutRunError).not.toBe(current);
    const { breaking } = schemaChanges(current, withoutRunError);
    expect(breaking).toEqual([{ type: 'FIELD_REMOVED', description: 'Run.error was removed.', coordinate: 'Run.error' }]);
    expect(schemaChanges(current, current)).toEqual({ breaking: [], dangerous: [] });
  });

  it.each([
    ['type Query { a(x: Int): Int }', 'type Query { a(x: Int!): Int }', 'ARG_CHANGED_KIND', 'Query.a(x:)'],
    ['type Query { a(x: Int): Int }', 'type Query { a: Int }', 'ARG_REMOVED', 'Query.a(x:)'],
    ['type Query { a: Int }', 'type Query { a(x: Int!): Int }', 'REQUIRED_ARG_ADDED', 'Query.a(x:)'],
    ['type Query { a: Int }', 'type Query { a: String }', 'FIELD_CHANGED_KIND', 'Query.a'],
    ['type Query { a: E } enum E { X Y }', 'type Query { a: E } enum E { X }', 'VALUE_REMOVED_FROM_ENUM', 'E.Y'],
    ['type Query { a(i: I): Int } input I { x: Int }', 'type Query { a(i: I): Int } input I { x: Int y: Int! }', 'REQUIRED_INPUT_FIELD_ADDED', 'I.y'],
    ['type Query { a: T } type T { x: Int }', 'type Query { a: Int }', 'TYPE_REMOVED', 'T'],
    ['type Query { a: Int } directive @d on FIELD', 'type Query { a: Int }', 'DIRECTIVE_REMOVED', '@d'],
  ])('%s → %s: %s of `%s`', (before, after, type, coordinate) => {
    const [change] = schemaChanges(before, after).breaking.filter((c) => c.type === type);
    expect(change).toBeDefined();
    expect(coordinateOf(change!)).toBe(coordinate);
  });

  it('only a "breaking" item of the Unreleased section that names the coordinate announces it', () => {
    const removed = schemaChanges(current, withoutRunError).breaking;
    const section = (text: string) => unreleasedSection(CHANGELOG(text));
    expect(unreleasedSection(CHANGELOG('### Added\n- x'))).toContain('### Added');
    expect(unreleasedSection(CHANGELOG('### Added\n- x'))).not.toContain('0.1.0');
    expect(unannounced(removed, section(''))).toEqual(removed);
    expect(unannounced(removed, section('### Changed\n- `Run.error` is now longer.'))).toEqual(removed);
    expect(unannounced(removed, section('### Removed\n- **Breaking:** `Run.errors` (sic).'))).toEqual(removed);
    expect(
      unannounced(removed, section('### Removed\n- Something else.\n- **Breaking:** `Run.error` removed; read\n  `Run.tasks { error }` instead.')),
    ).toEqual([]);
    // An announcement in a released section does not count for this release.
    expect(unannounced(removed, unreleasedSection(CHANGELOG('')))).toEqual(removed);
  });
});

describe('runGate in a repository', () => {
  let dir = '';
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  const git = (...args: string[]) =>
    execFileSync('git', ['-C', dir, '-c', 'user.name=test', '-c', 'user.email=test@example.invalid', ...args], { stdio: 'pipe' });
  const write = (schema: string, unreleased = '') => {
    writeFileSync(join(dir, 'schema.graphql'), schema);
    writeFileSync(join(dir, 'CHANGELOG.md'), CHANGELOG(unreleased));
  };
  const commit = (message: string) => {
    git('add', '-A');
    git('commit', '-q', '--allow-empty', '-m', message);
  };
  const repo = () => {
    dir = mkdtempSync(join(tmpdir(), 'schema-gate-'));
    git('init', '-q', '-b', 'main');
  };

  it('without a tag: compares with the previous commit and fails on an unannounced removed field, passes once announced', () => {
    repo();
    write(current);
    commit('feat: the schema');
    expect(runGate({ dir })).toMatchObject({ ok: true, baseline: null });
    write(current);
    commit('docs: nothing in the API');
    expect(runGate({ dir })).toMatchObject({ ok: true, baseline: { ref: 'HEAD~1' }, breaking: [] });

    write(withoutRunError);
    commit('feat!: drop Run.error');
    const failed = runGate({ dir });
    expect(failed).toMatchObject({ ok: false, baseline: { ref: 'HEAD~1' }, unannounced: [{ coordinate: 'Run.error' }] });
    expect(failed.report).toContain('✗ `Run.error`: Run.error was removed. (FIELD_REMOVED)');
    expect(failed.report).toContain('- **Breaking:** `Run.error`: Run.error was removed; <what clients do instead>.');

    write(withoutRunError, "### Removed\n- **Breaking:** `Run.error`: read the failed task's `error` instead.");
    commit('docs: announce it');
    // The previous commit already lacks the field: nothing breaks against it any more.
    expect(runGate({ dir })).toMatchObject({ ok: true, breaking: [] });
    // Uncommitted, the announcement is what makes the same change pass.
    git('reset', '-q', '--hard', 'HEAD~1');
    expect(runGate({ dir }).ok).toBe(false);
    write(withoutRunError, "### Removed\n- **Breaking:** `Run.error`: read the failed task's `error` instead.");
    expect(runGate({ dir })).toMatchObject({ ok: true, breaking: [{ coordinate: 'Run.error' }], unannounced: [] });
  });

  it('with a v* tag: compares with the latest release, across any number of commits since', () => {
    repo();
    write(current);
    commit('feat: 0.1.0');
    git('tag', 'v0.1.0');
    const extended = current.replace('type Run {', 'type Run {\n  """Added after 0.1.0."""\n  extra: String\n');
    write(extended);
    commit('feat: Run.extra');
    // Taking back what was added since the release breaks nobody: the tag is the baseline.
    write(current);
    commit('revert: Run.extra');
    expect(runGate({ dir })).toMatchObject({ ok: true, baseline: { ref: 'v0.1.0' }, breaking: [] });

    write(current);
    commit('chore: something');
    write(withoutRunError);
    commit('feat!: drop Run.error');
    expect(runGate({ dir })).toMatchObject({ ok: false, baseline: { ref: 'v0.1.0' }, unannounced: [{ coordinate: 'Run.error' }] });

    // A later tag becomes the baseline; --base overrides it.
    git('tag', 'v0.2.0');
    expect(runGate({ dir })).toMatchObject({ ok: true, baseline: { ref: 'v0.2.0' } });
    expect(runGate({ dir, base: 'v0.1.0' })).toMatchObject({ ok: false, baseline: { ref: 'v0.1.0' } });
  });
});
