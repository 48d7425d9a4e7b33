// The V8 options `npm start` runs the host with (package.json's start script spells them out; a
// test holds the two together, and the HTTP benches start the host with them).
//
// A larger young generation: a request's objects (HTTP, DTOs, bus messages, events) mostly die
// young, but at the default 16 MiB semi-space many outlive a scavenge, are copied and promoted.
// At 32 MiB, bench:auth took 5-18% more authorizations/s at saturation and 5-10% less host CPU per
// request, bench:http 5% more transfers/s (A/B runs back to back on the 2-CPU VM); it costs up to
// 32 MiB more memory (two semi-spaces of 32 MiB instead of 16).
export const HOST_NODE_ARGS: readonly string[] = ['--max-semi-space-size=32'];
