/**
 * The sandbox's side of the app's lifecycle: deleting the app refuses the mall's tokens and sends Cafe24's
 * webhook (key, trace id, body), a resend repeats it, the [TEST] button sends Cafe24's sample, and a new
 * install afterwards is served.
 */
import { createServer, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Cafe24Sandbox, startCafe24Sandbox } from '../local/cafe24-sandbox.ts';

const CLIENT_ID = 'hook-client';
const CLIENT_SECRET = 'hook-secret-4f1a';
const REDIRECT_URI = 'https://app.example.com/cb';
const KEY = 'sandbox-webhook-key-93';

let sandbox: Cafe24Sandbox;
let receiverUrl: string;
const received: Array<{ headers: IncomingMessage['headers']; body: unknown }> = [];
const receiver = createServer(async (request, response) => {
  const chunks: Buffer[] = [];
  for await (const chunk of request) chunks.push(chunk as Buffer);
  received.push({ headers: request.headers, body: JSON.parse(Buffer.concat(chunks).toString('utf8')) });
  response.writeHead(200, { 'content-type': 'application/json' }).end('{"ok":true}');
});

beforeAll(async () => {
  await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve));
  receiverUrl = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/webhooks/cafe24`;
  sandbox = await startCafe24Sandbox({
    clientId: CLIENT_ID,
    clientSecret: CLIENT_SECRET,
    redirectUri: REDIRECT_URI,
  });
  sandbox.setWebhook({ url: receiverUrl, apiKey: KEY });
});
afterAll(async () => {
  await sandbox.stop();
  receiver.close();
});

const basic = `Basic ${Buffer.from(`${CLIENT_ID}:${CLIENT_SECRET}`).toString('base64')}`;
async function token(mallId: string, form: Record<string, string>) {
  const response = await fetch(`${sandbox.origin}/${mallId}/api/v2/oauth/token`, {
    method: 'POST',
    headers: { authorization: basic, 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams(form).toString(),
  });
  return { status: response.status, body: (await response.json()) as Record<string, string> };
}
const exchange = (mallId: string, code: string) =>
  token(mallId, { grant_type: 'authorization_code', code, redirect_uri: REDIRECT_URI });

describe('the sandbox as Cafe24 on removal', () => {
  it('deleting the app refuses its tokens and codes, sends 90077 with the key and a trace id, twice on a resend', async () => {
    const issued = await exchange('shop1', sandbox.issueCode('shop1'));
    expect(issued.status).toBe(200);
    const pendingCode = sandbox.issueCode('shop1');
    received.length = 0;
    const deliveries = await sandbox.removeApp('shop1', 'deleted', { duplicate: true });
    expect(deliveries.map((d) => [d.eventNo, d.status])).toEqual([
      [90077, 200],
      [90077, 200],
    ]);
    expect(received).toHaveLength(2);
    expect(received[0]!.headers['x-api-key']).toBe(KEY);
    expect(received[0]!.headers['x-trace-id']).toBe(received[1]!.headers['x-trace-id']);
    expect(received[0]!.body).toEqual({
      event_no: 90077,
      resource: {
        mall_id: 'shop1',
        client_id: CLIENT_ID,
        app_name: 'sandbox_app',
        deleted_date: expect.stringMatching(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\+09:00$/),
      },
    });
    expect(
      (await token('shop1', { grant_type: 'refresh_token', refresh_token: issued.body.refresh_token! })).body
        .error,
    ).toBe('invalid_grant');
    expect((await exchange('shop1', pendingCode)).body.error).toBe('invalid_grant');
    // A new install after the removal is served.
    expect((await exchange('shop1', sandbox.issueCode('shop1'))).status).toBe(200);
  });

  it('the admin page deletes, expires and sends the TEST sample, in Korean first', async () => {
    const page = await (await fetch(`${sandbox.origin}/admin/shop2`)).text();
    expect(page).toContain('<html lang="ko">');
    expect(page).toContain('앱 삭제');
    received.length = 0;
    const expired = await (await fetch(`${sandbox.origin}/admin/shop2/expire`, { method: 'POST' })).text();
    expect(expired).toContain('웹훅 90078 전송 → HTTP 200');
    expect(received.at(-1)!.body).toMatchObject({ event_no: 90078, resource: { mall_id: 'shop2' } });
    await fetch(`${sandbox.origin}/admin/shop2/test`, { method: 'POST' });
    expect(received.at(-1)!.body).toMatchObject({
      resource: { mall_id: 'leesunsin', client_id: 'sample7eBNEqSfkd7I8hoA' },
    });
    expect(expired).not.toContain(KEY);
  });
});
