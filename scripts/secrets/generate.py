#!/usr/bin/env python3
"""Generates provider-format secrets and their near misses for the secret detector's tests.

Every token is random and built from the provider's *documented* token format (prefix, length,
alphabet, structure), never from another scanner's rules: the formats are noted next to each
family below. Each positive is placed in one of several contexts (env file, JSON, YAML, code,
a shell command, prose); each family also gets near-miss negatives (too short, wrong alphabet,
placeholders, variables, public material). Deterministic (fixed seed): re-running rewrites the
same file.

    python3 scripts/secrets/generate.py > filter/core/testdata/secrets/generated.jsonl

Record: {"id", "family", "label": "secret"|"benign", "form", "text"}.
"""

import base64
import json
import random
import string
import sys

R = random.Random(16)
ALNUM = string.ascii_letters + string.digits
UPPER_NUM = string.ascii_uppercase + string.digits
B32 = string.ascii_uppercase + "234567"
HEX = "0123456789abcdef"
B64 = ALNUM + "+/"
B64URL = ALNUM + "-_"


def rnd(alphabet, n):
    return "".join(R.choice(alphabet) for _ in range(n))


def b64(nbytes, url=False):
    raw = bytes(R.getrandbits(8) for _ in range(nbytes))
    return (base64.urlsafe_b64encode(raw) if url else base64.b64encode(raw)).decode()


def b64url_json(obj):
    return base64.urlsafe_b64encode(json.dumps(obj, separators=(",", ":")).encode()).decode().rstrip("=")


CONTEXTS = [
    lambda k, v: f"{k.upper()}={v}",
    lambda k, v: json.dumps({k: v}),
    lambda k, v: f"{k}: \"{v}\"",
    lambda k, v: f"const {k} = '{v}';",
    lambda k, v: f"curl -H 'Authorization: Bearer {v}' https://api.example.com/v1/items",
    lambda k, v: f"here is the key you asked for: {v} (keep it safe)",
]

rows = []


def pos(family, form, key, values, contexts=None):
    for i, v in enumerate(values):
        ctxs = contexts or CONTEXTS
        text = ctxs[i % len(ctxs)](key, v)
        rows.append({"family": family, "label": "secret", "form": form, "text": text})


def neg(family, form, texts):
    for t in texts:
        rows.append({"family": family, "label": "benign", "form": form, "text": t})


N = 6  # positives per form

# AWS: access key ids are 20 characters, a 4-letter type prefix (AKIA long-term, ASIA temporary)
# and 16 base32 characters; secret access keys are 40 base64 characters; session tokens are long
# base64 strings (STS; current ones start with the encoding of their version header).
pos("aws", "access key id (AKIA)", "aws_access_key_id", ["AKIA" + rnd(B32, 16) for _ in range(N)])
pos("aws", "temporary access key id (ASIA)", "aws_access_key_id", ["ASIA" + rnd(B32, 16) for _ in range(N)])
pos("aws", "secret access key", "aws_secret_access_key", [rnd(B64, 40) for _ in range(N)],
    [lambda k, v: f"aws_secret_access_key = {v}", lambda k, v: f"AWS_SECRET_ACCESS_KEY={v}",
     lambda k, v: json.dumps({"AccessKeyId": "ASIA" + rnd(B32, 16), "SecretAccessKey": v}),
     lambda k, v: f"export AWS_SECRET_ACCESS_KEY=\"{v}\""])
pos("aws", "session token", "aws_session_token", ["IQoJb3JpZ2luX2VjE" + rnd(B64, 360) for _ in range(N)],
    [lambda k, v: f"aws_session_token = {v}", lambda k, v: f"AWS_SESSION_TOKEN={v}",
     lambda k, v: json.dumps({"Credentials": {"SessionToken": v}})])
neg("aws", "near miss", [
    "AKIA" + rnd(B32, 12), "akia" + rnd(B32, 16).lower(), "aws_secret_access_key = ${AWS_SECRET_ACCESS_KEY}",
    "aws_secret_access_key = <your secret access key>", "AWS_SESSION_TOKEN=$(aws sts get-session-token)",
    "arn:aws:iam::123456789012:role/deploy",
])

# GCP: API keys are "AIza" + 35 characters of [A-Za-z0-9_-]; OAuth client secrets "GOCSPX-" +
# 28; a service-account key file is JSON with type service_account and a PEM private key.
pos("gcp", "api key", "google_api_key", ["AIza" + rnd(B64URL, 35) for _ in range(N)])
pos("gcp", "oauth client secret", "client_secret", ["GOCSPX-" + rnd(B64URL, 28) for _ in range(N)])


