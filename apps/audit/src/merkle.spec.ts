import { createHash } from 'node:crypto';
import fc from 'fast-check';
import { leafHash, MerkleTree, nodeHash, verifyInclusion } from './merkle';

const seed = Number(process.env.LEDGER_PROPERTY_SEED ?? 42);

describe('Merkle tree (RFC 6962)', () => {
  it('hashes leaves and nodes with distinct prefixes, and splits at the largest power of two below n', () => {
    const [a, b, c] = ['a', 'b', 'c'].map(leafHash);
    expect(leafHash('a')).toEqual(createHash('sha256').update(Buffer.from([0, 0x61])).digest());
    expect(new MerkleTree([]).root()).toEqual(createHash('sha256').digest());
    expect(new MerkleTree([a]).root()).toEqual(a);
    // Three leaves: ((a, b), c), not (a, (b, c)).
    expect(new MerkleTree([a, b, c]).root()).toEqual(nodeHash(nodeHash(a, b), c));
    expect(new MerkleTree([a, b, c]).proof(2)).toEqual([nodeHash(a, b)]);
    expect(new MerkleTree([a, b, c]).proof(0)).toEqual([b, c]);
  });

  it('every proof verifies, and fails for another leaf, index or root', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 70 }), fc.nat(), (size, pick) => {
        const leaves = Array.from({ length: size }, (_, i) => leafHash(`line ${i}`));
        const tree = new MerkleTree(leaves);
        const root = tree.root();
        const index = pick % size;
        const proof = tree.proof(index);
        expect(verifyInclusion(leaves[index], index, size, proof, root)).toBe(true);
        expect(verifyInclusion(leafHash('forged'), index, size, proof, root)).toBe(false);
        if (size > 1) expect(verifyInclusion(leaves[index], (index + 1) % size, size, proof, root)).toBe(false);
        expect(verifyInclusion(leaves[index], index, size, proof, leafHash('other root'))).toBe(false);
      }),
      { seed, numRuns: 300 },
    );
  });
});
