/** An answer as data, so faults can rewrite it before it becomes a Response. */
export type Reply = { status: number; body: string; contentType?: string; headers?: Record<string, string> };

export function oauthError(status: number, error: string, description: string): Reply {
  return jsonReply(status, { error, error_description: description });
}

export function jsonReply(status: number, body: unknown): Reply {
  return { status, body: JSON.stringify(body) };
}

export function redirect(target: string, params: Record<string, string | null>): Reply {
  const query = new URLSearchParams();
  for (const [key, value] of Object.entries(params)) if (value !== null) query.set(key, value);
  const location = `${target}${target.includes('?') ? '&' : '?'}${query}`;
  return { status: 302, body: '', headers: { location } };
}

export function toResponse(reply: Reply): Response {
  return new Response(reply.body, {
    status: reply.status,
    headers: {
      'content-type': reply.contentType ?? 'application/json',
      'content-length': String(Buffer.byteLength(reply.body)),
      'cache-control': 'no-store',
      ...reply.headers,
    },
  });
}
