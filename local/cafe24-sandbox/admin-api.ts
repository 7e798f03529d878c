import type { Outcome } from './faults.ts';
import { formatKst, type Grant, type Issuer } from './grants.ts';
import { jsonReply, type Reply } from './reply.ts';
import type { AdminApiOptions, SandboxFault } from './types.ts';

/**
 * A few of Cafe24's Admin API resources (`/{mall_id}/api/v2/admin/…`: the store, a product catalogue) behind
 * Cafe24's per-mall leaky bucket (docs/cafe24-oauth.md, "Admin API rate limits"), on the sandbox's clock.
 *
 * A call goes: the access token (401 missing, unknown, another mall's, expired or revoked; 403 once the shop
 * removed the app), then the mall's bucket, then `X-Cafe24-Api-Version` (400 unless yyyy-mm-dd), the scope
 * the resource needs (403), the resource. The bucket: each admitted call adds 1 to the mall's level, which
 * drains `drainPerSecond` a second; a call that would take it past `bucketSize` is refused with 429 and,
 * as Cafe24 lengthens a block when called while blocked, adds 1 to the level all the same (a penalty: the
 * block lasts 1/drainPerSecond s longer for each call made during it). Every answer past the token check
 * carries `X-Api-Call-Limit: level/size` (the level after the call, rounded up, never above the size),
 * `X-Cafe24-Call-Usage` and `X-Cafe24-Time-Usage` (percent; processing time is not modelled: always 0) and,
 * once the next call would be refused, `X-Cafe24-Call-Remain` (whole seconds until a call is admitted
 * again); a 429 also `Retry-After`, the same. A 401 charges no bucket: the caller is not known.
 *
 * Products are kept in memory per mall: 25 to start with, then what POST, PUT and DELETE make of them.
 */

export const DEFAULT_BUCKET_SIZE = 40;
export const DEFAULT_DRAIN_PER_SECOND = 2;
const CATALOGUE_SIZE = 25;
const ADMIN_PREFIX = ['api', 'v2', 'admin'];

/** A mall's bucket as the sandbox sees it now. */
export type AdminBucket = {
  /** Calls in the bucket now, drained to this moment (may be fractional, or above `size` after a block). */
  level: number;
  size: number;
  drainPerSecond: number;
  /** Seconds until a call is admitted again; 0 when one would be now. */
  remainSeconds: number;
};

export type Product = {
  shop_no: number;
  product_no: number;
  product_code: string;
  custom_product_code: string;
  product_name: string;
  eng_product_name: string;
  price: string;
  retail_price: string;
  supply_price: string;
  display: 'T' | 'F';
  selling: 'T' | 'F';
  summary_description: string;
  created_date: string;
  updated_date: string;
};

type Catalogue = { products: Map<number, Product>; nextNo: number };

/** The Admin API's state: each mall's bucket and catalogue. */
export type AdminApi = {
  readonly bucketSize: number;
  readonly drainPerSecond: number;
  buckets: Map<string, { level: number; atMs: number }>;
  catalogues: Map<string, Catalogue>;
};

/** One request to `/{mall_id}/api/v2/admin/…`, as the route hands it over. */
export type AdminCall = {
  mallId: string;
  method: string;
  /** The path's segments after the mall id, still percent-encoded. */
  segments: string[];
  query: URLSearchParams;
  authorization: string | undefined;
  apiVersion: string | undefined;
  contentType: string | undefined;
  body: () => Promise<string | undefined>;
};

export function createAdminApi(options: AdminApiOptions = {}): AdminApi {
  const bucketSize = options.bucketSize ?? DEFAULT_BUCKET_SIZE;
  const drainPerSecond = options.drainPerSecond ?? DEFAULT_DRAIN_PER_SECOND;
  if (!Number.isInteger(bucketSize) || bucketSize < 1) {
    throw new Error(`adminApi.bucketSize must be a whole number of calls, 1 or more (got ${bucketSize})`);
  }
  if (!Number.isFinite(drainPerSecond) || drainPerSecond <= 0) {
    throw new Error(`adminApi.drainPerSecond must be above 0 (got ${drainPerSecond})`);
  }
  return { bucketSize, drainPerSecond, buckets: new Map(), catalogues: new Map() };
}

/** `X-Cafe24-Api-Version` as recorded: a valid one as sent, anything else as `invalid`. */
export function recordedApiVersion(header: string | undefined): string | undefined {
  if (header === undefined) return undefined;
  return isApiVersion(header) ? header : 'invalid';
}

// ---- the bucket ---------------------------------------------------------------------------------

