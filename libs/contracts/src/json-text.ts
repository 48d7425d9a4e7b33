// JSON.parse, with an error that never quotes its input: Node 20's messages quote the text around
// a bad token ("Unexpected token 'x', "...4111..." is not valid JSON"), which may hold a card number.

/** Thrown by parseJsonText: names where the text stopped being JSON, never what it holds. */
export class JsonTextError extends SyntaxError {
  constructor(readonly position: number | undefined) {
    super(position === undefined ? 'not valid JSON' : `not valid JSON at position ${position}`);
    this.name = 'JsonTextError';
  }
}

/** JSON.parse(text); throws JsonTextError (no part of the text in its message) when it is not JSON. */
export function parseJsonText(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch (error) {
    throw jsonTextError(error, text);
  }
}

/** JSON.parse's SyntaxError as a JsonTextError: its position kept, its quote of the input dropped. */
export function jsonTextError(error: unknown, text?: string): JsonTextError {
  if (error instanceof JsonTextError) return error;
  const message = error instanceof Error ? error.message : '';
  const at = /at position (\d+)/.exec(message)?.[1] ?? (/end of JSON input/.test(message) && text !== undefined ? String(text.length) : undefined);
  return new JsonTextError(at === undefined ? undefined : Number(at));
}
