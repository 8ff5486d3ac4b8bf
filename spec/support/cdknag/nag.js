#!/usr/bin/env node
// Runs cdk-nag's rule packs over CloudFormation templates that were not made
// by the CDK (lakehost's synth output): each template is loaded into its own
// Stack with cloudformation-include's CfnInclude, the packs are added as
// aspects, the app is synthesized into a temporary folder (removed after),
// and one JSON document goes to stdout.
//
//   node nag.js [--packs AwsSolutionsChecks,HIPAASecurityChecks,NIST80053R5Checks]
//               [--reports DIR] TEMPLATE...
//
// Output: {"versions": {...}, "templates": [{"file", "stack", "declared":
// [{resource, id, reason, applies_to}], "packs": {PACK: {"errors": [...],
// "warnings": [...], "suppressed": [...]}}}]}, each finding {rule, resource,
// type, finding, info}, a suppressed one with its reason. A rule that throws
// on a resource is a warning with the rule "<pack>-CdkNagValidationFailure",
// as cdk-nag's own annotation logger reports it.
//
// Suppressions: CfnInclude copies each resource's template Metadata into
// cfnOptions.metadata, where cdk-nag reads cdk_nag.rules_to_suppress, so the
// suppressions written by lakehost's Resource:suppress are honoured as they
// are (nothing is re-applied here). A template-level Metadata.cdk_nag is not
// carried by CfnInclude; it is copied to the stack's templateOptions, where
// cdk-nag looks for stack-wide suppressions.
'use strict';

// aws-cdk-lib warns on stderr about deprecated properties CfnInclude sets.
process.env.JSII_DEPRECATED = process.env.JSII_DEPRECATED || 'quiet';

const fs = require('fs');
const os = require('os');
const path = require('path');
const cdk = require('aws-cdk-lib');
const include = require('aws-cdk-lib/cloudformation-include');
const nag = require('cdk-nag');

const PACKS = {
  AwsSolutionsChecks: nag.AwsSolutionsChecks,
  HIPAASecurityChecks: nag.HIPAASecurityChecks,
  NIST80053R5Checks: nag.NIST80053R5Checks,
  NIST80053R4Checks: nag.NIST80053R4Checks,
  PCIDSS321Checks: nag.PCIDSS321Checks,
  ServerlessChecks: nag.ServerlessChecks,
};

function usage(msg) {
  process.stderr.write(`nag.js: ${msg}\nusage: node nag.js [--packs ${Object.keys(PACKS).join(',')}] [--reports DIR] TEMPLATE...\n`);
  process.exit(2);
}

function parseArgs(argv) {
  const opts = { packs: ['AwsSolutionsChecks'], reports: null, files: [] };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--packs') {
      if (i + 1 >= argv.length) usage('--packs needs a value');
      opts.packs = argv[++i].split(',').filter((p) => p !== '');
    } else if (a === '--reports') {
      if (i + 1 >= argv.length) usage('--reports needs a folder');
      opts.reports = argv[++i];
    } else if (a.startsWith('--')) {
      usage(`unknown option ${a}`);
    } else {
      opts.files.push(a);
    }
  }
  if (opts.files.length === 0) usage('no template given');
  for (const p of opts.packs) if (!PACKS[p]) usage(`unknown pack ${p}`);
  return opts;
}

// Collects every outcome cdk-nag reports, per stack and pack.
class Collector {
  constructor() { this.by = new Map(); }
  entry(data) {
    const stack = cdk.Stack.of(data.resource).stackName;
    if (!this.by.has(stack)) this.by.set(stack, {});
    const packs = this.by.get(stack);
    if (!packs[data.nagPackName]) packs[data.nagPackName] = { errors: [], warnings: [], suppressed: [] };
    return packs[data.nagPackName];
  }
  finding(data, extra) {
    const f = {
      rule: data.ruleId,
      resource: data.resource.logicalId ? cdk.Stack.of(data.resource).resolve(data.resource.logicalId) : data.resource.node.id,
      type: data.resource.cfnResourceType,
      finding: data.findingId === undefined ? '' : data.findingId,
      info: data.ruleInfo,
    };
    return Object.assign(f, extra || {});
  }
  onCompliance() {}
  onNotApplicable() {}
  onNonCompliance(data) {
    const e = this.entry(data);
    const f = this.finding(data);
    if (data.ruleLevel === nag.NagMessageLevel.ERROR) e.errors.push(f); else e.warnings.push(f);
  }
  onSuppressed(data) {
    this.entry(data).suppressed.push(this.finding(data, { reason: data.suppressionReason }));
  }
  onError(data) {
    this.entry(data).warnings.push(this.finding(data, {
      rule: `${data.nagPackName}-CdkNagValidationFailure`, finding: data.ruleId, info: data.errorMessage,
    }));
  }
  onSuppressedError(data) {
    this.entry(data).suppressed.push(this.finding(data, {
      rule: `${data.nagPackName}-CdkNagValidationFailure`, finding: data.ruleId, reason: data.errorSuppressionReason,
    }));
  }
}

