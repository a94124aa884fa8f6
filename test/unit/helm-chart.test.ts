// The Helm chart, rendered by a real helm binary (test/helpers/ensure-helm.sh: the official helm
// release shipped inside an npm package) for the default, dev and production values, and checked
// object by object: Kubernetes schemas (kubernetes-models, Kubernetes 1.27 OpenAPI; the Prometheus
// Operator CRDs), the runbook's names, the configuration the server reads, the drain timing, and the
// alert rules and dashboard being the very files the observability tests verify. Never skips.
import { execFileSync, spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import * as promOperator from '@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1';
import * as appsV1 from 'kubernetes-models/apps/v1';
import * as autoscalingV2 from 'kubernetes-models/autoscaling/v2';
import * as batchV1 from 'kubernetes-models/batch/v1';
import * as networkingV1 from 'kubernetes-models/networking.k8s.io/v1';
import * as policyV1 from 'kubernetes-models/policy/v1';
import * as coreV1 from 'kubernetes-models/v1';
import { beforeAll, describe, expect, it } from 'vitest';
import { parse, parseAllDocuments } from 'yaml';
import { ENV_VARS, loadConfig, SECRET_VARS, type Env } from '../../src/config';
import { WORKER_ENV_VARS } from '../../src/worker-sdk/cli';
import { RUNBOOK_DEPLOYMENT as RB } from '../helpers/runbook';

const root = join(__dirname, '..', '..');
const chart = join(root, 'charts', 'maestro');

type K8sObject = {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string>; annotations?: Record<string, string> };
  [k: string]: any;
};

const MODELS: Record<string, Record<string, unknown>> = {
  v1: coreV1,
  'apps/v1': appsV1,
  'batch/v1': batchV1,
  'policy/v1': policyV1,
  'autoscaling/v2': autoscalingV2,
  'networking.k8s.io/v1': networkingV1,
  'monitoring.coreos.com/v1': promOperator,
};

let helm: string;

function helmRun(args: string[]): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(helm, args, { cwd: root, encoding: 'utf8' });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** `helm template` → the parsed objects; fails on any YAML error or warning. */
function render(args: string[] = [], release: string = RB.release): K8sObject[] {
  const r = helmRun(['template', release, chart, '--namespace', RB.namespace, ...args]);
  if (r.status !== 0) throw new Error(`helm template failed:\n${r.stderr}`);
  const docs = parseAllDocuments(r.stdout);
  const objects: K8sObject[] = [];
  for (const doc of docs) {
    expect(doc.errors, String(doc.errors)).toEqual([]);
    expect(doc.warnings, String(doc.warnings)).toEqual([]);
    const value = doc.toJS() as K8sObject | null;
    if (value) objects.push(value);
  }
  return objects;
}

const VALUES = {
  default: [] as string[],
  dev: ['-f', join(chart, 'values-dev.yaml')],
  production: ['-f', join(chart, 'values-production.yaml')],
} as const;
type ValuesName = keyof typeof VALUES;
const rendered = {} as Record<ValuesName, K8sObject[]>;

function one(objects: K8sObject[], kind: string, name?: string): K8sObject {
  const found = objects.filter((o) => o.kind === kind && (name === undefined || o.metadata.name === name));
  expect(
    found.map((o) => `${o.kind}/${o.metadata.name}`),
    `exactly one ${kind}${name ? `/${name}` : ''}`,
  ).toHaveLength(1);
  return found[0]!;
}

const conductor = (objects: K8sObject[]) => one(objects, 'Deployment', 'maestro');

/** The environment a conductor container gets: its ConfigMap's data plus each secretKeyRef, resolved. */
function containerEnv(objects: K8sObject[], container: any, secretData: Record<string, string>): Env {
  const env: Record<string, string> = {};
  for (const from of container.envFrom ?? []) {
    Object.assign(env, one(objects, 'ConfigMap', from.configMapRef.name).data);
  }
  for (const e of container.env ?? []) {
    env[e.name] = e.valueFrom?.secretKeyRef ? secretData[e.valueFrom.secretKeyRef.key]! : e.value;
  }
  return env as Env;
}

