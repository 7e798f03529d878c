import { type Issuer, killRefreshToken, type TokenRequest, tokenEndpoint } from './grants.ts';
import { jsonReply, oauthError, type Reply } from './reply.ts';
import type { FaultTarget, SandboxFault } from './types.ts';

/** A token request's fate: a reply (possibly late), or none at all. */
export type Outcome = { reply: Reply; delayMs: number; until?: Promise<unknown> } | 'hang' | 'reset';

export function tokenOutcome(
  issuer: Issuer,
  request: TokenRequest,
  fault: SandboxFault | undefined,
): Outcome {
  const process = () => tokenEndpoint(issuer, request);
  if (!fault) return { reply: process(), delayMs: 0 };
  switch (fault.type) {
    case 'hang':
    case 'reset':
      return fault.type;
    case 'echo': {
      // What a misconfigured proxy or a verbose error page does: the request, credentials and all.
      const authorization = request.authorization ?? '';
      return {
        reply: jsonReply(400, {
          error: `invalid_request ${authorization}`,
          error_description: `could not process ${request.form.toString()} with Authorization: ${authorization}`,
        }),
        delayMs: 0,
      };
    }
    case 'hang-after-processing':
      process();
      return 'hang';
    case 'invalid-grant':
      if (request.form.get('grant_type') === 'refresh_token') {
        killRefreshToken(issuer, request.form.get('refresh_token'));
        return { reply: oauthError(401, 'invalid_grant', 'Invalid refresh_token'), delayMs: 0 };
      }
      return { reply: faultReply(fault), delayMs: 0 };
    case 'delay':
      // Processed now, answered later: a client that gives up meanwhile has still spent the code.
      return { reply: process(), delayMs: fault.ms };
    case 'hold':
      return { reply: process(), delayMs: 0, until: fault.until };
    case 'missing-fields':
    case 'huge-body':
    case 'malformed-json':
      // Cafe24 issued tokens (the code is spent) but the client cannot read them; errors pass through.
      return { reply: corruptSuccess(process(), fault), delayMs: 0 };
    default:
      return { reply: faultReply(fault), delayMs: 0 };
  }
}

type CannedFault = Extract<
  SandboxFault,
  { type: 'status' | 'rate-limit' | 'html' | 'invalid-grant' | 'invalid-client' }
>;

function faultReply(fault: CannedFault): Reply {
  switch (fault.type) {
    case 'status':
      if (fault.body === undefined) {
        return oauthError(fault.status, 'server_error', `Sandbox fault: status ${fault.status}`);
      }
      return { status: fault.status, body: fault.body, contentType: fault.contentType ?? 'text/plain' };
    case 'rate-limit':
      return {
        ...oauthError(429, 'too_many_requests', 'Too Many Requests'),
        headers: rateLimitHeaders(fault),
      };
    case 'html': {
      const status = fault.status ?? 502;
      const body = `<html><head><title>${status} Bad Gateway</title></head><body><h1>${status} Bad Gateway</h1></body></html>`;
      return { status, body, contentType: 'text/html' };
    }
    case 'invalid-grant':
      return oauthError(400, 'invalid_grant', 'Code time expired');
    case 'invalid-client':
      return fault.error === 'invalid_grant'
        ? oauthError(400, 'invalid_grant', 'Invalid client_secret')
        : oauthError(401, 'invalid_client', 'Invalid client_secret');
  }
}

function rateLimitHeaders(fault: Extract<SandboxFault, { type: 'rate-limit' }>): Record<string, string> {
  if (fault.withoutHeaders) return {};
  const headers: Record<string, string> = {
    'x-api-call-limit': '40/40',
    'x-cafe24-call-usage': '100',
    'x-cafe24-call-remain': String(fault.remainSeconds ?? 0),
  };
  if (fault.retryAfterSeconds !== undefined) headers['retry-after'] = String(fault.retryAfterSeconds);
  return headers;
}

/** The faults that only the token endpoint knows. */
const TOKEN_ONLY: ReadonlySet<SandboxFault['type']> = new Set([
  'invalid-grant',
  'invalid-client',
  'missing-fields',
]);

/** The fault's target; throws for one the target cannot serve (told at `failNext`, not at the request). */
export function faultTarget(fault: SandboxFault): FaultTarget {
  const target = fault.target ?? 'token';
  if (target !== 'token' && target !== 'admin') throw new Error(`unknown fault target ${String(target)}`);
  if (target === 'admin' && TOKEN_ONLY.has(fault.type)) {
    throw new Error(`fault ${fault.type} is the token endpoint's only, not the Admin API's`);
  }
  return target;
}

/** Injected faults: one-shot ones in the order given, and one persistent fault per target. */
export type FaultQueue = {
  oneShot: SandboxFault[];
  persistent: Partial<Record<FaultTarget, SandboxFault>>;
};

/** The next fault for a request to `target`: the first one-shot fault aimed at it, else its persistent one. */
export function takeFault(faults: FaultQueue, target: FaultTarget): SandboxFault | undefined {
  const index = faults.oneShot.findIndex((fault) => (fault.target ?? 'token') === target);
  if (index >= 0) return faults.oneShot.splice(index, 1)[0];
  return faults.persistent[target];
}

function corruptSuccess(
  answer: Reply,
  fault: Extract<SandboxFault, { type: 'missing-fields' | 'huge-body' | 'malformed-json' }>,
): Reply {
  if (answer.status !== 200) return answer;
  if (fault.type === 'missing-fields') {
    const { refresh_token: _r, expires_at: _e, ...rest } = JSON.parse(answer.body) as Record<string, unknown>;
    return jsonReply(200, rest);
  }
  if (fault.type === 'huge-body') return { status: 200, body: hugeJsonish(fault.bytes ?? 1_048_576) };
  // A body cut off mid-way, as a dropped connection behind a proxy would leave it.
  return { status: 200, body: answer.body.slice(0, Math.floor(answer.body.length / 2)) };
}

function hugeJsonish(bytes: number): string {
  const head = '{"access_token":"';
  return (head + 'x'.repeat(Math.max(0, bytes - head.length))).slice(0, bytes);
}
