"""Evaluate the Pulumi program offline: no CLI, no cluster, no state backend.

The program runs for real against Pulumi's mock resource monitor (`pulumi.runtime.set_mocks`), which
records every resource it would register, with its inputs, and answers with those inputs as outputs.
That shows what a stack *asks for* (releases, namespaces, values, secrets); it cannot show that a chart
installs or that a pod starts: only `pulumi up` against a cluster does.

Secret config values (`secure:` in a real stack file) cannot be decrypted here; the caller supplies
stand-ins, and generated passwords come back as recognisable `generated-<name>` strings so a test can
look for them anywhere they should not be.
"""

import json
import runpy
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pulumi
import yaml
from pulumi.runtime import settings
from pulumi.runtime.mocks import MockMonitor

# Pulumi's wire format for a secret value (fixed by the resource-monitor protocol, see pulumi/sdk rpc.py).
_SPECIAL_SIG_KEY = "4dabf18193072939515e22adb298388d"
_SECRET_SIG = "1b47061264138c4ac30d75fd1eb44270"  # noqa: S105 (a type marker, not a password)

PROJECT_DIR = Path(__file__).resolve().parents[2]
PROJECT = "folio"

RELEASE = "kubernetes:helm.sh/v3:Release"
NAMESPACE = "kubernetes:core/v1:Namespace"
SECRET = "kubernetes:core/v1:Secret"  # noqa: S105 (type tokens)
RANDOM_PASSWORD = "random:index/randomPassword:RandomPassword"  # noqa: S105
REMOTE_COMMAND = "command:remote:Command"


@dataclass(frozen=True)
class Registered:
    """One resource the program registered: its type token, logical name and inputs as sent.

    Inputs that were Pulumi secrets stay wrapped as {SPECIAL_SIG_KEY: SECRET_SIG, "value": ...}.
    """

    type: str
    name: str
    inputs: dict[str, Any]
    # Logical names of the resources it waits for (depends_on and the outputs its inputs use).
    depends_on: frozenset[str] = frozenset()

    def plain(self, key: str) -> Any:
        """An input with every secret wrapper removed (for reading values, not for secrecy checks)."""
        return unwrap(self.inputs.get(key))


@dataclass
class Evaluation:
    """What one stack registered and exported."""

    stack: str
    resources: list[Registered] = field(default_factory=list)
    outputs: dict[str, Any] = field(default_factory=dict)

    def of_type(self, type_: str) -> list[Registered]:
        return [resource for resource in self.resources if resource.type == type_]

    def releases(self) -> dict[str, Registered]:
        """Helm releases by release name."""
        return {str(release.plain("name")): release for release in self.of_type(RELEASE)}

    def namespaces(self) -> set[str]:
        return {str(ns.plain("metadata")["name"]) for ns in self.of_type(NAMESPACE)}

    def secrets(self) -> dict[tuple[str, str], Registered]:
        """Kubernetes Secrets by (namespace, name)."""
        found = {}
        for secret in self.of_type(SECRET):
            metadata = secret.plain("metadata")
            found[(str(metadata["namespace"]), str(metadata["name"]))] = secret
        return found


def is_secret(value: Any) -> bool:
    return isinstance(value, dict) and value.get(_SPECIAL_SIG_KEY) == _SECRET_SIG


def unwrap(value: Any) -> Any:
    if is_secret(value):
        return unwrap(value["value"])
    if isinstance(value, dict):
        return {key: unwrap(item) for key, item in value.items()}
    if isinstance(value, list):
        return [unwrap(item) for item in value]
    return value


def plain_strings(value: Any, path: str = "") -> Iterator[tuple[str, str]]:
    """Every string NOT under a secret wrapper, with its path: what would sit in the state in clear."""
    if is_secret(value):
        return
    if isinstance(value, dict):
        for key, item in value.items():
            yield from plain_strings(key, f"{path}.<key>")
            yield from plain_strings(item, f"{path}.{key}")
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from plain_strings(item, f"{path}[{index}]")
    elif isinstance(value, str):
        yield path, value


class RecordingMonitor(MockMonitor):
    """The mock monitor, also keeping what each registration depends on (the stock one drops it)."""

    def __init__(self, mocks: "RecordingMocks") -> None:
        super().__init__(mocks)
        self.dependencies: dict[str, frozenset[str]] = {}

    def RegisterResource(self, request: Any) -> Any:  # the gRPC method keeps its name
        urns = set(request.dependencies)
        for property_dependencies in request.propertyDependencies.values():
            urns.update(property_dependencies.urns)
        self.dependencies[request.name] = frozenset(urn.rsplit("::", 1)[-1] for urn in urns)
        return super().RegisterResource(request)  # type: ignore[no-untyped-call]