function secretData(name: ValuesName): Record<string, string> {
  const secret = rendered[name].find((o) => o.kind === 'Secret');
  // Production reads an existing Secret the chart does not create: stand in what an SRE would put there.
  return secret?.stringData ?? { DATABASE_URL: 'postgres://maestro:pw@postgres.databases.svc:5432/maestro', REDIS_URL: 'redis://redis.databases.svc:6379' };
}

beforeAll(() => {
  helm = execFileSync('bash', [join(root, 'test', 'helpers', 'ensure-helm.sh')], { cwd: root, encoding: 'utf8' })
    .trim()
    .split('\n')
    .pop()!;
  for (const name of Object.keys(VALUES) as ValuesName[]) rendered[name] = render([...VALUES[name]]);
}, 120_000);

describe.each(Object.keys(VALUES) as ValuesName[])('charts/maestro with %s values', (name) => {
  it('passes helm lint --strict', () => {
    const r = helmRun(['lint', chart, '--strict', '--namespace', RB.namespace, ...VALUES[name]]);
    expect(r.stderr + r.stdout).toMatch(/1 chart\(s\) linted, 0 chart\(s\) failed/);
    expect(r.status).toBe(0);
  });

  it('renders objects that satisfy the Kubernetes and Prometheus Operator schemas', () => {
    for (const o of rendered[name]) {
      const Model = MODELS[o.apiVersion]?.[o.kind] as (new (data: unknown) => { validate(): void }) | undefined;
      expect(Model, `a schema for ${o.apiVersion} ${o.kind}`).toBeDefined();
      expect(() => new Model!(o).validate(), `${o.kind}/${o.metadata.name}`).not.toThrow();
      expect(o.metadata.namespace, `${o.kind}/${o.metadata.name}`).toBe(RB.namespace);
    }
  });

  it('has the objects the issue and the runbook name', () => {
    const kinds = new Set(rendered[name].map((o) => o.kind));
    for (const kind of ['Deployment', 'Service', 'ServiceAccount', 'NetworkPolicy', 'ConfigMap', 'Job', 'ServiceMonitor', 'PrometheusRule']) {
      expect(kinds, kind).toContain(kind);
    }
    one(rendered[name], 'ConfigMap', RB.configMap);
    one(rendered[name], 'ConfigMap', 'maestro-grafana-dashboard');
    one(rendered[name], 'Job', 'maestro-migrate');
    if (name === 'production') {
      expect(rendered[name].filter((o) => o.kind === 'Secret')).toEqual([]);
    } else {
      one(rendered[name], 'Secret', RB.secret);
    }
  });

  it('configures the conductor from the runbook ConfigMap and Secret with every variable the server reads, and only those', () => {
    const container = conductor(rendered[name]).spec.template.spec.containers[0];
    expect(container.envFrom).toEqual([{ configMapRef: { name: RB.configMap } }]);
    const fromSecret = container.env.filter((e: any) => e.valueFrom?.secretKeyRef);
    expect(fromSecret.map((e: any) => e.valueFrom.secretKeyRef)).toEqual([...SECRET_VARS].map((key) => ({ name: RB.secret, key })));
    expect(fromSecret.map((e: any) => e.name)).toEqual([...SECRET_VARS]);
    expect(container.env).toHaveLength(fromSecret.length);

    const configKeys = Object.keys(one(rendered[name], 'ConfigMap', RB.configMap).data);
    expect(
      configKeys.filter((k) => SECRET_VARS.has(k as never)),
      'credentials in the ConfigMap',
    ).toEqual([]);
    expect([...configKeys, ...fromSecret.map((e: any) => e.name)].sort()).toEqual([...ENV_VARS].sort());
    if (name !== 'production') expect(Object.keys(one(rendered[name], 'Secret', RB.secret).stringData).sort()).toEqual([...SECRET_VARS].sort());
  });

  it('gives the conductor a configuration the server accepts', () => {
    const container = conductor(rendered[name]).spec.template.spec.containers[0];
    const config = loadConfig(containerEnv(rendered[name], container, secretData(name)));
    expect(config.databaseUrl).toMatch(/^postgres:/);
    expect(config.redisUrl).toMatch(/^redis:/);
    expect(container.ports).toEqual([
      { name: 'http', containerPort: config.port, protocol: 'TCP' },
      { name: 'metrics', containerPort: config.metricsPort, protocol: 'TCP' },
    ]);
  });

  it('gives the migration Job the conductor image, environment and security context, as a hook after the ConfigMap and Secret', () => {
    const job = one(rendered[name], 'Job', 'maestro-migrate');
    const pod = job.spec.template.spec;
    const deployment = conductor(rendered[name]).spec.template.spec;
    const [migrate] = pod.containers;
    expect(migrate.command).toEqual(['node', 'dist/src/cli/migrate.js']);
    expect(migrate.image).toBe(deployment.containers[0].image);
    expect(migrate.envFrom).toEqual(deployment.containers[0].envFrom);
    expect(migrate.env).toEqual(deployment.containers[0].env);
    expect(migrate.securityContext).toEqual(deployment.containers[0].securityContext);
    expect(pod.restartPolicy).toBe('Never');
    expect(job.metadata.annotations!['helm.sh/hook']!.split(',')).toEqual(expect.arrayContaining(['pre-install', 'pre-upgrade']));
    const jobWeight = Number(job.metadata.annotations!['helm.sh/hook-weight']);
    for (const o of rendered[name].filter((x) => x.metadata.name === RB.configMap || (x.kind === 'Secret' && x.metadata.name === RB.secret))) {
      expect(o.metadata.annotations!['helm.sh/hook']!.split(',')).toEqual(expect.arrayContaining(['pre-install', 'pre-upgrade', 'pre-rollback']));
      expect(Number(o.metadata.annotations!['helm.sh/hook-weight'])).toBeLessThan(jobWeight);
    }
  });

  it('probes /healthz and /readyz, runs non-root on a read-only root, and outlasts the drain before SIGKILL', () => {
    const deployment = conductor(rendered[name]);
    const pod = deployment.spec.template.spec;
    const [c] = pod.containers;
    expect(c.livenessProbe.httpGet).toEqual({ path: '/healthz', port: 'http' });
    expect(c.readinessProbe.httpGet).toEqual({ path: '/readyz', port: 'http' });
    expect(c.startupProbe.httpGet).toEqual({ path: '/healthz', port: 'http' });
    expect(c.securityContext).toMatchObject({
      readOnlyRootFilesystem: true,
      runAsNonRoot: true,
      allowPrivilegeEscalation: false,
      capabilities: { drop: ['ALL'] },
    });
    expect(pod.securityContext).toMatchObject({ runAsNonRoot: true, seccompProfile: { type: 'RuntimeDefault' } });
    expect(pod.securityContext.runAsUser).toBeGreaterThan(0);
    expect(c.resources.requests).toMatchObject({ cpu: expect.anything(), memory: expect.anything() });
    expect(c.resources.limits).toMatchObject({ cpu: expect.anything(), memory: expect.anything() });
    expect(c.volumeMounts).toContainEqual({ name: 'tmp', mountPath: '/tmp' });

    const graceMs = Number(one(rendered[name], 'ConfigMap', RB.configMap).data.SHUTDOWN_GRACE_MS);
    const preStopSeconds = Number(c.lifecycle?.preStop?.exec?.command?.[1] ?? 0);
    expect(pod.terminationGracePeriodSeconds).toBeGreaterThan(preStopSeconds + graceMs / 1000);
    expect(deployment.spec.strategy.rollingUpdate.maxUnavailable).toBe(0);
    expect(deployment.spec.template.metadata.labels[RB.podLabel[0]]).toBe(RB.podLabel[1]);
  });

  it('scrapes /metrics as job "maestro" through the Service, on the metrics port, never the API port', () => {
    const monitor = one(rendered[name], 'ServiceMonitor');
    const service = one(rendered[name], 'Service', 'maestro');
    expect(service.metadata.labels![monitor.spec.jobLabel]).toBe(RB.job);
    expect(monitor.spec.selector.matchLabels).toEqual(expect.objectContaining(service.spec.selector));
    for (const [k, v] of Object.entries(monitor.spec.selector.matchLabels)) expect(service.metadata.labels![k]).toBe(v);
    expect(monitor.spec.endpoints).toEqual([expect.objectContaining({ port: 'metrics', path: '/metrics' })]);
    expect(service.spec.ports).toEqual([
      expect.objectContaining({ name: 'http', targetPort: 'http' }),
      expect.objectContaining({ name: 'metrics', targetPort: 'metrics' }),
    ]);
    // The container's named ports are the configured PORT and METRICS_PORT, distinct.
    const config = one(rendered[name], 'ConfigMap', RB.configMap).data;
    const ports = conductor(rendered[name]).spec.template.spec.containers[0].ports;
    expect(ports).toEqual([
      { name: 'http', containerPort: Number(config.PORT), protocol: 'TCP' },
      { name: 'metrics', containerPort: Number(config.METRICS_PORT), protocol: 'TCP' },
    ]);
    expect(config.PORT).not.toBe(config.METRICS_PORT);
  });

  it('ships prometheus-rules.yaml as the PrometheusRule, and grafana-dashboard-full.json byte for byte', () => {
    const rules = parse(readFileSync(join(chart, 'prometheus-rules.yaml'), 'utf8')) as { groups: unknown };
    expect(one(rendered[name], 'PrometheusRule').spec.groups).toEqual(rules.groups);
    const dashboard = one(rendered[name], 'ConfigMap', 'maestro-grafana-dashboard');
    expect(dashboard.metadata.labels!['grafana_dashboard']).toBe('1');
    expect(dashboard.data['grafana-dashboard-full.json']).toBe(readFileSync(join(chart, 'grafana-dashboard-full.json'), 'utf8'));
  });

  it('lets the conductor reach only DNS, Postgres, Redis, the collector and the http-step CIDRs', () => {
    const policy = one(rendered[name], 'NetworkPolicy', 'maestro');
    expect(policy.spec.policyTypes).toEqual(['Ingress', 'Egress']);
    // It selects the conductor pods and the migration Job's pods, and no others (not the workers).
    const selects = (labels: Record<string, string>) =>
      Object.entries(policy.spec.podSelector.matchLabels).every(([k, v]) => labels[k] === v) &&
      policy.spec.podSelector.matchExpressions.every((e: any) => e.operator === 'In' && e.values.includes(labels[e.key]));
    expect(selects(conductor(rendered[name]).spec.template.metadata.labels)).toBe(true);
    expect(selects(one(rendered[name], 'Job', 'maestro-migrate').spec.template.metadata.labels)).toBe(true);
    expect(selects({ ...conductor(rendered[name]).spec.template.metadata.labels, 'app.kubernetes.io/component': 'worker' })).toBe(false);
    const ports = policy.spec.egress.flatMap((rule: any) => (rule.ports ?? []).map((p: any) => `${p.protocol}/${p.port}`));
    expect(ports).toEqual(expect.arrayContaining(['UDP/53', 'TCP/53', 'TCP/5432', 'TCP/6379']));
    const portless = policy.spec.egress.filter((rule: any) => !rule.ports);
    for (const rule of portless) {
      expect(
        rule.to.every((peer: any) => peer.ipBlock),
        'a rule without ports is a CIDR of http steps',
      ).toBe(true);
    }
    const from = (port: string) =>
      policy.spec.ingress
        .filter((rule: any) => rule.ports.some((p: any) => p.port === port))
        .flatMap((rule: any) => rule.from.map((peer: any) => peer.namespaceSelector?.matchLabels?.['kubernetes.io/metadata.name']));
    // The ingress controller reaches the API; Prometheus reaches the metrics port and nothing else.
    expect(from('http')).toContain('ingress-nginx');
    expect(from('http')).not.toContain('monitoring');
    expect(from('metrics')).toEqual(['monitoring']);
    expect(policy.spec.ingress.flatMap((rule: any) => rule.ports.map((p: any) => p.port)).sort()).toEqual(['http', 'metrics']);
  });
});

