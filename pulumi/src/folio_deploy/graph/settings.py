"""What each service reads from its environment, taken from the code itself (its pydantic Settings).

The Pulumi project cannot import the services (another uv project, other pins), so the Settings classes
are read from their source with `ast`: each class's env prefix, its fields, which have no default (the
service refuses to start without them), and which fields are addresses of something it calls.
"""

import ast
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

REPO = Path(__file__).resolve().parents[4]
PLATFORM_SOURCES = ("settings.py", "auth.py", "center.py")


@dataclass(frozen=True)
class SettingsClass:
    """One Settings class: its env prefix and fields (name -> has a default)."""

    name: str
    prefix: str
    fields: dict[str, bool]
    # A field's default when it is a literal (service_addresses: the services it calls).
    defaults: dict[str, object] = field(default_factory=dict)

    def variable(self, name: str) -> str:
        return f"{self.prefix}{name}".upper()

    @property
    def required(self) -> list[str]:
        return [self.variable(name) for name, has_default in self.fields.items() if not has_default]


def _prefix(node: ast.ClassDef) -> str | None:
    for statement in node.body:
        if (
            isinstance(statement, ast.Assign)
            and any(isinstance(t, ast.Name) and t.id == "model_config" for t in statement.targets)
            and isinstance(statement.value, ast.Call)
        ):
            for keyword in statement.value.keywords:
                if keyword.arg == "env_prefix" and isinstance(keyword.value, ast.Constant):
                    return str(keyword.value.value)
    return None


def _default(value: ast.expr | None) -> tuple[bool, object]:
    """(has a default, its literal value or None) for a field's right-hand side."""
    if value is None:
        return False, None
    if isinstance(value, ast.Call) and isinstance(value.func, ast.Name) and value.func.id == "Field":
        for keyword in value.keywords:
            if keyword.arg in ("default", "default_factory"):
                try:
                    return True, ast.literal_eval(keyword.value)
                except ValueError:
                    return True, None
        if value.args:  # Field(<default>, ...)
            return not (isinstance(value.args[0], ast.Constant) and value.args[0].value is Ellipsis), None
        return False, None
    try:
        return True, ast.literal_eval(value)
    except ValueError:
        return True, None


def _classes(path: Path) -> dict[str, tuple[ast.ClassDef, list[str]]]:
    tree = ast.parse(path.read_text())
    return {
        node.name: (node, [base.id for base in node.bases if isinstance(base, ast.Name)])
        for node in tree.body
        if isinstance(node, ast.ClassDef)
    }


def _resolve(name: str, known: dict[str, tuple[ast.ClassDef, list[str]]]) -> SettingsClass:
    node, bases = known[name]
    fields: dict[str, bool] = {}
    defaults: dict[str, object] = {}
    prefix = ""
    for base in bases:
        if base in known:
            parent = _resolve(base, known)
            fields |= parent.fields
            defaults |= parent.defaults
            prefix = parent.prefix
    for statement in node.body:
        if isinstance(statement, ast.AnnAssign) and isinstance(statement.target, ast.Name):
            annotation = ast.unparse(statement.annotation)
            if annotation.startswith("ClassVar"):
                continue
            has_default, value = _default(statement.value)
            fields[statement.target.id] = has_default
            if value is not None:
                defaults[statement.target.id] = value
    return SettingsClass(name, _prefix(node) or prefix, fields, defaults)


@cache
def platform_settings(repo: Path = REPO) -> dict[str, SettingsClass]:
    """The settings every service shares: FOLIO_AUTH_* (AuthSettings), FOLIO_* (CenterSettings)."""
    source = repo / "libs" / "platform" / "src" / "folio_platform"
    known: dict[str, tuple[ast.ClassDef, list[str]]] = {}
    for name in PLATFORM_SOURCES:
        known |= _classes(source / name)
    return {name: _resolve(name, known) for name in ("AuthSettings", "CenterSettings")}


@cache
def service_settings(service: str, repo: Path = REPO) -> SettingsClass:
    """The `Settings` class of services/<service>."""
    source = repo / "libs" / "platform" / "src" / "folio_platform"
    known: dict[str, tuple[ast.ClassDef, list[str]]] = {}
    for name in PLATFORM_SOURCES:
        known |= _classes(source / name)
    (path,) = (repo / "services" / service / "src").glob("folio_*/settings.py")
    known |= _classes(path)
    return _resolve("Settings", known)


def callees(service: str, repo: Path = REPO) -> list[str]:
    """The services this one calls over gRPC: the keys of its service_addresses default."""
    addresses = service_settings(service, repo).defaults.get("service_addresses")
    return sorted(addresses) if isinstance(addresses, dict) else []