class RecordingMocks(pulumi.runtime.Mocks):
    """Records each registration; answers with its inputs plus the outputs the program reads."""

    def __init__(self) -> None:
        self.resources: list[Registered] = []

    def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str | None, dict[str, Any]]:
        self.resources.append(Registered(args.typ, args.name, dict(args.inputs)))
        state = dict(args.inputs)
        if args.typ == RANDOM_PASSWORD:
            state["result"] = f"generated-{args.name}"
        if args.typ == REMOTE_COMMAND:
            state["stdout"] = "apiVersion: v1\nclusters:\n- cluster:\n    server: https://127.0.0.1:6443\n"
        return f"{args.name}-id", state

    def call(self, args: pulumi.runtime.MockCallArgs) -> tuple[dict[str, Any], list[tuple[str, str]] | None]:
        return {}, None


def stack_config(stack: str, project_dir: Path = PROJECT_DIR) -> dict[str, str]:
    """The plain config of Pulumi.<stack>.yaml as the engine hands it over: objects as JSON text."""
    path = project_dir / f"Pulumi.{stack}.yaml"
    document = yaml.safe_load(path.read_text()) or {}
    config: dict[str, str] = {}
    for key, value in (document.get("config") or {}).items():
        if isinstance(value, dict) and "secure" in value:
            continue  # ciphertext: only the CLI with the stack's key can read it
        config[key] = value if isinstance(value, str) else json.dumps(value)
    return config


def stand_in_secrets(stack: str, project_dir: Path = PROJECT_DIR) -> dict[str, str]:
    """A recognisable stand-in for every secret config key, in the shape the program reads it."""
    from folio_deploy.config import SECRET_KEYS

    platform = json.loads(stack_config(stack, project_dir).get(f"{PROJECT}:platform", "{}"))
    credentials = (platform.get("externalDns") or {}).get("credentialsEnv") or []
    stand_ins = {key: "offline-stand-in" for key in SECRET_KEYS}
    stand_ins["externalDnsCredentials"] = json.dumps({name: "offline-stand-in" for name in credentials})
    stand_ins["backupCredentials"] = json.dumps(
        {"accessKeyId": "offline-stand-in", "secretAccessKey": "offline-stand-in"}
    )
    return stand_ins


def evaluate(
    stack: str,
    secrets: dict[str, str] | None = None,
    overrides: dict[str, Any] | None = None,
    project_dir: Path = PROJECT_DIR,
) -> Evaluation:
    """Run __main__.py of the Pulumi project for `stack` under mocks and return what it registered.

    `secrets` stands in for `pulumi config set --secret` values (key without the `folio:` prefix);
    `overrides` replaces plain config keys (same form) for a variant of the stack.
    """
    config = stack_config(stack, project_dir)
    for key, value in (overrides or {}).items():
        config[f"{PROJECT}:{key}"] = value if isinstance(value, str) else json.dumps(value)
    secret_keys = []
    for key, value in (secrets or {}).items():
        config[f"{PROJECT}:{key}"] = value
        secret_keys.append(f"{PROJECT}:{key}")
    pulumi.runtime.set_all_config(config, secret_keys)
    mocks = RecordingMocks()
    monitor = RecordingMonitor(mocks)
    settings.set_root_resource(None)  # type: ignore[arg-type]  # a fresh Stack for this run
    pulumi.runtime.set_mocks(mocks, project=PROJECT, stack=stack, preview=False, monitor=monitor)
    evaluation = Evaluation(stack)

    @pulumi.runtime.test  # type: ignore[untyped-decorator]
    def run() -> pulumi.Output[Any]:
        runpy.run_path(str(project_dir / "__main__.py"), run_name="__main__")
        root = settings.get_root_resource()
        outputs: dict[str, Any] = getattr(root, "outputs", {})
        names = list(outputs)
        return pulumi.Output.all(*[outputs[name] for name in names]).apply(
            lambda values: evaluation.outputs.update(zip(names, values, strict=True))
        )

    run()
    evaluation.resources = [
        Registered(found.type, found.name, found.inputs, monitor.dependencies.get(found.name, frozenset()))
        for found in mocks.resources
    ]
    return evaluation