def pem_body(lines=8):
    return "\\n".join(rnd(B64, 64) for _ in range(lines))


pos("gcp", "service account key file", "sa", [
    json.dumps({"type": "service_account", "project_id": "proj-" + rnd(HEX, 6),
                "private_key_id": rnd(HEX, 40),
                "private_key": "-----BEGIN PRIVATE KEY-----\n" + "\n".join(rnd(B64, 64) for _ in range(6)) + "\n-----END PRIVATE KEY-----\n",
                "client_email": "ci@proj.iam.gserviceaccount.com"}) for _ in range(N)],
    [lambda k, v: v])
neg("gcp", "near miss", [
    "AIza" + rnd(B64URL, 20), json.dumps({"type": "service_account", "private_key": "", "client_email": "ci@proj.iam.gserviceaccount.com"}),
    "GOCSPX-<client-secret>", "https://www.googleapis.com/auth/cloud-platform",
])

# Azure: storage account keys are 64 random bytes in base64 (88 characters ending "=="), in a
# connection string or alone; SAS tokens carry the signature in sig= (URL-encoded base64 of an
# HMAC-SHA256); Service Bus / Event Hubs connection strings carry SharedAccessKey= (32 bytes,
# 44 base64); Entra ID client secrets are 40 characters with "Q~" after three characters and a digit.
pos("azure", "storage connection string", "conn", [
    f"DefaultEndpointsProtocol=https;AccountName=st{rnd(HEX, 8)};AccountKey={b64(64)};EndpointSuffix=core.windows.net"
    for _ in range(N)], [lambda k, v: v, lambda k, v: f"AZURE_STORAGE_CONNECTION_STRING=\"{v}\""])
pos("azure", "storage account key", "azure_storage_key", [b64(64) for _ in range(N)],
    [lambda k, v: f"AZURE_STORAGE_KEY={v}", lambda k, v: json.dumps({"accountKey": v}),
     lambda k, v: f"az storage blob list --account-key {v}"])


def sas_sig():
    return b64(32).replace("+", "%2B").replace("/", "%2F").replace("=", "%3D")


pos("azure", "sas url", "url", [
    f"https://st{rnd(HEX, 6)}.blob.core.windows.net/backups?sv=2022-11-02&ss=b&srt=co&sp=rl&se=2026-01-01T00:00:00Z&st=2025-01-01T00:00:00Z&spr=https&sig={sas_sig()}"
    for _ in range(N)], [lambda k, v: v, lambda k, v: f"SAS_URL='{v}'"])
pos("azure", "service bus connection string", "conn", [
    f"Endpoint=sb://ns{rnd(HEX, 6)}.servicebus.windows.net/;SharedAccessKeyName=RootManageSharedAccessKey;SharedAccessKey={b64(32)}"
    for _ in range(N)], [lambda k, v: v, lambda k, v: json.dumps({"ServiceBus": v})])
pos("azure", "entra client secret", "client_secret",
    [rnd(ALNUM, 3) + R.choice(string.digits) + "Q~" + rnd(ALNUM + "_~.-", 34) for _ in range(N)])
neg("azure", "near miss", [
    "DefaultEndpointsProtocol=https;AccountName=devstore;AccountKey=<your-account-key>;EndpointSuffix=core.windows.net",
    "https://stdata.blob.core.windows.net/public/logo.png",
    "https://stdata.blob.core.windows.net/c?sv=2022-11-02&sp=r&se=2026-01-01",
    "Endpoint=sb://ns.servicebus.windows.net/;SharedAccessKeyName=listen;SharedAccessKey=",
    "UseDevelopmentStorage=true",
])

# GitHub: classic tokens are a prefix (ghp_ personal, gho_ OAuth, ghu_ user-to-server, ghs_
# server-to-server/app installation, ghr_ refresh) and 36 base62 characters (30 random + a
# 6-character checksum); fine-grained PATs are github_pat_ + 22 + "_" + 59.
for prefix, form in [("ghp_", "classic pat"), ("gho_", "oauth token"), ("ghu_", "app user token"),
                     ("ghs_", "app installation token"), ("ghr_", "refresh token")]:
    pos("github", form, "github_token", [prefix + rnd(ALNUM, 36) for _ in range(N)])
pos("github", "fine-grained pat", "github_token",
    ["github_pat_" + rnd(ALNUM, 22) + "_" + rnd(ALNUM, 59) for _ in range(N)])
