// Input rules shared by the DTOs and the guard, and the validation pipe that turns
// class-validator's errors into `validation_failed` with one entry per field.
import { applyDecorators, ValidationPipe, type ArgumentMetadata, type Type, type ValidationError } from '@nestjs/common';
import { ApiPropertyOptional } from '@nestjs/swagger';
import { IsString, Length, Matches, ValidateBy, ValidateIf, type ValidationOptions } from 'class-validator';
import { ALLOWED_COUNTRIES_MAX, AMOUNT_DIGITS_MAX, BLOCKED_MCCS_MAX, hasLoneSurrogate, PAGE_CURSOR_LENGTH_MAX, parseAmount, passwordLength, PASSWORD_LENGTH_MAX, PASSWORD_LENGTH_MIN } from '@ledger/contracts';
import { EMAIL_LENGTH_MAX, ID_LENGTH_MAX, isId } from '../application/access-control';
import type { GatewayError } from '../application/gateway-errors';
import { RequestValidationError, validationFailed, type FieldProblem } from './http-errors';

export { ID_LENGTH_MAX, isId, passwordLength };

export const STRING_LIMITS = {
  emailLengthMax: EMAIL_LENGTH_MAX,
  passwordLengthMin: PASSWORD_LENGTH_MIN,
  passwordLengthMax: PASSWORD_LENGTH_MAX,
  displayNameLengthMax: 100,
  totpLengthMax: 10,
  refreshTokenLengthMax: 1_024,
  /** The ledger keeps references of up to 256 characters. */
  referenceLengthMax: 256,
  memoLengthMax: 256,
  cursorLengthMax: PAGE_CURSOR_LENGTH_MAX,
  timeLengthMax: 40,
  cardLabelLengthMax: 64,
  /** ISO 8583's card acceptor name is 25 characters; room for longer names, never unbounded. */
  merchantNameLengthMax: 100,
} as const;

/** Deepest JSON a body may nest: the DTOs are flat, and deep nesting only costs stack. */
export const BODY_DEPTH_MAX = 32;
/**
 * Most JSON values (keys' values and list items, at any depth) a request body may hold, on either edge: the largest
 * request, a card's spending controls, holds under 400. The validation pipe spent 70-150 ms of the one event loop on a
 * 60 KB body of 20,000 list items or 5,000 unknown keys, on routes no token or rate limit guards (logout), and its
 * uniqueness rule compares a list pairwise (10,000 MCCs in one gRPC message: 150 ms).
 */
export const BODY_VALUES_MAX = 1_000;
/** Keys no body may carry: Nest would strip them silently, and they only ever mean an attack. */
const FORBIDDEN_KEYS = new Set(['__proto__', 'constructor', 'prototype']);

/** validation_failed for a body nested deeper than BODY_DEPTH_MAX, holding more than BODY_VALUES_MAX values or carrying prototype keys; checked before any DTO rule. */
export function bodyShapeError(body: unknown): GatewayError | undefined {
  const problem = shapeProblem(body);
  if (problem === undefined) return undefined;
  const message =
    problem.reason === 'too_deep'
      ? `the body nests deeper than ${BODY_DEPTH_MAX} levels`
      : problem.reason === 'too_many_values'
        ? `the body holds more than ${BODY_VALUES_MAX} values`
        : `the body may not carry "${problem.field}"`;
  return validationFailed([problem], message);
}

function shapeProblem(value: unknown): FieldProblem | undefined {
  const stack: { value: unknown; depth: number }[] = [{ value, depth: 0 }];
  for (let values = 0; stack.length > 0; values++) {
    if (values > BODY_VALUES_MAX) return { field: 'body', reason: 'too_many_values' };
    const { value: current, depth } = stack.pop()!;
    if (typeof current !== 'object' || current === null) continue;
    if (depth >= BODY_DEPTH_MAX) return { field: 'body', reason: 'too_deep' };
    for (const [key, child] of Object.entries(current)) {
      if (FORBIDDEN_KEYS.has(key)) return { field: key, reason: 'forbidden_key' };
      stack.push({ value: child, depth: depth + 1 });
    }
  }
  return undefined;
}

