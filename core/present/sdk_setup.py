"""Set-up recipes that point a Treblle SDK at this collector, with an API's key and SDK token filled in.

Facts per SDK (see the fixtures' README): the Django SDK reads TREBLLE = {"SDK_TOKEN", "API_KEY"} and
picks one of its hard-coded treblle.com URLs with random.choice; the npm SDKs hard-code their URL and
post with node-fetch; the Laravel SDK reads TREBLLE_SDK_TOKEN / TREBLLE_API_KEY and has a `url`
override in config/treblle.php. Every SDK sends the SDK token in the x-api-key header.
"""
from __future__ import annotations

import json
from dataclasses import dataclass

TOKEN_PLACEHOLDER = "<the SDK token shown when the API was created or its token rotated>"


@dataclass(frozen=True)
class Recipe:
    sdk: str  # "Django (PyPI treblle)"
    steps: tuple[tuple[str, str, str], ...]  # (what to do, code, language for highlighting)
    note: str


def _q(value: str) -> str:
    """A string literal valid in Python, JavaScript and PHP (JSON escaping, double quotes)."""
    return json.dumps(value)


def recipes(collector_url: str, api_key: str, sdk_token: str | None = None) -> list[Recipe]:
    """How to send one API's traffic to the collector at `collector_url`, per SDK. sdk_token is shown
    only right after creation or rotation; otherwise a placeholder says where to find it."""
    url = collector_url.rstrip("/") + "/"
    token = sdk_token or TOKEN_PLACEHOLDER
    django = Recipe(
        "Django (PyPI treblle)",
        (
            ("Install the SDK", "pip install treblle==2.0.6", "bash"),
            ("settings.py", f'MIDDLEWARE += ["treblle.middleware.TreblleMiddleware"]\n\n'
                            f'TREBLLE = {{\n    "SDK_TOKEN": {_q(token)},\n    "API_KEY": {_q(api_key)},\n}}', "python"),
            ("wsgi.py (or asgi.py), after the application is created: send to Clientele, not treblle.com",
             "import types\nimport treblle.middleware\n\n"
             "# The SDK has no endpoint setting; it picks one of its built-in URLs with random.choice.\n"
             f"treblle.middleware.random = types.SimpleNamespace(choice=lambda urls: {_q(url)})", "python"),
        ),
        "The SDK sends nothing for 3xx responses, for /health, /ping, /status, /metrics, /admin/* and static "
        "files, or while either setting is empty.",
    )
    express = Recipe(
        "Node.js / Express (npm @treblle/express or treblle)",
        (
            ("Environment", f"TREBLLE_SDK_TOKEN={token}\nTREBLLE_API_KEY={api_key}\nCLIENTELE_COLLECTOR_URL={url}", "bash"),
            ("app.js", 'const treblle = require("@treblle/express");\n\n'
                       "app.use(treblle({\n  sdkToken: process.env.TREBLLE_SDK_TOKEN,\n"
                       "  apiKey: process.env.TREBLLE_API_KEY,\n}));", "javascript"),
            ("treblle-to-clientele.js: the npm SDKs post to a built-in URL with node-fetch; this preload sends "
             "those posts to Clientele",
             'const Module = require("module");\n'
             f"const collector = process.env.CLIENTELE_COLLECTOR_URL || {_q(url)};\n"
             "const load = Module._load;\n"
             "Module._load = function (request, ...rest) {\n"
             "  const loaded = load.call(this, request, ...rest);\n"
             '  if (request !== "node-fetch") return loaded;\n'
             "  const fetch = loaded.default || loaded;\n"
             "  const redirected = (target, options) =>\n"
             "    fetch(/treblle\\.com/.test(String(target)) ? collector : target, options);\n"
             "  return Object.assign(redirected, loaded, { default: redirected });\n"
             "};", "javascript"),
            ("Start the app with the preload", "node -r ./treblle-to-clientele.js app.js", "bash"),
        ),
        "Older `treblle` 1.x versions take { apiKey: <SDK token>, projectId: <API key> } instead.",
    )
    laravel = Recipe(
        "Laravel (composer treblle/treblle-laravel)",
        (
            ("Install and publish the config", "composer require treblle/treblle-laravel\n"
                                               "php artisan vendor:publish  # pick the Treblle service provider", "bash"),
            (".env", f"TREBLLE_SDK_TOKEN={token}\nTREBLLE_API_KEY={api_key}", "bash"),
            ("config/treblle.php: send to Clientele, not treblle.com", f"'url' => {_q(url)},", "php"),
            ("routes/api.php", "Route::middleware(['treblle'])->group(function () {\n    // your API routes\n});", "php"),
        ),
        "Treblle ignores the environments in TREBLLE_IGNORED_ENV (default: dev, test, testing).",
    )
    return [django, express, laravel]


def curl_check(collector_url: str) -> str:
    """A command that shows whether the collector is reachable (it answers GET /health)."""
    return f"curl -s {collector_url.rstrip('/')}/health"
