/**
 * The breaking-change gate (`npm run lint` runs it): compares schema.graphql with the last
 * released one and fails on a breaking change that the CHANGELOG does not announce.
 *
 * - The baseline is schema.graphql at the latest `v*` tag reachable from HEAD; with no such tag,
 *   at the previous commit (HEAD~1: on main after a merge, main before it). `--base <ref>` picks
 *   another. The file compared is the working tree's, so an uncommitted change is seen too.
 * - Breaking and dangerous changes come from graphql-js's `findBreakingChanges` and
 *   `findDangerousChanges`; dangerous ones are reported, not failed on.
 * - A breaking change is announced when an item of the CHANGELOG's `## [Unreleased]` section says
 *   "breaking" and names its schema coordinate in backticks: `Type.field`, `Type.field(arg:)`,
 *   `Enum.VALUE`, `Input.field`, `Type` or `@directive`.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { buildSchema, findBreakingChanges, findDangerousChanges, type BreakingChange, type DangerousChange } from 'graphql';

export interface SchemaChange {
  type: string;
  description: string;
  /** Schema coordinate of what changed: how the CHANGELOG names it. */
  coordinate: string;
}

export interface GateResult {
  ok: boolean;
  /** What was compared with what, the changes, and what to do: for people. */
  report: string;
  baseline: { ref: string; label: string } | null;
  breaking: SchemaChange[];
  unannounced: SchemaChange[];
  dangerous: SchemaChange[];
}

/** Breaking and dangerous changes from `oldSdl` to `newSdl`, each with its schema coordinate. */
export function schemaChanges(oldSdl: string, newSdl: string): { breaking: SchemaChange[]; dangerous: SchemaChange[] } {
  const before = buildSchema(oldSdl);
  const after = buildSchema(newSdl);
  const named = (c: BreakingChange | DangerousChange): SchemaChange => ({ type: c.type, description: c.description, coordinate: coordinateOf(c) });
  return { breaking: findBreakingChanges(before, after).map(named), dangerous: findDangerousChanges(before, after).map(named) };
}

/** graphql-js describes a change in a sentence; the coordinate is read back from it, by change type. */
const COORDINATES: Record<string, [RegExp, (m: RegExpExecArray) => string]> = {
  TYPE_REMOVED: [/^(?:Standard scalar )?(\w+) was removed/, (m) => m[1]!],
  TYPE_CHANGED_KIND: [/^(\w+) changed from/, (m) => m[1]!],
  TYPE_REMOVED_FROM_UNION: [/^\w+ was removed from union type (\w+)/, (m) => m[1]!],
  VALUE_REMOVED_FROM_ENUM: [/^(\w+) was removed from enum type (\w+)/, (m) => `${m[2]}.${m[1]}`],
  VALUE_ADDED_TO_ENUM: [/^(\w+) was added to enum type (\w+)/, (m) => `${m[2]}.${m[1]}`],
  REQUIRED_INPUT_FIELD_ADDED: [/^A required field (\w+) on input type (\w+)/, (m) => `${m[2]}.${m[1]}`],
  OPTIONAL_INPUT_FIELD_ADDED: [/^An optional field (\w+) on input type (\w+)/, (m) => `${m[2]}.${m[1]}`],
  IMPLEMENTED_INTERFACE_REMOVED: [/^(\w+) no longer implements/, (m) => m[1]!],
  IMPLEMENTED_INTERFACE_ADDED: [/^\w+ added to interfaces implemented by (\w+)/, (m) => m[1]!],
  TYPE_ADDED_TO_UNION: [/^\w+ was added to union type (\w+)/, (m) => m[1]!],
  FIELD_REMOVED: [/^(\w+)\.(\w+) /, (m) => `${m[1]}.${m[2]}`],
  FIELD_CHANGED_KIND: [/^(\w+)\.(\w+) /, (m) => `${m[1]}.${m[2]}`],
  REQUIRED_ARG_ADDED: [/^A required arg (\w+) on (\w+)\.(\w+)/, (m) => `${m[2]}.${m[3]}(${m[1]}:)`],
  OPTIONAL_ARG_ADDED: [/^An optional arg (\w+) on (\w+)\.(\w+)/, (m) => `${m[2]}.${m[3]}(${m[1]}:)`],
  ARG_REMOVED: [/^(\w+)\.(\w+) arg (\w+) /, (m) => `${m[1]}.${m[2]}(${m[3]}:)`],
  ARG_CHANGED_KIND: [/^(\w+)\.(\w+) arg (\w+) /, (m) => `${m[1]}.${m[2]}(${m[3]}:)`],
  ARG_DEFAULT_VALUE_CHANGE: [/^(\w+)\.(\w+) arg (\w+) /, (m) => `${m[1]}.${m[2]}(${m[3]}:)`],
  DIRECTIVE_REMOVED: [/^(\w+) was removed/, (m) => `@${m[1]}`],
  DIRECTIVE_ARG_REMOVED: [/^(\w+) was removed from (\w+)/, (m) => `@${m[2]}(${m[1]}:)`],
  REQUIRED_DIRECTIVE_ARG_ADDED: [/^A required arg (\w+) on directive (\w+)/, (m) => `@${m[2]}(${m[1]}:)`],
  DIRECTIVE_REPEATABLE_REMOVED: [/from (\w+)\.$/, (m) => `@${m[1]}`],
  DIRECTIVE_LOCATION_REMOVED: [/from (\w+)\.$/, (m) => `@${m[1]}`],
};