/** Entries of a card's spending-control lists: the card-issuer's bounds, so more is refused here, before the Idempotency-Key is taken. */
export const SPENDING_CONTROLS_LIMITS = { blockedMccsMax: BLOCKED_MCCS_MAX, allowedCountriesMax: ALLOWED_COUNTRIES_MAX } as const;

export const TRANSACTIONS_PAGE_LIMIT_MAX = 200;

/** A TOTP code as the routes take it (login, confirm, reveal). */
export const TOTP_CODE = /^[0-9]{6,8}$/;
/** A page cursor as the services give it out (base64url). */
export const CURSOR = new RegExp(`^[A-Za-z0-9_-]{1,${STRING_LIMITS.cursorLengthMax}}$`);

// How /docs-json states the rules of this file, so the document refuses what the validators refuse.
/** An amount: IsAmount's digits, not all zeros. */
export const AMOUNT_DOC = { example: '1050', pattern: `^(?=[0-9]*[1-9])[0-9]{1,${AMOUNT_DIGITS_MAX}}$` } as const;
/** An id: isId's printable ASCII without spaces (! to ~). */
export const ID_DOC = { pattern: `^[!-~]{1,${ID_LENGTH_MAX}}$`, maxLength: ID_LENGTH_MAX } as const;
export const TOTP_DOC = { pattern: TOTP_CODE.source, example: '123456' } as const;
/** A page size in a query string (IsIntegerString). */
export const pageLimitDoc = (max: number) => ({ type: 'integer', minimum: 1, maximum: max, default: 50 }) as const;

/** A positive amount string of at most AMOUNT_DIGITS_MAX digits (API.md's money). */
export function IsAmount(options?: ValidationOptions): PropertyDecorator {
  return ValidateBy(
    {
      name: 'isAmount',
      validator: {
        validate: (value: unknown) => parseAmount(value).ok,
        defaultMessage: () => `$property must be a positive amount: a string of 1 to ${AMOUNT_DIGITS_MAX} digits, in minor units`,
      },
    },
    options,
  );
}

export function IsId(options?: ValidationOptions): PropertyDecorator {
  return ValidateBy(
    {
      name: 'isId',
      validator: {
        validate: isId,
        defaultMessage: () => `$property must be an id: 1 to ${ID_LENGTH_MAX} printable characters`,
      },
    },
    options,
  );
}

/** A decimal integer in a query string, from `min` to `max`. */
export function IsIntegerString(min: number, max: number, options?: ValidationOptions): PropertyDecorator {
  return ValidateBy(
    {
      name: 'isIntegerString',
      constraints: [min, max],
      validator: {
        validate: (value: unknown) => typeof value === 'string' && /^[0-9]{1,9}$/.test(value) && Number(value) >= min && Number(value) <= max,
        defaultMessage: () => `$property must be an integer from ${min} to ${max}`,
      },
    },
    options,
  );
}

/** Length as the ledger and the card-issuer measure what they keep (String.length, UTF-16 units: an emoji is two). */
export const serviceLength = (value: string): number => value.length;

/** The OpenAPI description of such a string's limit (JSON Schema's maxLength counts code points, an emoji as one). */
export const keptLengthDoc = (max: number) => `At most ${max} UTF-16 code units (an emoji counts two)`;

/**
 * A string the ledger or the card-issuer keeps: `min` to `max` of their units, so that it passes here only if it passes there,
 * and no lone surrogate (no character: SQLite keeps it as bytes that are not UTF-8 and gives back U+FFFD, so it would not come back).
 */
export const IsKeptString = (min: number, max: number, options?: ValidationOptions): PropertyDecorator => (target, property) => {
  HasCodePoints(min, max, options, serviceLength)(target, property);
  IsWellFormed(options)(target, property);
};

/** Text without a lone UTF-16 surrogate (identity refuses one in a display name alike). */
export function IsWellFormed(options?: ValidationOptions): PropertyDecorator {
  return ValidateBy(
    {
      name: 'isWellFormed',
      validator: {
        validate: (value: unknown) => typeof value === 'string' && !hasLoneSurrogate(value),
        defaultMessage: () => '$property must not contain a lone UTF-16 surrogate',
      },
    },
    options,
  );
}

