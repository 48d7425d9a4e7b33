import { COMMON_PASSWORDS } from './common-passwords';
import { displayNameProblem, emailKey, emailProblem, passwordProblem, registrationProblems } from './credentials-policy';

describe('email', () => {
  it.each(['alice@example.com', 'Alice.Smith+ledger@mail.example.co.uk', "o'brien@example.ie", 'x@xn--bcher-kva.example', 'a@b.io'])('accepts %s', (email) => {
    expect(emailProblem(email)).toBeUndefined();
  });

  it.each([
    ['', 'required'],
    ['alice', 'invalid_format'],
    ['@example.com', 'invalid_format'],
    ['alice@', 'invalid_format'],
    ['alice@localhost', 'invalid_format'],
    ['alice@example.c', 'invalid_format'],
    ['alice..smith@example.com', 'invalid_format'],
    ['.alice@example.com', 'invalid_format'],
    ['alice@-example.com', 'invalid_format'],
    ['alice@exa_mple.com', 'invalid_format'],
    [' alice@example.com', 'invalid_format'],
    ['alice@example.com\n', 'invalid_format'],
    ['al ice@example.com', 'invalid_format'],
    ['élise@example.com', 'invalid_format'],
    [`${'a'.repeat(65)}@example.com`, 'invalid_format'],
    [`a@${['b', 'c', 'd', 'e', 'f'].map((letter) => letter.repeat(60)).join('.')}.com`, 'too_long'],
  ])('refuses %j: %s', (email, reason) => {
    expect(emailProblem(email)).toEqual({ field: 'email', reason });
  });

  it('refuses what is not a string', () => {
    expect(emailProblem(42)).toEqual({ field: 'email', reason: 'required' });
  });

  it('compares lowercased', () => {
    expect(emailKey('Alice@Example.COM')).toBe('alice@example.com');
  });

  // Addresses are ASCII here: a Kelvin sign (U+212A), which JavaScript lowercases to 'k', names no registered address.
  it('folds ASCII letters only', () => {
    expect(emailKey('\u212Aate@example.com')).not.toBe(emailKey('kate@example.com'));
    expect(emailKey('İvy@example.com')).toBe('İvy@example.com');
  });
});

describe('password', () => {
  it('takes 10 to 128 characters, counted as code points', () => {
    expect(passwordProblem('correct horse', COMMON_PASSWORDS)).toBeUndefined();
    expect(passwordProblem('x9!'.repeat(3), COMMON_PASSWORDS)).toEqual({ field: 'password', reason: 'too_short' });
    expect(passwordProblem('🔒'.repeat(9), COMMON_PASSWORDS)).toEqual({ field: 'password', reason: 'too_short' });
    expect(passwordProblem('🔒'.repeat(10), COMMON_PASSWORDS)).toBeUndefined();
    expect(passwordProblem('a'.repeat(128) + 'Z', COMMON_PASSWORDS)).toEqual({ field: 'password', reason: 'too_long' });
    expect(passwordProblem('', COMMON_PASSWORDS)).toEqual({ field: 'password', reason: 'required' });
  });

  it('counts the characters of a password in one normalization form (NFC), however it was typed', () => {
    const composed = 'é'.repeat(100).normalize('NFC');
    expect(passwordProblem(composed, COMMON_PASSWORDS)).toBeUndefined();
    expect(passwordProblem(composed.normalize('NFD'), COMMON_PASSWORDS)).toBeUndefined();
    expect(passwordProblem('é'.repeat(129).normalize('NFD'), COMMON_PASSWORDS)).toEqual({ field: 'password', reason: 'too_long' });
  });

  // What a guesser tries first: the listed word with spaces around, in full-width forms, or composed otherwise.
  it.each([' password123', 'password123 ', '\tqwertyuiop\u00a0', 'ｐａｓｓｗｏｒｄ１２３', 'ＰＡＳＳＷＯＲＤ１２３'])('refuses the common password %j', (password) => {
    expect(passwordProblem(password, COMMON_PASSWORDS)).toEqual({ field: 'password', reason: 'too_common' });
  });

  it('refuses a common password in any case', () => {
    expect(passwordProblem('Password123', COMMON_PASSWORDS)).toEqual({ field: 'password', reason: 'too_common' });
    expect(passwordProblem('QWERTYUIOP', COMMON_PASSWORDS)).toEqual({ field: 'password', reason: 'too_common' });
    expect(passwordProblem('1234567890', COMMON_PASSWORDS)).toEqual({ field: 'password', reason: 'too_common' });
  });

  it('ships a list of a few hundred lowercase entries, each long enough to pass the length rule', () => {
    expect(COMMON_PASSWORDS.size).toBeGreaterThan(300);
    for (const entry of COMMON_PASSWORDS) {
      expect(entry).toBe(entry.toLowerCase());
      expect(Array.from(entry).length).toBeGreaterThanOrEqual(10);
    }
  });
});

describe('display name', () => {
  it('is optional, up to 100 characters, without control characters', () => {
    expect(displayNameProblem(undefined)).toBeUndefined();
    expect(displayNameProblem(null)).toBeUndefined();
    expect(displayNameProblem('Zoë')).toBeUndefined();
    expect(displayNameProblem('')).toEqual({ field: 'displayName', reason: 'invalid' });
    expect(displayNameProblem('x'.repeat(101))).toEqual({ field: 'displayName', reason: 'too_long' });
    expect(displayNameProblem('bad\u0000name')).toEqual({ field: 'displayName', reason: 'control_characters' });
  });

  it('refuses bidi overrides and isolates (a name shown reversed), and keeps emoji joined with U+200D', () => {
    for (const control of ['\u202e', '\u202a', '\u2066', '\u2069']) {
      expect(displayNameProblem(`admin${control}nimda`)).toEqual({ field: 'displayName', reason: 'control_characters' });
    }
    expect(displayNameProblem('Family \u{1F468}\u200D\u{1F469}\u200D\u{1F467}')).toBeUndefined();
  });
});

it('lists every problem of a registration', () => {
  expect(registrationProblems({ email: 'nope', password: 'short', displayName: 3 }, COMMON_PASSWORDS)).toEqual([
    { field: 'email', reason: 'invalid_format' },
    { field: 'password', reason: 'too_short' },
    { field: 'displayName', reason: 'invalid' },
  ]);
});
