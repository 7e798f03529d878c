/**
 * infra/network.yaml, the quick-start stack deployed before the main one: its outputs hand the main stack
 * its parameters, its routes give the private subnets the NAT (one, or one per zone), the database stays
 * private, encrypted and behind the functions' security group. The conditions are decided here for each
 * parameter value, as CloudFormation would, so a branch is checked as deployed. Property names and
 * attributes against AWS's specification: test/resource-spec.test.ts.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { isDeepStrictEqual } from 'node:util';
import { Ajv } from 'ajv';
import formats from 'ajv-formats';
import { describe, expect, it } from 'vitest';
import { type Resource, readTemplate, type Template } from '../scripts/template.ts';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const networkPath = join(root, 'infra', 'network.yaml');
const samSchemaPath = join(root, '..', 'shared', 'vendor', 'sam.schema.json');
const network = await readTemplate(networkPath);
const main = await readTemplate(join(root, 'template.yaml'));
const readme = readFileSync(join(root, 'infra', 'README.md'), 'utf8');

type Props = Record<string, unknown>;
type Attributes = Resource & { DeletionPolicy?: string; UpdateReplacePolicy?: string; DependsOn?: unknown };

/** The main stack's parameters this stack must output, so that describe-stacks hands them over. */
const HANDED_OVER = ['SubnetIds', 'SecurityGroupIds', 'DatabaseHost', 'DatabasePort', 'DatabaseName'];
/**
 * Outputs for the reader only: none may share a name with a main-stack parameter. The master's secret
 * above all: the functions connect as the runtime role, with its own secret.
 */
const INFORMATIONAL = ['VpcId', 'DatabaseMasterUser', 'DatabaseMasterSecretArn'];

const ref = (name: string) => ({ Ref: name });
const getAtt = (logicalId: string, attribute: string) => ({ 'Fn::GetAtt': [logicalId, attribute] });
const ALL_VALUES = [
  { NatGateways: '1', InterfaceEndpoints: 'none' },
  { NatGateways: '2', InterfaceEndpoints: 'none' },
  { NatGateways: '1', InterfaceEndpoints: 'sqs-secrets-kms' },
  { NatGateways: '2', InterfaceEndpoints: 'sqs-secrets-kms' },
];

const NO_VALUE = Symbol('AWS::NoValue');

/** `[name, argument]` when `node` is one intrinsic function (`{ Ref: … }`, `{ "Fn::If": … }`). */
function intrinsic(node: unknown): [string, unknown] | undefined {
  if (typeof node !== 'object' || node === null || Array.isArray(node)) return undefined;
  const keys = Object.keys(node);
  const [key] = keys;
  if (keys.length !== 1 || key === undefined) return undefined;
  if (key !== 'Ref' && key !== 'Condition' && !key.startsWith('Fn::')) return undefined;
  return [key, (node as Props)[key]];
}

/**
 * The stack as CloudFormation creates it for these parameter values (the rest at their defaults): the
 * resources and outputs whose Condition is false dropped, each Fn::If replaced by its chosen branch, each
 * Ref to a parameter by its value. Refs to resources and pseudo parameters stay as they are.
 */
function deployed(template: Template, values: Record<string, string> = {}): Template {
  const parameters = template.Parameters ?? {};
  const parameter = (name: string): string => {
    const value = values[name] ?? parameters[name]?.Default;
    if (value === undefined) throw new Error(`no value for the parameter ${name}`);
    return String(value);
  };
  const decided = new Map<string, boolean>();
  const condition = (name: string): boolean => {
    const known = decided.get(name);
    if (known !== undefined) return known;
    const expression = template.Conditions?.[name];
    if (expression === undefined) throw new Error(`no condition ${name}`);
    const value = truth(expression);
    decided.set(name, value);
    return value;
  };
  const truth = (node: unknown): boolean => {
    const [fn, argument] = intrinsic(node) ?? [];
    const args = [argument].flat();
    if (fn === 'Fn::Equals') return String(resolve(args[0])) === String(resolve(args[1]));
    if (fn === 'Fn::Not') return !truth(args[0]);
    if (fn === 'Fn::And') return args.every(truth);
    if (fn === 'Fn::Or') return args.some(truth);
    if (fn === 'Condition') return condition(String(argument));
    throw new Error(`not a condition: ${JSON.stringify(node)}`);
  };
  const resolve = (node: unknown): unknown => {
    if (Array.isArray(node)) return node.map(resolve).filter((value) => value !== NO_VALUE);
    if (typeof node !== 'object' || node === null) return node;
    const [fn, argument] = intrinsic(node) ?? [];
    if (fn === 'Ref') {
      if (argument === 'AWS::NoValue') return NO_VALUE;
      return String(argument) in parameters ? parameter(String(argument)) : node;
    }
    if (fn === 'Fn::If') {
      const [name, whenTrue, whenFalse] = argument as [string, unknown, unknown];
      return resolve(condition(name) ? whenTrue : whenFalse);
    }
    return Object.fromEntries(
      Object.entries(node)
        .map(([key, value]) => [key, resolve(value)])
        .filter(([, value]) => value !== NO_VALUE),
    );
  };
  const kept = <T extends object>(entries: Record<string, T>) =>
    Object.entries(entries).filter(([, entry]) => {
      const name = (entry as { Condition?: string }).Condition;
      return name === undefined || condition(name);
    });
  return {
    ...template,
    Resources: Object.fromEntries(
      kept(template.Resources).map(([id, resource]) => [
        id,
        { ...resource, Properties: resolve(resource.Properties ?? {}) as Props },
      ]),
    ),
    Outputs: Object.fromEntries(
      kept(template.Outputs ?? {}).map(([id, output]) => [id, { ...output, Value: resolve(output.Value) }]),
    ),
  };
}

