// Validates the Kubernetes manifests under deploy/kubernetes offline.
//
// 1. Every document of every manifest against its API schema with kubernetes-models
//    (core/apps) and @kubernetes-models/prometheus-operator (ServiceMonitor,
//    PrometheusRule CRDs): required fields, types, enums, patterns (durations...).
// 2. Writes OUT_DIR/manifests.check.ts, where each object is typed with the model's
//    interface, so that `tsc` rejects unknown fields (typos such as
//    readOnlyRootFileSystem), which the schemas above let through.
// 3. Every kustomization: known keys only, its resources exist, no manifest in its folder
//    left out; each top-level one is built (`kubectl kustomize` when kubectl is there,
//    else a small built-in resolver for the features used here) and the built objects
//    are validated again and cross-checked: selectors match labels, volumes and mounts
//    refer to existing ConfigMaps/Secrets/keys, the config file's api.token_file is the
//    mounted Secret, probes on /-/healthy and /-/ready, non-root and read-only root
//    filesystem, requests and limits, ServiceMonitor endpoint -> Service port, scrape
//    timeout >= 10s, organization_id relabeling, StatefulSet shard flags, and the
//    PrometheusRule's groups equal to deploy/prometheus/alerts.yml.
//
// usage: node k8s-validate.mjs DEPLOY_KUBERNETES_DIR ALERTS_YML OUT_DIR
// Env: K8S_VALIDATE_NO_KUBECTL=1 forces the built-in resolver.
// Prints the config.yaml of each build to OUT_DIR/<build>.config.yaml for the caller.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { basename, dirname, join, relative, resolve } from 'node:path';
import { isDeepStrictEqual } from 'node:util';

const require = createRequire(import.meta.url);
const YAML = require('yaml');

const [, , k8sDir, alertsPath, outDir] = process.argv;
if (!k8sDir || !alertsPath || !outDir) {
  console.error('usage: node k8s-validate.mjs DEPLOY_KUBERNETES_DIR ALERTS_YML OUT_DIR');
  process.exit(2);
}
mkdirSync(outDir, { recursive: true });
const problems = [];
const notes = [];
const rel = (p) => relative(process.cwd(), p) || '.';

// kubectl reads manifests as YAML 1.1 (0440 is octal there): parse them the same way.
const parseDocs = (text, file) =>
  YAML.parseAllDocuments(text, { version: '1.1' }).map((d, i) => {
    if (d.errors.length) problems.push(`${rel(file)} document ${i + 1}: ${d.errors.map((e) => e.message).join('; ')}`);
    return d.toJS();
  }).filter((o) => o !== null && o !== undefined);

// ---------------------------------------------------------------- models
function modelModule(apiVersion) {
  if (apiVersion === 'v1') return 'kubernetes-models/v1';
  if (apiVersion.startsWith('monitoring.coreos.com/')) return `@kubernetes-models/prometheus-operator/${apiVersion}`;
  return `kubernetes-models/${apiVersion}`;
}
function validateObject(obj, where) {
  if (!obj || typeof obj !== 'object') {
    problems.push(`${where}: not an object`);
    return false;
  }
  const { apiVersion, kind } = obj;
  if (!apiVersion || !kind) {
    problems.push(`${where}: no apiVersion/kind`);
    return false;
  }
  let Model;
  try {
    Model = require(modelModule(apiVersion))[kind];
  } catch {
    Model = undefined;
  }
  if (!Model) {
    problems.push(`${where}: no schema for ${apiVersion} ${kind}`);
    return false;
  }
  try {
    new Model(obj).validate();
  } catch (e) {
    problems.push(`${where} (${kind} ${obj.metadata?.name}): ${e.message}`);
    return false;
  }
  if (!obj.metadata?.name) problems.push(`${where}: ${kind} without metadata.name`);
  return true;
}

const tsLines = [];
const tsImports = new Map();
function addTypeCheck(obj, where) {
  if (!obj?.apiVersion || !obj?.kind) return;
  const mod = `${modelModule(obj.apiVersion)}/${obj.kind}`;
  const alias = `${obj.kind}_${obj.apiVersion.replace(/[^A-Za-z0-9]/g, '_')}`;
  tsImports.set(alias, `import type { I${obj.kind} as ${alias} } from '${mod}';`);
  tsLines.push(`// ${where}`);
  tsLines.push(`export const o${tsLines.length}: ${alias} = ${JSON.stringify(obj, null, 2)};`);
}

