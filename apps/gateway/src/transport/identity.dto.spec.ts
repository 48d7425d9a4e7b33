// The identity routes' bodies at the edge (both HTTP and gRPC validate through these DTOs).
import { RevealCardDto } from './cards.dto';
import { LoginDto, RegisterUserDto } from './identity.dto';
import { gatewayValidationPipe } from './validation';

const pipe = gatewayValidationPipe();
const EMAIL = 'ada@example.com';

describe('passwords at the edge', () => {
  // Identity counts a password in its NFC form; a device that sends it decomposed (NFD) sends more code points.
  const composed = '한글비밀번호'.repeat(22).slice(0, 128).normalize('NFC');
  const decomposed = composed.normalize('NFD');

  it('are counted as identity counts them: 128 Hangul syllables sent decomposed are 128 characters', async () => {
    expect([...decomposed].length).toBeGreaterThan(128);
    await expect(pipe.validateBody({ email: EMAIL, password: decomposed }, RegisterUserDto)).resolves.toMatchObject({ password: decomposed });
    await expect(pipe.validateBody({ email: EMAIL, password: decomposed }, LoginDto)).resolves.toMatchObject({ password: decomposed });
    await expect(pipe.validateBody({ password: decomposed }, RevealCardDto)).resolves.toMatchObject({ password: decomposed });
  });

  it('are still refused past 128 characters in any form', async () => {
    const long = `${composed}가`;
    await expect(pipe.validateBody({ email: EMAIL, password: long }, RegisterUserDto)).rejects.toMatchObject({ fields: [{ field: 'password' }] });
    await expect(pipe.validateBody({ email: EMAIL, password: long.normalize('NFD') }, LoginDto)).rejects.toMatchObject({ fields: [{ field: 'password' }] });
  });
});