/** The mall's level drained to `nowMs` (a clock set back drains nothing). */
function levelAt(api: AdminApi, mallId: string, nowMs: number): number {
  const bucket = api.buckets.get(mallId);
  if (!bucket) return 0;
  const drained = (api.drainPerSecond * Math.max(0, nowMs - bucket.atMs)) / 1000;
  // Rounded to a micro-call, so 0.1 + 0.2 style sums never leave a call short of the size.
  return Math.max(0, Math.round((bucket.level - drained) * 1e6) / 1e6);
}

function secondsUntilAdmitted(api: AdminApi, level: number): number {
  return Math.max(0, (level + 1 - api.bucketSize) / api.drainPerSecond);
}

export function readBucket(api: AdminApi, mallId: string, nowMs: number): AdminBucket {
  const level = levelAt(api, mallId, nowMs);
  return {
    level,
    size: api.bucketSize,
    drainPerSecond: api.drainPerSecond,
    remainSeconds: secondsUntilAdmitted(api, level),
  };
}

export function setBucketLevel(api: AdminApi, mallId: string, level: number, nowMs: number): void {
  if (!Number.isFinite(level) || level < 0) throw new Error(`a bucket's level is 0 or more (got ${level})`);
  api.buckets.set(mallId, { level, atMs: nowMs });
}

/** A call through the mall's bucket: admitted (adds 1) or refused (adds 1 all the same: the penalty). */
function takeSlot(api: AdminApi, mallId: string, nowMs: number): { admitted: boolean; headers: Headers } {
  const before = levelAt(api, mallId, nowMs);
  const admitted = before + 1 <= api.bucketSize;
  const level = before + 1;
  api.buckets.set(mallId, { level, atMs: nowMs });
  return { admitted, headers: bucketHeaders(api, level, !admitted) };
}

type Headers = Record<string, string>;

function bucketHeaders(api: AdminApi, level: number, refused: boolean): Headers {
  const shown = Math.min(Math.ceil(level), api.bucketSize);
  const headers: Headers = {
    'x-api-call-limit': `${shown}/${api.bucketSize}`,
    'x-cafe24-call-usage': String(Math.ceil((Math.min(level, api.bucketSize) / api.bucketSize) * 100)),
    'x-cafe24-time-usage': '0',
  };
  const remain = secondsUntilAdmitted(api, level);
  if (remain > 0) headers['x-cafe24-call-remain'] = String(Math.ceil(remain));
  if (refused) headers['retry-after'] = String(Math.ceil(remain));
  return headers;
}

// ---- a call ---------------------------------------------------------------------------------------

/** The call's fate under `fault`: answered (now or later), or never. */
export async function adminOutcome(
  issuer: Issuer,
  api: AdminApi,
  call: AdminCall,
  fault: SandboxFault | undefined,
): Promise<Outcome> {
  const process = () => serve(issuer, api, call);
  if (!fault) return { reply: await process(), delayMs: 0 };
  switch (fault.type) {
    case 'hang':
    case 'reset':
      return fault.type;
    case 'hang-after-processing':
      // Done (a product made, a slot taken) but never answered: the client cannot tell whether it was.
      await process();
      return 'hang';
    case 'delay':
      return { reply: await process(), delayMs: fault.ms };
    case 'hold':
      return { reply: await process(), delayMs: 0, until: fault.until };
    case 'malformed-json': {
      // Processed, and its answer cut off mid-way, as a dropped connection behind a proxy would leave it.
      const reply = await process();
      if (reply.status >= 300) return { reply, delayMs: 0 };
      return {
        reply: { ...reply, body: reply.body.slice(0, Math.floor(reply.body.length / 2)) },
        delayMs: 0,
      };
    }
    case 'huge-body': {
      const reply = await process();
      if (reply.status >= 300) return { reply, delayMs: 0 };
      const head = '{"products":[{"product_name":"';
      const bytes = fault.bytes ?? 1_048_576;
      return {
        reply: { ...reply, body: (head + 'x'.repeat(Math.max(0, bytes))).slice(0, bytes) },
        delayMs: 0,
      };
    }
    case 'echo':
      // What a misconfigured proxy or a verbose error page does: the request, its token and all.
      return {
        reply: cafe24Error(
          400,
          `Could not process ${call.method} /${call.segments.join('/')} with Authorization: ${call.authorization ?? ''}`,
        ),
        delayMs: 0,
      };
    case 'status':
      return {
        reply:
          fault.body === undefined
            ? cafe24Error(fault.status, `Sandbox fault: status ${fault.status}`)
            : { status: fault.status, body: fault.body, contentType: fault.contentType ?? 'text/plain' },
        delayMs: 0,
      };
    case 'html': {
      const status = fault.status ?? 502;
      const body = `<html><head><title>${status} Bad Gateway</title></head><body><h1>${status} Bad Gateway</h1></body></html>`;
      return { reply: { status, body, contentType: 'text/html' }, delayMs: 0 };
    }
    case 'rate-limit':
      return { reply: cannedRateLimit(api, fault), delayMs: 0 };
    default:
      // faultTarget refuses the token endpoint's own faults before they are queued for the Admin API.
      throw new Error(`fault ${fault.type} does not apply to the Admin API`);
  }
}