// ---------------------------------------------------------------- files
function walk(dir) {
  return readdirSync(dir).flatMap((n) => {
    const p = join(dir, n);
    if (statSync(p).isDirectory()) return walk(p);
    return /\.ya?ml$/.test(n) ? [p] : [];
  });
}
const root = resolve(k8sDir);
const files = walk(root);
const kustomizations = files.filter((f) => /^kustomization\.ya?ml$/.test(basename(f)));
const manifests = files.filter((f) => !kustomizations.includes(f));
let documents = 0;
for (const f of manifests) {
  const docs = parseDocs(readFileSync(f, 'utf8'), f);
  docs.forEach((o, i) => {
    documents++;
    const where = `${rel(f)}#${i + 1}`;
    if (validateObject(o, where)) addTypeCheck(o, where);
  });
}
if (documents === 0) problems.push(`no Kubernetes objects under ${rel(root)}`);

// ---------------------------------------------------------------- kustomizations
const KUSTOMIZE_KEYS = new Set(['apiVersion', 'kind', 'namespace', 'resources', 'patches', 'labels', 'commonLabels', 'commonAnnotations', 'images', 'namePrefix', 'nameSuffix', 'configMapGenerator', 'secretGenerator', 'generatorOptions', 'replicas', 'components']);
const referencedDirs = new Set();
const kdata = new Map();
for (const k of kustomizations) {
  const dir = dirname(k);
  const doc = YAML.parse(readFileSync(k, 'utf8'));
  kdata.set(dir, doc);
  for (const key of Object.keys(doc ?? {})) if (!KUSTOMIZE_KEYS.has(key)) problems.push(`${rel(k)}: unknown key "${key}"`);
  if (doc?.apiVersion !== 'kustomize.config.k8s.io/v1beta1' || doc?.kind !== 'Kustomization') problems.push(`${rel(k)}: apiVersion/kind must be kustomize.config.k8s.io/v1beta1 Kustomization`);
  const listed = new Set();
  for (const r of doc?.resources ?? []) {
    const p = resolve(dir, r);
    if (!existsSync(p)) problems.push(`${rel(k)}: resource ${r} does not exist`);
    else if (statSync(p).isDirectory()) {
      if (!existsSync(join(p, 'kustomization.yaml'))) problems.push(`${rel(k)}: resource ${r} is a folder without kustomization.yaml`);
      referencedDirs.add(p);
    } else listed.add(p);
  }
  for (const m of manifests.filter((f) => dirname(f) === dir)) {
    if (!listed.has(m)) problems.push(`${rel(m)} is not listed in ${rel(k)}'s resources`);
  }
}
for (const m of manifests) {
  if (!kdata.has(dirname(m))) problems.push(`${rel(m)}: its folder has no kustomization.yaml`);
}
const topLevel = [...kdata.keys()].filter((d) => !referencedDirs.has(d));

// Built-in resolver: resources (files and folders), namespace, patches that delete an
// object ($patch: delete) or JSON6902 add/replace/remove. Anything else is refused.
function resolveKustomization(dir) {
  const doc = kdata.get(dir);
  if (!doc) throw new Error(`${rel(dir)} has no kustomization.yaml`);
  for (const key of Object.keys(doc)) {
    if (!['apiVersion', 'kind', 'namespace', 'resources', 'patches'].includes(key)) throw new Error(`${rel(dir)}: the built-in resolver does not support "${key}" (install kubectl)`);
  }
  let objects = [];
  for (const r of doc.resources ?? []) {
    const p = resolve(dir, r);
    objects.push(...(statSync(p).isDirectory() ? resolveKustomization(p) : parseDocs(readFileSync(p, 'utf8'), p)));
  }
  for (const patch of doc.patches ?? []) {
    const text = patch.patch ?? (patch.path ? readFileSync(resolve(dir, patch.path), 'utf8') : undefined);
    if (!text) throw new Error(`${rel(dir)}: patch without patch/path`);
    const parsed = YAML.parse(text, { version: '1.1' });
    const matches = (o) => (!patch.target?.kind || o.kind === patch.target.kind) && (!patch.target?.name || o.metadata?.name === patch.target.name);
    if (Array.isArray(parsed)) {
      for (const o of objects.filter(matches)) {
        for (const op of parsed) {
          const parts = op.path.split('/').slice(1).map((s) => s.replace(/~1/g, '/').replace(/~0/g, '~'));
          let node = o;
          for (const part of parts.slice(0, -1)) node = node?.[part];
          if (!node || typeof node !== 'object') throw new Error(`${rel(dir)}: patch path ${op.path} not found in ${o.kind} ${o.metadata?.name}`);
          const last = parts.at(-1);
          if (op.op === 'add' || op.op === 'replace') node[last] = op.value;
          else if (op.op === 'remove') delete node[last];
          else throw new Error(`${rel(dir)}: the built-in resolver does not support op ${op.op}`);
        }
      }
    } else if (parsed?.$patch === 'delete') {
      objects = objects.filter((o) => !(o.kind === parsed.kind && o.metadata?.name === parsed.metadata?.name));
    } else throw new Error(`${rel(dir)}: the built-in resolver only supports JSON6902 patches and $patch: delete`);
  }
  if (doc.namespace) for (const o of objects) o.metadata = { ...o.metadata, namespace: doc.namespace };
  return objects;
}

