import { hasLoneSurrogate } from './text';

describe('hasLoneSurrogate', () => {
  it('finds a surrogate not in a pair, at either end or inside, and nothing in well-formed text', () => {
    for (const lone of ['\uD800', '\uDC00', 'a\uD83D', '\uDE00b', 'x\uDBFFy', '\uDE00\uD83D']) expect(hasLoneSurrogate(lone)).toBe(true);
    for (const wellFormed of ['', 'plain', 'caf\u00e9', '\uD83D\uDE00', 'a\uD83D\uDE00b', '\uFFFD']) expect(hasLoneSurrogate(wellFormed)).toBe(false);
  });
});