describe('values differences', () => {
  it('default: two replicas with soft anti-affinity and a PodDisruptionBudget, no autoscaler, no ingress, no workers', () => {
    const objects = rendered.default;
    expect(conductor(objects).spec.replicas).toBe(2);
    expect(conductor(objects).spec.template.spec.affinity.podAntiAffinity.preferredDuringSchedulingIgnoredDuringExecution).toHaveLength(1);
    expect(one(objects, 'PodDisruptionBudget').spec).toMatchObject({ maxUnavailable: 1, selector: conductor(objects).spec.selector });
    expect(objects.filter((o) => ['HorizontalPodAutoscaler', 'Ingress'].includes(o.kind) || o.metadata.name === 'maestro-worker')).toEqual([]);
  });

  it('production: the existing Secret, hard anti-affinity, an HPA on CPU and on the builtin queue depth, egress to the collector', () => {
    const objects = rendered.production;
    const deployment = conductor(objects);
    expect(deployment.spec.replicas, 'the HPA owns the replica count').toBeUndefined();
    expect(deployment.spec.template.spec.affinity.podAntiAffinity.requiredDuringSchedulingIgnoredDuringExecution).toHaveLength(1);
    const hpa = one(objects, 'HorizontalPodAutoscaler');
    expect(hpa.spec.scaleTargetRef).toEqual({ apiVersion: 'apps/v1', kind: 'Deployment', name: deployment.metadata.name });
    expect(hpa.spec.metrics).toEqual([
      { type: 'Resource', resource: { name: 'cpu', target: { type: 'Utilization', averageUtilization: 65 } } },
      {
        type: 'External',
        external: {
          metric: { name: 'maestro_queue_depth', selector: { matchLabels: { queue: 'builtin' } } },
          target: { type: 'AverageValue', averageValue: '200' },
        },
      },
    ]);
    const egress = one(objects, 'NetworkPolicy', 'maestro').spec.egress;
    expect(egress).toContainEqual({
      ports: [{ protocol: 'TCP', port: 4318 }],
      to: [{ namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'observability' } } }],
    });
    expect(one(objects, 'ConfigMap', RB.configMap).data.NODE_ENV).toBe('production');
  });

  it('dev: one replica without PodDisruptionBudget, an ingress, an echo worker from the same image that drains within its grace', () => {
    const objects = rendered.dev;
    expect(conductor(objects).spec.replicas).toBe(1);
    expect(objects.filter((o) => o.kind === 'PodDisruptionBudget')).toEqual([]);
    expect(one(objects, 'Ingress').spec.rules[0].http.paths[0].backend.service).toEqual({ name: 'maestro', port: { name: 'http' } });
    const worker = one(objects, 'Deployment', 'maestro-worker');
    const pod = worker.spec.template.spec;
    const [c] = pod.containers;
    expect(c.image).toBe(conductor(objects).spec.template.spec.containers[0].image);
    expect(c.command).toEqual(['node', 'dist/src/worker-sdk/cli.js']);
    const names = c.env.map((e: any) => e.name);
    expect(
      names.filter((n: string) => !(WORKER_ENV_VARS as readonly string[]).includes(n)),
      'variables the worker does not read',
    ).toEqual([]);
    const env = Object.fromEntries(c.env.map((e: any) => [e.name, e.value ?? e.valueFrom]));
    expect(env).toMatchObject({
      MAESTRO_URL: `http://maestro.${RB.namespace}.svc:80/graphql`,
      WORKER_QUEUE: 'demo',
      WORKER_HANDLER: 'dist/src/worker-sdk/examples/echo.js',
      MAESTRO_API_KEY: { secretKeyRef: { name: 'maestro-worker-api-key', key: 'MAESTRO_API_KEY' } },
    });
    expect(pod.terminationGracePeriodSeconds).toBeGreaterThan(Number(env['WORKER_GRACE_MS']) / 1000);
    expect(c.securityContext).toMatchObject({ readOnlyRootFilesystem: true, runAsNonRoot: true });
    const workerPolicy = one(objects, 'NetworkPolicy', 'maestro-worker');
    expect(workerPolicy.spec.egress).toContainEqual({
      to: [{ podSelector: { matchLabels: conductor(objects).spec.selector.matchLabels } }],
      ports: [{ protocol: 'TCP', port: 4000 }],
    });
  });
});