function cannedRateLimit(api: AdminApi, fault: Extract<SandboxFault, { type: 'rate-limit' }>): Reply {
  const reply = tooManyRequests();
  if (fault.withoutHeaders) return reply;
  const fallback = Math.ceil(1 / api.drainPerSecond);
  return {
    ...reply,
    headers: {
      'x-api-call-limit': `${api.bucketSize}/${api.bucketSize}`,
      'x-cafe24-call-usage': '100',
      'x-cafe24-time-usage': '0',
      'x-cafe24-call-remain': String(fault.remainSeconds ?? fault.retryAfterSeconds ?? fallback),
      'retry-after': String(fault.retryAfterSeconds ?? fault.remainSeconds ?? fallback),
    },
  };
}

async function serve(issuer: Issuer, api: AdminApi, call: AdminCall): Promise<Reply> {
  const nowMs = issuer.settings.now();
  const auth = authenticate(issuer, call, nowMs);
  if ('reply' in auth) return auth.reply;
  const slot = takeSlot(api, call.mallId, nowMs);
  const reply = slot.admitted ? await resource(api, call, auth.grant, nowMs) : tooManyRequests();
  return { ...reply, headers: { ...reply.headers, ...slot.headers } };
}

function authenticate(issuer: Issuer, call: AdminCall, nowMs: number): { grant: Grant } | { reply: Reply } {
  const match = /^Bearer\s+(\S+)\s*$/i.exec(call.authorization ?? '');
  if (!match?.[1])
    return { reply: cafe24Error(401, 'No access token was provided (Authorization: Bearer …).') };
  const entry = issuer.ledger.accessTokens.get(match[1]);
  if (!entry || entry.grant.mallId !== call.mallId)
    return { reply: cafe24Error(401, 'Invalid access_token') };
  if (entry.grant.removed) return { reply: cafe24Error(403, 'The app is not installed at this mall.') };
  if (entry.grant.revoked) return { reply: cafe24Error(401, 'Invalid access_token') };
  if (nowMs >= entry.expiresAtMs) return { reply: cafe24Error(401, 'access_token time expired.') };
  return { grant: entry.grant };
}

type Route = { scope: string; handle: () => Reply | Promise<Reply> };

async function resource(api: AdminApi, call: AdminCall, grant: Grant, nowMs: number): Promise<Reply> {
  if (call.apiVersion !== undefined && !isApiVersion(call.apiVersion)) {
    return cafe24Error(400, 'X-Cafe24-Api-Version must be a version date, yyyy-mm-dd (e.g. 2025-06-01).');
  }
  const routes = routesFor(api, call, nowMs);
  if (routes === undefined) return cafe24Error(404, 'No such endpoint');
  const route = routes[call.method];
  if (!route) {
    return { ...cafe24Error(405, 'Method not allowed'), headers: { allow: Object.keys(routes).join(', ') } };
  }
  if (!grant.scopes.includes(route.scope)) {
    return cafe24Error(403, `The app has not been granted the scope this request needs (${route.scope}).`);
  }
  return route.handle();
}

