// A journal entry: postings balanced per currency, checked against the accounts they touch.
import { amountOf, domainError, formatAmount, isCurrency, type Currency, type DomainError } from '@ledger/contracts';
import { availableBalance, isOverdrawn, sideChange, withBalanceChange, type Account, type Side } from './account';
import { validationFailed, isValidAmount, isValidId, POSTINGS_MAX, POSTINGS_MIN } from './limits';
import { isTransitToAccountId } from './system-accounts';

export interface Posting {
  readonly accountId: string;
  readonly side: Side;
  readonly amount: bigint;
  /** The currency the caller means; must be the account's, so a USD amount never lands on a JPY account. */
  readonly currency: Currency;
}

/** A posting as stored in an event: the amount as a digit string. */
export interface PostingJson {
  readonly accountId: string;
  readonly side: Side;
  readonly amount: string;
  readonly currency: Currency;
}

export function postingToJson(posting: Posting): PostingJson {
  const { accountId, side, amount, currency } = posting;
  return { accountId, side, amount: formatAmount(amount), currency };
}

export function postingFromJson(posting: PostingJson): Posting {
  return { accountId: posting.accountId, side: posting.side, amount: amountOf(posting.amount), currency: posting.currency };
}

/**
 * Why an entry cannot be posted, or undefined when it can. Checks run in a fixed order so the
 * same entry always gets the same error: the entry on its own (`validation_failed`), then
 * against the accounts (`not_found`, `currency_mismatch`, `wallet_not_active`,
 * `insufficient_funds`).
 */
export function entryError(postings: readonly Posting[], accounts: ReadonlyMap<string, Account>): DomainError | undefined {
  return entryShapeError(postings) ?? entryAccountsError(postings, accounts);
}

function entryShapeError(postings: readonly Posting[]): DomainError | undefined {
  if (!Array.isArray(postings) || postings.length < POSTINGS_MIN || postings.length > POSTINGS_MAX) {
    return validationFailed('postings', 'postings_count', { postingsMin: POSTINGS_MIN, postingsMax: POSTINGS_MAX });
  }
  const seen = new Set<string>();
  const totals = new Map<Currency, { debits: bigint; credits: bigint }>();
  for (const [index, posting] of postings.entries()) {
    const field = `postings[${index}]`;
    if (!isValidId(posting.accountId)) return validationFailed(`${field}.accountId`, 'invalid_id');
    if (posting.side !== 'debit' && posting.side !== 'credit') return validationFailed(`${field}.side`, 'invalid_side');
    if (!isCurrency(posting.currency)) return validationFailed(`${field}.currency`, 'unknown_currency');
    if (!isValidAmount(posting.amount)) return validationFailed(`${field}.amount`, 'amount_out_of_range');
    const sideKey = `${posting.side}:${posting.accountId}`;
    if (seen.has(sideKey)) return validationFailed(field, 'account_twice_on_one_side', { accountId: posting.accountId });
    seen.add(sideKey);
    const total = totals.get(posting.currency) ?? { debits: 0n, credits: 0n };
    if (posting.side === 'debit') total.debits += posting.amount;
    else total.credits += posting.amount;
    totals.set(posting.currency, total);
  }
  for (const [currency, total] of totals) {
    if (total.debits !== total.credits) {
      return validationFailed('postings', 'unbalanced', {
        currency,
        debits: formatAmount(total.debits),
        credits: formatAmount(total.credits),
      });
    }
  }
  return undefined;
}

function entryAccountsError(postings: readonly Posting[], accounts: ReadonlyMap<string, Account>): DomainError | undefined {
  for (const posting of postings) {
    if (!accounts.has(posting.accountId)) {
      return domainError('not_found', 'no such account', { accountId: posting.accountId });
    }
  }
  for (const posting of postings) {
    const account = accounts.get(posting.accountId) as Account;
    if (account.currency !== posting.currency) {
      return domainError('currency_mismatch', 'posting currency differs from the account currency', {
        accountId: account.id,
        accountCurrency: account.currency,
        postingCurrency: posting.currency,
      });
    }
  }
  // Money coming back out of transit (a transfer's reversal) lands on its source even if that closed since: it left from there.
  const returning = postings.some((posting) => posting.side === 'debit' && isTransitToAccountId(posting.accountId));
  for (const posting of postings) {
    const account = accounts.get(posting.accountId) as Account;
    if (returning && posting.side === 'credit' && account.status === 'closed') continue;
    const statusError = postingStatusError(account, posting.side);
    if (statusError !== undefined) return statusError;
  }
  // Apply every posting to copies first, so an account on both sides is judged on its net.
  const after = new Map<string, Account>();
  for (const posting of postings) {
    const account = after.get(posting.accountId) ?? (accounts.get(posting.accountId) as Account);
    after.set(posting.accountId, withBalanceChange(account, sideChange(posting.side, posting.amount)));
  }
  for (const account of after.values()) {
    if (isOverdrawn(account)) return insufficientFunds(accounts.get(account.id) as Account);
  }
  return undefined;
}

/** Debits need an active account; credits need one that is not closed (a frozen wallet can still receive). */
export function postingStatusError(account: Account, side: Side): DomainError | undefined {
  const allowed = side === 'debit' ? account.status === 'active' : account.status !== 'closed';
  if (allowed) return undefined;
  const { id: accountId, status } = account;
  return domainError('wallet_not_active', `account is ${status}`, { accountId, status, side });
}

export function insufficientFunds(account: Account): DomainError {
  return domainError('insufficient_funds', 'the account would be overdrawn', {
    accountId: account.id,
    available: formatAmount(availableBalance(account)),
  });
}
