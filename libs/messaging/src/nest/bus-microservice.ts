// Starts a service's Nest module as a microservice on the bus, as its own process would be:
// its controllers' patterns become subscriptions of its consumer group.
import type { DynamicModule, INestMicroservice } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import type { MessageBus } from '../message-bus.port';
import { BusExceptionFilter } from './bus-exception.filter';
import { BusServer, type BusServerOptions } from './bus.server';

export async function startBusMicroservice(module: DynamicModule, bus: MessageBus, options: BusServerOptions): Promise<INestMicroservice> {
  for (const [topic, partitions] of Object.entries(options.topics ?? {})) await bus.createTopic(topic, partitions);
  const app = await NestFactory.createMicroservice(module, { strategy: new BusServer(bus, options), logger: ['error', 'warn'] });
  app.useGlobalFilters(new BusExceptionFilter());
  try {
    await app.listen();
  } catch (error) {
    await app.close();
    throw error;
  }
  return app;
}
