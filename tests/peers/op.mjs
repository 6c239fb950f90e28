// A real OpenID Provider for the test suite (npm `oidc-provider`, panva), standing in for Google.
// It auto-logs-in and auto-consents (no HTML forms) but keeps every protocol check: client secret,
// exact redirect_uri, PKCE (required, like Google for public flows) and the nonce in the id_token.
//
// Usage: OP_CLIENTS='[...]' OP_USERS='{"sub": {...claims}}' node tests/peers/op.mjs <port>
//   -> issuer http://127.0.0.1:<port>, bound to 127.0.0.1 only.
// The "browser" picks the person with login_hint=<sub or email>; login_hint=cancel aborts the
// interaction, which the OP answers with error=access_denied at the client's redirect_uri.
import * as oidc from 'oidc-provider';

const port = Number(process.argv[2] || 0);
const issuer = `http://127.0.0.1:${port}`;
const users = JSON.parse(process.env.OP_USERS || '{}');
const clients = JSON.parse(process.env.OP_CLIENTS || '[]');

const provider = new oidc.Provider(issuer, {
  clients,
  cookies: { keys: ['linkarooie-test-only-cookie-key'] },
  conformIdTokenClaims: false, // scope claims (email, name) go into the id_token too, as Google does
  claims: { openid: ['sub'], email: ['email', 'email_verified'], profile: ['name', 'picture'] },
  features: { devInteractions: { enabled: false } },
  pkce: { required: () => true },
  async findAccount(ctx, sub) {
    if (!users[sub]) return undefined;
    return { accountId: sub, async claims() { return { sub, ...users[sub] }; } };
  },
});
provider.proxy = false;

function pickUser(hint) {
  if (hint && users[hint]) return hint;
  const byEmail = Object.keys(users).find((sub) => users[sub].email === hint);
  return byEmail || Object.keys(users)[0];
}

// Complete every interaction at once: log in as login_hint, grant whatever was asked.
provider.use(async (ctx, next) => {
  const m = ctx.path.match(/^\/interaction\/([^/]+)$/);
  if (!m) return next();
  const details = await provider.interactionDetails(ctx.req, ctx.res);
  const { prompt, params, session } = details;
  let result;
  if (params.login_hint === 'cancel') {
    result = { error: 'access_denied', error_description: 'End-User aborted interaction' };
  } else if (prompt.name === 'login') {
    result = { login: { accountId: pickUser(params.login_hint) } };
  } else if (prompt.name === 'consent') {
    const grant = details.grantId ? await provider.Grant.find(details.grantId)
      : new provider.Grant({ accountId: session.accountId, clientId: params.client_id });
    if (prompt.details.missingOIDCScope) grant.addOIDCScope(prompt.details.missingOIDCScope.join(' '));
    if (prompt.details.missingOIDCClaims) grant.addOIDCClaims(prompt.details.missingOIDCClaims);
    if (prompt.details.missingResourceScopes) {
      for (const [indicator, scopes] of Object.entries(prompt.details.missingResourceScopes)) {
        grant.addResourceScope(indicator, scopes.join(' '));
      }
    }
    result = { consent: { grantId: await grant.save() } };
  } else {
    result = { error: 'access_denied', error_description: `unhandled prompt ${prompt.name}` };
  }
  await provider.interactionFinished(ctx.req, ctx.res, result, { mergeWithLastSubmission: false });
});

provider.listen(port, '127.0.0.1', () => console.log(`OP_READY ${issuer}`));
// server.close() waits for keep-alive sockets; a test peer can just exit.
for (const sig of ['SIGTERM', 'SIGINT']) process.on(sig, () => process.exit(0));
