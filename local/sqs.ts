import { CreateQueueCommand, GetQueueAttributesCommand, type SQSClient } from '@aws-sdk/client-sqs';
import { startFauxqs } from 'fauxqs';
import { createSqsClient, localAws } from '../src/aws/sqs.ts';

export type LocalSqsOptions = {
  /** 0 (default) picks a free port. */
  port?: number;
  region?: string;
  queueName?: string;
  dlqName?: string;
  visibilityTimeoutSeconds?: number;
  maxReceiveCount?: number;
  messageRetentionSeconds?: number;
};

export type LocalSqs = {
  /** For `AWS_ENDPOINT_URL_SQS`. */
  readonly endpoint: string;
  readonly region: string;
  readonly queueUrl: string;
  readonly dlqUrl: string;
  readonly client: SQSClient;
  stop(): Promise<void>;
};

/** Longest retention SQS allows, so the DLQ outlives anything the queue hands it. */
const dlqRetentionSeconds = 1_209_600;

/** Starts fauxqs in-process with the exchange queue and its DLQ, created through the SDK as in AWS. */
export async function startLocalSqs(options: LocalSqsOptions = {}): Promise<LocalSqs> {
  const region = options.region ?? 'us-east-1';
  const server = await startFauxqs({ port: options.port ?? 0, logger: false, defaultRegion: region });
  const endpoint = `http://127.0.0.1:${server.port}`;
  const client = createSqsClient(localAws(endpoint, region));
  try {
    const { queueUrl, dlqUrl } = await createQueueWithDlq(client, {
      queueName: options.queueName ?? 'cafe24-token-exchange',
      dlqName: options.dlqName ?? 'cafe24-token-exchange-dlq',
      visibilityTimeoutSeconds: options.visibilityTimeoutSeconds ?? 60,
      maxReceiveCount: options.maxReceiveCount ?? 5,
      messageRetentionSeconds: options.messageRetentionSeconds ?? 345_600,
    });
    return {
      endpoint,
      region,
      queueUrl,
      dlqUrl,
      client,
      async stop() {
        client.destroy();
        // fauxqs closes open connections and cancels pending long polls on close.
        await server.stop();
      },
    };
  } catch (error) {
    client.destroy();
    await server.stop();
    throw error;
  }
}

/** A queue and its DLQ, as template.yaml declares each pair (the refresh queue beside the exchange's). */
export async function createQueueWithDlq(
  client: SQSClient,
  options: {
    queueName: string;
    dlqName: string;
    visibilityTimeoutSeconds: number;
    maxReceiveCount: number;
    messageRetentionSeconds?: number;
  },
): Promise<{ queueUrl: string; dlqUrl: string }> {
  const dlq = await client.send(
    new CreateQueueCommand({
      QueueName: options.dlqName,
      Attributes: { MessageRetentionPeriod: String(dlqRetentionSeconds) },
    }),
  );
  const dlqUrl = dlq.QueueUrl!;
  const dlqAttributes = await client.send(
    new GetQueueAttributesCommand({ QueueUrl: dlqUrl, AttributeNames: ['QueueArn'] }),
  );
  const queue = await client.send(
    new CreateQueueCommand({
      QueueName: options.queueName,
      Attributes: {
        VisibilityTimeout: String(options.visibilityTimeoutSeconds),
        MessageRetentionPeriod: String(options.messageRetentionSeconds ?? 345_600),
        RedrivePolicy: JSON.stringify({
          deadLetterTargetArn: dlqAttributes.Attributes!.QueueArn,
          maxReceiveCount: options.maxReceiveCount,
        }),
      },
    }),
  );
  return { queueUrl: queue.QueueUrl!, dlqUrl };
}
