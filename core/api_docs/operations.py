"""A spec (uploaded or inferred) read back as one row per operation, local $refs resolved, for display."""
from __future__ import annotations

import functools
from typing import Any

from core.api_docs.spec import _EXAMPLE_KEY, HTTP_METHODS


def operations(spec: dict) -> list[dict]:
    """One row per operation of a spec (uploaded or inferred), local $refs resolved, for display.

    Row: {path, method, operation_id, summary, description, tags, deprecated, parameters: [{name, in,
    required, type, description, example, schema}], request_body: {required, content_type, schema,
    example} | None, responses: {code: {description, content_type, schema, example}}, security:
    [{name, description}], auth_optional, example_request: {method, url, headers, body} | None,
    example_response: {status, headers, body} | None}.
    """
    resolve = functools.partial(_resolve, spec)
    schemes = resolve((spec.get("components") or {}).get("securitySchemes") or {})
    rows = []
    for path, item in (spec.get("paths") or {}).items():
        item = resolve(item)
        if not isinstance(item, dict):
            continue
        shared = [resolve(p) for p in item.get("parameters") or []]
        for method in HTTP_METHODS:
            op = item.get(method)
            if not isinstance(op, dict):
                continue
            params: dict[tuple, dict] = {}
            for p in shared + [resolve(p) for p in op.get("parameters") or []]:
                if isinstance(p, dict) and "name" in p:
                    params[(p.get("name"), p.get("in"))] = p
            body = resolve(op.get("requestBody")) if op.get("requestBody") else None
            request_body = None
            if isinstance(body, dict):
                ctype, media = _first_media(resolve(body.get("content") or {}))
                request_body = {"required": bool(body.get("required")), "content_type": ctype,
                                "schema": media.get("schema"), "example": _media_example(media, resolve)}
            responses = {}
            for code, response in (op.get("responses") or {}).items():
                response = resolve(response)
                if not isinstance(response, dict):
                    continue
                ctype, media = _first_media(resolve(response.get("content") or {}))
                responses[str(code)] = {"description": response.get("description", ""), "content_type": ctype,
                                        "schema": media.get("schema"), "example": _media_example(media, resolve)}
            requirements = op.get("security", spec.get("security")) or []
            names = list(dict.fromkeys(name for req in requirements if isinstance(req, dict) for name in req))
            observed = op.get(_EXAMPLE_KEY) or {}
            example_request = dict(observed["request"], method=method.upper()) if observed.get("request") else None
            example_response = observed.get("response")
            if example_request is None and request_body and request_body["example"] is not None:
                example_request = {"method": method.upper(), "url": path, "headers": {"content-type": request_body["content_type"]},
                                   "body": request_body["example"]}
            if example_response is None:
                for code, response in sorted(responses.items()):
                    if response["example"] is not None:
                        example_response = {"status": code, "headers": {"content-type": response["content_type"]}, "body": response["example"]}
                        break
            rows.append({
                "path": path,
                "method": method.upper(),
                "operation_id": op.get("operationId"),
                "summary": op.get("summary") or f"{method.upper()} {path}",
                "description": op.get("description") or "",
                "tags": list(op.get("tags") or []),
                "deprecated": bool(op.get("deprecated")),
                "parameters": [_param_row(p, resolve) for p in params.values()],
                "request_body": request_body,
                "responses": responses,
                "security": [{"name": n, "description": _scheme_text(resolve(schemes.get(n)))} for n in names],
                "auth_optional": any(req == {} for req in requirements),
                "example_request": example_request,
                "example_response": example_response,
            })
    return rows


def _resolve(spec: dict, value: Any, depth: int = 0) -> Any:
    """Follow a local $ref ('#/components/…'); anything unresolvable is returned as it is."""
    while isinstance(value, dict) and isinstance(value.get("$ref"), str) and value["$ref"].startswith("#/") and depth < 20:
        target: Any = spec
        for part in value["$ref"][2:].split("/"):
            part = part.replace("~1", "/").replace("~0", "~")
            if isinstance(target, dict) and part in target:
                target = target[part]
            elif isinstance(target, list) and part.isdigit() and int(part) < len(target):
                target = target[int(part)]
            else:
                return value
        value, depth = target, depth + 1
    return value


def _first_media(content: dict) -> tuple[str | None, dict]:
    if not isinstance(content, dict) or not content:
        return None, {}
    ctype = next((c for c in content if "json" in c), next(iter(content)))
    media = content[ctype]
    return ctype, media if isinstance(media, dict) else {}


def _media_example(media: dict, resolve) -> Any:
    if "example" in media:
        return media["example"]
    examples = media.get("examples")
    if isinstance(examples, dict):
        for ex in examples.values():
            ex = resolve(ex)
            if isinstance(ex, dict) and "value" in ex:
                return ex["value"]
    return None


def _param_row(p: dict, resolve) -> dict:
    schema = resolve(p.get("schema")) or {}
    kind = schema.get("type", "") if isinstance(schema, dict) else ""
    if isinstance(kind, list):
        kind = " | ".join(str(k) for k in kind)
    if isinstance(schema, dict) and schema.get("format"):
        kind = f"{kind} ({schema['format']})" if kind else schema["format"]
    example = p.get("example")
    if example is None and isinstance(schema, dict):
        example = schema.get("example")
    return {"name": p.get("name"), "in": p.get("in"), "required": bool(p.get("required")), "type": kind or "any",
            "description": p.get("description") or "", "example": example, "schema": schema}


def _scheme_text(scheme: Any) -> str:
    if not isinstance(scheme, dict):
        return "Unknown scheme"
    kind = scheme.get("type")
    if kind == "http":
        word = str(scheme.get("scheme", "")).lower()
        return {"bearer": "HTTP bearer token (Authorization: Bearer …)", "basic": "HTTP basic (Authorization: Basic …)"}.get(
            word, f"HTTP {word} authentication")
    if kind == "apiKey":
        return f"API key in {scheme.get('in', 'header')} {scheme.get('name', '')}".rstrip()
    if kind == "oauth2":
        return "OAuth 2"
    if kind == "openIdConnect":
        return "OpenID Connect"
    if kind == "mutualTLS":
        return "Mutual TLS"
    return str(kind or "Unknown scheme")