describe('bad values get a clear error, not a broken manifest', () => {
  it.each<[string, string[], RegExp]>([
    ['a misspelt key', ['--set', 'replicaCounts=3'], /additional properties 'replicaCounts' not allowed/],
    ['a variable the server does not read', ['--set', 'config.DATABASE_HOST=db'], /additional properties 'DATABASE_HOST' not allowed/],
    ['a missing credential', ['--set', 'secrets.DATABASE_URL='], /secrets\.DATABASE_URL is empty: set it .* or name a Secret that has it in existingSecret/],
    ['a fractional number', ['--set', 'config.LEASE_TTL_MS=1.5'], /LEASE_TTL_MS/],
    ['an unknown NODE_ENV', ['--set', 'config.NODE_ENV=staging'], /NODE_ENV/],
    ['a digest that is not one', ['--set', 'image.digest=latest'], /digest/],
  ])('%s', (_name, args, message) => {
    const r = helmRun(['template', RB.release, chart, ...args]);
    expect(r.status).not.toBe(0);
    expect(r.stderr).toMatch(message);
  });

  it('prints large integers as integers (Helm reads numbers as float64)', () => {
    const objects = render(['--set', 'config.LEASE_TTL_MS=3600000']);
    expect(one(objects, 'ConfigMap', RB.configMap).data.LEASE_TTL_MS).toBe('3600000');
  });

  it('pins the image by digest when one is given', () => {
    const digest = `sha256:${'a'.repeat(64)}`;
    const objects = render(['--set', `image.digest=${digest}`]);
    expect(conductor(objects).spec.template.spec.containers[0].image).toBe(`ghcr.io/intelgraph/maestro-conductor@${digest}`);
  });

  it('follows another release name in resource names and the pod-restart alert, and nowhere else in the rules', () => {
    const objects = render([], 'canary');
    one(objects, 'ConfigMap', 'canary-maestro-production-config');
    const groups = one(objects, 'PrometheusRule').spec.groups;
    const text = JSON.stringify(groups);
    expect(text).toContain('pod=~\\"canary-maestro-.*\\"');
    const original = parse(readFileSync(join(chart, 'prometheus-rules.yaml'), 'utf8')) as { groups: unknown };
    expect(JSON.parse(text.replaceAll('canary-maestro-.*', 'maestro-.*'))).toEqual(original.groups);
  });
});

