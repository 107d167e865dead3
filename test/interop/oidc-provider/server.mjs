// An OpenID Connect provider for scopegate's interop tests, built on panva's
// oidc-provider (a certified implementation, independent of scopegate and of
// Hydra). Access tokens are RFC 9068 JWTs (typ at+jwt) issued through
// resource indicators (RFC 8707) for the one resource AUDIENCE.
//
// Environment: AUDIENCE, CC_CLIENT_ID, CC_CLIENT_SECRET, WEB_CLIENT_ID,
// WEB_CLIENT_SECRET, WEB_REDIRECT_URI, SCOPES (the resource's scopes).
// Optional: ACCESS_TOKEN_FORMAT (jwt, the default, or opaque);
// INTROSPECTOR_CLIENT_ID with INTROSPECTOR_CLIENT_SECRET (a resource
// server client authenticating with client_secret_basic) and/or
// INTROSPECTOR_JWK (the public JWK of one authenticating with
// private_key_jwt, whose client id is INTROSPECTOR_CLIENT_ID + "-jwt"):
// RFC 7662 introspection (and RFC 7009 revocation) is then enabled.
// It listens on a free loopback port and prints one JSON line
// {"issuer": "http://127.0.0.1:PORT"} when ready; it stops on SIGTERM.
import { createServer } from 'node:http';
import { generateKeyPairSync, randomUUID } from 'node:crypto';
import Provider, { errors } from 'oidc-provider';

const env = (name) => {
  const v = process.env[name];
  if (!v) throw new Error(`${name} is required`);
  return v;
};
const audience = env('AUDIENCE');
const scopes = env('SCOPES');
const accessTokenFormat = process.env.ACCESS_TOKEN_FORMAT || 'jwt';
const introspectors = [];
if (process.env.INTROSPECTOR_CLIENT_ID) {
  const none = { grant_types: [], response_types: [], redirect_uris: [] };
  if (process.env.INTROSPECTOR_CLIENT_SECRET) {
    introspectors.push({ ...none, client_id: process.env.INTROSPECTOR_CLIENT_ID, client_secret: process.env.INTROSPECTOR_CLIENT_SECRET });
  }
  if (process.env.INTROSPECTOR_JWK) {
    introspectors.push({
      ...none,
      client_id: `${process.env.INTROSPECTOR_CLIENT_ID}-jwt`,
      token_endpoint_auth_method: 'private_key_jwt',
      jwks: { keys: [JSON.parse(process.env.INTROSPECTOR_JWK)] },
    });
  }
}

// Fresh signing keys per run: RS256 for ID tokens (the OIDC default), ES256
// for access tokens.
const jwk = (type, opts, alg) => ({
  ...generateKeyPairSync(type, opts).privateKey.export({ format: 'jwk' }),
  kid: randomUUID(), alg, use: 'sig',
});
const keys = [jwk('rsa', { modulusLength: 2048 }, 'RS256'), jwk('ec', { namedCurve: 'P-256' }, 'ES256')];

const server = createServer();
server.listen(0, '127.0.0.1', () => {
  const issuer = `http://127.0.0.1:${server.address().port}`;
  const provider = new Provider(issuer, {
    jwks: { keys },
    scopes: ['openid', ...scopes.split(' ')],
    clients: [
      {
        client_id: env('CC_CLIENT_ID'),
        client_secret: env('CC_CLIENT_SECRET'),
        grant_types: ['client_credentials'],
        response_types: [],
        redirect_uris: [],
        scope: scopes,
      },
      {
        client_id: env('WEB_CLIENT_ID'),
        client_secret: env('WEB_CLIENT_SECRET'),
        grant_types: ['authorization_code'],
        response_types: ['code'],
        redirect_uris: [env('WEB_REDIRECT_URI')],
        scope: `openid ${scopes}`,
      },
      ...introspectors,
    ],
    pkce: { required: () => false },
    features: {
      devInteractions: { enabled: true }, // plain HTML forms: drivable without a browser
      clientCredentials: { enabled: true },
      introspection: { enabled: introspectors.length > 0 },
      revocation: { enabled: introspectors.length > 0 },
      // RFC 9449: a token request with a DPoP proof gets a DPoP-bound
      // access token (cnf.jkt); the default in oidc-provider 9, said here.
      dPoP: { enabled: true },
      resourceIndicators: {
        enabled: true,
        defaultResource: () => audience,
        useGrantedResource: () => true,
        getResourceServerInfo: (ctx, resourceIndicator) => {
          if (resourceIndicator !== audience) throw new errors.InvalidTarget();
          return {
            scope: scopes,
            audience,
            accessTokenTTL: 3600,
            accessTokenFormat,
            jwt: { sign: { alg: 'ES256' } },
          };
        },
      },
    },
  });
  server.on('request', provider.callback());
  process.stdout.write(`${JSON.stringify({ issuer })}\n`);
});

process.on('SIGTERM', () => server.close(() => process.exit(0)));
