import { Logger } from '@aws-lambda-powertools/logger';

/**
 * The one logger. Secrets are kept out by construction: codes, tokens and the client secret are held in
 * `Secret` values that print as "[redacted]", and log calls pass ids and reasons, never request data.
 */
export const logger = new Logger({ serviceName: 'cafe24-token-issuer' });
