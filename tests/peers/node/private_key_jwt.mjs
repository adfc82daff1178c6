// private_key_jwt with oauth4webapi and openid-client against a live Gatehouse: each library signs its own
// client assertions (RFC 7523) with a key Gatehouse only knows the public half of. Usage:
//   node private_key_jwt.mjs ISSUER CLIENT_ID CLIENT_PRIVATE_JWK RS_ID RS_PRIVATE_JWK
// The JWKs are private ES256 keys as JSON (with their kid). Prints one JSON object with what each library saw.
import * as oauth from "oauth4webapi";
import * as client from "openid-client";

const [issuer, clientId, clientJwk, rsId, rsJwk] = process.argv.slice(2);
const issuerUrl = new URL(issuer);
const out = {};

async function privateKey(text) {
  const jwk = JSON.parse(text);
  const key = await crypto.subtle.importKey("jwk", jwk, { name: "ECDSA", namedCurve: "P-256" }, false, ["sign"]);
  return { key, kid: jwk.kid };
}
const clientKey = await privateKey(clientJwk);
const rsKey = await privateKey(rsJwk);

// oauth4webapi: discovery, then the grant with private_key_jwt
const insecure = { [oauth.allowInsecureRequests]: true };
const as = await oauth.processDiscoveryResponse(
  issuerUrl,
  await oauth.discoveryRequest(issuerUrl, { algorithm: "oauth2", ...insecure }),
);
out.metadata_methods = as.token_endpoint_auth_methods_supported;
const response = await oauth.clientCredentialsGrantRequest(
  as, { client_id: clientId }, oauth.PrivateKeyJwt(clientKey), new URLSearchParams({ scope: "orders.read" }), insecure,
);
const viaOauth4webapi = await oauth.processClientCredentialsResponse(as, { client_id: clientId }, response);
out.oauth4webapi = { token_type: viaOauth4webapi.token_type, scope: viaOauth4webapi.scope };

// openid-client: the grant, introspection by a resource server that also uses private_key_jwt, revocation
const options = { algorithm: "oauth2", execute: [client.allowInsecureRequests] };
const config = await client.discovery(issuerUrl, clientId, undefined, client.PrivateKeyJwt(clientKey), options);
const tokens = await client.clientCredentialsGrant(config, { scope: "orders.read" });
out.openid_client = { token_type: tokens.token_type, scope: tokens.scope, expires_in: tokens.expires_in };
const rs = await client.discovery(issuerUrl, rsId, undefined, client.PrivateKeyJwt(rsKey), options);
const claims = await client.tokenIntrospection(rs, tokens.access_token);
out.introspection = { active: claims.active, client_id: claims.client_id, scope: claims.scope };
await client.tokenRevocation(config, tokens.access_token);
out.after_revocation = (await client.tokenIntrospection(rs, tokens.access_token)).active;

// A key Gatehouse does not know, under the registered kid: what each library reports
const { privateKey: stranger } = await crypto.subtle.generateKey({ name: "ECDSA", namedCurve: "P-256" }, false, ["sign"]);
const forged = await client.discovery(
  issuerUrl, clientId, undefined, client.PrivateKeyJwt({ key: stranger, kid: clientKey.kid }), options,
);
try {
  await client.clientCredentialsGrant(forged, {});
  out.forged = "no error";
} catch (error) {
  out.forged = { status: error.status, error: error.error ?? error.cause?.error };
}
console.log(JSON.stringify(out));
