"""The registry's limits, one definition each. Plain constants (no Django import), so settings can bound the
environment with them: config/settings.py reads GATEHOUSE_* through these, models, forms, the API and the CLI
read the settings or these constants, never a number of their own.
"""

# A token's lifetime, in seconds: a client's token_ttl and GATEHOUSE_DEFAULT_TOKEN_TTL. Fixed, not a setting: the
# database's check constraint on clients_client.token_ttl holds the same bound (migration 0001).
MAX_TOKEN_TTL = 86400

# How long a rotated secret may keep working, in seconds: the default of GATEHOUSE_MAX_GRACE_SECONDS.
DEFAULT_MAX_GRACE_SECONDS = 30 * 86400
# The most GATEHOUSE_MAX_GRACE_SECONDS may be set to: a year.
MAX_GRACE_SECONDS_CEILING = 365 * 86400
