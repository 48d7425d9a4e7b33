// /docs-json states the rules the gateway enforces: each request below is refused 400 naming a
// field, and the OpenAPI document (checked by a small JSON Schema reader) refuses it at that field
// too, while it accepts the route's valid request. A client generated from the document, or one
// validating against it, then refuses what the gateway would.
import { newKey, startGatewaySystem, TEST_NETWORK_KEY, type GatewaySystem, type TestUser } from './testing/gateway.harness';

type Schema = Record<string, any>;

/** The fields (dotted paths) at which `value` breaks `schema`: the keywords the gateway's document uses. */
function schemaProblems(document: Schema, schema: Schema, value: unknown, at: string): string[] {
  if (schema.$ref !== undefined) return schemaProblems(document, document.components.schemas[String(schema.$ref).split('/').pop()!], value, at);
  if (schema.allOf !== undefined) return (schema.allOf as Schema[]).flatMap((part) => schemaProblems(document, part, value, at));
  if (value === null) return schema.nullable === true ? [] : [at];
  if (schema.enum !== undefined && !(schema.enum as unknown[]).includes(value)) return [at];
  switch (schema.type ?? (schema.properties !== undefined ? 'object' : undefined)) {
    case 'string': {
      if (typeof value !== 'string') return [at];
      const length = [...value].length;
      const broken =
        (schema.pattern !== undefined && !new RegExp(schema.pattern, 'u').test(value)) ||
        (schema.minLength !== undefined && length < schema.minLength) ||
        (schema.maxLength !== undefined && length > schema.maxLength);
      return broken ? [at] : [];
    }
    case 'integer':
    case 'number': {
      const broken =
        typeof value !== 'number' ||
        (schema.type === 'integer' && !Number.isInteger(value)) ||
        (schema.minimum !== undefined && value < schema.minimum) ||
        (schema.maximum !== undefined && value > schema.maximum);
      return broken ? [at] : [];
    }
    case 'boolean':
      return typeof value === 'boolean' ? [] : [at];
    case 'array': {
      if (!Array.isArray(value)) return [at];
      const broken = (schema.maxItems !== undefined && value.length > schema.maxItems) || (schema.uniqueItems === true && new Set(value).size !== value.length);
      if (broken) return [at];
      return schema.items === undefined ? [] : value.flatMap((item) => schemaProblems(document, schema.items, item, at));
    }
    case 'object': {
      if (typeof value !== 'object' || Array.isArray(value)) return [at];
      const record = value as Record<string, unknown>;
      const properties: Record<string, Schema> = schema.properties ?? {};
      const field = (name: string) => (at === '' ? name : `${at}.${name}`);
      return [
        ...((schema.required ?? []) as string[]).filter((name) => record[name] === undefined).map(field),
        ...Object.entries(record).flatMap(([name, item]) =>
          properties[name] !== undefined ? schemaProblems(document, properties[name], item, field(name)) : schema.additionalProperties === false ? [field(name)] : [],
        ),
      ];
    }
    default:
      return [];
  }
}

/** A query or path parameter arrives as text: a number is read from it as a client would write it. */
function parameterProblems(document: Schema, parameter: Schema, text: string): string[] {
  const numeric = parameter.schema.type === 'integer' || parameter.schema.type === 'number';
  const value = numeric && /^-?[0-9]+(\.[0-9]+)?$/.test(text) ? Number(text) : text;
  return schemaProblems(document, parameter.schema, value, parameter.name);
}

interface Sample {
  readonly path: Record<string, string>;
  readonly query: Record<string, string>;
  readonly body?: Record<string, unknown>;
}

/** What the document says is wrong with a request to `route`. */
function documentProblems(document: Schema, route: string, method: string, sample: Sample): string[] {
  const operation = document.paths[route][method];
  const parameters: Schema[] = operation.parameters ?? [];
  const problems = parameters.flatMap((parameter) => {
    const value = (parameter.in === 'path' ? sample.path : parameter.in === 'query' ? sample.query : {})[parameter.name];
    return value === undefined ? [] : parameterProblems(document, parameter, value);
  });
  const known = new Set(parameters.filter((parameter) => parameter.in === 'query').map((parameter) => parameter.name));
  problems.push(...Object.keys(sample.query).filter((name) => !known.has(name)));
  const bodySchema = operation.requestBody?.content?.['application/json']?.schema;
  if (sample.body !== undefined && bodySchema !== undefined) problems.push(...schemaProblems(document, bodySchema, sample.body, ''));
  return problems;
}

interface Route {
  readonly route: string;
  readonly method: 'get' | 'post' | 'put';
  readonly good: (c: Context) => Sample;
  /** Changes the gateway refuses, each naming the field it reports. */
  readonly bad: readonly { readonly field: string; readonly change: (sample: Sample) => Sample }[];
  readonly auth?: 'user' | 'network';
}

