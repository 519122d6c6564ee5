"""Custom resources (Istio, APISIX, prometheus-operator) checked twice (prometheus-operator's once: structurally).

1. Istio's resources against the schemas Istio publishes in its CRDs, compiled into validators by the
   npm package @kubernetes-models/istio (pinned in crd-validators/package-lock.json, installed by
   `make install`). Those schemas check types and enums but, like the API server, let unknown fields
   through (it prunes them silently).
2. Every custom resource against structural schemas written here from the upstream references
   (istio.io/latest/docs/reference/config, apisix-ingress-controller's ApisixRoute v2): field names,
   nesting, types and enums of the parts Folio uses, unknown fields refused, so a typo or a misplaced
   key fails here instead of vanishing. APISIX publishes no schema package: for ApisixRoute this
   structural check is the only one.
"""

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from .conftest import PROFILES

Schema = dict[str, Any]


def obj(properties: Schema, required: tuple[str, ...] = ()) -> Schema:
    return {
        "type": "object",
        "additionalProperties": False,
        "properties": properties,
        "required": list(required),
    }


STR: Schema = {"type": "string", "minLength": 1}
INT: Schema = {"type": "integer"}
DURATION: Schema = {"type": "string", "pattern": r"^[0-9]+(\.[0-9]+)?(ms|s|m|h)$"}
STRINGS: Schema = {"type": "array", "items": STR, "minItems": 1}
LABELS: Schema = {"type": "object", "additionalProperties": {"type": "string"}}
SELECTOR = obj({"matchLabels": LABELS}, ("matchLabels",))
METADATA = {"type": "object", "required": ["name", "namespace"]}


def resource(api_version: str, kind: str, spec: Schema) -> Schema:
    return obj(
        {"apiVersion": {"const": api_version}, "kind": {"const": kind}, "metadata": METADATA, "spec": spec},
        ("apiVersion", "kind", "metadata", "spec"),
    )


