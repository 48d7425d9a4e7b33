import { domainError, ERROR_HTTP_STATUS, toErrorEnvelope } from './errors';

describe('error codes', () => {
  it('map every code of API.md to its status', () => {
    expect(ERROR_HTTP_STATUS).toMatchObject({
      validation_failed: 400,
      idempotency_key_required: 400,
      unauthenticated: 401,
      invalid_credentials: 401,
      token_expired: 401,
      forbidden: 403,
      step_up_required: 403,
      not_found: 404,
      email_taken: 409,
      wallet_not_active: 409,
      card_not_active: 409,
      hold_not_pending: 409,
      insufficient_funds: 422,
      currency_mismatch: 422,
      limit_exceeded: 422,
      idempotency_key_reuse: 422,
      amount_exceeds_hold: 422,
      account_locked: 423,
      rate_limited: 429,
    });
  });

  it('build the API envelope with details always present', () => {
    expect(toErrorEnvelope(domainError('not_found', 'no such wallet'))).toEqual({
      error: { code: 'not_found', message: 'no such wallet', details: {} },
    });
  });
});