export function coordinateOf(change: { type: string; description: string }): string {
  const rule = COORDINATES[change.type];
  const m = rule?.[0].exec(change.description);
  return m ? rule![1](m) : change.description;
}

/** The `## [Unreleased]` section of a Keep a Changelog file ('' when there is none). */
export function unreleasedSection(changelog: string): string {
  const start = changelog.search(/^## \[?Unreleased\]?/im);
  if (start < 0) return '';
  const rest = changelog.slice(start).split('\n').slice(1).join('\n');
  const end = rest.search(/^## /m);
  return end < 0 ? rest : rest.slice(0, end);
}

/** Breaking changes no "breaking" item of the Unreleased section names. */
export function unannounced(breaking: readonly SchemaChange[], unreleased: string): SchemaChange[] {
  // Items: list entries (with their wrapped lines), split at each "- " that opens a line.
  const items = unreleased.split(/\n(?=\s*[-*] )/).filter((item) => /breaking/i.test(item));
  return breaking.filter((c) => !items.some((item) => item.includes(`\`${c.coordinate}\``)));
}

function git(dir: string, args: string[]): string | null {
  try {
    return execFileSync('git', ['-C', dir, ...args], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
  } catch {
    return null;
  }
}

/** The last released schema: at the latest `v*` tag reachable from HEAD, else at HEAD~1. */
export function findBaseline(dir: string, file = 'schema.graphql', base?: string): { ref: string; label: string; sdl: string | null } | null {
  let ref: string;
  let label: string;
  if (base) {
    ref = base;
    label = `--base ${base}`;
  } else {
    const tag = git(dir, ['describe', '--tags', '--abbrev=0', '--match', 'v*', 'HEAD'])?.trim();
    if (tag) {
      ref = tag;
      label = `the latest release tag ${tag}`;
    } else {
      if (git(dir, ['rev-parse', '--verify', '--quiet', 'HEAD~1^{commit}']) === null) return null;
      ref = 'HEAD~1';
      label = 'the previous commit (HEAD~1; no v* tag yet)';
    }
  }
  // A baseline without the file (the schema is new) has nothing to break.
  return { ref, label, sdl: git(dir, ['show', `${ref}:${file}`]) };
}

export function runGate(opts: { dir: string; base?: string }): GateResult {
  const { dir } = opts;
  const current = readFileSync(join(dir, 'schema.graphql'), 'utf8');
  const found = findBaseline(dir, 'schema.graphql', opts.base);
  const none = (why: string): GateResult => ({
    ok: true,
    report: `schema gate: ${why}; nothing to compare.`,
    baseline: null,
    breaking: [],
    unannounced: [],
    dangerous: [],
  });
  if (!found) return none('no release tag and no previous commit (a first commit, or a shallow clone)');
  const baseline = { ref: found.ref, label: found.label };
  if (found.sdl === null) return { ...none(`schema.graphql does not exist at ${found.label}`), baseline };

  const { breaking, dangerous } = schemaChanges(found.sdl, current);
  let changelog = '';
  try {
    changelog = readFileSync(join(dir, 'CHANGELOG.md'), 'utf8');
  } catch {
    // no changelog: nothing is announced
  }
  const missing = unannounced(breaking, unreleasedSection(changelog));
  const lines = [`schema gate: schema.graphql against ${found.label}: ${breaking.length} breaking, ${dangerous.length} dangerous change(s).`];
  for (const c of breaking) lines.push(`  ${missing.includes(c) ? '✗' : '✓ announced'} \`${c.coordinate}\`: ${c.description} (${c.type})`);
  for (const c of dangerous) lines.push(`  ! \`${c.coordinate}\`: ${c.description} (${c.type}; not failed on: check that clients cope)`);
  if (missing.length > 0) {
    lines.push(
      '',
      `${missing.length} breaking change(s) are not announced. Keep the old API (deprecate, add beside it), or announce each in CHANGELOG.md`,
      'under "## [Unreleased]" with an item that says "Breaking" and names it in backticks, for example:',
      ...missing.map((c) => `  - **Breaking:** \`${c.coordinate}\`: ${c.description.replace(/\.$/, '')}; <what clients do instead>.`),
    );
  }
  return { ok: missing.length === 0, report: lines.join('\n'), baseline, breaking, unannounced: missing, dangerous };
}

if (require.main === module) {
  const i = process.argv.indexOf('--base');
  const result = runGate({ dir: process.cwd(), base: i > 0 ? process.argv[i + 1] : undefined });
  (result.ok ? console.log : console.error)(result.report);
  process.exit(result.ok ? 0 : 1);
}