describe('values.yaml', () => {
  const values = parse(readFileSync(join(chart, 'values.yaml'), 'utf8')) as { config: Record<string, unknown>; secrets: Record<string, unknown> };
  const text = readFileSync(join(chart, 'values.yaml'), 'utf8');

  it('lists every variable the server reads under config or secrets', () => {
    expect([...Object.keys(values.config), ...Object.keys(values.secrets)].sort()).toEqual([...ENV_VARS].sort());
    expect(Object.keys(values.secrets).sort()).toEqual([...SECRET_VARS].sort());
  });

  it('documents every value: a comment right above it or above a group holding it', () => {
    const lines = text.split('\n');
    const undocumented: string[] = [];
    const stack: { indent: number; documented: boolean }[] = [];
    lines.forEach((line, i) => {
      const m = /^(\s*)(- )?([A-Za-z_][\w.-]*):(\s|$)/.exec(line);
      if (!m) return;
      const indent = m[1]!.length + (m[2] ? 2 : 0);
      while (stack.length && stack[stack.length - 1]!.indent >= indent) stack.pop();
      const documented = (lines[i - 1]?.trim().startsWith('#') ?? false) || stack.some((s) => s.documented);
      const isGroup = !line.slice(m[0].length).trim() || line.trim().endsWith(':');
      if (!documented && !isGroup) undocumented.push(`line ${i + 1}: ${line.trim()}`);
      stack.push({ indent, documented });
    });
    expect(undocumented).toEqual([]);
  });
});