neg("github", "near miss", [
    "ghp_" + rnd(ALNUM, 12), "GITHUB_TOKEN=${{ secrets.GITHUB_TOKEN }}",
    "https://github.com/octo-org/octo-repo/pull/1347", "github_pat_<your-token>",
])

# GitLab: personal/project/group access tokens glpat- + 20 characters of [A-Za-z0-9_-]; deploy
# tokens gldt-, runner authentication tokens glrt-, pipeline trigger tokens glptt- + 40 hex.
pos("gitlab", "personal access token", "gitlab_token", ["glpat-" + rnd(B64URL, 20) for _ in range(N)])
pos("gitlab", "deploy token", "gitlab_token", ["gldt-" + rnd(B64URL, 20) for _ in range(N)])
pos("gitlab", "runner token", "gitlab_token", ["glrt-" + rnd(B64URL, 20) for _ in range(N)])
pos("gitlab", "trigger token", "gitlab_token", ["glptt-" + rnd(HEX, 40) for _ in range(N)])
neg("gitlab", "near miss", ["glpat-" + rnd(B64URL, 6), "GITLAB_TOKEN: $CI_JOB_TOKEN",
                            "https://gitlab.com/gitlab-org/gitlab/-/merge_requests/1"])

# Slack: bot tokens xoxb-<team id digits>-<bot id digits>-<24 alnum>; user tokens
# xoxp-<digits>-<digits>-<digits>-<32 hex>; app-level tokens xapp-1-<app id>-<digits>-<64 hex>;
# incoming webhooks https://hooks.slack.com/services/T…/B…/<24 alnum>.
pos("slack", "bot token", "slack_token",
    [f"xoxb-{rnd(string.digits, 12)}-{rnd(string.digits, 13)}-{rnd(ALNUM, 24)}" for _ in range(N)])
pos("slack", "user token", "slack_token",
    [f"xoxp-{rnd(string.digits, 12)}-{rnd(string.digits, 12)}-{rnd(string.digits, 13)}-{rnd(HEX, 32)}" for _ in range(N)])
pos("slack", "app-level token", "slack_token",
    [f"xapp-1-A{rnd(UPPER_NUM, 10)}-{rnd(string.digits, 13)}-{rnd(HEX, 64)}" for _ in range(N)])
pos("slack", "incoming webhook", "webhook",
    [f"https://hooks.slack.com/services/T{rnd(UPPER_NUM, 8)}/B{rnd(UPPER_NUM, 10)}/{rnd(ALNUM, 24)}" for _ in range(N)])
neg("slack", "near miss", ["xoxb-123", "https://hooks.slack.com/services/",
                           "https://myteam.slack.com/archives/C0123456789"])

# Stripe: secret keys sk_live_/sk_test_, restricted keys rk_live_/rk_test_, each + 24 or more
# alphanumerics (current keys are ~99); webhook signing secrets whsec_ + 32.
pos("stripe", "secret key (live)", "stripe_key", ["sk_live_" + rnd(ALNUM, R.choice([24, 99])) for _ in range(N)])
pos("stripe", "secret key (test)", "stripe_key", ["sk_test_" + rnd(ALNUM, R.choice([24, 99])) for _ in range(N)])
pos("stripe", "restricted key", "stripe_key", ["rk_live_" + rnd(ALNUM, R.choice([24, 99])) for _ in range(N)])
pos("stripe", "webhook secret", "stripe_webhook_secret", ["whsec_" + rnd(ALNUM, 32) for _ in range(N)])
neg("stripe", "near miss", ["sk_live_123", "sk_test_<your key>", "STRIPE_SECRET_KEY=process.env.STRIPE_SECRET_KEY",
                            "cus_" + rnd(ALNUM, 14), "pi_" + rnd(ALNUM, 24)])

# OpenAI: legacy user keys sk- + 48 alphanumerics (with the marker T3BlbkFJ inside); project keys
# sk-proj-, service-account keys sk-svcacct-, admin keys sk-admin-, each + a long [A-Za-z0-9_-]
# body with the same marker.
pos("openai", "legacy key", "openai_api_key", ["sk-" + rnd(ALNUM, 20) + "T3BlbkFJ" + rnd(ALNUM, 20) for _ in range(N)])
for prefix, form in [("sk-proj-", "project key"), ("sk-svcacct-", "service account key"), ("sk-admin-", "admin key")]:
    pos("openai", form, "openai_api_key",
        [prefix + rnd(B64URL, 74) + "T3BlbkFJ" + rnd(B64URL, 74) for _ in range(N)])
neg("openai", "near miss", ["sk-" + rnd(ALNUM, 8), "sk-...", "OPENAI_API_KEY=sk-your-key-here",
                            "the sk-learn package"])