PEER_AUTHENTICATION = resource(
    "security.istio.io/v1",
    "PeerAuthentication",
    obj(
        {
            "selector": SELECTOR,
            "mtls": obj({"mode": {"enum": ["UNSET", "DISABLE", "PERMISSIVE", "STRICT"]}}, ("mode",)),
            "portLevelMtls": {"type": "object"},
        }
    ),
)
AUTHORIZATION_POLICY = resource(
    "security.istio.io/v1",
    "AuthorizationPolicy",
    obj(
        {
            "selector": SELECTOR,
            "action": {"enum": ["ALLOW", "DENY", "AUDIT", "CUSTOM"]},
            "rules": {
                "type": ["array", "null"],
                "items": obj(
                    {
                        "from": {
                            "type": "array",
                            "items": obj(
                                {
                                    "source": obj(
                                        {"principals": STRINGS, "namespaces": STRINGS, "ipBlocks": STRINGS}
                                    )
                                },
                                ("source",),
                            ),
                        },
                        "to": {
                            "type": "array",
                            "items": obj(
                                {
                                    "operation": obj(
                                        {
                                            "ports": {
                                                "type": "array",
                                                "items": {"type": "string", "pattern": r"^[0-9]+$"},
                                            },
                                            "methods": STRINGS,
                                            "paths": STRINGS,
                                            "hosts": STRINGS,
                                        }
                                    )
                                },
                                ("operation",),
                            ),
                        },
                        "when": {"type": "array"},
                    }
                ),
            },
        }
    ),
)
DESTINATION_RULE = resource(
    "networking.istio.io/v1",
    "DestinationRule",
    obj(
        {
            "host": STR,
            "trafficPolicy": obj(
                {
                    "tls": obj(
                        {"mode": {"enum": ["DISABLE", "SIMPLE", "MUTUAL", "ISTIO_MUTUAL"]}}, ("mode",)
                    ),
                    "connectionPool": obj(
                        {
                            "tcp": obj({"maxConnections": INT, "connectTimeout": DURATION}),
                            "http": obj(
                                {
                                    "http1MaxPendingRequests": INT,
                                    "http2MaxRequests": INT,
                                    "maxRequestsPerConnection": INT,
                                    "maxRetries": INT,
                                    "idleTimeout": DURATION,
                                }
                            ),
                        }
                    ),
                    "outlierDetection": obj(
                        {
                            "consecutive5xxErrors": INT,
                            "consecutiveGatewayErrors": INT,
                            "interval": DURATION,
                            "baseEjectionTime": DURATION,
                            "maxEjectionPercent": {"type": "integer", "minimum": 0, "maximum": 100},
                        }
                    ),
                }
            ),
        },
        ("host",),
    ),
)
PERCENT = obj({"value": {"type": "number", "minimum": 0, "maximum": 100}}, ("value",))
VIRTUAL_SERVICE = resource(
    "networking.istio.io/v1",
    "VirtualService",
    obj(
        {
            "hosts": STRINGS,
            "http": {
                "type": "array",
                "items": obj(
                    {
                        "name": STR,
                        "match": {
                            "type": "array",
                            "items": obj({"uri": obj({"exact": STR, "prefix": STR, "regex": STR})}),
                        },
                        "route": {
                            "type": "array",
                            "items": obj(
                                {
                                    "destination": obj(
                                        {"host": STR, "port": obj({"number": INT}, ("number",))}, ("host",)
                                    )
                                },
                                ("destination",),
                            ),
                        },
                        "timeout": DURATION,
                        "retries": obj({"attempts": INT, "perTryTimeout": DURATION, "retryOn": STR}),
                        "fault": obj(
                            {
                                "delay": obj(
                                    {"percentage": PERCENT, "fixedDelay": DURATION}, ("fixedDelay",)
                                ),
                                "abort": {
                                    **obj({"percentage": PERCENT, "httpStatus": INT, "grpcStatus": STR}),
                                    "oneOf": [{"required": ["httpStatus"]}, {"required": ["grpcStatus"]}],
                                },
                            }
                        ),
                    },
                    ("route",),
                ),
            },
        },
        ("hosts", "http"),
    ),
)
PLUGIN = obj(
    {"name": STR, "enable": {"type": "boolean"}, "config": {"type": "object"}, "secretRef": STR}, ("name",)
)
APISIX_ROUTE = resource(
    "apisix.apache.org/v2",
    "ApisixRoute",
    obj(
        {
            "ingressClassName": STR,
            "http": {
                "type": "array",
                "minItems": 1,
                "items": obj(
                    {
                        "name": STR,
                        "priority": INT,
                        "timeout": obj({"connect": DURATION, "send": DURATION, "read": DURATION}),
                        "match": obj(
                            {
                                "paths": {
                                    "type": "array",
                                    "minItems": 1,
                                    "items": {"type": "string", "pattern": "^/"},
                                },
                                "hosts": STRINGS,
                                "methods": {
                                    "type": "array",
                                    "items": {
                                        "enum": [
                                            "GET",
                                            "HEAD",
                                            "POST",
                                            "PUT",
                                            "DELETE",
                                            "PATCH",
                                            "OPTIONS",
                                            "CONNECT",
                                            "TRACE",
                                        ]
                                    },
                                },
                                "remoteAddrs": STRINGS,
                                "exprs": {"type": "array"},
                            },
                            ("paths",),
                        ),
                        "backends": {
                            "type": "array",
                            "minItems": 1,
                            "items": obj(
                                {
                                    "serviceName": STR,
                                    "servicePort": {"type": ["integer", "string"]},
                                    "weight": INT,
                                    "resolveGranularity": {"enum": ["endpoint", "service"]},
                                },
                                ("serviceName", "servicePort"),
                            ),
                        },
                        "plugins": {"type": "array", "items": PLUGIN},
                        "plugin_config_name": STR,
                        "websocket": {"type": "boolean"},
                    },
                    ("name", "match", "backends"),
                ),
            },
        },
        ("http",),
    ),
)
# prometheus-operator's (monitoring.coreos.com/v1, from its API reference): the parts Folio uses.
SERVICE_MONITOR = resource(
    "monitoring.coreos.com/v1",
    "ServiceMonitor",
    obj(
        {
            "jobLabel": STR,
            "selector": SELECTOR,
            "endpoints": {
                "type": "array",
                "minItems": 1,
                "items": obj({"port": STR, "path": STR, "interval": DURATION}, ("port",)),
            },
        },
        ("selector", "endpoints"),
    ),
)
PROMETHEUS_RULE = resource(
    "monitoring.coreos.com/v1",
    "PrometheusRule",
    obj(
        {
            "groups": {
                "type": "array",
                "minItems": 1,
                "items": obj(
                    {
                        "name": STR,
                        "interval": DURATION,
                        "rules": {
                            "type": "array",
                            "minItems": 1,
                            "items": obj(
                                {
                                    "record": STR,
                                    "alert": STR,
                                    "expr": STR,
                                    "for": DURATION,
                                    "labels": LABELS,
                                    "annotations": LABELS,
                                },
                                ("expr",),
                            ),
                        },
                    },
                    ("name", "rules"),
                ),
            }
        },
        ("groups",),
    ),
)
SCHEMAS = {
    ("monitoring.coreos.com/v1", "ServiceMonitor"): SERVICE_MONITOR,
    ("monitoring.coreos.com/v1", "PrometheusRule"): PROMETHEUS_RULE,
    ("security.istio.io/v1", "PeerAuthentication"): PEER_AUTHENTICATION,
    ("security.istio.io/v1", "AuthorizationPolicy"): AUTHORIZATION_POLICY,
    ("networking.istio.io/v1", "DestinationRule"): DESTINATION_RULE,
    ("networking.istio.io/v1", "VirtualService"): VIRTUAL_SERVICE,
    ("apisix.apache.org/v2", "ApisixRoute"): APISIX_ROUTE,
}


