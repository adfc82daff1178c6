// Discovers a Gatehouse with oauth4webapi and openid-client, then runs the client credentials grant,
// introspection and revocation through openid-client, and a grant with a wrong secret through each library
// (what error each reports). Usage:
//   node discover.mjs ISSUER CLIENT_ID CLIENT_SECRET RS_ID RS_SECRET
// Prints one JSON object with what each library saw.
import * as oauth from "oauth4webapi";
import * as client from "openid-client";

const [issuer, clientId, clientSecret, rsId, rsSecret] = process.argv.slice(2);
const issuerUrl = new URL(issuer);
const out = {};

const response = await oauth.discoveryRequest(issuerUrl, { algorithm: "oauth2", [oauth.allowInsecureRequests]: true });
const as = await oauth.processDiscoveryResponse(issuerUrl, response);
out.oauth4webapi = { issuer: as.issuer, token_endpoint: as.token_endpoint };

const options = { algorithm: "oauth2", execute: [client.allowInsecureRequests] };
const config = await client.discovery(issuerUrl, clientId, clientSecret, client.ClientSecretBasic(clientSecret), options);
const tokens = await client.clientCredentialsGrant(config, { scope: "orders.read" });
out.grant = { token_type: tokens.token_type, scope: tokens.scope, expires_in: tokens.expires_in };

const rs = await client.discovery(issuerUrl, rsId, rsSecret, client.ClientSecretPost(rsSecret), options);
const claims = await client.tokenIntrospection(rs, tokens.access_token);
out.introspection = { active: claims.active, client_id: claims.client_id, scope: claims.scope };

await client.tokenRevocation(config, tokens.access_token);
out.after_revocation = (await client.tokenIntrospection(rs, tokens.access_token)).active;
// A wrong secret: what each library tells its user. Both throw WWWAuthenticateChallengeError when the 401
// carries a challenge, and the OAuth error code is then whatever the challenge's auth-params say.
const reported = (error) => ({
  name: error.name,
  status: error.status,
  error: error.cause?.[0]?.parameters?.error ?? error.error,
  error_description: error.cause?.[0]?.parameters?.error_description ?? error.error_description,
});
const wrongSecret = "gth_cs_" + "0".repeat(43) + "3Phhow";
const wrong = await client.discovery(issuerUrl, clientId, wrongSecret, client.ClientSecretBasic(wrongSecret), options);
try {
  await client.clientCredentialsGrant(wrong, {});
  out.openid_client_wrong_secret = "no error";
} catch (error) {
  out.openid_client_wrong_secret = reported(error);
}
try {
  const wrongResponse = await oauth.clientCredentialsGrantRequest(
    as, { client_id: clientId }, oauth.ClientSecretBasic(wrongSecret), new URLSearchParams(),
    { [oauth.allowInsecureRequests]: true },
  );
  await oauth.processClientCredentialsResponse(as, { client_id: clientId }, wrongResponse);
  out.oauth4webapi_wrong_secret = "no error";
} catch (error) {
  out.oauth4webapi_wrong_secret = reported(error);
}
console.log(JSON.stringify(out));
