import { readFile } from 'node:fs/promises';
import { type CollectionTag, parse, type ScalarTag, type YAMLMap, type YAMLSeq } from 'yaml';

/** CloudFormation's short-form intrinsics, each read as its long form (`!Ref X` → `{ Ref: X }`). */
const intrinsics = {
  '!Ref': 'Ref',
  '!Condition': 'Condition',
  '!GetAtt': 'Fn::GetAtt',
  '!Sub': 'Fn::Sub',
  '!If': 'Fn::If',
  '!Equals': 'Fn::Equals',
  '!Not': 'Fn::Not',
  '!And': 'Fn::And',
  '!Or': 'Fn::Or',
  '!Select': 'Fn::Select',
  '!Join': 'Fn::Join',
  '!Split': 'Fn::Split',
  '!FindInMap': 'Fn::FindInMap',
  '!ImportValue': 'Fn::ImportValue',
  '!GetAZs': 'Fn::GetAZs',
  '!Base64': 'Fn::Base64',
  '!Cidr': 'Fn::Cidr',
} as const;

function scalarTag(tag: string, key: string): ScalarTag {
  return {
    tag,
    // `!GetAtt Resource.Attribute` is short for `Fn::GetAtt: [Resource, Attribute]` (the attribute may hold dots).
    resolve: (value: string) => {
      if (key !== 'Fn::GetAtt') return { [key]: value };
      const dot = value.indexOf('.');
      return { [key]: [value.slice(0, dot), value.slice(dot + 1)] };
    },
  };
}

function collectionTag(tag: string, key: string, collection: 'seq' | 'map'): CollectionTag {
  return {
    tag,
    collection,
    resolve: (value: YAMLSeq.Parsed | YAMLMap.Parsed) => ({ [key]: value.toJSON() }),
  };
}

export const cloudFormationTags: Array<ScalarTag | CollectionTag> = Object.entries(intrinsics).flatMap(
  ([tag, key]) => [scalarTag(tag, key), collectionTag(tag, key, 'seq'), collectionTag(tag, key, 'map')],
);

/** Reads a CloudFormation/SAM YAML template into plain JSON, intrinsics in their long form. */
export function parseTemplate(text: string): Template {
  return parse(text, { customTags: cloudFormationTags, prettyErrors: true }) as Template;
}

export async function readTemplate(path: string): Promise<Template> {
  return parseTemplate(await readFile(path, 'utf8'));
}

export type Resource = {
  Type: string;
  Properties?: Record<string, unknown>;
  Metadata?: Record<string, unknown>;
  Condition?: string;
};

export type Template = {
  Transform?: string | string[];
  Parameters?: Record<string, Record<string, unknown>>;
  Conditions?: Record<string, unknown>;
  Globals?: { Function?: Record<string, unknown> };
  Resources: Record<string, Resource>;
  Outputs?: Record<string, { Value: unknown; Description?: string }>;
};

/** The `AWS::Serverless::Function` resources, by logical id. */
export function serverlessFunctions(template: Template): Array<[string, Resource]> {
  return Object.entries(template.Resources).filter(
    ([, resource]) => resource.Type === 'AWS::Serverless::Function',
  );
}

type Properties = Record<string, unknown>;

function resourceProperties(template: Template, logicalId: string): Properties {
  const resource = template.Resources[logicalId];
  if (!resource) throw new Error(`template.yaml has no ${logicalId}`);
  return resource.Properties ?? {};
}

/** A function's property as SAM deploys it: the function's own, else Globals.Function's. */
export function functionProperty(template: Template, logicalId: string, key: string): unknown {
  return resourceProperties(template, logicalId)[key] ?? template.Globals?.Function?.[key];
}

/** A function's environment as SAM deploys it: Globals.Function's variables under the function's own. */
export function functionEnvironment(template: Template, logicalId: string): Properties {
  const variables = (environment: unknown) =>
    (environment as { Variables?: Properties } | undefined)?.Variables ?? {};
  return {
    ...variables(template.Globals?.Function?.Environment),
    ...variables(resourceProperties(template, logicalId).Environment),
  };
}

/** The properties of a function's one SQS event source. */
export function sqsEventSource(template: Template, logicalId: string): Properties {
  const events = (resourceProperties(template, logicalId).Events ?? {}) as Record<
    string,
    { Type?: string; Properties?: Properties }
  >;
  const sources = Object.values(events).filter((event) => event.Type === 'SQS');
  if (sources.length !== 1) {
    throw new Error(`template.yaml: ${logicalId} has ${sources.length} SQS event sources, not one`);
  }
  return sources[0]?.Properties ?? {};
}

/** A number as deployed: a literal (or a numeric string), or the Default of the parameter a `Ref` names. */
function deployedNumber(template: Template, where: string, value: unknown): number {
  const ref = (value as { Ref?: unknown } | undefined)?.Ref;
  const resolved = typeof ref === 'string' ? template.Parameters?.[ref]?.Default : value;
  const number = typeof resolved === 'string' && resolved.trim() !== '' ? Number(resolved) : resolved;
  if (typeof number !== 'number' || !Number.isFinite(number)) {
    throw new Error(
      `template.yaml: ${where} is not a number as deployed (${JSON.stringify(value) ?? 'absent'})`,
    );
  }
  return number;
}

export type DeployedSettings = ReturnType<typeof deployedSettings>;

/** The queue, event source and function settings the local stack runs with, as template.yaml deploys them. */
export function deployedSettings(template: Template) {
  const number = (where: string, value: unknown) => deployedNumber(template, where, value);
  const queue = (logicalId: string) => {
    const properties = resourceProperties(template, logicalId);
    const redrive = (properties.RedrivePolicy ?? {}) as Properties;
    return {
      visibilityTimeoutSeconds: number(`${logicalId} VisibilityTimeout`, properties.VisibilityTimeout),
      maxReceiveCount: number(`${logicalId} RedrivePolicy.maxReceiveCount`, redrive.maxReceiveCount),
    };
  };
  const consumer = (logicalId: string) => {
    const source = sqsEventSource(template, logicalId);
    const scaling = (source.ScalingConfig ?? {}) as Properties;
    return {
      timeoutSeconds: number(`${logicalId} Timeout`, functionProperty(template, logicalId, 'Timeout')),
      batchSize: number(`${logicalId} SQS BatchSize`, source.BatchSize),
      // SQS's own default when the template says nothing.
      maximumBatchingWindowSeconds: number(
        `${logicalId} SQS MaximumBatchingWindowInSeconds`,
        source.MaximumBatchingWindowInSeconds ?? 0,
      ),
      maximumConcurrency: number(
        `${logicalId} SQS ScalingConfig.MaximumConcurrency`,
        scaling.MaximumConcurrency,
      ),
    };
  };
  const exchange = consumer('ExchangeFunction');
  const exchangeEnvironment = functionEnvironment(template, 'ExchangeFunction');
  const refresh = consumer('RefreshFunction');
  return {
    exchange: {
      exchangeTimeoutSeconds: exchange.timeoutSeconds,
      ...queue('ExchangeQueue'),
      batchSize: exchange.batchSize,
      maximumBatchingWindowSeconds: exchange.maximumBatchingWindowSeconds,
      maximumConcurrency: exchange.maximumConcurrency,
      poolSize: number('ExchangeFunction EXCHANGE_POOL_SIZE', exchangeEnvironment.EXCHANGE_POOL_SIZE),
    },
    refresh: { ...refresh, ...queue('RefreshQueue') },
  };
}