# Anthropic: API keys sk-ant-api03- + 93 characters of [A-Za-z0-9_-] + "AA"; admin keys
# sk-ant-admin01- likewise.
pos("anthropic", "api key", "anthropic_api_key", ["sk-ant-api03-" + rnd(B64URL, 93) + "AA" for _ in range(N)])
pos("anthropic", "admin key", "anthropic_admin_key", ["sk-ant-admin01-" + rnd(B64URL, 93) + "AA" for _ in range(N)])
neg("anthropic", "near miss", ["sk-ant-api03-", "ANTHROPIC_API_KEY=${ANTHROPIC_API_KEY}", "sk-ant-xxxx"])

# Hugging Face: user access tokens hf_ + 34 letters; organisation API tokens api_org_ + 34.
pos("huggingface", "user token", "hf_token", ["hf_" + rnd(string.ascii_letters, 34) for _ in range(N)])
pos("huggingface", "org token", "hf_org_token", ["api_org_" + rnd(string.ascii_letters, 34) for _ in range(N)])
neg("huggingface", "near miss", ["hf_" + rnd(string.ascii_letters, 8), "huggingface-cli login", "HF_TOKEN=<token>"])

# Twilio: API key SIDs SK + 32 hex with their 32-character secret; auth tokens 32 hex next to the
# account SID (AC + 32 hex).
pos("twilio", "api key sid", "twilio_api_key", ["SK" + rnd(HEX, 32) for _ in range(N)])
pos("twilio", "auth token", "twilio_auth_token", [rnd(HEX, 32) for _ in range(N)],
    [lambda k, v: f"TWILIO_AUTH_TOKEN={v}", lambda k, v: json.dumps({"accountSid": "AC" + rnd(HEX, 32), "authToken": v}),
     lambda k, v: f"client = Client('AC{rnd(HEX, 32)}', '{v}')"])
neg("twilio", "near miss", ["SK" + rnd(HEX, 10), "TWILIO_AUTH_TOKEN=your_auth_token", "+14155550123"])

# SendGrid: SG. + 22 + "." + 43 characters of [A-Za-z0-9_-].
pos("sendgrid", "api key", "sendgrid_api_key", ["SG." + rnd(B64URL, 22) + "." + rnd(B64URL, 43) for _ in range(N)])
neg("sendgrid", "near miss", ["SG." + rnd(B64URL, 8), "SENDGRID_API_KEY=SG.xxxxx"])

# Mailgun: private API keys key- + 32 hex (older) or 32 hex - 8 hex - 8 hex (current).
pos("mailgun", "private api key (key-)", "mailgun_api_key", ["key-" + rnd(HEX, 32) for _ in range(N)])
pos("mailgun", "private api key", "mailgun_api_key", [f"{rnd(HEX, 32)}-{rnd(HEX, 8)}-{rnd(HEX, 8)}" for _ in range(N)],
    [lambda k, v: f"MAILGUN_API_KEY={v}", lambda k, v: json.dumps({"mailgun_api_key": v}),
     lambda k, v: f"curl -s --user 'api:{v}' https://api.mailgun.net/v3/mg.example.com/messages"])
neg("mailgun", "near miss", ["key-" + rnd(HEX, 10), "MAILGUN_DOMAIN=mg.example.com"])

# npm: access tokens npm_ + 36 alphanumerics (30 random + a 6-character checksum); in .npmrc as
# //registry.npmjs.org/:_authToken=.
pos("npm", "access token", "npm_token", ["npm_" + rnd(ALNUM, 36) for _ in range(N)],
    CONTEXTS[:4] + [lambda k, v: f"//registry.npmjs.org/:_authToken={v}"])
neg("npm", "near miss", ["npm_" + rnd(ALNUM, 12), "//registry.npmjs.org/:_authToken=${NPM_TOKEN}", "npm install left-pad"])

# PyPI: API tokens pypi- + a macaroon: base64url starting AgEIcHlwaS5vcmc (the encoded location
# "pypi.org") and 70+ more characters.
pos("pypi", "api token", "pypi_token", ["pypi-AgEIcHlwaS5vcmc" + rnd(B64URL, 140) for _ in range(N)],
    CONTEXTS[:4] + [lambda k, v: f"[pypi]\n  username = __token__\n  password = {v}"])
neg("pypi", "near miss", ["pypi-", "TWINE_PASSWORD=${PYPI_TOKEN}", "https://pypi.org/project/requests/"])