interface Context {
  readonly user: TestUser;
  readonly walletId: string;
  readonly otherWalletId: string;
  readonly cardId: string;
}

const body = (changes: Record<string, unknown>) => (sample: Sample): Sample => ({ ...sample, body: { ...sample.body, ...changes } });
const query = (changes: Record<string, string>) => (sample: Sample): Sample => ({ ...sample, query: { ...sample.query, ...changes } });
const pathId = (id: string) => (sample: Sample): Sample => ({ ...sample, path: { ...sample.path, id } });
const controls = (changes: Record<string, unknown>) => (sample: Sample): Sample => ({ ...sample, body: { ...sample.body, spendingControls: changes } });
const merchant = (changes: Record<string, unknown>) => (sample: Sample): Sample => ({
  ...sample,
  body: { ...sample.body, merchant: { ...(sample.body!.merchant as object), ...changes } },
});
const GOOD_AUTHORIZATION = { pan: '4000001234567899', expMonth: 12, expYear: 2029, cvv: '123', amount: '100', currency: 'USD', merchant: { name: 'Shop', mcc: '5411', country: 'US' } };
const badId = [
  { field: 'id', change: pathId('w'.repeat(129)) },
  { field: 'id', change: pathId('a b') },
];

const ROUTES: Route[] = [
  {
    route: '/v1/users',
    method: 'post',
    good: () => ({ path: {}, query: {}, body: { email: `openapi-${process.pid}@example.com`, password: 'correct-horse-battery', displayName: 'Ada' } }),
    bad: [
      { field: 'displayName', change: body({ displayName: '' }) },
      { field: 'password', change: body({ password: 'short' }) },
      { field: 'sneaky', change: body({ sneaky: 1 }) },
    ],
  },
  {
    route: '/v1/auth/login',
    method: 'post',
    good: () => ({ path: {}, query: {}, body: { email: 'ada@example.com', password: 'pw', totp: '123456' } }),
    bad: [
      { field: 'totp', change: body({ totp: 'abcdef' }) },
      { field: 'email', change: body({ email: '' }) },
    ],
  },
  {
    route: '/v1/me/mfa/totp/confirm',
    method: 'post',
    auth: 'user',
    good: () => ({ path: {}, query: {}, body: { code: '123456' } }),
    bad: [{ field: 'code', change: body({ code: '12ab56' }) }],
  },
  {
    route: '/v1/wallets/{id}/top-ups',
    method: 'post',
    auth: 'user',
    good: (c) => ({ path: { id: c.walletId }, query: {}, body: { amount: '10', reference: 'r' } }),
    bad: [
      { field: 'amount', change: body({ amount: '0' }) },
      { field: 'amount', change: body({ amount: '000' }) },
      { field: 'reference', change: body({ reference: '' }) },
      { field: 'sneaky', change: body({ sneaky: true }) },
      ...badId,
    ],
  },
  {
    route: '/v1/transfers',
    method: 'post',
    auth: 'user',
    good: (c) => ({ path: {}, query: {}, body: { fromWalletId: c.walletId, toWalletId: c.otherWalletId, amount: '1', memo: 'm' } }),
    bad: [
      { field: 'memo', change: body({ memo: '' }) },
      { field: 'toWalletId', change: body({ toWalletId: 'a b' }) },
      { field: 'toWalletId', change: body({ toWalletId: 'w'.repeat(129) }) },
    ],
  },
  {
    route: '/v1/wallets/{id}/transactions',
    method: 'get',
    auth: 'user',
    good: (c) => ({ path: { id: c.walletId }, query: { limit: '10' } }),
    bad: [
      { field: 'limit', change: query({ limit: '0' }) },
      { field: 'limit', change: query({ limit: '201' }) },
      { field: 'limit', change: query({ limit: '1.5' }) },
      { field: 'cursor', change: query({ cursor: '!!!' }) },
      { field: 'cursor', change: query({ cursor: 'a'.repeat(65) }) },
      { field: 'sort', change: query({ sort: 'asc' }) },
      ...badId,
    ],
  },
  {
    route: '/v1/wallets/{id}/balance',
    method: 'get',
    auth: 'user',
    good: (c) => ({ path: { id: c.walletId }, query: { at: '2026-01-01T00:00:00Z' } }),
    bad: [
      { field: 'at', change: query({ at: 'yesterday' }) },
      { field: 'at', change: query({ at: '2026-01-01' }) },
    ],
  },
  {
    route: '/v1/cards',
    method: 'post',
    auth: 'user',
    good: (c) => ({ path: {}, query: {}, body: { walletId: c.walletId, label: 'travel', spendingControls: { daily: '100', blockedMccs: ['7995'], allowedCountries: ['US'] } } }),
    bad: [
      { field: 'label', change: body({ label: '' }) },
      { field: 'walletId', change: body({ walletId: 'a b' }) },
      { field: 'spendingControls.daily', change: controls({ daily: '0' }) },
      { field: 'spendingControls.blockedMccs', change: controls({ blockedMccs: ['581'] }) },
      { field: 'spendingControls.blockedMccs', change: controls({ blockedMccs: ['5814', '5814'] }) },
      { field: 'spendingControls.allowedCountries', change: controls({ allowedCountries: ['us'] }) },
      { field: 'spendingControls.weekly', change: controls({ weekly: '1' }) },
    ],
  },
  {
    route: '/v1/cards/{id}/reveal',
    method: 'post',
    auth: 'user',
    good: (c) => ({ path: { id: c.cardId }, query: {}, body: { totp: '123456' } }),
    bad: [{ field: 'totp', change: body({ totp: 'abcdef' }) }],
  },
  {
    route: '/v1/cards/{id}/authorizations',
    method: 'get',
    auth: 'user',
    good: (c) => ({ path: { id: c.cardId }, query: { limit: '5' } }),
    bad: [{ field: 'limit', change: query({ limit: '0' }) }, ...badId],
  },
  {
    route: '/v1/network/authorizations',
    method: 'post',
    auth: 'network',
    good: () => ({ path: {}, query: {}, body: GOOD_AUTHORIZATION }),
    bad: [
      { field: 'expMonth', change: body({ expMonth: 1.5 }) },
      { field: 'expYear', change: body({ expYear: 2029.5 }) },
      { field: 'amount', change: body({ amount: '0' }) },
      { field: 'merchant.name', change: merchant({ name: '' }) },
      { field: 'merchant.city', change: merchant({ city: 'Springfield' }) },
    ],
  },
];