// The suppressions a template declares, whether or not a rule needed them.
function declared(template) {
  const out = [];
  const add = (resource, list) => {
    for (const s of Array.isArray(list) ? list : []) {
      out.push({ resource, id: s.id, reason: s.reason, applies_to: s.applies_to });
    }
  };
  add('', template.Metadata && template.Metadata.cdk_nag && template.Metadata.cdk_nag.rules_to_suppress);
  for (const [id, r] of Object.entries(template.Resources || {})) {
    add(id, r.Metadata && r.Metadata.cdk_nag && r.Metadata.cdk_nag.rules_to_suppress);
  }
  return out;
}

function stackName(file, used) {
  let base = path.basename(file).replace(/\.template\.json$|\.json$/, '').replace(/[^A-Za-z0-9-]/g, '-');
  if (!/^[A-Za-z]/.test(base)) base = `S${base}`;
  let name = base;
  for (let n = 2; used.has(name); n++) name = `${base}-${n}`;
  used.add(name);
  return name;
}

function versionOf(pkg) {
  try {
    return require(`${pkg}/package.json`).version;
  } catch (e) {
    return JSON.parse(fs.readFileSync(path.join(__dirname, 'node_modules', pkg, 'package.json'), 'utf8')).version;
  }
}

function main() {
  const opts = parseArgs(process.argv.slice(2));
  const outdir = fs.mkdtempSync(path.join(os.tmpdir(), 'lakehost-cdknag-'));
  const collector = new Collector();
  const result = {
    versions: { 'aws-cdk-lib': versionOf('aws-cdk-lib'), 'cdk-nag': versionOf('cdk-nag'), constructs: versionOf('constructs') },
    packs: opts.packs.map((p) => new PACKS[p]().readPackName),
    templates: [],
  };
  try {
    const app = new cdk.App({ outdir, analyticsReporting: false });
    const used = new Set();
    for (const file of opts.files) {
      const template = JSON.parse(fs.readFileSync(file, 'utf8'));
      const name = stackName(file, used);
      const stack = new cdk.Stack(app, name, { stackName: name, synthesizer: new cdk.LegacyStackSynthesizer() });
      new include.CfnInclude(stack, 'Template', { templateFile: file });
      if (template.Metadata && template.Metadata.cdk_nag) {
        stack.templateOptions.metadata = Object.assign({}, stack.templateOptions.metadata, { cdk_nag: template.Metadata.cdk_nag });
      }
      result.templates.push({ file, stack: name, declared: declared(template), packs: {} });
    }
    for (const p of opts.packs) {
      const props = { additionalLoggers: [collector], reports: opts.reports !== null };
      if (opts.reports !== null) props.reportFormats = [nag.NagReportFormat.JSON];
      cdk.Aspects.of(app).add(new PACKS[p](props));
    }
    app.synth();
    for (const t of result.templates) {
      const packs = collector.by.get(t.stack) || {};
      for (const p of result.packs) t.packs[p] = packs[p] || { errors: [], warnings: [], suppressed: [] };
    }
    if (opts.reports !== null) {
      fs.mkdirSync(opts.reports, { recursive: true });
      for (const f of fs.readdirSync(outdir)) {
        if (/NagReport\.json$/.test(f)) fs.copyFileSync(path.join(outdir, f), path.join(opts.reports, f));
      }
    }
  } finally {
    fs.rmSync(outdir, { recursive: true, force: true });
  }
  process.stdout.write(`${JSON.stringify(result, null, 1)}\n`);
}

try {
  main();
} catch (e) {
  process.stderr.write(`nag.js: ${e && e.message ? e.message : e}\n`);
  process.exit(1);
}
