// The GitHub Actions workflows cannot run here; this holds them to what the release process and
// README-DEPLOY.md promise: a tag builds, pushes to ghcr.io, produces an SPDX SBOM, signs keyless and
// attests; pull requests run .ci/run. Actions are pinned to a major version at least.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';

const workflow = (name: string): any => parse(readFileSync(join(__dirname, '..', '..', '.github', 'workflows', name), 'utf8'));
const steps = (wf: any): any[] => Object.values(wf.jobs).flatMap((job: any) => job.steps);

describe.each(['release.yml', 'ci.yml'])('%s', (name) => {
  it('pins every action to a major version or a commit', () => {
    for (const step of steps(workflow(name)).filter((s) => s.uses)) expect(step.uses).toMatch(/^[\w.-]+\/[\w./-]+@(v\d+(\.\d+){0,2}|[0-9a-f]{40})$/);
  });

  it('starts with read-only permissions', () => {
    expect(workflow(name).permissions).toEqual({ contents: 'read' });
  });
});

describe('release.yml', () => {
  const wf = workflow('release.yml');
  const job = wf.jobs.image;
  const uses = steps(wf).map((s) => String(s.uses ?? '').split('@')[0]);
  const scripts = steps(wf)
    .map((s) => String(s.run ?? ''))
    .join('\n');

  it('runs on version tags with the OIDC token cosign keyless needs and package write for ghcr.io', () => {
    expect(wf.on).toEqual({ push: { tags: ['v*'] } });
    expect(job.permissions).toMatchObject({ 'id-token': 'write', packages: 'write' });
    expect(wf.env.IMAGE).toMatch(/^ghcr\.io\/.*\/maestro-conductor$/);
  });

  it('builds and pushes with buildx, makes an SPDX SBOM, signs, attests and verifies, in that order', () => {
    const order = ['docker/setup-buildx-action', 'docker/login-action', 'docker/build-push-action', 'anchore/sbom-action', 'sigstore/cosign-installer'];
    expect(order.map((u) => uses.indexOf(u))).toEqual([...order.map((u) => uses.indexOf(u))].sort((a, b) => a - b));
    expect(order.every((u) => uses.includes(u))).toBe(true);
    const build = steps(wf).find((s) => String(s.uses).startsWith('docker/build-push-action'));
    expect(build.with).toMatchObject({ push: true, provenance: 'mode=max' });
    expect(steps(wf).find((s) => String(s.uses).startsWith('anchore/sbom-action')).with).toMatchObject({
      format: 'spdx-json',
      'output-file': 'sbom.spdx.json',
    });
    expect(scripts).toMatch(
      /cosign sign --yes "\$REF"[\s\S]*cosign attest --yes --type spdxjson --predicate sbom.spdx.json "\$REF"[\s\S]*cosign verify "\$REF"/,
    );
  });
});

describe('ci.yml', () => {
  const wf = workflow('ci.yml');

  it('runs .ci/run on pull requests with Node 22 (the oldest supported), Postgres and Redis', () => {
    expect(Object.keys(wf.on)).toContain('pull_request');
    const job = wf.jobs.test;
    expect(Object.keys(job.services).sort()).toEqual(['postgres', 'redis']);
    expect(steps(wf).find((s) => String(s.uses).startsWith('actions/setup-node')).with['node-version']).toBe(22);
    expect(steps(wf).some((s) => /bash \.ci\/run$/.test(String(s.run ?? '')))).toBe(true);
  });
});
