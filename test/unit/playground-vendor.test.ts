import { createHash } from 'node:crypto';
import { copyFileSync, cpSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { describe, expect, it } from 'vitest';
import { playgroundVendorDir, verifyPlaygroundVendor } from '../../src/graphql/playground';

const root = join(__dirname, '..', '..');
const vendor = join(root, 'vendor', 'playground');

function filesUnder(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    return statSync(path).isDirectory() ? filesUnder(path) : [relative(vendor, path)];
  });
}

describe('vendored GraphQL Playground (vendor/playground)', () => {
  it('is found from the source tree and matches its SHA-256 manifest, file by file', () => {
    expect(playgroundVendorDir()).toBe(vendor);
    const manifest = readFileSync(join(vendor, 'SHA256SUMS'), 'utf8').trim().split('\n');
    for (const line of manifest) {
      const [sum, file] = line.split(/\s+/) as [string, string];
      expect(
        createHash('sha256')
          .update(readFileSync(join(vendor, file)))
          .digest('hex'),
        file,
      ).toBe(sum);
    }
    expect(verifyPlaygroundVendor(vendor)).toEqual([]);
    // Every file is in the manifest (nothing unchecked is served), and the page's four files are there.
    const listed = manifest.map((l) => l.split(/\s+/)[1]).sort();
    expect(
      filesUnder(vendor)
        .filter((f) => f !== 'SHA256SUMS' && f !== 'README.md')
        .sort(),
    ).toEqual(listed);
    expect(listed).toEqual(
      expect.arrayContaining(['build/static/js/middleware.js', 'build/static/css/index.css', 'build/favicon.png', 'build/logo.png', 'LICENSE']),
    );
    expect(readFileSync(join(vendor, 'SOURCE'), 'utf8').trim()).toMatch(/^graphql-playground-react@\d+\.\d+\.\d+$/);
  });

  it('reports a changed or missing file', () => {
    const copy = mkdtempSync(join(tmpdir(), 'playground-vendor-'));
    try {
      cpSync(vendor, copy, { recursive: true });
      writeFileSync(join(copy, 'build', 'static', 'css', 'index.css'), 'body { color: red }');
      rmSync(join(copy, 'build', 'logo.png'));
      expect(verifyPlaygroundVendor(copy)).toEqual(['build/static/css/index.css', 'build/logo.png']);
      copyFileSync(join(vendor, 'build', 'logo.png'), join(copy, 'build', 'logo.png'));
      expect(verifyPlaygroundVendor(copy)).toEqual(['build/static/css/index.css']);
    } finally {
      rmSync(copy, { recursive: true, force: true });
    }
  });

  it('is not a dependency any more: the production tree does not hold graphql-playground-react', () => {
    const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { dependencies: Record<string, string> };
    expect(Object.keys(pkg.dependencies)).not.toContain('graphql-playground-react');
    const lock = JSON.parse(readFileSync(join(root, 'package-lock.json'), 'utf8')) as { packages: Record<string, unknown> };
    expect(Object.keys(lock.packages).filter((p) => p.endsWith('node_modules/graphql-playground-react'))).toEqual([]);
  });
});
