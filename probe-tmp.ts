import { SendMessageCommand } from '@aws-sdk/client-sqs';
import { execFileSync } from 'node:child_process';
import { startLocalSqs } from './src/local/sqs.ts';
const sqs = await startLocalSqs();
await sqs.client.send(new SendMessageCommand({ QueueUrl: sqs.dlqUrl, MessageBody: '{"kind":"exchange","codeId":"42"}' }));
await sqs.client.send(new SendMessageCommand({ QueueUrl: sqs.dlqUrl, MessageBody: 'garbage' }));
const env = { PATH: process.env.PATH, SQS_QUEUE_URL: sqs.queueUrl, SQS_DLQ_URL: sqs.dlqUrl, AWS_ENDPOINT_URL_SQS: sqs.endpoint, AWS_REGION: 'us-east-1' };
console.log(execFileSync(process.execPath, ['src/cli/main.ts', 'redrive', '--dry-run'], { env, encoding: 'utf8' }));
await sqs.stop();
