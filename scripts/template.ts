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
