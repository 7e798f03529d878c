/**
 * A mall's API origin: `{mall_id}` in CAFE24_API_BASE_URL substituted (https://{mall_id}.cafe24api.com,
 * or a sandbox's path), without a trailing slash. Every URL this project builds for a mall starts here.
 */
export function mallApiBase(apiBaseUrl: string, mallId: string): string {
  return apiBaseUrl.replaceAll('{mall_id}', encodeURIComponent(mallId)).replace(/\/+$/, '');
}
