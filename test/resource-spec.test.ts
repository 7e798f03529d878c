/**
 * Both templates against AWS's CloudFormation resource specification (`@aws-cdk/aws-service-spec`): every
 * resource type known, every property name known at every depth the template spells out, the required
 * ones present, every `Fn::GetAtt` an attribute the type has. The SAM schema checks `AWS::Serverless::*`
 * (test/template.test.ts); this checks the plain CloudFormation beside them (alarms, dashboard, bucket,
 * key, policies, the network stack), which would otherwise first fail in a real deploy.
 */
import { existsSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parseTemplate, readTemplate } from '../scripts/template.ts';
import { specProblems } from './support/resource-spec.ts';

const TEMPLATES = ['template.yaml', 'infra/network.yaml'].filter((path) => existsSync(path));

describe('the templates against the CloudFormation resource specification', () => {
  it.each(TEMPLATES)('%s: every type, property and attribute is one AWS has', async (path) => {
    expect(specProblems(await readTemplate(path))).toEqual([]);
  });

  it('catches an unknown type, a misspelt or missing property, a nested one and an unknown attribute', () => {
    const broken = parseTemplate(`
Resources:
  Topic:
    Type: AWS::SNS::Topicc
  Alarm:
    Type: AWS::CloudWatch::Alarm
    Properties:
      ComparisonOperator: GreaterThanThreshold
      EvaluationPeriods: 1
      Treshold: 0
  Bucket:
    Type: AWS::S3::Bucket
    Properties:
      BucketEncryption:
        ServerSideEncryptionConfiguration:
          - ServerSideEncryptionByDefault:
              SSEAlgorithm: aws:kms
              KmsMasterKeyId: nope
  Queue:
    Type: AWS::SQS::Queue
    Properties:
      QueueName: !If [Always, { Ref: AWS::NoValue }, x]
Outputs:
  Arn:
    Value: !GetAtt Queue.Arnn
`);
    const problems = specProblems(broken);
    expect(problems).toEqual(
      expect.arrayContaining([
        'Topic: no resource type AWS::SNS::Topicc',
        expect.stringMatching(/^Alarm\.Treshold: .* has no property Treshold$/),
        expect.stringMatching(
          /^Bucket\.BucketEncryption\.ServerSideEncryptionConfiguration\[0\]\.ServerSideEncryptionByDefault\.KmsMasterKeyId: .*has no property KmsMasterKeyId$/,
        ),
        'Fn::GetAtt Queue.Arnn: AWS::SQS::Queue has no attribute Arnn',
      ]),
    );
    expect(problems).toHaveLength(4);
  });
});