/** One view of a (deployed) stack: its resources by type, and the network as the routes make it. */
function stackOf(stack: Template) {
  const resource = (id: string): Attributes => {
    const found = stack.Resources[id];
    if (!found) throw new Error(`the stack has no ${id}`);
    return found;
  };
  const props = (id: string) => (resource(id).Properties ?? {}) as Props;
  const ofType = (type: string) =>
    Object.entries(stack.Resources)
      .filter(([, r]) => r.Type === type)
      .map(([id]) => id);
  const refId = (value: unknown): string => {
    const name = (value as { Ref?: unknown } | null)?.Ref;
    if (typeof name !== 'string') throw new Error(`expected a Ref, got ${JSON.stringify(value)}`);
    return name;
  };
  const privateSubnets = (): string[] => {
    const joined = (stack.Outputs?.SubnetIds?.Value as { 'Fn::Join'?: [string, unknown[]] })?.['Fn::Join'];
    if (joined?.[0] !== ',') throw new Error('SubnetIds is not a comma-joined list');
    return joined[1].map(refId);
  };
  const routeTableOf = (subnet: string): string => {
    const associations = ofType('AWS::EC2::SubnetRouteTableAssociation').filter((id) =>
      isDeepStrictEqual(props(id).SubnetId, ref(subnet)),
    );
    if (associations.length !== 1) throw new Error(`${subnet} has ${associations.length} route tables`);
    return refId(props(associations[0]!).RouteTableId);
  };
  const defaultRoute = (table: string): Props => {
    const routes = ofType('AWS::EC2::Route')
      .map(props)
      .filter(
        (route) =>
          isDeepStrictEqual(route.RouteTableId, ref(table)) && route.DestinationCidrBlock === '0.0.0.0/0',
      );
    if (routes.length !== 1) throw new Error(`${table} has ${routes.length} default routes`);
    return routes[0]!;
  };
  /** The zone a subnet is in: the index of `!Select [n, !GetAZs <this region>]`, the only form allowed. */
  const zoneOf = (subnet: string): number => {
    const zone = props(subnet).AvailabilityZone;
    const [index, list] = ((zone as { 'Fn::Select'?: unknown[] } | null)?.['Fn::Select'] ?? []) as [
      unknown,
      unknown,
    ];
    const region = (list as { 'Fn::GetAZs'?: unknown } | null)?.['Fn::GetAZs'];
    const thisRegion = region === '' || isDeepStrictEqual(region, ref('AWS::Region'));
    if (!thisRegion || typeof index !== 'number') {
      throw new Error(`${subnet}'s zone is not !Select [n, !GetAZs this region]: ${JSON.stringify(zone)}`);
    }
    return index;
  };
  return { resource, props, ofType, refId, privateSubnets, routeTableOf, defaultRoute, zoneOf };
}

/** Every rule admitting traffic into a security group: its inline ones and any standalone resource's. */
function ingressOf(stack: Template, group: string): Props[] {
  const { props, ofType } = stackOf(stack);
  const inline = (props(group).SecurityGroupIngress ?? []) as Props[];
  const standalone = ofType('AWS::EC2::SecurityGroupIngress')
    .map(props)
    .filter(
      (rule) =>
        isDeepStrictEqual(rule.GroupId, getAtt(group, 'GroupId')) ||
        isDeepStrictEqual(rule.GroupId, ref(group)),
    );
  return [...inline, ...standalone];
}

