"""Write N private_key_jwt token-request bodies, one per line, each with its own signed ES256 assertion (a jti is
good once), for bench/pkjwt.lua. Usage: assertions.py KEY_JWK_FILE CLIENT_ID AUDIENCE N OUT"""

import json
import secrets
import sys
import time
from urllib.parse import urlencode

from joserfc import jwt
from joserfc.jwk import ECKey

ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"


def main() -> None:
    key_file, client_id, audience, count, out = sys.argv[1:6]
    with open(key_file) as handle:
        key = ECKey.import_key(json.load(handle))
    now = int(time.time())
    header = {"alg": "ES256", "kid": key.kid}
    with open(out, "w") as lines:
        for _ in range(int(count)):
            claims = {"iss": client_id, "sub": client_id, "aud": audience, "iat": now, "exp": now + 300}
            claims["jti"] = secrets.token_urlsafe(16)
            assertion = jwt.encode(header, claims, key, algorithms=["ES256"])
            body = {"grant_type": "client_credentials", "client_assertion_type": ASSERTION_TYPE}
            lines.write(urlencode({**body, "client_assertion": assertion}) + "\n")


if __name__ == "__main__":
    main()
