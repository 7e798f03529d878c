import * as z from 'zod/mini';
import { Secret } from '../commons/secret.ts';
import type { TokenSet } from '../domain/ports.ts';

const KST_OFFSET = '+09:00';
const LOCAL_DATE_TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,6})?$/;
const OFFSET_DATE_TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,6})?(Z|[+-]\d{2}:\d{2})$/;

/**
 * Cafe24 token timestamps carry no offset and are Korea time; `new Date()` would read them as host-local
 * time (UTC on Lambda, 9 h off). An explicit offset, should one ever appear, is honoured.
 */
export function parseCafe24Timestamp(text: string): Date | undefined {
  const iso = LOCAL_DATE_TIME.test(text)
    ? `${text}${KST_OFFSET}`
    : OFFSET_DATE_TIME.test(text)
      ? text
      : undefined;
  if (iso === undefined) return undefined;
  const date = new Date(iso);
  return Number.isNaN(date.getTime()) ? undefined : date;
}

const timestamp = z.pipe(
  z.string(),
  z.transform((text, ctx) => {
    const date = parseCafe24Timestamp(text);
    if (!date)
      ctx.issues.push({
        code: 'custom',
        message: 'is not a Cafe24 timestamp (YYYY-MM-DDTHH:mm:ss.SSS)',
        input: text,
      });
    return date ?? z.NEVER;
  }),
);

const token = z.pipe(
  z.string().check(z.minLength(1)),
  z.transform((value) => new Secret(value)),
);

/** The token endpoint's answer (authorization_code and refresh_token grants share it). */
export const tokenResponseSchema = z.pipe(
  z.object({
    access_token: token,
    expires_at: timestamp,
    refresh_token: token,
    refresh_token_expires_at: timestamp,
    client_id: z.optional(z.string()),
    mall_id: z.string().check(z.minLength(1)),
    user_id: z.optional(z.string()),
    scopes: z.optional(z.array(z.string())),
    issued_at: timestamp,
    shop_no: z.optional(z.union([z.string(), z.pipe(z.number(), z.transform(String))])),
    token_type: z.optional(z.string().check(z.minLength(1))),
  }),
  z.transform(
    (response): TokenSet => ({
      accessToken: response.access_token,
      expiresAt: response.expires_at,
      refreshToken: response.refresh_token,
      refreshTokenExpiresAt: response.refresh_token_expires_at,
      clientId: response.client_id,
      mallId: response.mall_id,
      userId: response.user_id,
      scopes: response.scopes,
      issuedAt: response.issued_at,
      shopNo: response.shop_no,
      tokenType: response.token_type,
    }),
  ),
);

/** Token-endpoint errors use the OAuth shape. */
export const oauthErrorSchema = z.object({
  error: z.string().check(z.minLength(1), z.maxLength(200)),
  error_description: z.optional(z.string().check(z.maxLength(1_000))),
});

/** Which fields failed, never their values (they hold tokens). */
export function describeSchemaIssues(error: z.core.$ZodError): string {
  return error.issues
    .slice(0, 5)
    .map((issue) => `${issue.path.join('.') || 'body'} ${issue.message.toLowerCase()}`)
    .join('; ');
}