function kubectlAvailable() {
  if (process.env.K8S_VALIDATE_NO_KUBECTL) return false;
  try {
    execFileSync('kubectl', ['version', '--client'], { stdio: 'ignore', timeout: 30000 });
    return true;
  } catch {
    return false;
  }
}
const useKubectl = kubectlAvailable();
notes.push(useKubectl ? 'kustomizations built with kubectl kustomize' : 'kustomizations built with the built-in resolver (no kubectl)');

function build(dir) {
  if (useKubectl) {
    const out = execFileSync('kubectl', ['kustomize', dir], { encoding: 'utf8', timeout: 60000, stdio: ['ignore', 'pipe', 'pipe'] });
    return parseDocs(out, `kubectl kustomize ${rel(dir)}`);
  }
  return resolveKustomization(dir);
}

// ---------------------------------------------------------------- cross checks
const promDuration = (s) => {
  const m = /^(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?$/.exec(s ?? '');
  return m && s ? (+(m[1] ?? 0)) * 3600 + (+(m[2] ?? 0)) * 60 + (+(m[3] ?? 0)) : NaN;
};
const labelsMatch = (selector, labels) => Object.entries(selector ?? {}).every(([k, v]) => labels?.[k] === v) && Object.keys(selector ?? {}).length > 0;
const flag = (args, name) => (args ?? []).find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3);

const alertsDoc = YAML.parse(readFileSync(alertsPath, 'utf8'));
const deliveryPath = join(dirname(alertsPath), 'delivery.rules.yml');
const deliveryDoc = YAML.parse(readFileSync(deliveryPath, 'utf8'));

