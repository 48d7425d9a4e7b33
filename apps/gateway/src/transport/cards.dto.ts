// Request bodies, parameters and responses of the Cards and Card network routes (API.md). A clear
// PAN and CVV enter only in an authorization request and leave only in a reveal's response.
import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { Type } from 'class-transformer';
import { ArrayMaxSize, ArrayUnique, IsArray, IsDefined, IsIn, IsInt, IsObject, IsString, Matches, Max, Min, ValidateNested } from 'class-validator';
import { CURRENCIES, EXP_YEAR_MAX, EXP_YEAR_MIN, type Currency } from '@ledger/contracts';
import {
  AMOUNT_DOC as AMOUNT,
  HasCodePoints,
  ID_DOC,
  IsAmount,
  IsId,
  IsIntegerString,
  IsKeptString,
  IsOptionalNotNull,
  keptLengthDoc,
  PageCursor,
  pageLimitDoc,
  passwordLength,
  SPENDING_CONTROLS_LIMITS,
  STRING_LIMITS,
  TOTP_CODE,
  TOTP_DOC,
} from './validation';

const AMOUNT_DOC = { ...AMOUNT, description: 'Positive, in the minor unit of the currency' };
const LIMIT_DOC = { ...AMOUNT, example: '50000', description: "In the minor unit of the wallet's currency" };
const MCC = /^[0-9]{4}$/;
const COUNTRY = /^[A-Z]{2}$/;
export const AUTHORIZATIONS_PAGE_LIMIT_MAX = 200;

export class SpendingControlsDto {
  @ApiPropertyOptional(LIMIT_DOC)
  @IsOptionalNotNull()
  @IsAmount()
  perAuthorization?: string;

  @ApiPropertyOptional({ ...LIMIT_DOC, description: 'Per UTC calendar day' })
  @IsOptionalNotNull()
  @IsAmount()
  daily?: string;

  @ApiPropertyOptional({ ...LIMIT_DOC, description: 'Per UTC calendar month' })
  @IsOptionalNotNull()
  @IsAmount()
  monthly?: string;

  @ApiPropertyOptional({
    type: 'array',
    items: { type: 'string', pattern: MCC.source },
    uniqueItems: true,
    maxItems: SPENDING_CONTROLS_LIMITS.blockedMccsMax,
    example: ['7995'],
    description: 'Four-digit merchant category codes',
  })
  @IsOptionalNotNull()
  @IsArray()
  @ArrayMaxSize(SPENDING_CONTROLS_LIMITS.blockedMccsMax)
  @ArrayUnique()
  @IsString({ each: true })
  @Matches(MCC, { each: true })
  blockedMccs?: string[];

  @ApiPropertyOptional({
    type: 'array',
    items: { type: 'string', pattern: COUNTRY.source },
    uniqueItems: true,
    maxItems: SPENDING_CONTROLS_LIMITS.allowedCountriesMax,
    example: ['US', 'DE'],
    description: 'ISO 3166-1 alpha-2; absent: every country',
  })
  @IsOptionalNotNull()
  @IsArray()
  @ArrayMaxSize(SPENDING_CONTROLS_LIMITS.allowedCountriesMax)
  @ArrayUnique()
  @IsString({ each: true })
  @Matches(COUNTRY, { each: true })
  allowedCountries?: string[];
}

export class IssueCardDto {
  @ApiProperty(ID_DOC)
  @IsDefined()
  @IsId()
  walletId!: string;

  @ApiPropertyOptional({ minLength: 1, maxLength: STRING_LIMITS.cardLabelLengthMax, description: keptLengthDoc(STRING_LIMITS.cardLabelLengthMax) })
  @IsOptionalNotNull()
  @IsString()
  @IsKeptString(1, STRING_LIMITS.cardLabelLengthMax)
  label?: string;

  @ApiPropertyOptional({ type: SpendingControlsDto })
  @IsOptionalNotNull()
  @IsObject()
  @ValidateNested()
  @Type(() => SpendingControlsDto)
  spendingControls?: SpendingControlsDto;
}

/** API.md: `{password}` or `{totp}`; without either, 403 step_up_required. */
export class RevealCardDto {
  @ApiPropertyOptional({ minLength: 1, maxLength: STRING_LIMITS.passwordLengthMax, format: 'password' })
  @IsOptionalNotNull()
  @IsString()
  @HasCodePoints(1, STRING_LIMITS.passwordLengthMax, undefined, passwordLength)
  password?: string;

  @ApiPropertyOptional(TOTP_DOC)
  @IsOptionalNotNull()
  @IsString()
  @Matches(TOTP_CODE)
  totp?: string;
}

export class MerchantDto {
  @ApiProperty({ minLength: 1, maxLength: STRING_LIMITS.merchantNameLengthMax, example: 'Corner Coffee', description: keptLengthDoc(STRING_LIMITS.merchantNameLengthMax) })
  @IsDefined()
  @IsString()
  @IsKeptString(1, STRING_LIMITS.merchantNameLengthMax)
  name!: string;

  @ApiProperty({ pattern: MCC.source, example: '5814' })
  @IsDefined()
  @IsString()
  @Matches(MCC)
  mcc!: string;

  @ApiProperty({ pattern: COUNTRY.source, example: 'US' })
  @IsDefined()
  @IsString()
  @Matches(COUNTRY)
  country!: string;
}

export class AuthorizeDto {
  @ApiProperty({ pattern: '^[0-9]{12,19}$', description: 'The full card number (never logged or stored in clear)' })
  @IsDefined()
  @IsString()
  @Matches(/^[0-9]{12,19}$/)
  pan!: string;

  @ApiProperty({ type: 'integer', minimum: 1, maximum: 12, example: 12 })
  @IsDefined()
  @IsInt()
  @Min(1)
  @Max(12)
  expMonth!: number;

