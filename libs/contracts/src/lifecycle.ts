// Starting a service from parts, and closing them again newest first, also when a later part
// fails to start: one way for every composition function.

export interface Closable {
  close(): Promise<void> | void;
}

export class ShutdownStack implements Closable {
  private readonly parts: Closable[] = [];
  private closing: Promise<void> | undefined;

  /** Remembers `part` to close; returns it, so `stack.add(await start())` reads in order. */
  add<T extends Closable>(part: T): T {
    this.parts.push(part);
    return part;
  }

  /** Closes every part, newest first, once. */
  close(): Promise<void> {
    this.closing ??= (async () => {
      for (const part of this.parts.reverse()) await part.close();
    })();
    return this.closing;
  }

  /** Runs `start`; if it throws, closes what was started and rethrows. */
  async startOrClose<T>(start: () => Promise<T>): Promise<T> {
    try {
      return await start();
    } catch (error) {
      await this.close();
      throw error;
    }
  }
}