/** The methods the call's path answers, with the scope each needs; undefined for a path it does not know. */
function routesFor(api: AdminApi, call: AdminCall, nowMs: number): Record<string, Route> | undefined {
  const [a, b, c, name, id, ...more] = call.segments;
  if ([a, b, c].join('/') !== ADMIN_PREFIX.join('/') || more.length > 0) return undefined;
  const read = 'mall.read_product';
  const write = 'mall.write_product';
  if (name === 'store' && id === undefined) {
    return { GET: { scope: 'mall.read_store', handle: () => jsonReply(200, { store: store(call.mallId) }) } };
  }
  if (name !== 'products') return undefined;
  const catalogue = () => catalogueOf(api, call.mallId);
  if (id === undefined) {
    return {
      GET: { scope: read, handle: () => listProducts(catalogue(), call) },
      POST: { scope: write, handle: () => createProduct(catalogue(), call, nowMs) },
    };
  }
  if (id === 'count') {
    return { GET: { scope: read, handle: () => jsonReply(200, { count: catalogue().products.size }) } };
  }
  if (!/^[1-9]\d{0,9}$/.test(id)) return undefined;
  const productNo = Number(id);
  const found = (then: (product: Product) => Reply | Promise<Reply>) => () => {
    const product = catalogue().products.get(productNo);
    return product ? then(product) : cafe24Error(404, `No product was found for product_no ${productNo}.`);
  };
  return {
    GET: { scope: read, handle: found((product) => jsonReply(200, { product })) },
    PUT: { scope: write, handle: found((product) => updateProduct(product, call, nowMs)) },
    DELETE: {
      scope: write,
      handle: found((product) => {
        catalogue().products.delete(product.product_no);
        return jsonReply(200, { product: { product_no: product.product_no } });
      }),
    },
  };
}

// ---- the resources ------------------------------------------------------------------------------------

function store(mallId: string) {
  return {
    shop_no: 1,
    default: 'T',
    shop_name: '샌드박스 상점',
    mall_id: mallId,
    base_domain: `${mallId}.cafe24.com`,
    primary_domain: `${mallId}.cafe24.com`,
    mall_url: `https://${mallId}.cafe24.com`,
    company_name: '(주)샌드박스',
    president_name: '홍길동',
    company_registration_no: '000-00-00000',
    phone: '02-0000-0000',
    email: `${mallId}@example.com`,
    country_code: 'KOR',
    language_code: 'ko_KR',
    currency_code: 'KRW',
    timezone: 'Asia/Seoul',
  };
}

const COLOURS = ['블랙', '화이트', '네이비', '베이지', '그레이'];
const ITEMS = [
  ['기본 반팔 티셔츠', 'Basic T-shirt', 15000],
  ['린넨 셔츠', 'Linen shirt', 39000],
  ['데님 팬츠', 'Denim pants', 49000],
  ['울 니트', 'Wool knit', 59000],
  ['캔버스 스니커즈', 'Canvas sneakers', 45000],
] as const;
const CATALOGUE_START_MS = Date.parse('2024-03-01T10:00:00+09:00');
const DAY_MS = 24 * 60 * 60 * 1000;

/** Cafe24's Admin API dates: Korea time with its offset, whole seconds. */
function kstDate(ms: number): string {
  return `${formatKst(ms).slice(0, 19)}+09:00`;
}

function money(value: number): string {
  return value.toFixed(2);
}

function productCode(productNo: number): string {
  return `P${productNo.toString(36).toUpperCase().padStart(7, '0')}`;
}

function catalogueOf(api: AdminApi, mallId: string): Catalogue {
  let catalogue = api.catalogues.get(mallId);
  if (!catalogue) {
    catalogue = { products: new Map(), nextNo: CATALOGUE_SIZE + 1 };
    for (let i = 0; i < CATALOGUE_SIZE; i += 1) {
      const [name, engName, price] = ITEMS[i % ITEMS.length] as (typeof ITEMS)[number];
      const colour = COLOURS[Math.floor(i / ITEMS.length) % COLOURS.length] as string;
      const created = kstDate(CATALOGUE_START_MS + i * DAY_MS);
      const productNo = i + 1;
      catalogue.products.set(productNo, {
        shop_no: 1,
        product_no: productNo,
        product_code: productCode(productNo),
        custom_product_code: '',
        product_name: `${colour} ${name}`,
        eng_product_name: engName,
        price: money(price),
        retail_price: money(price),
        supply_price: money(Math.round(price * 0.6)),
        display: 'T',
        selling: 'T',
        summary_description: '',
        created_date: created,
        updated_date: created,
      });
    }
    api.catalogues.set(mallId, catalogue);
  }
  return catalogue;
}

function listProducts(catalogue: Catalogue, call: AdminCall): Reply {
  const { query } = call;
  const limit = wholeNumber(query.get('limit'), 10);
  const offset = wholeNumber(query.get('offset'), 0);
  if (limit === undefined || limit < 1 || limit > 100) {
    return cafe24Error(422, 'limit must be a whole number from 1 to 100.');
  }
  if (offset === undefined || offset < 0 || offset > 8000) {
    return cafe24Error(422, 'offset must be a whole number from 0 to 8000.');
  }
  const products = [...catalogue.products.values()].slice(offset, offset + limit);
  return jsonReply(200, { products });
}

