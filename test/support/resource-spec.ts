import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import type { Template } from '../../scripts/template.ts';

/**
 * AWS's own CloudFormation resource specification, as `@aws-cdk/aws-service-spec` ships it (the CDK's
 * database of every resource type, its properties, their types and which are required), and a check of a
 * template's plain CloudFormation resources against it: what a real deploy would first refuse. SAM's own
 * types (`AWS::Serverless::*`) are the SAM schema's to check.
 */

type SpecType = {
  type: string;
  reference?: { $ref: string };
  element?: SpecType;
  types?: SpecType[];
};
type SpecProperty = { type: SpecType; required?: boolean };
type Definition = { $id: string; name: string; properties: Record<string, SpecProperty> };
type ResourceDefinition = Definition & { cloudFormationType: string; attributes?: Record<string, unknown> };

export type ResourceSpec = {
  resources: Map<string, ResourceDefinition>;
  types: Map<string, Definition>;
};

let loaded: ResourceSpec | undefined;

/** The specification, read once (about 2.6 MB gzipped). */
export function resourceSpec(): ResourceSpec {
  if (loaded) return loaded;
  const require = createRequire(import.meta.url);
  const packageDir = dirname(require.resolve('@aws-cdk/aws-service-spec/package.json'));
  const db = JSON.parse(gunzipSync(readFileSync(join(packageDir, 'db.json.gz'))).toString('utf8')) as {
    schema: { resource: { entities: ResourceDefinition[] }; typeDefinition: { entities: Definition[] } };
  };
  loaded = {
    resources: new Map(db.schema.resource.entities.map((entity) => [entity.cloudFormationType, entity])),
    types: new Map(db.schema.typeDefinition.entities.map((entity) => [entity.$id, entity])),
  };
  return loaded;
}

const isObject = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

/** `{ Ref: … }`, `{ "Fn::…": … }`: a value CloudFormation computes, whose shape is not known here. */
const isIntrinsic = (value: unknown): boolean => {
  if (!isObject(value)) return false;
  const keys = Object.keys(value);
  return keys.length === 1 && (keys[0] === 'Ref' || keys[0]!.startsWith('Fn::') || keys[0] === 'Condition');
};

/**
 * Every problem of `template`'s CloudFormation resources against the specification: an unknown resource
 * type, a property the type does not have (at any depth the template spells out), a required property
 * missing, and a `Fn::GetAtt` of an attribute the type does not have. Both branches of a `Fn::If` are
 * checked. Empty: nothing a deploy would refuse for its shape.
 */
export function specProblems(template: Template, spec: ResourceSpec = resourceSpec()): string[] {
  const problems: string[] = [];
  const resources = template.Resources ?? {};

  const checkValue = (path: string, value: unknown, type: SpecType): void => {
    if (isObject(value) && 'Fn::If' in value && Array.isArray(value['Fn::If'])) {
      const [, whenTrue, whenFalse] = value['Fn::If'] as unknown[];
      checkValue(`${path}(if true)`, whenTrue, type);
      checkValue(`${path}(if false)`, whenFalse, type);
      return;
    }
    if (isIntrinsic(value)) return;
    switch (type.type) {
      case 'ref': {
        const definition = spec.types.get(type.reference?.$ref ?? '');
        if (definition && isObject(value)) checkObject(path, value, definition);
        return;
      }
      case 'array':
        if (Array.isArray(value) && type.element) {
          for (const [index, element] of value.entries())
            checkValue(`${path}[${index}]`, element, type.element);
        }
        return;
      case 'map':
        if (isObject(value) && type.element) {
          for (const [key, element] of Object.entries(value))
            checkValue(`${path}.${key}`, element, type.element);
        }
        return;
      case 'union': {
        if (!isObject(value)) return;
        const alternatives = type.types ?? [];
        if (alternatives.some((alternative) => alternative.type === 'json' || alternative.type === 'map'))
          return;
        const refs = alternatives.filter((alternative) => alternative.type === 'ref');
        const tried = refs.map((alternative) => {
          const found: string[] = [];
          const definition = spec.types.get(alternative.reference?.$ref ?? '');
          if (definition) collect(found, path, value, definition);
          return found;
        });
        if (tried.length > 0 && tried.every((found) => found.length > 0)) problems.push(...tried[0]!);
        return;
      }
      default:
        return;
    }
  };

  const collect = (into: string[], path: string, value: Record<string, unknown>, definition: Definition) => {
    const before = problems.length;
    checkObject(path, value, definition);
    into.push(...problems.splice(before));
  };

  const checkObject = (path: string, value: Record<string, unknown>, definition: Definition): void => {
    for (const key of Object.keys(value)) {
      if (!(key in definition.properties)) {
        problems.push(`${path}.${key}: ${definition.name} has no property ${key}`);
      }
    }
    for (const [name, property] of Object.entries(definition.properties)) {
      if (property.required && !(name in value))
        problems.push(`${path}: ${definition.name} requires ${name}`);
    }
    for (const [key, element] of Object.entries(value)) {
      const property = definition.properties[key];
      if (property) checkValue(`${path}.${key}`, element, property.type);
    }
  };

  for (const [id, resource] of Object.entries(resources)) {
    if (resource.Type.startsWith('AWS::Serverless::') || resource.Type.startsWith('Custom::')) continue;
    const definition = spec.resources.get(resource.Type);
    if (!definition) {
      problems.push(`${id}: no resource type ${resource.Type}`);
      continue;
    }
    checkObject(id, resource.Properties ?? {}, definition);
  }

  // Fn::GetAtt anywhere: the attribute must be one the resource's type has.
  const walk = (value: unknown): void => {
    if (Array.isArray(value)) {
      for (const element of value) walk(element);
      return;
    }
    if (!isObject(value)) return;
    const getAtt = value['Fn::GetAtt'];
    if (getAtt !== undefined) {
      const [target, attribute] = Array.isArray(getAtt) ? getAtt : String(getAtt).split(/\.(.*)/s);
      const resource = resources[String(target)];
      // SAM's types become others in the transform (a function is an AWS::Lambda::Function with an Arn).
      const definition =
        resource && !resource.Type.startsWith('AWS::Serverless::')
          ? spec.resources.get(resource.Type)
          : undefined;
      if (definition?.attributes && !(String(attribute) in definition.attributes)) {
        problems.push(`Fn::GetAtt ${target}.${attribute}: ${resource!.Type} has no attribute ${attribute}`);
      }
    }
    for (const element of Object.values(value)) walk(element);
  };
  walk(resources);
  walk(template.Outputs ?? {});
  return problems;
}
