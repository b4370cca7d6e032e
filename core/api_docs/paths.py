"""Paths and names: endpoint templates ({id}, :id, <int:id>) as OpenAPI paths, parameter values in an
observed URL, and the summary, operationId and tag of an operation made from its method and path."""
from __future__ import annotations

import re
from collections import Counter
from urllib.parse import urlsplit

# Version-like and "api" prefixes would make every tag the same.
_NOT_A_TAG = re.compile(r"^(api|v\d+(\.\d+)?|rest)$", re.I)
_PARAM_SEG = re.compile(r"^(?:\{([^{}/]+)\}|:([A-Za-z_][\w-]*)|<(?:[\w]+:)?([A-Za-z_]\w*)>)$")


def _is_param(segment: str) -> bool:
    return bool(_PARAM_SEG.match(segment))


def _openapi_path(endpoint: str) -> tuple[str, dict[int, str], str]:
    """An endpoint template → (OpenAPI path, {segment index: parameter name}, shape shared by equivalent paths).

    Accepts {name}, :name and Django's <conv:name>; repeated names (/orders/{id}/items/{id}) get
    distinct ones, as OpenAPI requires.
    """
    segments = ("/" + endpoint.lstrip("/")).split("/")[1:]
    out, names, shape = [], {}, []
    used: Counter = Counter()
    for i, seg in enumerate(segments):
        m = _PARAM_SEG.match(seg)
        if m:
            name = re.sub(r"[^\w.-]", "_", next(g for g in m.groups() if g)) or "param"
            used[name] += 1
            if used[name] > 1:
                prev = _singular(out[-1]) if out and not out[-1].startswith("{") else ""
                name = f"{prev}_{name}" if prev and f"{prev}_{name}" not in used else f"{name}{used[name]}"
                used[name] += 1
            names[i] = name
            out.append("{" + name + "}")
            shape.append("{}")
        else:
            literal = seg.replace("{", "").replace("}", "")
            out.append(literal)
            shape.append(literal)
    return "/" + "/".join(out), names, "/" + "/".join(shape)


def _path_values(url: str, endpoint: str) -> dict[int, str]:
    """Values of an endpoint's parameters in an observed URL, by template segment index."""
    try:
        path = urlsplit(url).path
    except ValueError:
        return {}
    actual = ("/" + path.lstrip("/")).rstrip("/").split("/")[1:] if path not in ("", "/") else []
    template = ("/" + endpoint.lstrip("/")).rstrip("/").split("/")[1:] if endpoint not in ("", "/") else []
    if len(actual) < len(template):
        return {}
    actual = actual[len(actual) - len(template):]  # the app may be mounted under a prefix
    return {i: actual[i] for i, seg in enumerate(template) if _is_param(seg)}


def _singular(word: str) -> str:
    if word.endswith("ies") and len(word) > 3:
        return word[:-3] + "y"
    if word.endswith(("sses", "shes", "ches", "xes")):
        return word[:-2]
    if word.endswith("s") and not word.endswith(("ss", "us", "is")):
        return word[:-1]
    return word


def _words(segment: str) -> str:
    return re.sub(r"[-_.]+", " ", segment).strip()


def _summary(method: str, path: str) -> str:
    """'List orders', 'Get order by ID', 'Create order'… from the method and the path."""
    segments = [s for s in path.strip("/").split("/") if s]
    literal = [i for i, s in enumerate(segments) if not _is_param(s)]
    verb = method.lower()
    if not literal or verb in ("head", "options", "trace"):
        return f"{method.upper()} {path}"
    last = literal[-1]
    noun = _words(segments[last])
    one = _singular(noun)
    if last == len(segments) - 2:  # /orders/{id}
        param = _words(segments[-1].strip("{}"))
        if param.startswith(one + " "):
            param = param[len(one) + 1:]
        text = {"get": f"get {one}" if param == one else f"get {one} by {param}", "put": f"replace {one}", "patch": f"update {one}",
                "delete": f"delete {one}", "post": f"post to {one}"}[verb]
    elif last == len(segments) - 1:
        plural = one != noun
        if plural:
            text = {"get": f"list {noun}", "post": f"create {one}", "put": f"replace {noun}",
                    "patch": f"update {noun}", "delete": f"delete {noun}"}[verb]
        else:
            text = {"get": f"get {noun}", "post": noun, "put": f"replace {noun}", "patch": f"update {noun}",
                    "delete": f"delete {noun}"}[verb]
    else:
        return f"{method.upper()} {path}"
    return _heading(text)


def _operation_id(method: str, path: str, taken: set[str]) -> str:
    words = [w for w in re.split(r"[^A-Za-z0-9]+", path) if w]
    base = method.lower() + "".join(w[:1].upper() + w[1:] for w in words) if words else method.lower() + "Root"
    op_id, n = base, 2
    while op_id in taken:
        op_id, n = f"{base}{n}", n + 1
    taken.add(op_id)
    return op_id


# Words a heading or summary writes in capitals: "api-keys" is headed "API keys".
_ACRONYMS = {w.lower(): w for w in ("API", "APIs", "ID", "IDs", "URL", "URLs", "IP", "SDK", "SDKs", "SSO", "OAuth", "CSV", "PDF",
                                    "JSON", "HTML", "JWKS", "JWT", "MFA", "OTP")}


def _heading(words: str) -> str:
    """Words from a path as a heading: capitalised, acronyms in capitals ("list api keys" → "List API keys")."""
    text = " ".join(_ACRONYMS.get(w.lower(), w) for w in words.split(" "))
    return text[:1].upper() + text[1:]


def _tag(path: str) -> str | None:
    """The heading of the first meaningful path segment, as the docs page shows it: "/api/v1/api-keys" → "API keys"."""
    for seg in path.strip("/").split("/"):
        if seg and not _is_param(seg) and not _NOT_A_TAG.match(seg):
            return _heading(_words(seg))
    return None
