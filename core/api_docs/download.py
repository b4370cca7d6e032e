"""The spec as files to download: indented JSON, and YAML in document order."""
from __future__ import annotations

import json

import yaml


def to_json(spec: dict) -> str:
    """The spec as indented JSON, for download."""
    return json.dumps(spec, indent=2, ensure_ascii=False)


class _YamlDumper(getattr(yaml, "CSafeDumper", yaml.SafeDumper)):
    """Writes a value seen twice (an example reused in two places) in full, not as an &id001 alias."""

    def ignore_aliases(self, data):
        return True


def to_yaml(spec: dict) -> str:
    """The spec as YAML (keys in document order), for download."""
    return yaml.dump(spec, Dumper=_YamlDumper, sort_keys=False, allow_unicode=True, width=120)