describe('/docs-json states the validation the gateway does (e2e)', () => {
  let s: GatewaySystem;
  let context: Context;
  let document: Schema;

  beforeAll(async () => {
    s = await startGatewaySystem();
    const user = await s.register('openapi');
    const walletId = await s.openWallet(user, 'USD', '1000');
    context = { user, walletId, otherWalletId: await s.openWallet(user, 'USD'), cardId: (await s.issueCard(user, walletId)).id };
    document = (await s.request('GET', '/docs-json')).body;
  });

  afterAll(async () => {
    await s?.close();
  });

  it.each(ROUTES.map((route) => [`${route.method.toUpperCase()} ${route.route}`, route] as const))('%s: its valid request passes the document', (_name, route) => {
    expect(documentProblems(document, route.route, route.method, route.good(context))).toEqual([]);
  });

  it('states the Idempotency-Key header as the gateway takes it (1 to 255 printable ASCII characters)', () => {
    const headers = Object.values(document.paths as Record<string, Record<string, Schema>>)
      .flatMap((operations) => Object.values(operations))
      .flatMap((operation) => ((operation.parameters ?? []) as Schema[]).filter((parameter) => parameter.name === 'Idempotency-Key'));
    expect(headers.length).toBeGreaterThan(10);
    for (const header of headers) {
      expect([parameterProblems(document, header, 'k'.repeat(255)), parameterProblems(document, header, 'k'.repeat(256)), parameterProblems(document, header, 'a key')]).toEqual([
        [],
        ['Idempotency-Key'],
        ['Idempotency-Key'],
      ]);
    }
  });

  const cases = ROUTES.flatMap((route) => route.bad.map((bad, index) => [`${route.method.toUpperCase()} ${route.route} #${index + 1}: ${bad.field}`, route, bad] as const));
  it.each(cases)('%s: refused by the gateway and by the document', async (_name, route, bad) => {
    const sample = bad.change(route.good(context));
    const path = route.route.replace(/\{(\w+)\}/g, (_match, name: string) => encodeURIComponent(sample.path[name]));
    const search = new URLSearchParams(sample.query).toString();
    const headers: Record<string, string> = route.auth === 'network' ? { 'x-network-key': TEST_NETWORK_KEY } : {};
    const answer = await s.request(route.method.toUpperCase(), `${path}${search === '' ? '' : `?${search}`}`, {
      token: route.auth === 'user' ? context.user.token : undefined,
      key: route.method === 'post' ? newKey('openapi') : undefined,
      headers,
      body: sample.body,
    });
    expect(answer.status).toBe(400);
    expect(answer.body.error.details.fields).toEqual(expect.arrayContaining([expect.objectContaining({ field: bad.field })]));
    expect(documentProblems(document, route.route, route.method, sample)).toContain(bad.field);
  });
});