function crossCheck(name, objects) {
  const err = (msg) => problems.push(`[${name}] ${msg}`);
  const byKind = (kind) => objects.filter((o) => o.kind === kind);
  const find = (kind, n) => objects.find((o) => o.kind === kind && o.metadata?.name === n);
  const seen = new Set();
  for (const o of objects) {
    const key = `${o.kind}/${o.metadata?.name}`;
    if (seen.has(key)) err(`${key} defined twice`);
    seen.add(key);
    if (!o.metadata?.namespace) err(`${key} has no namespace`);
  }
  const namespaces = new Set(objects.map((o) => o.metadata?.namespace));
  if (namespaces.size > 1) err(`objects in several namespaces: ${[...namespaces].join(', ')}`);

  const workloads = objects.filter((o) => o.kind === 'Deployment' || o.kind === 'StatefulSet');
  if (workloads.length !== 1) err(`expected one Deployment or StatefulSet, found ${workloads.length}`);
  for (const w of workloads) {
    const wn = `${w.kind}/${w.metadata.name}`;
    const tpl = w.spec?.template;
    const pod = tpl?.spec ?? {};
    if (!labelsMatch(w.spec?.selector?.matchLabels, tpl?.metadata?.labels)) err(`${wn}: selector.matchLabels do not match the pod template labels`);
    if (pod.automountServiceAccountToken !== false) err(`${wn}: automountServiceAccountToken should be false (the exporter never calls the Kubernetes API)`);
    if (pod.serviceAccountName && !find('ServiceAccount', pod.serviceAccountName)) err(`${wn}: ServiceAccount ${pod.serviceAccountName} is not defined`);
    if (pod.securityContext?.seccompProfile?.type !== 'RuntimeDefault') err(`${wn}: pod seccompProfile should be RuntimeDefault`);
    const volumes = new Map((pod.volumes ?? []).map((v) => [v.name, v]));
    for (const v of volumes.values()) {
      if (v.configMap) {
        const cm = find('ConfigMap', v.configMap.name);
        if (!cm) err(`${wn}: volume ${v.name}: ConfigMap ${v.configMap.name} is not defined`);
        for (const it of v.configMap.items ?? []) if (cm && !(it.key in (cm.data ?? {}))) err(`${wn}: volume ${v.name}: ConfigMap ${cm.metadata.name} has no key ${it.key}`);
      }
      if (v.secret) {
        const s = find('Secret', v.secret.secretName);
        if (!s) err(`${wn}: volume ${v.name}: Secret ${v.secret.secretName} is not defined`);
        for (const it of v.secret.items ?? []) if (s && !(it.key in { ...(s.data ?? {}), ...(s.stringData ?? {}) })) err(`${wn}: volume ${v.name}: Secret ${s.metadata.name} has no key ${it.key}`);
        const mode = v.secret.defaultMode;
        if (mode !== undefined && (mode & 0o007) !== 0) err(`${wn}: volume ${v.name}: the token file is readable by others (defaultMode ${mode.toString(8)})`);
      }
    }
    const containers = pod.containers ?? [];
    if (containers.length !== 1) err(`${wn}: expected one container, found ${containers.length}`);
    for (const c of containers) {
      const cn = `${wn} container ${c.name}`;
      const sc = c.securityContext ?? {};
      if (!(sc.runAsNonRoot ?? pod.securityContext?.runAsNonRoot)) err(`${cn}: runAsNonRoot is not true`);
      const uid = sc.runAsUser ?? pod.securityContext?.runAsUser;
      if (uid === 0) err(`${cn}: runs as uid 0`);
      if (sc.readOnlyRootFilesystem !== true) err(`${cn}: readOnlyRootFilesystem is not true`);
      if (sc.allowPrivilegeEscalation !== false) err(`${cn}: allowPrivilegeEscalation is not false`);
      if (!(sc.capabilities?.drop ?? []).includes('ALL')) err(`${cn}: capabilities.drop does not include ALL`);
      for (const kind of ['requests', 'limits']) for (const r of ['cpu', 'memory']) if (!c.resources?.[kind]?.[r]) err(`${cn}: no resources.${kind}.${r}`);
      if (!c.image) err(`${cn}: no image`);
      const ports = c.ports ?? [];
      const listen = flag(c.args, 'web.listen-address') ?? ':9847';
      const listenPort = Number(listen.slice(listen.lastIndexOf(':') + 1));
      if (!ports.some((p) => p.containerPort === listenPort)) err(`${cn}: no containerPort for --web.listen-address ${listen}`);
      const portOk = (port) => (typeof port === 'number' ? ports.some((p) => p.containerPort === port) : ports.some((p) => p.name === port));
      for (const [probe, path] of [['livenessProbe', '/-/healthy'], ['readinessProbe', '/-/ready']]) {
        const g = c[probe]?.httpGet;
        if (!g) err(`${cn}: no ${probe}.httpGet`);
        else {
          if (g.path !== path) err(`${cn}: ${probe} path ${g.path}, expected ${path}`);
          if (!portOk(g.port)) err(`${cn}: ${probe} port ${g.port} is not a container port`);
        }
      }
      const mounts = c.volumeMounts ?? [];
      // A StatefulSet's per-pod volumes (collect.state_dir) come from volumeClaimTemplates.
      const claims = new Map((w.kind === 'StatefulSet' ? w.spec?.volumeClaimTemplates ?? [] : []).map((t) => [t.metadata?.name, t]));
      const stateMount = mounts.find((m) => m.name === 'state');
      for (const m of mounts) {
        if (!volumes.has(m.name) && !claims.has(m.name)) err(`${cn}: volumeMount ${m.name} has no volume`);
        if (m !== stateMount && m.name !== 'tmp' && m.readOnly !== true) err(`${cn}: volumeMount ${m.name} is not readOnly`);
      }
      // Which file of which volume a path inside the container is.
      const fileAt = (path) => {
        for (const m of mounts) {
          if (!path.startsWith(m.mountPath + '/')) continue;
          const inner = path.slice(m.mountPath.length + 1);
          const v = volumes.get(m.name);
          const src = v?.configMap ?? v?.secret;
          const items = src?.items;
          const key = items ? items.find((it) => it.path === inner)?.key : inner;
          return { volume: v, key };
        }
        return undefined;
      };
      const configPath = flag(c.args, 'config.file');
      const cf = configPath && fileAt(configPath);
      if (!cf?.volume?.configMap || !cf.key) err(`${cn}: --config.file=${configPath} is not a file of a ConfigMap volume`);
      else {
        const cm = find('ConfigMap', cf.volume.configMap.name);
        const text = cm?.data?.[cf.key];
        if (text === undefined) err(`${cn}: ConfigMap ${cf.volume.configMap.name} has no key ${cf.key}`);
        else {
          writeFileSync(join(outDir, `${name}.config.yaml`), text);
          writeFileSync(join(outDir, `${name}.args`), (c.args ?? []).join('\n') + '\n');
          let config;
          try {
            config = YAML.parse(text);
          } catch (e) {
            err(`${cn}: config.yaml in ConfigMap ${cm.metadata.name} is not YAML: ${e.message}`);
          }
          if (config) {
            if (config.api?.token !== undefined) err(`${cn}: config.yaml has an inline api.token: use the Secret (api.token_file)`);
            const tf = config.api?.token_file;
            const t = tf && fileAt(tf);
            if (!t?.volume?.secret || !t.key) err(`${cn}: api.token_file ${tf} is not a file of a Secret volume`);
            if ((c.env ?? []).some((e) => e.name === 'YUNXIAO_TOKEN' && e.value)) err(`${cn}: token given as a plain env value`);
            // collect.state_dir (run history across restarts) on a writable volume of its own:
            // per pod from volumeClaimTemplates in a StatefulSet, emptyDir or a PVC otherwise.
            const sd = config.collect?.state_dir;
            if (sd) {
              if (!config.collect?.history) err(`${cn}: collect.state_dir without collect.history does nothing`);
              const m = mounts.find((x) => sd === x.mountPath || sd.startsWith(x.mountPath + '/'));
              if (!m || m !== stateMount) err(`${cn}: collect.state_dir ${sd} is not on the volumeMount named state`);
              else if (m.readOnly) err(`${cn}: collect.state_dir ${sd} is on a readOnly mount`);
              else if (w.kind === 'StatefulSet') {
                const t = claims.get(m.name);
                if (!t) err(`${cn}: collect.state_dir must be on a volumeClaimTemplate (one volume per shard)`);
                else if (!(t.spec?.accessModes ?? []).includes('ReadWriteOnce')) err(`${cn}: volumeClaimTemplate ${m.name} should be ReadWriteOnce`);
                else if (!t.spec?.resources?.requests?.storage) err(`${cn}: volumeClaimTemplate ${m.name} has no storage request`);
              } else {
                const v = volumes.get(m.name);
                if (!v?.emptyDir && !v?.persistentVolumeClaim) err(`${cn}: collect.state_dir volume ${m.name} should be an emptyDir or a persistentVolumeClaim`);
              }
            } else if (stateMount) err(`${cn}: a state volume but no collect.state_dir in config.yaml`);
          }
        }
      }
      if (w.kind === 'StatefulSet') {
        const total = flag(c.args, 'shard.total');
        const index = flag(c.args, 'shard.index');
        if (Number(total) !== (w.spec.replicas ?? 1)) err(`${cn}: --shard.total=${total} differs from replicas ${w.spec.replicas}`);
        const m = /^\$\(([A-Z_][A-Z0-9_]*)\)$/.exec(index ?? '');
        const env = m && (c.env ?? []).find((e) => e.name === m[1]);
        if (!env || env.valueFrom?.fieldRef?.fieldPath !== "metadata.labels['apps.kubernetes.io/pod-index']") err(`${cn}: --shard.index must be $(VAR) with VAR from fieldRef metadata.labels['apps.kubernetes.io/pod-index'] (got ${index})`);
        const svc = find('Service', w.spec.serviceName);
        if (!svc) err(`${wn}: serviceName ${w.spec.serviceName} is not a Service here`);
        else if (svc.spec?.clusterIP !== 'None') err(`${wn}: governing Service ${svc.metadata.name} is not headless (clusterIP: None)`);
      } else if (flag(c.args, 'shard.total') || flag(c.args, 'shard.index')) err(`${cn}: shard flags on a ${w.kind}`);
    }
  }

  const services = byKind('Service');
  if (services.length === 0) err('no Service');
  for (const s of services) {
    const w = workloads.find((x) => labelsMatch(s.spec?.selector, x.spec?.template?.metadata?.labels));
    if (!w) {
      err(`Service/${s.metadata.name}: selector matches no pod template`);
      continue;
    }
    const cports = w.spec.template.spec.containers.flatMap((c) => c.ports ?? []);
    for (const p of s.spec?.ports ?? []) {
      const t = p.targetPort ?? p.port;
      if (!cports.some((cp) => cp.name === t || cp.containerPort === t)) err(`Service/${s.metadata.name}: targetPort ${t} is not a container port`);
    }
  }
  const monitors = byKind('ServiceMonitor');
  if (monitors.length !== 1) err(`expected one ServiceMonitor, found ${monitors.length}`);
  for (const sm of monitors) {
    const smn = `ServiceMonitor/${sm.metadata.name}`;
    const matched = services.filter((s) => labelsMatch(sm.spec?.selector?.matchLabels, s.metadata?.labels));
    if (matched.length !== 1) err(`${smn}: selector matches ${matched.length} Services (expected 1)`);
    for (const ep of sm.spec?.endpoints ?? []) {
      if (!matched.some((s) => (s.spec?.ports ?? []).some((p) => p.name === ep.port))) err(`${smn}: endpoint port ${ep.port} is not a port name of the selected Service`);
      const interval = promDuration(ep.interval);
      const timeout = promDuration(ep.scrapeTimeout);
      if (!(timeout >= 10)) err(`${smn}: scrapeTimeout ${ep.scrapeTimeout} is below 10s (a scrape may take collect.scrape_deadline = 9s)`);
      if (!(timeout <= interval)) err(`${smn}: scrapeTimeout ${ep.scrapeTimeout} exceeds interval ${ep.interval}`);
      if (ep.path && ep.path !== '/metrics') err(`${smn}: path ${ep.path} is not /metrics`);
      if (!(ep.relabelings ?? []).some((r) => r.targetLabel === 'organization_id' && r.replacement)) err(`${smn}: no relabeling that sets organization_id (the alert links need it)`);
    }
  }
  // The alerting rules (alerts.yml) and the delivery rules (delivery.rules.yml, next to it).
  const rules = byKind('PrometheusRule');
  const sources = { 'yunxiao-flow-exporter': [alertsPath, alertsDoc], 'yunxiao-flow-exporter-delivery': [deliveryPath, deliveryDoc] };
  if (rules.length !== 2) err(`expected two PrometheusRules (alerts and delivery), found ${rules.length}`);
  for (const r of rules) {
    const [path, doc] = sources[r.metadata?.name] ?? [];
    if (!doc) err(`PrometheusRule/${r.metadata?.name}: not generated from deploy/prometheus`);
    else if (!isDeepStrictEqual(r.spec?.groups, doc?.groups)) err(`PrometheusRule/${r.metadata.name}: spec.groups differ from ${rel(path)} (run deploy/kubernetes/base/generate-prometheusrule.sh)`);
  }
}

