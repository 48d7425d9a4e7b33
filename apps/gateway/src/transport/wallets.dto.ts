// Request bodies, query strings and responses of the wallet routes (API.md, Wallets).
import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { IsDefined, IsIn, IsString, Length, Matches } from 'class-validator';
import { CURRENCIES, type Currency } from '@ledger/contracts';
import { AMOUNT_DOC as AMOUNT, ID_DOC, IsAmount, IsId, IsIntegerString, IsKeptString, IsOptionalNotNull, keptLengthDoc, PageCursor, pageLimitDoc, STRING_LIMITS, TRANSACTIONS_PAGE_LIMIT_MAX } from './validation';

const AMOUNT_DOC = { ...AMOUNT, description: 'Positive, in the minor unit of the wallet currency' };

export class OpenWalletDto {
  @ApiProperty({ enum: CURRENCIES, example: 'USD' })
  @IsDefined()
  @IsString()
  @IsIn(CURRENCIES)
  currency!: Currency;
}

export class MoveMoneyDto {
  @ApiProperty(AMOUNT_DOC)
  @IsDefined()
  @IsAmount()
  amount!: string;

  @ApiPropertyOptional({ minLength: 1, maxLength: STRING_LIMITS.referenceLengthMax, description: keptLengthDoc(STRING_LIMITS.referenceLengthMax) })
  @IsOptionalNotNull()
  @IsString()
  @IsKeptString(1, STRING_LIMITS.referenceLengthMax)
  reference?: string;
}

export class TransferDto {
  @ApiProperty(ID_DOC)
  @IsDefined()
  @IsId()
  fromWalletId!: string;

  @ApiProperty(ID_DOC)
  @IsDefined()
  @IsId()
  toWalletId!: string;

  @ApiProperty(AMOUNT_DOC)
  @IsDefined()
  @IsAmount()
  amount!: string;

  @ApiPropertyOptional({ minLength: 1, maxLength: STRING_LIMITS.memoLengthMax, description: keptLengthDoc(STRING_LIMITS.memoLengthMax) })
  @IsOptionalNotNull()
  @IsString()
  @IsKeptString(1, STRING_LIMITS.memoLengthMax)
  memo?: string;
}

export class WalletParams {
  @ApiProperty(ID_DOC)
  @IsId()
  id!: string;
}

export class AccountParams {
  @ApiProperty({ ...ID_DOC, example: 'sys:funding:USD:0' })
  @IsId()
  accountId!: string;
}

const ISO_TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}:\d{2})$/;

export class BalanceQuery {
  @ApiPropertyOptional({ format: 'date-time', pattern: ISO_TIME.source, maxLength: STRING_LIMITS.timeLengthMax, description: 'ISO 8601 with a zone; now when absent' })
  @IsOptionalNotNull()
  @IsString()
  @Length(1, STRING_LIMITS.timeLengthMax)
  @Matches(ISO_TIME)
  at?: string;
}

export class TransactionsQuery {
  @ApiPropertyOptional(pageLimitDoc(TRANSACTIONS_PAGE_LIMIT_MAX))
  @IsOptionalNotNull()
  @IsString()
  @IsIntegerString(1, TRANSACTIONS_PAGE_LIMIT_MAX)
  limit?: string;

  @PageCursor()
  cursor?: string;
}

export class BalanceResponse {
  @ApiProperty({ example: '1050' }) posted!: string;
  @ApiProperty({ example: '0' }) pending!: string;
  @ApiProperty({ example: '1050' }) available!: string;
}

export class BalanceAsOfResponse extends BalanceResponse {
  @ApiProperty({ format: 'date-time' }) asOf!: string;
}

export class WalletResponse {
  @ApiProperty() id!: string;
  @ApiProperty() ownerId!: string;
  @ApiProperty({ enum: CURRENCIES }) currency!: string;
  @ApiProperty({ enum: ['active', 'frozen', 'closed'] }) status!: string;
  @ApiProperty({ type: BalanceResponse }) balance!: BalanceResponse;
  @ApiProperty({ format: 'date-time' }) createdAt!: string;
}

export class WalletListResponse {
  @ApiProperty({ type: WalletResponse, isArray: true }) items!: WalletResponse[];
}

const KINDS = ['top_up', 'withdrawal', 'transfer', 'card_hold', 'card_capture', 'card_release', 'card_refund', 'fee', 'reversal'];

export class TransactionResponse {
  @ApiProperty() id!: string;
  @ApiProperty({ enum: KINDS }) kind!: string;
  @ApiProperty({ enum: ['posted', 'pending', 'voided'] }) status!: string;
  @ApiProperty({ example: '1050' }) amount!: string;
  @ApiProperty({ enum: CURRENCIES }) currency!: string;
  @ApiPropertyOptional() fromWalletId?: string;
  @ApiPropertyOptional() toWalletId?: string;
  @ApiProperty({ format: 'date-time' }) createdAt!: string;
}

export class TransactionLineResponse {
  @ApiProperty() transactionId!: string;
  @ApiProperty({ enum: KINDS }) kind!: string;
  @ApiProperty({ example: '1050' }) amount!: string;
  @ApiProperty({ enum: ['debit', 'credit'] }) direction!: string;
  @ApiProperty({ enum: ['posted', 'pending', 'voided'] }) status!: string;
  @ApiProperty({ example: '1050' }) balanceAfter!: string;
  @ApiPropertyOptional() counterpartyWalletId?: string;
  @ApiProperty({ format: 'date-time' }) createdAt!: string;
}

export class TransactionPageResponse {
  @ApiProperty({ type: TransactionLineResponse, isArray: true }) items!: TransactionLineResponse[];
  @ApiProperty({ type: String, nullable: true }) nextCursor!: string | null;
}

export class AccountSumsResponse {
  @ApiProperty() accountId!: string;
  @ApiProperty({ enum: CURRENCIES }) currency!: string;
  @ApiProperty() debitsPosted!: string;
  @ApiProperty() creditsPosted!: string;
  @ApiProperty() debitsPending!: string;
  @ApiProperty() creditsPending!: string;
}

export class ErrorDetailResponse {
  @ApiProperty({ example: 'validation_failed' }) code!: string;
  @ApiProperty() message!: string;
  @ApiProperty({ type: 'object', additionalProperties: true }) details!: Record<string, unknown>;
}

export class ErrorResponse {
  @ApiProperty({ type: ErrorDetailResponse }) error!: ErrorDetailResponse;
}
