// A real OpenID provider for Lifeline's integration tests: node's
// oidc-provider (a certified implementation) with one confidential client
// (authorization code with PKCE, and the device flow), its development
// login pages (any password; the login is the account's subject), and
// accounts whose groups the test sets. It listens on 127.0.0.1 (port 0: it prints
// `listening http://127.0.0.1:PORT`), and answers the test on /test/…:
//   /test/groups/ACCOUNT?set=a,b   the account's groups from now on
//   /test/mode/MODE                how the next token answers are changed:
//     honest   as the provider made them
//     tamper   the ID token's claims edited, its signature left as it was
//     audience the ID token signed again, for another audience
//     replay   the ID token of an earlier answer instead of this one's
//     athash   the ID token signed again, naming another access token
//   /test/audit                    the sign-ins the provider saw (JSON)
// Environment: CLIENT_ID, CLIENT_SECRET, REDIRECT_URIS (comma-separated).
import crypto from 'node:crypto';
import http from 'node:http';
import Provider from 'oidc-provider';
import * as jose from 'jose';

const clientId = process.env.CLIENT_ID ?? 'lifeline';
const clientSecret = process.env.CLIENT_SECRET ?? 'secret';
const redirectUris = (process.env.REDIRECT_URIS ?? 'https://127.0.0.1/login/oidc/callback').split(',');

// By subject (what the login page takes): opaque, as providers make them.
const accounts = {
  'u-0a1c9e': { email: 'alice@example.com', groups: ['sec-admins'] },
  'u-5b7d2f': { email: 'bob@example.com', groups: ['sec-auditors', 'helpdesk'] },
  'u-9e4a61': { email: 'eve@example.com', groups: ['sales'] },
};

let mode = 'honest';
let lastIdToken = null;
const seen = [];

const { privateKey } = await jose.generateKeyPair('RS256', { extractable: true });
const jwk = { ...(await jose.exportJWK(privateKey)), kid: 'test-key', alg: 'RS256', use: 'sig' };

const server = http.createServer();
await new Promise((ok) => server.listen(0, '127.0.0.1', ok));
const issuer = `http://127.0.0.1:${server.address().port}`;

const provider = new Provider(issuer, {
  clients: [{
    client_id: clientId,
    client_secret: clientSecret,
    redirect_uris: redirectUris,
    grant_types: ['authorization_code', 'urn:ietf:params:oauth:grant-type:device_code'],
    response_types: ['code'],
    token_endpoint_auth_method: 'client_secret_basic',
  }],
  jwks: { keys: [jwk] },
  features: {
    devInteractions: { enabled: true },
    deviceFlow: { enabled: true },
  },
  scopes: ['openid', 'email', 'profile', 'groups'],
  claims: {
    openid: ['sub'],
    email: ['email', 'email_verified'],
    profile: ['preferred_username'],
    groups: ['groups'],
  },
  pkce: { required: () => true },
  ttl: { DeviceCode: 120, AccessToken: 600, IdToken: 600, AuthorizationCode: 60 },
  async findAccount(ctx, id) {
    const a = accounts[id];
    if (!a) return undefined;
    return {
      accountId: id,
      async claims() {
        return { sub: id, email: a.email, email_verified: true, preferred_username: a.email.split('@')[0], groups: [...a.groups] };
      },
    };
  },
});

// The hostile modes act on the token endpoint's answers.
provider.use(async (ctx, next) => {
  await next();
  if (ctx.path !== '/token' || ctx.status !== 200 || !ctx.body || !ctx.body.id_token) return;
  const honest = ctx.body.id_token;
  const [header, payload] = honest.split('.');
  const claims = JSON.parse(Buffer.from(payload, 'base64url').toString());
  seen.push({ sub: claims.sub, nonce: claims.nonce ?? null, mode });
  if (mode === 'tamper') {
    const edited = { ...claims, sub: 'u-0a1c9e', email: 'alice@example.com' };
    const body = Buffer.from(JSON.stringify(edited)).toString('base64url');
    ctx.body.id_token = `${header}.${body}.${honest.split('.')[2]}`;
  } else if (mode === 'audience') {
    ctx.body.id_token = await new jose.SignJWT({ ...claims, aud: 'someone-else' })
      .setProtectedHeader({ alg: 'RS256', kid: 'test-key', typ: 'JWT' })
      .sign(privateKey);
  } else if (mode === 'replay' && lastIdToken) {
    ctx.body.id_token = lastIdToken;
  } else if (mode === 'athash') {
    const digest = crypto.createHash('sha256').update('another access token').digest();
    const atHash = digest.subarray(0, 16).toString('base64url');
    ctx.body.id_token = await new jose.SignJWT({ ...claims, at_hash: atHash })
      .setProtectedHeader({ alg: 'RS256', kid: 'test-key', typ: 'JWT' })
      .sign(privateKey);
  }
  if (mode === 'honest') lastIdToken = honest;
});

server.on('request', (req, res) => {
  const url = new URL(req.url, issuer);
  const parts = url.pathname.split('/');
  if (parts[1] !== 'test') return provider.callback()(req, res);
  if (parts[2] === 'groups' && accounts[parts[3]]) {
    const set = url.searchParams.get('set') ?? '';
    accounts[parts[3]].groups = set ? set.split(',') : [];
  } else if (parts[2] === 'mode' && ['honest', 'tamper', 'audience', 'replay', 'athash'].includes(parts[3])) {
    mode = parts[3];
  } else if (parts[2] === 'audit') {
    res.setHeader('content-type', 'application/json');
    return res.end(JSON.stringify(seen));
  } else {
    res.statusCode = 404;
    return res.end('no such test control\n');
  }
  res.end('ok\n');
});

console.log(`listening ${issuer}`);