VALIDATORS = Path(__file__).parent / "crd-validators"


@pytest.mark.parametrize("profile", PROFILES)
def test_istio_resources_match_istios_published_schemas(
    rendered: dict[str, list[dict[str, Any]]], profile: str
) -> None:
    node = shutil.which("node")
    assert node, "node is needed for the CRD validators (Debian: apt-get install nodejs)"
    assert (VALIDATORS / "node_modules").is_dir(), (
        "run `make install` (npm ci --prefix helm/tests/crd-validators)"
    )
    istio = [o for o in rendered[profile] if ".istio.io/" in o["apiVersion"]]
    assert len(istio) > 10
    result = subprocess.run(
        [node, str(VALIDATORS / "validate.mjs")],
        input=json.dumps(istio),
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    assert json.loads(result.stdout) == []


def test_istios_schemas_refuse_a_wrong_enum(rendered: dict[str, list[dict[str, Any]]]) -> None:
    (peer,) = [o for o in rendered["default"] if o["kind"] == "PeerAuthentication"]
    broken = {**peer, "spec": {**peer["spec"], "mtls": {"mode": "STRICTER"}}}
    result = subprocess.run(
        ["node", str(VALIDATORS / "validate.mjs")],
        input=json.dumps([broken]),
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    (problem,) = json.loads(result.stdout)
    assert "allowed values" in problem["error"]


def _custom(objects: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [
        o
        for o in objects
        if "." in o["apiVersion"].split("/")[0] and not o["apiVersion"].endswith(".k8s.io/v1")
    ]


@pytest.mark.parametrize("profile", PROFILES)
def test_every_custom_resource_has_a_known_shape(
    rendered: dict[str, list[dict[str, Any]]], profile: str
) -> None:
    custom = [o for o in rendered[profile] if (o["apiVersion"], o["kind"]) in SCHEMAS]
    unknown = {(o["apiVersion"], o["kind"]) for o in _custom(rendered[profile])} - SCHEMAS.keys()
    assert not unknown, f"no schema for {unknown}"
    assert {o["kind"] for o in custom} == {k for _, k in SCHEMAS}
    for resource_ in custom:
        try:
            jsonschema.validate(resource_, SCHEMAS[(resource_["apiVersion"], resource_["kind"])])
        except jsonschema.ValidationError as error:
            pytest.fail(
                f"{resource_['kind']}/{resource_['metadata']['name']}: {error.message} at {list(error.path)}"
            )


def test_the_schemas_refuse_a_misplaced_field(rendered: dict[str, list[dict[str, Any]]]) -> None:
    (route,) = [o for o in rendered["default"] if o["kind"] == "ApisixRoute"]
    broken = {**route, "spec": {**route["spec"], "http": [{**route["spec"]["http"][0], "paths": ["/x"]}]}}
    with pytest.raises(jsonschema.ValidationError, match="paths"):
        jsonschema.validate(broken, APISIX_ROUTE)
    (virtual_service, *_) = [o for o in rendered["default"] if o["kind"] == "VirtualService"]
    http = virtual_service["spec"]["http"][0]
    broken = {
        **virtual_service,
        "spec": {**virtual_service["spec"], "http": [{**http, "retries": {"attempt": 2}}]},
    }
    with pytest.raises(jsonschema.ValidationError, match="attempt"):
        jsonschema.validate(broken, VIRTUAL_SERVICE)