function wholeNumber(given: string | null, fallback: number): number | undefined {
  if (given === null || given === '') return fallback;
  return /^\d{1,6}$/.test(given) ? Number(given) : undefined;
}

type ProductFields = Partial<
  Pick<
    Product,
    | 'product_name'
    | 'eng_product_name'
    | 'price'
    | 'retail_price'
    | 'supply_price'
    | 'display'
    | 'selling'
    | 'custom_product_code'
    | 'summary_description'
  >
>;

async function createProduct(catalogue: Catalogue, call: AdminCall, nowMs: number): Promise<Reply> {
  const fields = await productRequest(call);
  if ('reply' in fields) return fields.reply;
  if (fields.product_name === undefined) return cafe24Error(422, 'request.product_name is required.');
  if (fields.price === undefined) return cafe24Error(422, 'request.price is required.');
  const productNo = catalogue.nextNo;
  catalogue.nextNo += 1;
  const created = kstDate(nowMs);
  const product: Product = {
    shop_no: 1,
    product_no: productNo,
    product_code: productCode(productNo),
    custom_product_code: '',
    product_name: fields.product_name,
    eng_product_name: '',
    price: fields.price,
    retail_price: fields.price,
    supply_price: fields.price,
    display: 'T',
    selling: 'T',
    summary_description: '',
    created_date: created,
    updated_date: created,
    ...fields,
  };
  catalogue.products.set(productNo, product);
  return jsonReply(201, { product });
}

async function updateProduct(product: Product, call: AdminCall, nowMs: number): Promise<Reply> {
  const fields = await productRequest(call);
  if ('reply' in fields) return fields.reply;
  if (Object.keys(fields).length === 0) return cafe24Error(422, 'request has no field to update.');
  Object.assign(product, fields, { updated_date: kstDate(nowMs) });
  return jsonReply(200, { product });
}

/** `{"request": {...}}`'s fields this sandbox keeps, checked; a Cafe24-style error for a bad body. */
async function productRequest(call: AdminCall): Promise<ProductFields | { reply: Reply }> {
  if (call.contentType?.split(';')[0]?.trim().toLowerCase() !== 'application/json') {
    return { reply: cafe24Error(400, 'Content-Type must be application/json.') };
  }
  const text = await call.body();
  if (text === undefined) return { reply: cafe24Error(413, 'Request body too large') };
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    return { reply: cafe24Error(400, 'The request body is not JSON.') };
  }
  const request = isObject(json) ? json.request : undefined;
  if (!isObject(request)) return { reply: cafe24Error(422, 'request is required: {"request": {...}}.') };
  const fields: ProductFields = {};
  for (const name of [
    'product_name',
    'eng_product_name',
    'custom_product_code',
    'summary_description',
  ] as const) {
    const value = request[name];
    if (value === undefined) continue;
    if (typeof value !== 'string' || value.length > 250 || (name === 'product_name' && value.trim() === '')) {
      return { reply: cafe24Error(422, `request.${name} must be a string of at most 250 characters.`) };
    }
    fields[name] = value;
  }
  for (const name of ['price', 'retail_price', 'supply_price'] as const) {
    const value = request[name];
    if (value === undefined) continue;
    const amount = typeof value === 'number' || typeof value === 'string' ? Number(value) : Number.NaN;
    if ((typeof value === 'string' && value.trim() === '') || !Number.isFinite(amount) || amount < 0) {
      return { reply: cafe24Error(422, `request.${name} must be an amount of 0 or more.`) };
    }
    fields[name] = money(amount);
  }
  for (const name of ['display', 'selling'] as const) {
    const value = request[name];
    if (value === undefined) continue;
    if (value !== 'T' && value !== 'F') return { reply: cafe24Error(422, `request.${name} must be T or F.`) };
    fields[name] = value;
  }
  return fields;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

// ---- answers --------------------------------------------------------------------------------------------

/** Cafe24's resource API error shape (not OAuth's). */
export function cafe24Error(status: number, message: string): Reply {
  return jsonReply(status, { error: { code: status, message, more_info: {} } });
}

function tooManyRequests(): Reply {
  return cafe24Error(429, 'Too Many Requests');
}

function isApiVersion(value: string): boolean {
  const match = /^(\d{4})-(\d{2})-(\d{2})$/.exec(value);
  if (!match) return false;
  const date = new Date(Date.UTC(Number(match[1]), Number(match[2]) - 1, Number(match[3])));
  return date.toISOString().slice(0, 10) === value;
}
