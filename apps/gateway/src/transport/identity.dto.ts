// Request bodies of the identity routes (API.md, Identity). Identity enforces its own rules too
// (a common password, a locked account); these bound what reaches it.
import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { IsDefined, IsEmail, IsString, Length, Matches, MaxLength } from 'class-validator';
import { HasCodePoints, IsOptionalNotNull, passwordLength, STRING_LIMITS, TOTP_CODE, TOTP_DOC } from './validation';

export class RegisterUserDto {
  @ApiProperty({ example: 'ada@example.com', format: 'email', maxLength: STRING_LIMITS.emailLengthMax })
  @IsDefined()
  @IsString()
  @MaxLength(STRING_LIMITS.emailLengthMax)
  @IsEmail()
  email!: string;

  @ApiProperty({ minLength: STRING_LIMITS.passwordLengthMin, maxLength: STRING_LIMITS.passwordLengthMax, format: 'password' })
  @IsDefined()
  @IsString()
  @HasCodePoints(STRING_LIMITS.passwordLengthMin, STRING_LIMITS.passwordLengthMax, undefined, passwordLength)
  password!: string;

  @ApiPropertyOptional({ minLength: 1, maxLength: STRING_LIMITS.displayNameLengthMax })
  @IsOptionalNotNull()
  @IsString()
  @HasCodePoints(1, STRING_LIMITS.displayNameLengthMax)
  displayName?: string;
}

export class LoginDto {
  @ApiProperty({ example: 'ada@example.com', minLength: 1, maxLength: STRING_LIMITS.emailLengthMax })
  @IsDefined()
  @IsString()
  @Length(1, STRING_LIMITS.emailLengthMax)
  email!: string;

  /** Any length up to the maximum: a login never tells which passwords the policy would refuse. */
  @ApiProperty({ minLength: 1, maxLength: STRING_LIMITS.passwordLengthMax, format: 'password' })
  @IsDefined()
  @IsString()
  @HasCodePoints(1, STRING_LIMITS.passwordLengthMax, undefined, passwordLength)
  password!: string;

  @ApiPropertyOptional({ ...TOTP_DOC, description: 'A TOTP code, when the user enabled MFA' })
  @IsOptionalNotNull()
  @IsString()
  @Matches(TOTP_CODE)
  totp?: string;
}

export class RefreshTokenDto {
  @ApiProperty({ minLength: 1, maxLength: STRING_LIMITS.refreshTokenLengthMax })
  @IsDefined()
  @IsString()
  @Length(1, STRING_LIMITS.refreshTokenLengthMax)
  refreshToken!: string;
}

export class ConfirmTotpDto {
  @ApiProperty(TOTP_DOC)
  @IsDefined()
  @IsString()
  @Matches(TOTP_CODE)
  code!: string;
}

export class UserResponse {
  @ApiProperty() id!: string;
  @ApiProperty() email!: string;
  @ApiProperty({ type: String, nullable: true }) displayName!: string | null;
  @ApiProperty({ format: 'date-time' }) createdAt!: string;
}

export class TokenPairResponse {
  @ApiProperty() accessToken!: string;
  @ApiProperty() refreshToken!: string;
  @ApiProperty({ enum: ['Bearer'] }) tokenType!: 'Bearer';
  @ApiProperty({ description: 'Seconds until the access token expires' }) expiresIn!: number;
}

export class MeResponse {
  @ApiProperty() id!: string;
  @ApiProperty() email!: string;
  @ApiProperty({ type: String, nullable: true }) displayName!: string | null;
  @ApiProperty({ enum: ['user', 'admin'], isArray: true }) roles!: string[];
  @ApiProperty() mfaEnabled!: boolean;
}

export class TotpEnrolmentResponse {
  @ApiProperty() secret!: string;
  @ApiProperty() otpauthUrl!: string;
}
