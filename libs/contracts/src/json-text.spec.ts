import { JsonTextError, parseJsonText } from './json-text';

const PAN = '4111111111111111';

describe('parseJsonText', () => {
  it('parses JSON as JSON.parse does', () => {
    expect(parseJsonText('{"a":[1,"b"]}')).toEqual({ a: [1, 'b'] });
  });

  // Node 20 quotes the text around an unexpected token; each of these did with the card number in it.
  it.each([`x${PAN}`, `[${PAN},tru]`, `nul ${PAN}`, `{"pan":"${PAN}`, `{"pan":${PAN}x}`, `{"pan":"${PAN}"`])('never quotes its input: %s', (text) => {
    let thrown: unknown;
    try {
      parseJsonText(text);
    } catch (error) {
      thrown = error;
    }
    expect(thrown).toBeInstanceOf(JsonTextError);
    expect(thrown).toBeInstanceOf(SyntaxError);
    expect(String((thrown as Error).message)).not.toContain('4111');
    expect(String((thrown as Error).stack)).not.toContain('4111');
    expect((thrown as Error).message).toMatch(/^not valid JSON( at position \d+)?$/);
  });

  it('names the position where it has one', () => {
    expect(() => parseJsonText('{"a":1,}')).toThrow('not valid JSON at position 7');
    expect(() => parseJsonText('{"a":')).toThrow('not valid JSON at position 5');
  });
});
