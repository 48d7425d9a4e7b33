// What a bus message handler can ask about the message it handles: `@Ctx() context: BusContext`.
import { BaseRpcContext } from '@nestjs/microservices';
import type { DeliveredMessage, MessageHeaders } from '../message-bus.port';
import { deadlineOf } from './bus-protocol';

export class BusContext extends BaseRpcContext<[DeliveredMessage]> {
  getMessage(): DeliveredMessage {
    return this.args[0];
  }

  getTopic(): string {
    return this.args[0].topic;
  }

  getPartition(): number {
    return this.args[0].partition;
  }

  getOffset(): string {
    return this.args[0].offset;
  }

  getKey(): string {
    return this.args[0].key;
  }

  getHeaders(): MessageHeaders {
    return this.args[0].headers;
  }

  /** When the requester stops waiting (epoch ms), if it said: pass it on to the requests this one makes. */
  getDeadline(): number | undefined {
    return deadlineOf(this.args[0].headers);
  }

  /** 1 on the first delivery, more on redeliveries after a handler failed. */
  getAttempt(): number {
    return this.args[0].attempt;
  }
}