  @ApiProperty({ type: 'integer', minimum: EXP_YEAR_MIN, maximum: EXP_YEAR_MAX, example: 2029 })
  @IsDefined()
  @IsInt()
  @Min(EXP_YEAR_MIN)
  @Max(EXP_YEAR_MAX)
  expYear!: number;

  @ApiProperty({ pattern: '^[0-9]{3,4}$' })
  @IsDefined()
  @IsString()
  @Matches(/^[0-9]{3,4}$/)
  cvv!: string;

  @ApiProperty(AMOUNT_DOC)
  @IsDefined()
  @IsAmount()
  amount!: string;

  @ApiProperty({ enum: CURRENCIES, example: 'USD' })
  @IsDefined()
  @IsString()
  @IsIn(CURRENCIES)
  currency!: Currency;

  @ApiProperty({ type: MerchantDto })
  @IsDefined()
  @IsObject()
  @ValidateNested()
  @Type(() => MerchantDto)
  merchant!: MerchantDto;
}

export class CaptureDto {
  @ApiProperty({ ...AMOUNT_DOC, description: 'At most the held amount; the rest is released' })
  @IsDefined()
  @IsAmount()
  amount!: string;
}

export class ReverseDto {
  @ApiPropertyOptional({ ...AMOUNT_DOC, description: 'Absent: the whole remaining hold' })
  @IsOptionalNotNull()
  @IsAmount()
  amount?: string;
}

export class RefundDto {
  @ApiProperty(ID_DOC)
  @IsDefined()
  @IsId()
  authorizationId!: string;

  @ApiProperty({ ...AMOUNT_DOC, description: 'At most the captured amount less earlier refunds' })
  @IsDefined()
  @IsAmount()
  amount!: string;
}

export class CardParams {
  @ApiProperty(ID_DOC)
  @IsId()
  id!: string;
}

export class AuthorizationParams {
  @ApiProperty(ID_DOC)
  @IsId()
  id!: string;
}

export class AuthorizationsQuery {
  @ApiPropertyOptional(pageLimitDoc(AUTHORIZATIONS_PAGE_LIMIT_MAX))
  @IsOptionalNotNull()
  @IsString()
  @IsIntegerString(1, AUTHORIZATIONS_PAGE_LIMIT_MAX)
  limit?: string;

  @PageCursor()
  cursor?: string;
}

export class SpendingControlsResponse {
  @ApiPropertyOptional({ example: '50000' }) perAuthorization?: string;
  @ApiPropertyOptional({ example: '100000' }) daily?: string;
  @ApiPropertyOptional({ example: '1000000' }) monthly?: string;
  @ApiPropertyOptional({ type: [String] }) blockedMccs?: string[];
  @ApiPropertyOptional({ type: [String] }) allowedCountries?: string[];
}

export class CardResponse {
  @ApiProperty() id!: string;
  @ApiProperty() walletId!: string;
  @ApiProperty() ownerId!: string;
  @ApiProperty({ enum: CURRENCIES }) currency!: string;
  @ApiProperty({ example: '4242' }) last4!: string;
  @ApiProperty({ example: 'visa' }) brand!: string;
  @ApiProperty({ example: 12 }) expMonth!: number;
  @ApiProperty({ example: 2029 }) expYear!: number;
  @ApiProperty({ enum: ['active', 'frozen', 'canceled'] }) status!: string;
  @ApiProperty({ type: String, nullable: true }) label!: string | null;
  @ApiProperty({ type: SpendingControlsResponse }) spendingControls!: SpendingControlsResponse;
  @ApiProperty({ format: 'date-time' }) createdAt!: string;
}

export class CardListResponse {
  @ApiProperty({ type: CardResponse, isArray: true }) items!: CardResponse[];
}

export class RevealedCardResponse {
  @ApiProperty({ description: 'The full card number' }) pan!: string;
  @ApiProperty() cvv!: string;
  @ApiProperty() expMonth!: number;
  @ApiProperty() expYear!: number;
}

export class MerchantResponse {
  @ApiProperty() name!: string;
  @ApiProperty({ example: '5814' }) mcc!: string;
  @ApiProperty({ example: 'US' }) country!: string;
}

export class AuthorizationResponse {
  @ApiProperty() id!: string;
  @ApiProperty({ type: String, nullable: true, description: 'null when the PAN matched no card (14)' }) cardId!: string | null;
  @ApiProperty() approved!: boolean;
  /** API.md's codes: the issuer never answers another. */
  @ApiProperty({ enum: ['00', '05', '14', '51', '54', '57', '61', '62', 'N7'] }) responseCode!: string;
  @ApiProperty({ example: 'approved' }) reason!: string;
  @ApiProperty({ example: '1050' }) amount!: string;
  @ApiProperty({ enum: CURRENCIES }) currency!: string;
  @ApiProperty({ example: '1050' }) heldAmount!: string;
  @ApiProperty({ example: '0' }) capturedAmount!: string;
  @ApiProperty({ example: '0' }) refundedAmount!: string;
  @ApiProperty({ enum: ['pending', 'captured', 'reversed', 'expired', 'declined'] }) status!: string;
  @ApiProperty({ type: MerchantResponse }) merchant!: MerchantResponse;
  @ApiProperty({ type: String, nullable: true }) holdId!: string | null;
  @ApiProperty({ type: String, nullable: true }) walletId!: string | null;
  @ApiProperty({ format: 'date-time' }) createdAt!: string;
}

export class AuthorizationListResponse {
  @ApiProperty({ type: AuthorizationResponse, isArray: true }) items!: AuthorizationResponse[];
  @ApiProperty({ type: String, nullable: true }) nextCursor!: string | null;
}