/** A string of `min` to `max` characters counted as code points (an emoji is one), as identity counts them. */
export function HasCodePoints(min: number, max: number, options?: ValidationOptions, length = (value: string) => [...value].length): PropertyDecorator {
  return ValidateBy(
    {
      name: 'hasCodePoints',
      constraints: [min, max],
      validator: {
        validate: (value: unknown) => typeof value === 'string' && length(value) >= min && length(value) <= max,
        defaultMessage: () => `$property must be ${min} to ${max} characters long`,
      },
    },
    options,
  );
}

/** Optional, but `null` is not a value: absent or valid. */
export function IsOptionalNotNull(): PropertyDecorator {
  return ValidateIf((object: Record<string, unknown>, value: unknown) => value !== undefined);
}

/** The optional `cursor` of a paged listing (a wallet's transactions, a card's authorizations): the previous page's `nextCursor`. */
export function PageCursor(): PropertyDecorator {
  return applyDecorators(
    ApiPropertyOptional({ pattern: CURSOR.source, maxLength: STRING_LIMITS.cursorLengthMax, description: 'nextCursor of the previous page' }),
    IsOptionalNotNull(),
    IsString(),
    Length(1, STRING_LIMITS.cursorLengthMax),
    Matches(CURSOR),
  );
}

/** class-validator constraint names, as the reasons the envelope reports. */
const REASONS: Record<string, string> = {
  isDefined: 'missing',
  whitelistValidation: 'unknown_field',
  isString: 'not_a_string',
  isAmount: 'invalid_amount',
  isIn: 'not_allowed',
  isId: 'invalid_id',
  isEmail: 'invalid_email',
  isLength: 'invalid_length',
  minLength: 'too_short',
  maxLength: 'too_long',
  matches: 'invalid_format',
  isIntegerString: 'out_of_range',
  hasCodePoints: 'invalid_length',
  isWellFormed: 'invalid_characters',
  isObject: 'not_an_object',
  nestedValidation: 'not_an_object',
  isInt: 'not_an_integer',
  min: 'out_of_range',
  max: 'out_of_range',
  isArray: 'not_an_array',
  arrayMaxSize: 'too_many',
  arrayUnique: 'duplicate',
};

/** Most fields reported at once; a body with thousands of unknown keys gets the first few. */
const FIELD_PROBLEMS_MAX = 20;

export function fieldProblems(errors: readonly ValidationError[], parent = ''): FieldProblem[] {
  const problems: FieldProblem[] = [];
  for (const error of errors) {
    const field = parent === '' ? error.property : `${parent}.${error.property}`;
    const constraints = Object.keys(error.constraints ?? {});
    if (constraints.length > 0) {
      // `missing` says it all for an absent field; otherwise the first rule broken.
      const constraint = constraints.includes('isDefined') && error.value === undefined ? 'isDefined' : constraints[0];
      problems.push({ field, reason: REASONS[constraint] ?? 'invalid', message: error.constraints?.[constraint] });
    }
    if (error.children?.length) problems.push(...fieldProblems(error.children, field));
    if (problems.length >= FIELD_PROBLEMS_MAX) break;
  }
  return problems.slice(0, FIELD_PROBLEMS_MAX);
}

/** Bodies already validated by `validateBody` (weakly held: gone with their request). */
const validatedBodies = new WeakSet<object>();

export class GatewayValidationPipe extends ValidationPipe {
  override async transform(value: unknown, metadata: ArgumentMetadata): Promise<unknown> {
    // Validated ahead of the handler (the idempotency interceptor): the same rules need not run twice.
    if (metadata.type === 'body' && typeof value === 'object' && value !== null && validatedBodies.has(value)) return value;
    return super.transform(value, metadata);
  }

  /** Validates a body ahead of the handler; the DTO it answers is what the handler's @Body() then gets as it is. */
  async validateBody(body: unknown, metatype: Type): Promise<unknown> {
    const validated: unknown = await this.transform(body, { type: 'body', metatype, data: undefined });
    if (typeof validated === 'object' && validated !== null) validatedBodies.add(validated);
    return validated;
  }
}

export function gatewayValidationPipe(): GatewayValidationPipe {
  return new GatewayValidationPipe({
    whitelist: true,
    forbidNonWhitelisted: true,
    transform: true,
    // The value of a field may be a password: it never goes back into an error.
    validationError: { target: false, value: true },
    exceptionFactory: (errors: ValidationError[]) => new RequestValidationError(fieldProblems(errors)),
  });
}
