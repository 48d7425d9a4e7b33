import { Partitioners, type PartitionMetadata } from 'kafkajs';
import { murmur2, partitionForKey } from './partitioner';

/** What kafkajs's producer would pick for `key` among `count` healthy partitions. */
function kafkajsPartition(key: string, count: number): number {
  const partitionMetadata = Array.from(
    { length: count },
    (_, partitionId) => ({ partitionId, leader: 0, partitionErrorCode: 0, replicas: [0], isr: [0], offlineReplicas: [] }) as PartitionMetadata,
  );
  return Partitioners.DefaultPartitioner()({ topic: 't', partitionMetadata, message: { key, value: null } });
}

describe('partitioner', () => {
  it('picks the same partition as kafkajs for every key shape', () => {
    const keys = [
      '',
      'a',
      'ab',
      'abc',
      'abcd',
      'abcde',
      '0',
      '7',
      '63',
      'user-42',
      'sys:funding:USD:3',
      '01939a4e-7c2b-7def-8a12-0123456789ab',
      'päyments ✓ 日本',
      ...Array.from({ length: 500 }, (_, i) => `key-${i * 7919}`),
    ];
    for (const partitions of [1, 2, 3, 4, 8, 16, 64, 1024]) {
      for (const key of keys) expect([key, partitionForKey(key, partitions)]).toEqual([key, kafkajsPartition(key, partitions)]);
    }
  });

  it('matches the murmur2 reference values of the Kafka Java client', () => {
    // apache/kafka clients/src/test/java/org/apache/kafka/common/utils/UtilsTest.java, testMurmur2.
    expect(murmur2(Buffer.from('21'))).toBe(-973932308);
    expect(murmur2(Buffer.from('foobar'))).toBe(-790332482);
    expect(murmur2(Buffer.from('a-little-bit-long-string'))).toBe(-985981536);
    expect(murmur2(Buffer.from('a-little-bit-longer-string'))).toBe(-1486304829);
    expect(murmur2(Buffer.from('lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8'))).toBe(-58897971);
    expect(murmur2(Buffer.from('abc'))).toBe(479470107);
  });

  it('refuses a partition count that is not a positive integer', () => {
    expect(() => partitionForKey('k', 0)).toThrow(RangeError);
    expect(() => partitionForKey('k', 1.5)).toThrow(RangeError);
  });
});