/** Every key anywhere in `node`. */
function keysIn(node: unknown): string[] {
  if (Array.isArray(node)) return node.flatMap(keysIn);
  if (typeof node !== 'object' || node === null) return [];
  return Object.entries(node).flatMap(([key, value]) => [key, ...keysIn(value)]);
}

const cfnLint = spawnSync('cfn-lint', ['--version'], { encoding: 'utf8' }).status === 0;

describe('infra/network.yaml', () => {
  it('is a plain CloudFormation template: no transform, no SAM resource', () => {
    expect((network as { AWSTemplateFormatVersion?: string }).AWSTemplateFormatVersion).toBe('2010-09-09');
    expect(network.Transform).toBeUndefined();
    const types = Object.values(network.Resources).map((r) => r.Type);
    expect(types.length).toBeGreaterThan(0);
    expect(types.filter((type) => !/^AWS::[A-Za-z0-9]+::[A-Za-z0-9]+$/.test(type))).toEqual([]);
    expect(types.filter((type) => type.startsWith('AWS::Serverless::'))).toEqual([]);
  });

  // The SAM schema holds a plain resource only to having a Type that is not SAM's (its any_cfn_resource):
  // this catches a resource without one. The properties: test/resource-spec.test.ts, and cfn-lint below.
  it.skipIf(!existsSync(samSchemaPath))('is valid against the SAM JSON schema', () => {
    const { $schema: _draft, ...schema } = JSON.parse(readFileSync(samSchemaPath, 'utf8')) as Props;
    const ajv = new Ajv({ strict: false, allErrors: false });
    formats.default(ajv);
    const validate = ajv.compile(schema);
    const valid = validate(network);
    expect(validate.errors ?? [], JSON.stringify(validate.errors?.slice(0, 5), null, 2)).toEqual([]);
    expect(valid).toBe(true);
  });

  // Where cfn-lint is installed: it knows each property's allowed values and each region's services.
  it.skipIf(!cfnLint)('passes cfn-lint in ap-northeast-2 and us-east-1', { timeout: 90_000 }, () => {
    const run = spawnSync('cfn-lint', ['--regions', 'ap-northeast-2', 'us-east-1', '--', networkPath], {
      encoding: 'utf8',
    });
    expect(run.stdout + run.stderr).toBe('');
    expect(run.status).toBe(0);
  });

  it.each(
    ALL_VALUES,
  )('refers only to what exists, with the conditions decided (NatGateways=$NatGateways, InterfaceEndpoints=$InterfaceEndpoints)', (values) => {
    const stack = deployed(network, values);
    const resources = Object.keys(stack.Resources);
    const problems: string[] = [];
    const walk = (node: unknown): void => {
      if (Array.isArray(node)) {
        for (const element of node) walk(element);
        return;
      }
      if (typeof node !== 'object' || node === null) return;
      for (const [key, value] of Object.entries(node)) {
        if (key === 'Ref' && !String(value).startsWith('AWS::') && !resources.includes(String(value)))
          problems.push(`Ref ${String(value)}`);
        if (key === 'Fn::GetAtt' && !resources.includes(String((value as string[])[0])))
          problems.push(`GetAtt ${String(value)}`);
        if (key === 'Fn::Sub') {
          for (const [, name] of String(value).matchAll(/\$\{([^}!]+)\}/g)) {
            const head = String(name).split('.')[0] ?? '';
            if (!head.startsWith('AWS::') && !resources.includes(head)) problems.push(`Sub \${${name}}`);
          }
        }
        walk(value);
      }
    };
    walk(stack.Resources);
    walk(stack.Outputs);
    for (const [id, r] of Object.entries(stack.Resources) as Array<[string, Attributes]>)
      for (const dependency of [r.DependsOn ?? []].flat())
        if (!resources.includes(String(dependency))) problems.push(`${id} DependsOn ${String(dependency)}`);
    expect(problems).toEqual([]);
  });

  it("outputs the main stack's parameters under their names, and nothing else under one", () => {
    const mainParameters = Object.keys(main.Parameters ?? {});
    const outputs = Object.keys(network.Outputs ?? {});
    for (const name of HANDED_OVER) {
      expect(mainParameters, `template.yaml has a parameter ${name}`).toContain(name);
      expect(outputs, `an output ${name}`).toContain(name);
    }
    // A new output named as a main-stack parameter must be handed over on purpose (and README's list too).
    expect(outputs.filter((name) => mainParameters.includes(name)).sort()).toEqual([...HANDED_OVER].sort());
    expect(outputs.filter((name) => !HANDED_OVER.includes(name)).sort()).toEqual([...INFORMATIONAL].sort());
    // Unconditional: describe-stacks must always find them.
    for (const output of Object.values(network.Outputs ?? {}))
      expect((output as { Condition?: string }).Condition).toBeUndefined();
  });

  it('hands over the private subnets, the functions’ group and the database’s endpoint, name and secret', () => {
    const value = (name: string) => network.Outputs?.[name]?.Value;
    expect(value('SubnetIds')).toEqual({ 'Fn::Join': [',', [ref('PrivateSubnetA'), ref('PrivateSubnetB')]] });
    expect(value('SecurityGroupIds')).toEqual(getAtt('FunctionsSecurityGroup', 'GroupId'));
    expect(value('DatabaseHost')).toEqual(getAtt('Database', 'Endpoint.Address'));
    expect(value('DatabasePort')).toEqual(getAtt('Database', 'Endpoint.Port'));
    expect(value('DatabaseMasterSecretArn')).toEqual(getAtt('Database', 'MasterUserSecret.SecretArn'));
    const database = stackOf(network).props('Database');
    expect(value('DatabaseName')).toEqual(database.DBName);
    expect(value('DatabaseMasterUser')).toEqual(database.MasterUsername);
    expect(value('VpcId')).toEqual(ref('Vpc'));
  });

  it('README: deploys this template, and its describe-stacks query picks exactly the handed-over outputs', () => {
    expect(readme).toContain('aws cloudformation deploy --template-file infra/network.yaml');
    const query = readme.match(/--query '([^']+)' --output text/)?.[1] ?? '';
    const listed = query.match(/contains\(`(\[[^`]*\])`, OutputKey\)/)?.[1];
    expect(listed, query).toBeDefined();
    expect((JSON.parse(listed ?? '[]') as string[]).sort()).toEqual([...HANDED_OVER].sort());
    expect(query).toContain('.join(`"="`, [OutputKey, OutputValue])');
    expect(readme.trimEnd().split('\n').length).toBeLessThanOrEqual(15);
  });

  it('spans two zones from !GetAZs, a public and a private subnet in each, no zone or region named', () => {
    const { ofType, privateSubnets, zoneOf } = stackOf(network);
    const subnets = ofType('AWS::EC2::Subnet');
    const privates = privateSubnets();
    const publics = subnets.filter((id) => !privates.includes(id));
    expect(privates).toHaveLength(2);
    expect(publics).toHaveLength(2);
    expect(privates.map(zoneOf).sort()).toEqual([0, 1]);
    expect(publics.map(zoneOf).sort()).toEqual([0, 1]);
    // No zone (ap-northeast-2a) and no region (ap-northeast-2) spelt out anywhere in the template.
    const text = JSON.stringify(network);
    expect(text.match(/\b[a-z]{2}(-gov)?-[a-z]+-\d[a-z]?\b/g) ?? []).toEqual([]);
  });

  it.each(['1', '2'])('NatGateways=%s: public subnets route through the internet gateway', (nat) => {
    const stack = deployed(network, { NatGateways: nat });
    const { props, ofType, refId, privateSubnets, routeTableOf, defaultRoute } = stackOf(stack);
    const publics = ofType('AWS::EC2::Subnet').filter((id) => !privateSubnets().includes(id));
    const [gateway, ...others] = ofType('AWS::EC2::InternetGateway');
    expect(others).toEqual([]);
    const attachments = ofType('AWS::EC2::VPCGatewayAttachment').map(props);
    expect(attachments).toContainEqual({ VpcId: ref('Vpc'), InternetGatewayId: ref(gateway!) });
    for (const subnet of publics) {
      const route = defaultRoute(routeTableOf(subnet));
      expect(refId(route.GatewayId), subnet).toBe(gateway);
      expect(route.NatGatewayId).toBeUndefined();
    }
  });

  it('NatGateways=1: one NAT gateway in the first zone, both private subnets through it', () => {
    const stack = deployed(network, { NatGateways: '1' });
    const { props, ofType, refId, privateSubnets, routeTableOf, defaultRoute, zoneOf } = stackOf(stack);
    const nats = ofType('AWS::EC2::NatGateway');
    expect(nats).toHaveLength(1);
    expect(ofType('AWS::EC2::EIP')).toHaveLength(1);
    const nat = nats[0]!;
    const natSubnet = refId(props(nat).SubnetId);
    expect(privateSubnets()).not.toContain(natSubnet);
    expect(zoneOf(natSubnet)).toBe(0);
    for (const subnet of privateSubnets()) {
      const route = defaultRoute(routeTableOf(subnet));
      expect(refId(route.NatGatewayId), subnet).toBe(nat);
      expect(route.GatewayId).toBeUndefined();
    }
  });

  it('NatGateways=2: a NAT gateway per zone, each private subnet through its own zone’s', () => {
    const stack = deployed(network, { NatGateways: '2' });
    const { props, ofType, refId, privateSubnets, routeTableOf, defaultRoute, zoneOf } = stackOf(stack);
    const nats = ofType('AWS::EC2::NatGateway');
    expect(nats).toHaveLength(2);
    const addresses = ofType('AWS::EC2::EIP');
    expect(nats.map((nat) => props(nat).AllocationId).sort()).toEqual(
      addresses.map((address) => getAtt(address, 'AllocationId')).sort(),
    );
    const natZones = nats.map((nat) => zoneOf(refId(props(nat).SubnetId)));
    expect(natZones.sort()).toEqual([0, 1]);
    const tables = new Set<string>();
    for (const subnet of privateSubnets()) {
      const table = routeTableOf(subnet);
      tables.add(table);
      const nat = refId(defaultRoute(table).NatGatewayId);
      expect(privateSubnets()).not.toContain(refId(props(nat).SubnetId));
      expect(zoneOf(refId(props(nat).SubnetId)), `${subnet}'s NAT`).toBe(zoneOf(subnet));
    }
    expect(tables.size).toBe(2);
  });

  it('offers one or two NAT gateways, one by default', () => {
    expect(network.Parameters?.NatGateways).toMatchObject({ Default: '1', AllowedValues: ['1', '2'] });
  });

  it('routes the private subnets to S3 through a gateway endpoint', () => {
    const { props, ofType, privateSubnets, routeTableOf } = stackOf(network);
    const gateways = ofType('AWS::EC2::VPCEndpoint').filter((id) => props(id).VpcEndpointType === 'Gateway');
    expect(gateways).toHaveLength(1);
    const s3 = props(gateways[0]!);
    expect(s3.ServiceName).toEqual({ 'Fn::Sub': `com.amazonaws.\${AWS::Region}.s3` });
    expect(s3.RouteTableIds).toEqual(privateSubnets().map((subnet) => ref(routeTableOf(subnet))));
  });

  it('has interface endpoints for SQS, Secrets Manager and KMS only when asked', () => {
    const parameter = network.Parameters?.InterfaceEndpoints;
    expect(parameter).toMatchObject({ Default: 'none', AllowedValues: ['none', 'sqs-secrets-kms'] });
    expect(String(parameter?.Description)).toMatch(/AZ-hour/);
    const interfaces = (stack: Template) => {
      const { props, ofType } = stackOf(stack);
      return ofType('AWS::EC2::VPCEndpoint').filter((id) => props(id).VpcEndpointType === 'Interface');
    };
    const none = deployed(network, { InterfaceEndpoints: 'none' });
    expect(interfaces(none)).toEqual([]);
    expect(interfaces(deployed(network))).toEqual([]);

    const asked = deployed(network, { InterfaceEndpoints: 'sqs-secrets-kms' });
    const { props, privateSubnets } = stackOf(asked);
    const endpoints = interfaces(asked).map(props);
    expect(endpoints.map((endpoint) => endpoint.ServiceName)).toEqual(
      expect.arrayContaining(
        ['sqs', 'secretsmanager', 'kms'].map((service) => ({
          'Fn::Sub': `com.amazonaws.\${AWS::Region}.${service}`,
        })),
      ),
    );
    expect(endpoints).toHaveLength(3);
    for (const endpoint of endpoints) {
      expect(endpoint.PrivateDnsEnabled).toBe(true);
      expect(endpoint.SubnetIds).toEqual(privateSubnets().map(ref));
      const groups = endpoint.SecurityGroupIds as unknown[];
      expect(groups).toHaveLength(1);
      const group = (groups[0] as { 'Fn::GetAtt': [string, string] })['Fn::GetAtt'][0];
      expect(ingressOf(asked, group)).toEqual([
        expect.objectContaining({
          IpProtocol: 'tcp',
          FromPort: 443,
          ToPort: 443,
          SourceSecurityGroupId: getAtt('FunctionsSecurityGroup', 'GroupId'),
        }),
      ]);
    }
  });

  it.each(
    ALL_VALUES,
  )('the database admits only the functions’ group, on 5432 (NatGateways=$NatGateways, InterfaceEndpoints=$InterfaceEndpoints)', (values) => {
    const stack = deployed(network, values);
    const { props, ofType } = stackOf(stack);
    expect(props('Database').VPCSecurityGroups).toEqual([getAtt('DatabaseSecurityGroup', 'GroupId')]);
    const rules = ingressOf(stack, 'DatabaseSecurityGroup');
    expect(rules).toHaveLength(1);
    const { Description: _why, ...rule } = rules[0]!;
    expect(rule).toEqual({
      IpProtocol: 'tcp',
      FromPort: 5432,
      ToPort: 5432,
      SourceSecurityGroupId: getAtt('FunctionsSecurityGroup', 'GroupId'),
    });
    // The functions' group admits nothing and may send anywhere; no group admits an address range.
    expect(ingressOf(stack, 'FunctionsSecurityGroup')).toEqual([]);
    expect(props('FunctionsSecurityGroup').SecurityGroupEgress).toEqual([
      expect.objectContaining({ IpProtocol: '-1', CidrIp: '0.0.0.0/0' }),
    ]);
    for (const group of ofType('AWS::EC2::SecurityGroup'))
      for (const admitted of ingressOf(stack, group))
        expect(
          Object.keys(admitted).filter((key) => /Cidr|PrefixList/.test(key)),
          group,
        ).toEqual([]);
  });

  it('the database: PostgreSQL 17, private, encrypted, TLS only, its password managed by RDS', () => {
    const { resource, props, refId } = stackOf(network);
    const parameter = (value: unknown) => network.Parameters?.[refId(value)] ?? {};
    expect(stackOf(network).ofType('AWS::RDS::DBInstance')).toEqual(['Database']);
    const database = props('Database');
    expect(database.Engine).toBe('postgres');
    const version = parameter(database.EngineVersion);
    expect(String(version.Default)).toMatch(/^17(\.\d+)?$/);
    const allowed = new RegExp(String(version.AllowedPattern));
    expect(['17', '17.6'].filter((v) => !allowed.test(v))).toEqual([]);
    expect(['16', '18', '17.6.1', '170', '1'].filter((v) => allowed.test(v))).toEqual([]);
    const parameters = props(refId(database.DBParameterGroupName));
    expect(parameters.Family).toBe('postgres17');
    expect(String((parameters.Parameters as Props)['rds.force_ssl'])).toBe('1');

    expect(database.PubliclyAccessible).toBe(false);
    expect(database.StorageEncrypted).toBe(true);
    expect(database.StorageType).toBe('gp3');
    expect(database.ManageMasterUserPassword).toBe(true);
    // No password anywhere: not a property, not a parameter (a NoEcho one would be a password).
    expect(keysIn(network)).not.toContain('MasterUserPassword');
    expect(Object.values(network.Parameters ?? {}).filter((p) => p.NoEcho)).toEqual([]);
    expect(props(refId(database.DBSubnetGroupName)).SubnetIds).toEqual(
      stackOf(network).privateSubnets().map(ref),
    );

    expect(parameter(database.DeletionProtection)).toMatchObject({
      Default: 'true',
      AllowedValues: ['true', 'false'],
    });
    const attributes = resource('Database');
    expect(attributes.DeletionPolicy).toBe('Snapshot');
    expect(attributes.UpdateReplacePolicy).toBe('Snapshot');
    expect(database.AutoMinorVersionUpgrade).toBe(true);
    expect(database.CopyTagsToSnapshot).toBe(true);
    expect(parameter(database.MultiAZ)).toMatchObject({ Default: 'false' });
    expect(parameter(database.DBInstanceClass)).toMatchObject({ Default: 'db.t4g.small' });
    expect(String(parameter(database.DBInstanceClass).Description)).toMatch(/max_connections/);
    expect(parameter(database.AllocatedStorage)).toMatchObject({ Default: 20 });
    expect(parameter(database.BackupRetentionPeriod)).toMatchObject({ Default: 7 });
    expect(parameter(database.MasterUsername)).toMatchObject({ Default: 'cafe24_admin' });
    expect(parameter(database.DBName)).toMatchObject({ Default: 'cafe24' });
  });
});
