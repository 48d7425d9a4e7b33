// A Merkle tree over a statement's entries, as RFC 6962 (Certificate Transparency) §2.1 defines
// it, with sha256: leaf = sha256(0x00 || leaf bytes), node = sha256(0x01 || left || right), the
// tree of n leaves splits at the largest power of two below n, the empty tree's hash is
// sha256(""). The 0x00/0x01 prefixes keep a leaf from passing for a node. Proofs are RFC 6962
// audit paths, checked with RFC 9162 §2.1.3.2's algorithm.
import { createHash } from 'node:crypto';

export function leafHash(leaf: string): Buffer {
  return createHash('sha256').update(Buffer.from([0])).update(leaf, 'utf8').digest();
}

export function nodeHash(left: Buffer, right: Buffer): Buffer {
  return createHash('sha256').update(Buffer.from([1])).update(left).update(right).digest();
}

/** The root and every leaf's audit path, computing each subtree once. */
export class MerkleTree {
  private readonly subtrees = new Map<string, Buffer>();

  constructor(private readonly leaves: readonly Buffer[]) {}

  root(): Buffer {
    return this.leaves.length === 0 ? createHash('sha256').digest() : this.hash(0, this.leaves.length);
  }

  /** The audit path of leaf `index`: sibling hashes from the leaf up. */
  proof(index: number): Buffer[] {
    if (!Number.isInteger(index) || index < 0 || index >= this.leaves.length) throw new RangeError(`no leaf ${index}`);
    const path: Buffer[] = [];
    let start = 0;
    let end = this.leaves.length;
    const upward: Buffer[] = [];
    while (end - start > 1) {
      const k = splitOf(end - start);
      if (index - start < k) {
        upward.push(this.hash(start + k, end));
        end = start + k;
      } else {
        upward.push(this.hash(start, start + k));
        start += k;
      }
    }
    for (let i = upward.length - 1; i >= 0; i--) path.push(upward[i]);
    return path;
  }

  private hash(start: number, end: number): Buffer {
    if (end - start === 1) return this.leaves[start];
    const key = `${start}:${end}`;
    let hash = this.subtrees.get(key);
    if (hash === undefined) {
      const k = splitOf(end - start);
      hash = nodeHash(this.hash(start, start + k), this.hash(start + k, end));
      this.subtrees.set(key, hash);
    }
    return hash;
  }
}

/** True when `proof` leads from leaf `index` (of `size`) with hash `leaf` to `root` (RFC 9162 §2.1.3.2). */
export function verifyInclusion(leaf: Buffer, index: number, size: number, proof: readonly Buffer[], root: Buffer): boolean {
  if (!Number.isSafeInteger(index) || !Number.isSafeInteger(size) || index < 0 || index >= size) return false;
  let fn = BigInt(index);
  let sn = BigInt(size - 1);
  let hash = leaf;
  for (const sibling of proof) {
    if (sn === 0n) return false;
    if ((fn & 1n) === 1n || fn === sn) {
      hash = nodeHash(sibling, hash);
      if ((fn & 1n) === 0n) {
        while ((fn & 1n) === 0n && fn !== 0n) {
          fn >>= 1n;
          sn >>= 1n;
        }
      }
    } else {
      hash = nodeHash(hash, sibling);
    }
    fn >>= 1n;
    sn >>= 1n;
  }
  return sn === 0n && hash.equals(root);
}

/** The largest power of two strictly below n (n >= 2). */
function splitOf(n: number): number {
  let k = 1;
  while (k * 2 < n) k *= 2;
  return k;
}
