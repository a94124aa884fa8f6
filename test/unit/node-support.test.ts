import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import semver from 'semver';
import { describe, expect, it } from 'vitest';

const root = join(__dirname, '..', '..');
const read = (file: string) => readFileSync(join(root, file), 'utf8');
const pkg = JSON.parse(read('package.json')) as { engines: { node: string } };
const lock = JSON.parse(read('package-lock.json')) as { packages: Record<string, { engines?: { node?: string } | string[]; dev?: boolean }> };
const imageMajor = Number(/^ARG NODE_IMAGE=node:(\d+)[.-]/m.exec(read('Dockerfile'))?.[1]);

describe('supported Node.js versions', () => {
  it("engines is the truth: every installed package's engines.node accepts every version it allows (no EBADENGINE)", () => {
    const refused = Object.entries(lock.packages)
      .filter(([path, p]) => path !== '' && p.engines && !Array.isArray(p.engines) && p.engines.node)
      .map(([path, p]) => [path.replace(/^.*node_modules\//, ''), (p.engines as { node: string }).node] as const)
      .filter(([, range]) => !semver.subset(pkg.engines.node, range));
    const checked = Object.values(lock.packages).filter((p) => p.engines && !Array.isArray(p.engines) && p.engines.node).length;
    console.log(`engines ${pkg.engines.node}: ${checked} packages declare engines.node, ${refused.length} refuse part of the range`);
    expect(refused).toEqual([]);
  });

  it('the image runs a supported LTS major, and the README and the CI say the same', () => {
    expect(imageMajor % 2, 'LTS lines are even').toBe(0);
    expect(semver.satisfies(`${imageMajor}.99.0`, pkg.engines.node)).toBe(true);
    // The README states the range in words; .ci/run runs the suite on the image's major too.
    expect(read('README.md')).toContain('Node.js 22 (22.15 or newer) or 24 (24.11 or newer)');
    expect(read('.ci/run')).toMatch(/test\/helpers\/ensure-node\.sh/);
    // GitHub's CI runs .ci/run on a supported major too.
    const ciMajor = Number(/node-version:\s*(\d+)/.exec(read('.github/workflows/ci.yml'))?.[1]);
    expect(semver.intersects(`${ciMajor}.x`, pkg.engines.node), `ci.yml node-version ${ciMajor}`).toBe(true);
    // Node 20 reached its end of life on 2026-04-30: no longer in the range.
    expect(semver.intersects(pkg.engines.node, '20.x')).toBe(false);
  });
});