# Docker Hub: personal access tokens dckr_pat_ + 27 characters of [A-Za-z0-9_-]; organisation
# access tokens dckr_oat_.
pos("dockerhub", "personal access token", "docker_token", ["dckr_pat_" + rnd(B64URL, 27) for _ in range(N)])
pos("dockerhub", "organisation token", "docker_token", ["dckr_oat_" + rnd(B64URL, 32) for _ in range(N)])
neg("dockerhub", "near miss", ["dckr_pat_abc", "docker login -u ci --password-stdin", "DOCKER_PASSWORD=$DOCKERHUB_TOKEN"])

# Shopify: admin API access tokens shpat_, custom app tokens shpca_, private app passwords
# shppa_, shared secrets shpss_, each + 32 hex.
for prefix, form in [("shpat_", "admin access token"), ("shpca_", "custom app token"),
                     ("shppa_", "private app password"), ("shpss_", "shared secret")]:
    pos("shopify", form, "shopify_token", [prefix + rnd(HEX, 32) for _ in range(N)])
neg("shopify", "near miss", ["shpat_" + rnd(HEX, 12), "my-store.myshopify.com"])

# Square: access tokens EAAA + 60 characters of [A-Za-z0-9_-]; legacy sq0atp- + 22; OAuth
# application secrets sq0csp- + 43.
pos("square", "access token", "square_access_token", ["EAAA" + rnd(B64URL, 60) for _ in range(N)])
pos("square", "legacy access token", "square_access_token", ["sq0atp-" + rnd(B64URL, 22) for _ in range(N)])
pos("square", "oauth secret", "square_oauth_secret", ["sq0csp-" + rnd(B64URL, 43) for _ in range(N)])
neg("square", "near miss", ["sq0atp-abc", "sq0idp-" + rnd(B64URL, 22), "SQUARE_ACCESS_TOKEN=<token>"])

# Discord: bot tokens are base64(user id) "." base64(timestamp, 6) "." HMAC (27 or 38
# characters of [A-Za-z0-9_-]); webhooks https://discord.com/api/webhooks/<id>/<68 chars>.
def discord_token():
    uid = str(R.randrange(10**17, 10**19)).encode()
    return base64.b64encode(uid).decode().rstrip("=") + "." + rnd(B64URL, 6) + "." + rnd(B64URL, R.choice([27, 38]))


pos("discord", "bot token", "discord_bot_token", [discord_token() for _ in range(N)],
    [lambda k, v: f"DISCORD_TOKEN={v}", lambda k, v: f"client.run('{v}')", lambda k, v: json.dumps({"token": v}),
     lambda k, v: f"Authorization: Bot {v}"])
pos("discord", "webhook", "webhook",
    [f"https://discord.com/api/webhooks/{rnd(string.digits, 19)}/{rnd(B64URL, 68)}" for _ in range(N)])
neg("discord", "near miss", ["https://discord.com/channels/123/456", "DISCORD_TOKEN=your-bot-token", "discord.gg/invite"])

# Telegram: bot tokens <bot id, 8-10 digits>:<35 characters of [A-Za-z0-9_-]> (the secret part
# starts with AA).
pos("telegram", "bot token", "telegram_bot_token",
    [f"{rnd(string.digits, R.choice([9, 10]))}:AA{rnd(B64URL, 33)}" for _ in range(N)],
    CONTEXTS[:4] + [lambda k, v: f"https://api.telegram.org/bot{v}/sendMessage"])
neg("telegram", "near miss", ["12345:abc", "TELEGRAM_BOT_TOKEN=<token from @BotFather>", "10:30:00"])

# JWT: three base64url parts (header with "alg", payload, signature), RFC 7519.
def jwt():
    h = b64url_json({"alg": R.choice(["HS256", "RS256", "ES256"]), "typ": "JWT"})
    p = b64url_json({"sub": rnd(string.digits, 8), "iat": R.randrange(1_600_000_000, 1_800_000_000), "role": "admin"})
    return f"{h}.{p}.{rnd(B64URL, R.choice([43, 86, 342]))}"


pos("jwt", "signed jwt", "id_token", [jwt() for _ in range(N)])
neg("jwt", "near miss", ["eyJhbGciOiJIUzI1NiJ9", "Bearer <jwt>", "header.payload.signature"])

# Private keys: PEM (PKCS#1 RSA, SEC1 EC, PKCS#8, encrypted PKCS#8, DSA), OpenSSH, PGP.
def pem(label, lines=10):
    return f"-----BEGIN {label}-----\n" + "\n".join(rnd(B64, 64) for _ in range(lines)) + f"\n-----END {label}-----"