for (const dir of topLevel) {
  const name = relative(root, dir) || 'kubernetes';
  let objects;
  try {
    objects = build(dir);
  } catch (e) {
    problems.push(`[${name}] build failed: ${e.stderr?.toString() || e.message}`);
    continue;
  }
  objects.forEach((o, i) => {
    const where = `build of ${name} #${i + 1}`;
    if (validateObject(o, where)) addTypeCheck(o, where);
  });
  crossCheck(name, objects);
  notes.push(`${name}: ${objects.map((o) => o.kind).join(', ')}`);
}
if (!topLevel.some((d) => d === root)) problems.push(`${rel(root)}/kustomization.yaml must be a top-level kustomization`);
if (!topLevel.some((d) => basename(d) === 'sharded')) problems.push('no top-level sharded/ kustomization');

writeFileSync(join(outDir, 'manifests.check.ts'), [...tsImports.values(), '', ...tsLines].join('\n') + '\n');
writeFileSync(
  join(outDir, 'tsconfig.json'),
  JSON.stringify({ compilerOptions: { strict: true, noEmit: true, target: 'ES2022', module: 'ESNext', moduleResolution: 'bundler', skipLibCheck: true, types: [] }, files: ['manifests.check.ts'] }, null, 2),
);
writeFileSync(join(outDir, 'builds.txt'), topLevel.map((d) => relative(root, d) || 'kubernetes').join('\n') + '\n');

if (problems.length) {
  console.error(problems.join('\n'));
  process.exit(1);
}
console.log(`${documents} documents in ${manifests.length} files, ${kustomizations.length} kustomizations; ${notes.join('; ')}`);
