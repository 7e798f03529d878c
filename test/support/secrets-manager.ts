import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';

export type FakeSecretsManager = { endpoint: string; requests: string[]; stop(): Promise<void> };

/** GetSecretValue over the AWS JSON 1.1 protocol, for the bundled SDK; nothing else. */
export async function startFakeSecretsManager(values: Record<string, string>): Promise<FakeSecretsManager> {
  const requests: string[] = [];
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const reply = (status: number, body: unknown) => {
        res.writeHead(status, { 'content-type': 'application/x-amz-json-1.1' });
        res.end(JSON.stringify(body));
      };
      if (req.headers['x-amz-target'] !== 'secretsmanager.GetSecretValue') {
        return reply(400, { __type: 'InvalidRequestException', message: 'only GetSecretValue' });
      }
      const { SecretId } = JSON.parse(Buffer.concat(chunks).toString('utf8')) as { SecretId: string };
      requests.push(SecretId);
      const value = values[SecretId];
      if (value === undefined) {
        return reply(400, {
          __type: 'ResourceNotFoundException',
          message: 'Secrets Manager can’t find the secret',
        });
      }
      return reply(200, { ARN: SecretId, Name: 'cafe24', SecretString: value, VersionId: 'v1' });
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    endpoint: `http://127.0.0.1:${port}`,
    requests,
    stop: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
