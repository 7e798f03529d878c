/** One line of `cafe24-tokens doctor`. */
export type Check = {
  /**
   * What was checked: `config exchange`, `database`, `SQS_QUEUE_URL`, `client secret`, `Cafe24 route`,
   * `Cafe24 token endpoint`, `TOKEN_STASH_BUCKET`, `launch hand-off`, `launch signing key`, `launch JWKS`, `TOKEN_KMS_KEY_ID`,
   * `token data key`, `token sealing`.
   */
  check: string;
  ok: boolean;
  /** A risk worth fixing that does not fail doctor: `ok` stays true. */
  warning?: true;
  detail: string;
  /** What to do, when it failed or warns. */
  fix?: string;
  /** A `config <command>` check's problems, one each (`detail` joins them). */
  problems?: string[];
};