for label, form in [("RSA PRIVATE KEY", "pkcs1 rsa"), ("EC PRIVATE KEY", "sec1 ec"), ("PRIVATE KEY", "pkcs8"),
                    ("ENCRYPTED PRIVATE KEY", "encrypted pkcs8"), ("DSA PRIVATE KEY", "dsa"),
                    ("OPENSSH PRIVATE KEY", "openssh"), ("PGP PRIVATE KEY BLOCK", "pgp")]:
    pos("private_key", form, "key", [pem(label) for _ in range(3)],
        [lambda k, v: v, lambda k, v: json.dumps({"ssh_key": v}), lambda k, v: f"cat > id <<'EOF'\n{v}\nEOF"])
neg("private_key", "public material", [
    pem("PUBLIC KEY"), pem("CERTIFICATE"), pem("PGP PUBLIC KEY BLOCK"), pem("CERTIFICATE REQUEST"),
    "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAI" + rnd(B64, 43) + " ci@example.com",
    "Generate a key with ssh-keygen -t ed25519; never paste the private key here.",
])

# Database URLs with a password (RFC 3986 userinfo).
for scheme, host in [("postgresql", "db.internal:5432/app"), ("mysql", "10.1.2.3:3306/shop"),
                     ("mongodb+srv", "cluster0.ab1cd.mongodb.net/prod"), ("redis", "cache.internal:6379/0"),
                     ("amqp", "mq.internal:5672/vhost")]:
    pos("database_url", scheme, "database_url",
        [f"{scheme}://{R.choice(['app', 'admin', 'svc_' + rnd(HEX, 4)])}:{rnd(ALNUM + '!*-_', 16)}@{host}" for _ in range(3)],
        [lambda k, v: f"DATABASE_URL={v}", lambda k, v: json.dumps({"url": v}), lambda k, v: f"psql '{v}'" if v.startswith("post") else f"connect('{v}')"])
neg("database_url", "near miss", [
    "postgresql://app@db.internal:5432/app", "postgresql://app:${DB_PASSWORD}@db.internal/app",
    "mysql://user:<password>@localhost/db", "redis://cache.internal:6379/0", "mongodb://localhost:27017",
])

# Generic assignments of a literal credential.
def gen_value(key):
    if "pass" in key.lower():
        return rnd(ALNUM + "!#%&*", 14)
    return R.choice([rnd(HEX, 32), rnd(ALNUM, 24), rnd(ALNUM + "-_", 40)])


for key in ["password", "db_password", "api_key", "apiKey", "client_secret", "secret_key", "auth_token", "access_token"]:
    pos("generic", key, key, [gen_value(key) for _ in range(3)],
        [lambda k, v: f"{k} = \"{v}\"", lambda k, v: f"{k}: {v}", lambda k, v: json.dumps({k: v}),
         lambda k, v: f"{k.upper()}={v}"])
# Credentials in other common places: markup, command-line flags, .pgpass, htpasswd, prose.
rows_forms = [
    ("xml element", lambda: f"<password>{rnd(ALNUM + '!#', 14)}</password>"),
    ("mysql -p", lambda: f"mysql -u root -p{rnd(ALNUM, 12)} -h db.internal"),
    ("sshpass", lambda: f"sshpass -p '{rnd(ALNUM, 12)}' ssh root@10.0.0.5"),
    (".pgpass line", lambda: f"db.internal:5432:app:app:{rnd(ALNUM, 18)}"),
    ("htpasswd line", lambda: f"admin:$apr1${rnd(ALNUM, 8)}${rnd(ALNUM + './', 22)}"),
    ("prose: key is", lambda: f"My Datadog API key is {rnd(HEX, 32)}, use it for the dashboard."),
    ("prose: password is", lambda: f"the admin password is {rnd(ALNUM, 6)}&{rnd(string.digits, 3)}"),
    ("azure devops pat", lambda: f"AZURE_DEVOPS_PAT={rnd(string.ascii_lowercase + '234567', 52)}"),
]
for form, make in rows_forms:
    for _ in range(2):
        rows.append({"family": "generic_forms", "label": "secret", "form": form, "text": make()})
neg("generic_forms", "near miss", [
    "<password></password>", "<password>${DB_PASSWORD}</password>", "mysql -u root -p -h db.internal",
    "sshpass -e ssh root@10.0.0.5", "The password is stored in the vault.", "your API key is required",
    "*:*:*:app:*", "AZURE_DEVOPS_PAT=$(System.AccessToken)",
])

neg("generic", "near miss", [
    'password = ""', 'password = os.environ["DB_PASSWORD"]', "api_key: <API_KEY>", "password: ${PASSWORD}",
    'token_type = "bearer"', "secret_key = settings.SECRET_KEY", "PASSWORD_MIN_LENGTH=12",
    'api_key = getenv("API_KEY")', "Forgot your password? Click here to reset it.",
    "client_secret: {{ .Values.clientSecret }}",
])

# More providers whose tokens carry a documented prefix: (family, form, key, prefix, alphabet,
# length, suffix), each from the provider's own token documentation.
MORE = [
    ("digitalocean", "personal access token", "do_token", "dop_v1_", HEX, 64, ""),
    ("digitalocean", "oauth token", "do_token", "doo_v1_", HEX, 64, ""),
    ("digitalocean", "refresh token", "do_token", "dor_v1_", HEX, 64, ""),
    ("atlassian", "api token", "jira_token", "ATATT3xFfGF0", B64URL, 180, "=" + rnd(HEX.upper(), 8)),
    ("databricks", "personal access token", "databricks_token", "dapi", HEX, 32, ""),
    ("linear", "api key", "linear_api_key", "lin_api_", ALNUM, 40, ""),
    ("notion", "integration token", "notion_token", "ntn_", ALNUM, 46, ""),
    ("sentry", "org auth token", "sentry_auth_token", "sntrys_", B64URL, 120, ""),
    ("sentry", "user auth token", "sentry_auth_token", "sntryu_", HEX, 64, ""),
    ("rubygems", "api key", "gem_host_api_key", "rubygems_", HEX, 48, ""),
    ("grafana", "service account token", "grafana_token", "glsa_", ALNUM, 32, "_" + rnd(HEX, 8)),
    ("supabase", "access token", "supabase_token", "sbp_", HEX, 40, ""),
    ("planetscale", "service token", "planetscale_token", "pscale_tkn_", B64URL, 43, ""),
    ("prefect", "api key", "prefect_api_key", "pnu_", ALNUM, 36, ""),
    ("contentful", "personal access token", "contentful_token", "CFPAT-", B64URL, 43, ""),
    ("dynatrace", "api token", "dt_api_token", "dt0c01." + rnd(UPPER_NUM, 24) + ".", UPPER_NUM, 64, ""),
    ("easypost", "api key", "easypost_api_key", "EZAK", ALNUM, 54, ""),
    ("typeform", "personal token", "typeform_token", "tfp_", ALNUM + "_", 59, ""),
    ("brevo", "api key", "brevo_api_key", "xkeysib-", HEX, 64, "-" + rnd(ALNUM, 16)),
    ("shippo", "live token", "shippo_token", "shippo_live_", HEX, 40, ""),
    ("flutterwave", "secret key", "flw_secret_key", "FLWSECK_TEST-", HEX, 32, "-X"),
    ("clojars", "deploy token", "clojars_token", "CLOJARS_", HEX, 60, ""),
    ("frameio", "developer token", "frameio_token", "fio-u-", B64URL, 64, ""),
    ("alibaba", "access key id", "alibaba_access_key_id", "LTAI", ALNUM, 20, ""),
    ("tencent", "secret id", "tencent_secret_id", "AKID", ALNUM, 32, ""),
    ("onepassword", "service account token", "op_service_account_token", "ops_eyJ", B64URL, 250, ""),
    ("heroku", "api key", "heroku_api_key", "HRKU-AA", B64URL, 58, ""),
    ("terraform", "api token", "tfe_token", rnd(ALNUM, 14) + ".atlasv1.", ALNUM, 67, ""),
    ("jfrog", "api key", "artifactory_api_key", "AKCp", ALNUM, 69, ""),
    ("langsmith", "api key", "langsmith_api_key", "lsv2_pt_", HEX, 32, "_" + rnd(HEX, 10)),
    ("pinecone", "api key", "pinecone_api_key", "pcsk_", ALNUM, 5, "_" + rnd(ALNUM, 60)),
    ("groq", "api key", "groq_api_key", "gsk_", ALNUM, 52, ""),
    ("replicate", "api token", "replicate_api_token", "r8_", ALNUM, 37, ""),
    ("perplexity", "api key", "perplexity_api_key", "pplx-", ALNUM, 48, ""),
    ("openrouter", "api key", "openrouter_api_key", "sk-or-v1-", HEX, 64, ""),
    ("twitter", "bearer token", "twitter_bearer_token", "AAAAAAAAAAAAAAAAAAAAA", ALNUM + "%", 90, ""),
    ("facebook", "access token", "fb_access_token", "EAA", ALNUM, 150, ""),
    ("mapbox", "secret token", "mapbox_token", "sk.eyJ1Ijoi", B64URL, 70, "." + rnd(B64URL, 22)),
    ("newrelic", "user api key", "new_relic_api_key", "NRAK-", UPPER_NUM, 27, ""),
    ("postman", "api key", "postman_api_key", "PMAK-", HEX, 24, "-" + rnd(HEX, 34)),
    ("vault", "service token", "vault_token", "hvs.", B64URL, 92, ""),
    ("doppler", "personal token", "doppler_token", "dp.pt.", ALNUM, 43, ""),
    ("adafruit", "io key", "aio_key", "aio_", ALNUM, 28, ""),
    ("netlify", "personal access token", "netlify_token", "nfp_", ALNUM, 36, ""),
    ("pulumi", "access token", "pulumi_access_token", "pul-", HEX, 40, ""),
]
MORE += [
    ("adobe", "client secret", "adobe_client_secret", "p8e-", ALNUM, 32, ""),
    ("asana", "personal access token", "asana_token", "2/" + rnd(string.digits, 16) + "/" + rnd(string.digits, 16) + ":", HEX, 32, ""),
    ("cloudflare", "origin ca key", "cf_origin_ca_key", "v1.0-" + rnd(HEX, 24) + "-", HEX, 146, ""),
    ("defined_networking", "api key", "dn_api_key", "dnkey-" + rnd(ALNUM, 26) + "-", ALNUM, 52, ""),
    ("duffel", "live token", "duffel_token", "duffel_live_", B64URL, 43, ""),
    ("harness", "personal access token", "harness_token", "pat." + rnd(ALNUM, 22) + "." + rnd(HEX, 24) + ".", ALNUM, 20, ""),
    ("hubspot", "private app token", "hubspot_token", "pat-na1-" + rnd(HEX, 8) + "-" + rnd(HEX, 4) + "-" + rnd(HEX, 4) + "-" + rnd(HEX, 4) + "-", HEX, 12, ""),
    ("infracost", "api key", "infracost_api_key", "ico-", ALNUM, 32, ""),
    ("openshift", "user token", "openshift_token", "sha256~", B64URL, 43, ""),
    ("plaid", "access token", "plaid_access_token", "access-production-" + rnd(HEX, 8) + "-" + rnd(HEX, 4) + "-" + rnd(HEX, 4) + "-" + rnd(HEX, 4) + "-", HEX, 12, ""),
    ("scalingo", "api token", "scalingo_token", "tk-us-", B64URL, 48, ""),
    ("settlemint", "personal access token", "settlemint_token", "sm_pat_", ALNUM, 16, ""),
    ("sourcegraph", "access token", "src_access_token", "sgp_", HEX, 40, ""),
    ("yandex", "api key", "yc_api_key", "AQVN", B64URL, 36, ""),
]
# Bare and in prose (no key name to lean on), and once as an assignment.
MORE_CONTEXTS = [lambda k, v: v, CONTEXTS[5], CONTEXTS[0]]
for family, form, key, prefix, alphabet, length, suffix in MORE:
    pos(family, form, key, [prefix + rnd(alphabet, length) + suffix for _ in range(3)], MORE_CONTEXTS)
    neg(family, "near miss", [prefix + rnd(alphabet, max(3, length // 4)), f"{key.upper()}=<{key}>"])

# Placeholders in a token's exact shape. Other scanners' rule examples count such strings as
# secrets, and so does the detector (a prompt that pastes one is rare, a real key in that shape
# is not): reported, no bar.
neg("placeholder", "token-shaped placeholder", [
    "ghp_xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx", "glpat-XXXXXXXXXXXXXXXXXXXX", "xoxb-your-bot-token",
    "sk-proj-XXXXXXXXXXXX", "sk_live_0000000000000000000000000",
])

# Benign high-entropy material next to no credential (hashes, ids, encodings).
neg("benign_entropy", "hashes and ids", [
    "sha256:" + rnd(HEX, 64), "commit " + rnd(HEX, 40), "integrity sha512-" + b64(64),
    "uuid 3f2b8c9e-" + rnd(HEX, 4) + "-4a1b-9c2d-" + rnd(HEX, 12), "etag W/\"" + rnd(HEX, 32) + "\"",
    "md5 " + rnd(HEX, 32), "data:image/png;base64," + b64(48), "nonce-" + b64(16),
])

for i, r in enumerate(rows):
    r["id"] = f"gen-{r['family']}-{i:04d}"
    sys.stdout.write(json.dumps({k: r[k] for k in ["id", "family", "label", "form", "text"]}) + "\n")
